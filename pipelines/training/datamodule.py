"""The Lightning data module shared by every task: read splits, encode with the task, bucket, pad."""

from __future__ import annotations

import logging
from typing import Any

import lightning.pytorch as pl
from datasets import Dataset
from torch.utils.data import DataLoader, RandomSampler, WeightedRandomSampler

from pipelines.config import DataConfig
from pipelines.data.batching import (
    Collator,
    Features,
    LengthGroupedSampler,
    TokenBudgetBatchSampler,
    resampling_weights,
    sorted_batches,
    token_budget,
)
from pipelines.data.readers import source_of
from pipelines.data.splits import load_splits
from pipelines.data.tags import flat_labels
from pipelines.errors import ConfigError, ReadError
from pipelines.training.module import make_task

log = logging.getLogger(__name__)
SPLITS = ("train", "validation", "test")
TEACHER = "teacher_logits"  # a split column of a teacher's scores per example (pipelines.training.distill)


def attach_teacher(features: Features, scores: list) -> None:
    """Give every feature row its example's teacher scores as `teacher_logits`: the (L,) row of a classifier,
    or for token tasks a (T, L) matrix holding each core word's (W, L) row at its first sub-token (zeros
    elsewhere; those positions are unlabelled, so no loss reads them)."""
    for row in features.rows:
        s = scores[row["example_id"]]
        if "word_starts" not in row:
            row[TEACHER] = list(s)
            continue
        width = len(s[0]) if len(s) else 0
        full = [[0.0] * width for _ in row["input_ids"]]
        for j, pos in enumerate(row["word_starts"]):
            full[pos] = list(s[row["core_start"] + j])
        row[TEACHER] = full


