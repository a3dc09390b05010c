"""Checkpoints written atomically: a run killed mid-save keeps its previous checkpoint intact."""

from __future__ import annotations

from typing import Any

import lightning.pytorch as pl
import torch
from lightning.pytorch.plugins.io import TorchCheckpointIO

from pipelines.io import atomic_open


class AtomicCheckpointIO(TorchCheckpointIO):
    """torch.save into a temporary file in the same folder, fsync, then rename over the target."""

    def save_checkpoint(self, checkpoint: dict[str, Any], path: Any, storage_options: Any = None) -> None:
        with atomic_open(path) as fh:
            torch.save(checkpoint, fh)


class RngState(pl.Callback):
    """Keeps torch's random state in the checkpoint and puts it back on resume, so that a resumed run draws the
    same dropout masks (and data-loader seeds) as one that was never interrupted. Lightning restores the
    weights, optimizer, scheduler and loop counters, not the generator."""

    def on_save_checkpoint(self, trainer: pl.Trainer, module: pl.LightningModule, checkpoint: dict[str, Any]) -> None:
        checkpoint["torch_rng_state"] = torch.get_rng_state()

    def on_load_checkpoint(self, trainer: pl.Trainer, module: pl.LightningModule, checkpoint: dict[str, Any]) -> None:
        if "torch_rng_state" in checkpoint:
            torch.set_rng_state(checkpoint["torch_rng_state"])
