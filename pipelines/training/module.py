"""The Lightning module shared by every task: a Hugging Face model built by the task, one `model_step`.

Usable in any Trainer (your callbacks, loggers, DDP):

    dm = TaskDataModule("ner", DataConfig(path="data/"), tokenizer); dm.setup("fit")
    module = TaskModule("ner", "default", dm.labels)
    Trainer(max_epochs=3).fit(module, datamodule=dm)
"""

from __future__ import annotations

import inspect
from typing import Any

import lightning.pytorch as pl
import torch
import torch.distributed as dist
from transformers import get_linear_schedule_with_warmup

import tasks
from pipelines.data.batching import model_inputs
from pipelines.models import encoders


class TaskModule(pl.LightningModule):
    """Wraps `tasks.<task>.build_model(...)`; logs `train/loss`, `val/<metric>` and `test/<metric>`.

    Args:
        task: task name (a module in `tasks/`).
        encoder: 'default', 'tiny', a Hugging Face id or a local directory.
        labels: label vocabulary; index = class id.
        lr, weight_decay, warmup_ratio: AdamW with linear warm-up and decay.
        dropout: dropout of the classification head.
        decode: token tasks: 'argmax' or 'viterbi' (valid IOB2 paths only).
        head: 'softmax' or, for token tasks, 'crf' (a constrained CRF; decoding then uses it).
        options: further model settings, handed to the task's build_model where it takes them
            (e.g. the joint task's slot_weight).
    """

    def __init__(self, task: str, encoder: str, labels: list[str], lr: float = 5e-5, weight_decay: float = 0.01,
                 warmup_ratio: float = 0.1, dropout: float = 0.1, decode: str = "argmax", head: str = "softmax",
                 options: dict[str, Any] | None = None, tokenizer: Any = None) -> None:
        super().__init__()
        self.save_hyperparameters(ignore=["tokenizer"])
        self.task = tasks.get(task)
        tokenizer = tokenizer if tokenizer is not None else encoders.load_tokenizer(encoder)
        accepted = inspect.signature(self.task.build_model).parameters
        extra = {k: v for k, v in (options or {}).items() if k in accepted}
        self.model = self.task.build_model(encoder, labels, tokenizer, dropout, head, **extra)
        self.id2label = dict(enumerate(labels))
        self._records: list[dict[str, Any]] = []
        self._decode_fn: Any = None  # built per evaluation: a CRF's transitions change while training
        self.last_scores: dict[str, Any] = {}

    def prepare(self, splits: dict[str, Any]) -> None:
        """Let the task fit data-derived model state before training (e.g. the joint task's slot mask)."""
        if hasattr(self.task, "prepare_model"):
            self.task.prepare_model(self.model, splits)

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        """(B, T) ids and mask -> logits, (B, T, L) for token tasks or (B, L) for sentence tasks."""
        return self.model(input_ids=input_ids, attention_mask=attention_mask).logits

    def model_step(self, batch: dict[str, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
        out = self.model(**model_inputs(self.model, batch, labels=True))
        return out.loss, out.logits

    def training_step(self, batch: dict[str, torch.Tensor], batch_idx: int) -> torch.Tensor:
        loss, _ = self.model_step(batch)
        self.log("train/loss", loss, prog_bar=True, batch_size=len(batch["input_ids"]))
        return loss

    def _eval_step(self, batch: dict[str, torch.Tensor], stage: str) -> None:
        loss, logits = self.model_step(batch)
        self.log(f"{stage}/loss", loss, sync_dist=True, batch_size=len(batch["input_ids"]))
        if self._decode_fn is None:
            self._decode_fn = self.task.decoder(self.model, self.hparams.decode)
        self._records.extend(self.task.gather(batch, logits.detach().cpu(), self._decode_fn))

    def validation_step(self, batch: dict[str, torch.Tensor], batch_idx: int) -> None:
        self._eval_step(batch, "val")

    def test_step(self, batch: dict[str, torch.Tensor], batch_idx: int) -> None:
        self._eval_step(batch, "test")

    def _eval_epoch_end(self, stage: str) -> None:
        records, decode_fn, self._decode_fn = self._records, self._decode_fn, None
        if dist.is_available() and dist.is_initialized():
            parts: list[Any] = [None] * dist.get_world_size()
            dist.all_gather_object(parts, records)
            records = [r for part in parts for r in part]
        self._records = []
        if not records or self.trainer.sanity_checking:
            return
        if hasattr(self.task, "join_windows"):  # token tasks: decode long sentences across their windows
            self.task.join_windows(records, decode_fn)
        scores = self.task.score(records, self.id2label)
        self.last_scores = scores
        for key, value in scores.items():
            if isinstance(value, float):
                # every rank gathered all records, so every rank logs the same value
                self.log(f"{stage}/{key}", value, prog_bar=key in {"f1", "accuracy"})

    def on_validation_epoch_end(self) -> None:
        self._eval_epoch_end("val")

    def on_test_epoch_end(self) -> None:
        self._eval_epoch_end("test")

    def configure_optimizers(self) -> dict[str, Any]:
        hp = self.hparams
        no_decay = ("bias", "LayerNorm.weight", "layer_norm.weight", "norm.weight")
        groups = [
            {"params": [p for n, p in self.named_parameters() if not (n.endswith(no_decay) or ".crf." in n)],
             "weight_decay": hp.weight_decay},
            {"params": [p for n, p in self.named_parameters() if n.endswith(no_decay) or ".crf." in n],
             "weight_decay": 0.0},
        ]
        try:  # the fused kernel takes an AdamW step over all 22.7M MiniLM weights ~6x faster on CPU
            optimizer = torch.optim.AdamW(groups, lr=hp.lr, fused=True)
        except (RuntimeError, ValueError):
            optimizer = torch.optim.AdamW(groups, lr=hp.lr)
        total = max(1, int(self.trainer.estimated_stepping_batches))
        scheduler = get_linear_schedule_with_warmup(optimizer, int(hp.warmup_ratio * total), total)
        return {"optimizer": optimizer, "lr_scheduler": {"scheduler": scheduler, "interval": "step"}}
