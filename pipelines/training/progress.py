"""Progress as plain lines, for logs that are not a terminal (nohup, CI, a container's stdout): a progress bar
there prints nothing until the end, or one line per redraw. One line every `every_s` seconds and one per
validation, on stderr."""

from __future__ import annotations

import sys
import time
from typing import Any

import lightning.pytorch as pl


class PlainProgress(pl.Callback):
    def __init__(self, every_s: float = 30.0, stream: Any = None) -> None:
        self.every_s, self.stream = every_s, stream or sys.stderr
        self._start = self._last = 0.0

    def _say(self, text: str) -> None:
        print(f"[{time.monotonic() - self._start:7.0f} s] {text}", file=self.stream, flush=True)

    def on_train_start(self, trainer: pl.Trainer, module: pl.LightningModule) -> None:
        self._start = self._last = time.monotonic()
        self._say(f"training: {trainer.max_epochs} epochs of {trainer.num_training_batches} batches")

    def on_train_batch_end(self, trainer: pl.Trainer, module: pl.LightningModule, outputs: Any, batch: Any,
                           batch_idx: int) -> None:
        now = time.monotonic()
        if now - self._last < self.every_s:
            return
        self._last = now
        loss = trainer.callback_metrics.get("train/loss")
        shown = f", train/loss {float(loss):.4f}" if loss is not None else ""
        self._say(f"epoch {trainer.current_epoch + 1}/{trainer.max_epochs}, batch {batch_idx + 1}/"
                  f"{trainer.num_training_batches}{shown}")

    def on_validation_end(self, trainer: pl.Trainer, module: pl.LightningModule) -> None:
        if trainer.sanity_checking:
            return
        vals = {k: round(float(v), 4) for k, v in trainer.callback_metrics.items() if k.startswith("val/")}
        self._say(f"epoch {trainer.current_epoch + 1}/{trainer.max_epochs} validated: {vals}")
