"""The Lightning data module shared by every task: read splits, encode with the task, bucket, pad."""

from __future__ import annotations

import logging
from typing import Any

import lightning.pytorch as pl
from datasets import Dataset
from torch.utils.data import DataLoader, RandomSampler

from pipelines.config import DataConfig
from pipelines.data.batching import Collator, Features, LengthGroupedSampler, sorted_batches
from pipelines.data.splits import load_splits
from pipelines.errors import ReadError
from pipelines.training.module import make_task

log = logging.getLogger(__name__)
SPLITS = ("train", "validation", "test")


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
    """

    def __init__(self, task: str, data: DataConfig, tokenizer: Any, labels: list[str] | None = None,
                 batch_size: int = 32, eval_batch_size: int = 64, bucketing: bool = True, seed: int = 0,
                 splits: dict[str, Dataset] | None = None) -> None:
        super().__init__()
        self.task = make_task(task)
        self.data, self.tokenizer, self.labels = data, tokenizer, labels
        self.batch_size, self.eval_batch_size, self.bucketing, self.seed = batch_size, eval_batch_size, bucketing, seed
        self.splits = splits
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
                raise ReadError(spec, None, f"split {name!r} lacks {missing} (has {ds.column_names}); "
                                f"task {self.task.name!r} needs {list(self.task.columns)}")
        if self.labels is None:
            self.labels = self.task.label_list(self.splits)
        label2id = {lab: i for i, lab in enumerate(self.labels)}
        for name in SPLITS:
            if name in self.splits:
                self.features[name] = self.task.encode(self.splits[name], self.tokenizer, label2id, self.data)
                n_ex, n_feat = len(self.splits[name]), len(self.features[name])
                if n_feat > n_ex:
                    log.info("%s: %d examples became %d windows (data.max_length=%d)", name, n_ex, n_feat,
                             self.data.max_length)

    def train_dataloader(self) -> DataLoader:
        feats = self.features["train"]
        if self.bucketing:
            sampler = LengthGroupedSampler(feats.lengths, self.batch_size, seed=self.seed)
        else:
            import torch

            sampler = RandomSampler(feats, generator=torch.Generator().manual_seed(self.seed))
        return DataLoader(feats, batch_size=self.batch_size, sampler=sampler, collate_fn=self.collate)

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
