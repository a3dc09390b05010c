"""The Lightning module shared by every task: the task's model, its loss hook, one `model_step`.

Usable in any Trainer (your callbacks, loggers, DDP):

    tok = load_tokenizer("default")
    dm = TaskDataModule("ner", DataConfig(path="data/"), tok); dm.setup("fit")
    module = TaskModule("ner", dm.labels, tokenizer=tok, lr=1e-4)
    Trainer(max_epochs=3).fit(module, datamodule=dm)
"""

from __future__ import annotations

import dataclasses
from typing import Any

import lightning.pytorch as pl
import torch
import torch.distributed as dist
from transformers import get_linear_schedule_with_warmup

from pipelines.config import ModelOptions
from pipelines.data.tags import LabelSets, flat_labels
from pipelines.errors import ConfigError
from pipelines.models import encoders
from pipelines.models.crf import word_log_marginals
from pipelines.models.losses import Criterion, Distillation
from pipelines.models.outputs import TaskOutput, model_inputs
from pipelines.registry import get_task, task_class
from pipelines.training.warm_start import warm_start


def make_task(task: Any, options: ModelOptions | dict[str, Any] | None = None) -> Any:
    """A Task instance from a name (with options: its Options object, a dict of its fields, or None for the
    defaults) or an instance already made."""
    if not isinstance(task, str):
        return task
    if isinstance(options, dict):
        try:
            options = task_class(task).Options.from_saved(options)
        except TypeError as err:
            raise ConfigError(f"options for task {task!r}: {err}") from None
    return get_task(task, options)