class TaskDataModule(pl.LightningDataModule):
    """Splits of `data` encoded by the task's `encode`, served in length-grouped, dynamically padded batches.

    Args:
        task: task name or Task instance.
        data: where and how to read (DataConfig).
        tokenizer: the encoder's tokenizer.
        labels: label vocabulary; None = `tasks.<task>.label_list(splits)` after reading.
        batch_size, eval_batch_size: examples (windows) per batch.
        bucketing: length-grouped training batches (False = uniform shuffling).
        seed: shuffling seed.
        splits: already-read splits (skips reading `data.path`).
        sampling: none | sqrt | balanced: training examples drawn with replacement, 1 / count(label)^(1/2 or
            1), for class imbalance (classification tasks).
        batch_tokens: > 0 = token-budget training batches (TokenBudgetBatchSampler: up to this many padded
            tokens each, length-grouped) instead of `batch_size` examples; "auto" = `batch_size` x the mean
            length of the encoded training split (set by `setup`).
    """

    def __init__(self, task: str, data: DataConfig, tokenizer: Any, labels: list[str] | None = None,
                 batch_size: int = 32, eval_batch_size: int = 64, bucketing: bool = True, seed: int = 0,
                 splits: dict[str, Dataset] | None = None, sampling: str = "none",
                 batch_tokens: int | str = 0, featurizers: dict[str, Any] | None = None) -> None:
        super().__init__()
        self.task = make_task(task)
        self.data, self.tokenizer, self.labels = data, tokenizer, labels
        self.batch_size, self.eval_batch_size, self.bucketing, self.seed = batch_size, eval_batch_size, bucketing, seed
        self.splits = splits
        self.featurizers = featurizers or {}  # the task's fitted featurizers, which its encode may read
        self.sampling = sampling
        self.batch_tokens = batch_tokens
        if batch_tokens and sampling != "none":
            raise ConfigError(f"train.batch_tokens={batch_tokens} with train.sampling={sampling}: choose one "
                              "(token-budget batches do not resample; train.batch_tokens=0 turns them off)")
        self.features: dict[str, Features] = {}
        self.collate = Collator(tokenizer.pad_token_id)

    def setup(self, stage: str | None = None) -> None:
        if self.features:
            return
        if self.splits is None:
            self.splits = load_splits(self.data, self.task.sample, seed=self.seed)
        spec = self.data.path or str(self.task.sample)
        for name in SPLITS:
            ds = self.splits.get(name)
            if ds is not None and (missing := [c for c in self.task.columns if c not in ds.column_names]):
                mapped = [f"data.{c}_field=<column>" for c in ("text", "label") if c in missing]
                hint = f"; name the column that holds it with {', '.join(mapped)}" if mapped else ""
                raise ReadError(ds.info.description or spec, None, f"split {name!r} lacks {missing} (has "
                                f"{[c for c in ds.column_names if c not in ('id', 'line')]}); task "
                                f"{self.task.name!r} needs {list(self.task.columns)}{hint}")
            for col in self.task.columns if ds is not None else ():
                empty = [i for i, v in enumerate(ds[col]) if v is None]
                if empty:
                    raise ReadError(source_of(ds, empty[0], spec), None,
                                    f"no {col!r} in this record (split {name!r}: {len(empty)} such records); task "
                                    f"{self.task.name!r} needs it on every record")
        if self.labels is None:
            self.labels = flat_labels(self.task.label_list(self.splits))
            if len([lab for lab in self.labels if lab != "O"]) < (1 if "O" in self.labels else 2):
                raise ReadError(spec, None, f"the training data has only the label(s) {self.labels}: a model needs "
                                "at least two classes (or one entity type) to learn anything")
        label2id = {lab: i for i, lab in enumerate(self.labels)}
        for name in SPLITS:
            if name in self.splits:
                self.features[name] = self.task.encode(self.splits[name], self.tokenizer, label2id, self.data,
                                                       self.featurizers)
                if TEACHER in self.splits[name].column_names:
                    attach_teacher(self.features[name], self.splits[name][TEACHER])
                n_ex, n_feat = len(self.splits[name]), len(self.features[name])
                if n_feat > n_ex:
                    log.info("%s: %d examples became %d windows (data.max_length=%d)", name, n_ex, n_feat,
                             self.data.max_length)
        if self.batch_tokens == "auto" and "train" in self.features:
            lengths = self.features["train"].lengths
            self.batch_tokens = token_budget(lengths, self.batch_size)
            log.info("train.batch_tokens=auto: up to %d padded tokens per batch (%d x the mean length %.1f)",
                     self.batch_tokens, self.batch_size, sum(lengths) / max(1, len(lengths)))

    def train_dataloader(self) -> DataLoader:
        import torch

        feats = self.features["train"]
        if self.batch_tokens:
            batches = TokenBudgetBatchSampler(feats.lengths, self.batch_tokens, seed=self.seed)
            return DataLoader(feats, batch_sampler=batches, collate_fn=self.collate)
        weights = self._resampling_weights(feats)
        if self.bucketing:
            sampler = LengthGroupedSampler(feats.lengths, self.batch_size, seed=self.seed, weights=weights)
        elif weights is not None:
            sampler = WeightedRandomSampler(weights, len(feats), generator=torch.Generator().manual_seed(self.seed))
        else:
            sampler = RandomSampler(feats, generator=torch.Generator().manual_seed(self.seed))
        return DataLoader(feats, batch_size=self.batch_size, sampler=sampler, collate_fn=self.collate)

    def _resampling_weights(self, feats: Features) -> list[float] | None:
        """Per-example draw weights for `sampling` (sqrt | balanced), from the features' class labels."""
        if self.sampling == "none":
            return None
        target, _ = self.task.class_targets(self.labels)
        labels = [row.get(target, -100) for row in feats.rows]
        if any(isinstance(x, list) for x in labels):
            raise ConfigError(f"train.sampling={self.sampling}: resampling needs one label per example; task "
                              f"{self.task.name!r} labels every word")
        return resampling_weights(labels, {"sqrt": 0.5, "balanced": 1.0}[self.sampling])

    def _eval_loader(self, name: str) -> DataLoader:
        feats = self.features[name]
        order = [i for batch in sorted_batches(feats.lengths, self.eval_batch_size) for i in batch]
        return DataLoader(feats, batch_size=self.eval_batch_size, sampler=order, collate_fn=self.collate)

    def val_dataloader(self) -> DataLoader:
        return self._eval_loader("validation")

    def test_dataloader(self) -> DataLoader:
        if "test" not in self.features:
            raise ValueError("this data has no test split")
        return self._eval_loader("test")