class TaskModule(pl.LightningModule):
    """Builds the task's model; logs `train/loss`, `val/<metric>` and `test/<metric>`.

    Args:
        task: a task name (a module in `tasks/`) or a Task instance (which carries its options).
        labels: label vocabulary; index = class id (a task's `LabelSets` is stored as its one list).
        options: the task's model options (its Options dataclass or a dict of its fields) when `task` is a
            name; None = the task's defaults, the same as configs/<task>.yaml's model section leaves them.
        tokenizer: the tokenizer the data module encodes with (default: the task's).
        featurizers: fitted featurizers (Task.fit_featurizers), e.g. word2vec vectors.
        criterion: the loss slot (label smoothing, class weights, soft targets); None = plain cross-entropy.
        lr, weight_decay, warmup_ratio: AdamW with linear warm-up and decay.
        head_lr: learning rate of everything outside the pretrained encoder (heads, CRF, feature embeddings);
            0 = `lr` for all. A fresh head often wants a larger rate than the weights being fine-tuned.
        layer_decay: layer-wise learning-rate decay inside the pretrained encoder (1 = off): its top layer
            trains at `lr`, each layer below at `layer_decay` times the one above, the embeddings lowest.
        gradient_checkpointing: recompute the encoder's activations in the backward pass instead of keeping
            them (less memory, about one more forward pass of time; reports/memory.md).
        rows_per_batch: with batches of varying size (token budgets) and a loss that is a mean over examples:
            the mean number of examples per batch. Each training loss is scaled by rows / rows_per_batch (a sum
            over the batch divided by a constant), so every example weighs the same whichever batch it lands
            in; a plain per-batch mean would weigh an example by 1 / its batch's size (short ones less).
            0 = off.
        model: a model already built; None = continued from the run `options.encoder` names, if it names one
            (pipelines.training.warm_start), else built by the task.
        distillation: with teacher scores in the batch (`teacher_logits`, same shape as the model's `logits`;
            pipelines.training.distill), the loss is (1 - w) * the task's loss + w * the soft loss at the
            labelled positions.
    """

    def __init__(self, task: Any, labels: list[str] | LabelSets, options: ModelOptions | dict[str, Any] | None = None,
                 tokenizer: Any = None, featurizers: dict[str, Any] | None = None,
                 criterion: Criterion | None = None, lr: float = 5e-5, weight_decay: float = 0.01,
                 warmup_ratio: float = 0.1, model: torch.nn.Module | None = None,
                 distillation: Distillation | None = None, head_lr: float = 0.0,
                 gradient_checkpointing: bool = False, rows_per_batch: float = 0.0,
                 layer_decay: float = 1.0) -> None:
        super().__init__()
        labels = flat_labels(labels)
        self.task = make_task(task, options)
        self.save_hyperparameters({"task": self.task.name, "labels": labels,
                                   "options": dataclasses.asdict(self.task.options), "lr": lr,
                                   "weight_decay": weight_decay, "warmup_ratio": warmup_ratio, "head_lr": head_lr,
                                   "layer_decay": layer_decay})
        tokenizer = tokenizer if tokenizer is not None else self.task.build_tokenizer({})
        if model is None:  # an encoder that names a finished run continues from it (head rows by label name)
            model = warm_start(self.task, list(labels), tokenizer, featurizers or {})
        self.model = model if model is not None else self.task.build_model(labels, tokenizer, featurizers)
        if gradient_checkpointing and not encoders.enable_checkpointing(self.model):
            raise ConfigError(f"train.gradient_checkpointing: task {self.task.name!r} with encoder "
                              f"{self.task.options.encoder!r} has no pretrained transformer to checkpoint")
        self.criterion = criterion or Criterion()
        self.rows_per_batch = rows_per_batch
        self.distillation = distillation
        if self.task.criterion_on_crf and getattr(self.model, "crf", None) is not None and not self.criterion.plain:
            raise ConfigError("train.label_smoothing, class_weights, focal_gamma and logit_adjustment apply to "
                              "softmax heads; this model has a CRF head (its loss is the CRF's likelihood)")
        self.id2label = dict(enumerate(labels))
        self._records: list[dict[str, Any]] = []
        self._decode_fn: Any = None  # built per evaluation: a CRF's transitions change while training
        self.last_scores: dict[str, Any] = {}

    def prepare(self, splits: dict[str, Any]) -> None:
        """Let the task fit data-derived model state before training (e.g. the joint task's slot mask)."""
        self.task.prepare_model(self.model, splits)

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor, **extra: torch.Tensor) -> TaskOutput:
        """(B, T) ids and mask (plus the model's extra inputs) -> its named outputs."""
        return self.model(input_ids=input_ids, attention_mask=attention_mask, **extra)

    def model_step(self, batch: dict[str, torch.Tensor]) -> tuple[torch.Tensor, TaskOutput]:
        out = self.model(**model_inputs(self.model, batch))
        loss = self.task.loss(self.model, out, batch, self.criterion)
        if self.distillation is not None and "teacher_logits" in batch:
            student = out.logits
            crf = getattr(self.model, "crf", None)
            if crf is not None and self.distillation.crf_scores == "marginals":
                student = word_log_marginals(crf, student, batch["word_starts"])  # (B, T, L)
            loss = self.distillation(loss, student, batch["teacher_logits"], batch["labels"] != -100)
        return loss, out

    def training_step(self, batch: dict[str, torch.Tensor], batch_idx: int) -> torch.Tensor:
        loss, _ = self.model_step(batch)
        self.log("train/loss", loss, prog_bar=True, batch_size=len(batch["input_ids"]))
        if self.rows_per_batch:
            loss = loss * (len(batch["input_ids"]) / self.rows_per_batch)
        return loss

    def _eval_step(self, batch: dict[str, torch.Tensor], stage: str) -> None:
        from pipelines.models.outputs import detach_cpu

        loss, out = self.model_step(batch)
        self.log(f"{stage}/loss", loss, sync_dist=True, batch_size=len(batch["input_ids"]))
        if self._decode_fn is None:
            self._decode_fn = self.task.decoder(self.model)
        cpu = {k: v.cpu() if torch.is_tensor(v) else v for k, v in batch.items()}
        self._records.extend(self.task.gather(cpu, detach_cpu(out), self._decode_fn))

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
        self.task.join_windows(records, decode_fn)
        scores = self.task.score(records, self.id2label)
        self.last_scores = scores
        # examples scored: under DDP each example once, although the distributed sampler repeats a few to even out
        # the ranks (every task's score keeps one record per example_id)
        self.log(f"{stage}/examples", float(len({r.example_id for r in records})))
        for key, value in scores.items():
            if isinstance(value, float):
                # every rank gathered all records, so every rank logs the same value
                self.log(f"{stage}/{key}", value, prog_bar=key in {"f1", "accuracy"})

    def on_validation_epoch_end(self) -> None:
        self._eval_epoch_end("val")

    def on_test_epoch_end(self) -> None:
        self._eval_epoch_end("test")

    def parameter_groups(self, lr: float, weight_decay: float, head_lr: float,
                         layer_decay: float = 1.0) -> list[dict[str, Any]]:
        """AdamW groups: encoder weights at `lr` (times layer_decay^(depth below the top layer) with
        `layer_decay` < 1), the rest (heads, CRF, feature embeddings) at `head_lr`; no weight decay on biases,
        norms and CRF transitions. Empty groups are left out."""
        no_decay = ("bias", "LayerNorm.weight", "layer_norm.weight", "norm.weight")
        encoder = encoders.pretrained_part(self.model)
        scale = encoders.layer_scales(encoder, layer_decay) if encoder is not None else {}
        groups: dict[tuple[bool, float, bool], list[torch.nn.Parameter]] = {}
        for name, p in self.named_parameters():
            decay = not (name.endswith(no_decay) or ".crf." in name)
            enc = id(p) in scale
            groups.setdefault((enc, lr * scale[id(p)] if enc else head_lr, decay), []).append(p)
        return [{"params": params, "lr": rate, "weight_decay": weight_decay if decay else 0.0}
                for (_, rate, decay), params in sorted(groups.items(), reverse=True)]

    def configure_optimizers(self) -> dict[str, Any]:
        hp = self.hparams
        groups = self.parameter_groups(hp.lr, hp.weight_decay, hp.get("head_lr", 0.0) or hp.lr,
                                       hp.get("layer_decay", 1.0))
        try:  # the fused kernel takes an AdamW step over all 22.7M MiniLM weights ~6x faster on CPU
            optimizer = torch.optim.AdamW(groups, lr=hp.lr, fused=True)
        except (RuntimeError, ValueError):
            optimizer = torch.optim.AdamW(groups, lr=hp.lr)
        total = max(1, int(self.trainer.estimated_stepping_batches))
        scheduler = get_linear_schedule_with_warmup(optimizer, int(hp.warmup_ratio * total), total)
        return {"optimizer": optimizer, "lr_scheduler": {"scheduler": scheduler, "interval": "step"}}
