"""Incremental training: continue a finished run on new data, with labels it has never seen.

    python -m pipelines.training.train --task intent --init runs/X --data new_data/ train.replay=20
    make train TASK=intent INIT=runs/X DATA=new_data/ ARGS="train.replay=20"

`--init RUN` is `model.init=RUN` (pipelines.training.warm_start: every weight is taken over, head rows
by label name) plus what continual learning needs on top:
- the label set is the parent's labels followed by the new ones, so training on new data alone never drops
  an old row (what the new data lacks, the model keeps);
- new rows of the class head start at the mean of the new label's sentence vectors, scaled to the old rows'
  norm ("weight imprinting", Qi et al. 2018), where the head reads the pooled vector directly; elsewhere they
  start at the head's random init;
- `train.replay=N` (default 20 for classification tasks; 0 = new data only) mixes N examples of each old label
  from the training data of the parent and every run before it into the new data (rehearsal), chosen at
  random (`train.replay_select=random`, seeded: a class-balanced reservoir) or by
  herding (`herding`, Welling 2009 / iCaRL: examples whose running mean best follows the class mean of the
  parent model's sentence vectors);
- the run records its lineage in metrics.json: the parent run, its commit and data, the data added, the
  replayed count, and the parent's own lineage, so that "what was this model trained on" has an answer.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from datasets import Dataset, concatenate_datasets

from pipelines.config import RunConfig, finished_run, load_config
from pipelines.data.tags import flat_labels
from pipelines.errors import ConfigError
from pipelines.methods.offtopic import logits_and_features
from pipelines.provenance import portable_path

log = logging.getLogger(__name__)
# examples per earlier label replayed by default: 20 kept 99.1% of full retraining's accuracy on CLINC150
# (naive fine-tuning on the new data alone: 66%); reports/incremental.md
DEFAULT_REPLAY = 20


@dataclass
class Parent:
    """A finished run that a new one continues from."""

    model_dir: Path
    config: RunConfig
    labels: list[str]
    metrics: dict[str, Any]

    @property
    def run_dir(self) -> Path:
        return self.model_dir.parent


def parent_of(cfg: RunConfig) -> Parent | None:
    """The run `cfg.model.init` names (a run dir or its model/), or None for a fresh model."""
    folder = finished_run(cfg.model.init)
    return None if folder is None else parent_of_dir(folder.parent)


def parent_of_dir(run_dir: Path) -> Parent:
    folder = run_dir / "model"
    if not (run_dir / "config.yaml").is_file():
        raise ConfigError(f"{run_dir}: no config.yaml (not a run dir), so its data cannot be replayed")
    config = json.loads((folder / "config.json").read_text(encoding="utf-8"))
    labels = [config["id2label"][str(i)] for i in range(len(config["id2label"]))]
    metrics_file = run_dir / "metrics.json"
    metrics = json.loads(metrics_file.read_text(encoding="utf-8")) if metrics_file.is_file() else {}
    return Parent(folder, load_config(run_dir / "config.yaml"), labels, metrics)


def merged_labels(old: list[str], new: list[str]) -> list[str]:
    """The parent's labels in their order, then the new labels it lacks."""
    return [*old, *[x for x in new if x not in old]]


def replay_split(parent: Parent, task: Any, per_label: int, select: str, seed: int) -> Dataset:
    """Up to `per_label` training examples of each of the parent's labels, from the parent's own training data."""
    from pipelines.data.splits import load_splits

    train = concat_common([load_splits(run.config.data, task.sample, seed=run.config.train.seed)["train"]
                           for run in chain(parent)])
    gold = np.array(train[task.gold], dtype=object)
    picked: list[int] = []
    rng = np.random.default_rng(seed)
    vectors = parent_vectors(parent, task, train) if select == "herding" else None
    for label in parent.labels:
        idx = np.flatnonzero(gold == label)
        if len(idx) <= per_label:
            picked.extend(idx.tolist())
        elif vectors is None:
            picked.extend(rng.choice(idx, size=per_label, replace=False).tolist())
        else:
            picked.extend(idx[herding(vectors[idx], per_label)].tolist())
    log.info("replay: %d examples of %d earlier labels from %s (%s)", len(picked), len(parent.labels),
             parent.config.data.path or "the task's sample", select)
    return train.select(sorted(picked))


def chain(parent: Parent) -> list[Parent]:
    """The parent and every run before it (its lineage), nearest first: the data replay draws from."""
    runs, seen = [parent], {parent.run_dir.resolve()}
    while (up := (runs[-1].metrics.get("lineage") or {}).get("parent")) and Path(up).is_dir():
        if Path(up).resolve() in seen:
            break
        earlier = parent_of_dir(Path(up))
        runs.append(earlier)
        seen.add(earlier.run_dir.resolve())
    return runs


def parent_vectors(parent: Parent, task: Any, ds: Dataset) -> np.ndarray:
    """(N, H) unit sentence vectors of `ds` from the parent model (what herding selects by)."""
    from pipelines.inference.predict import Predictor

    pred = Predictor.load(parent.run_dir)
    feats = pred.task.encode(ds, pred.tokenizer, {}, pred.data, pred.featurizers)
    x = logits_and_features(pred.model, feats, pred.tokenizer.pad_token_id, pooled=True)[1]
    return x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)


def herding(x: np.ndarray, m: int) -> np.ndarray:
    """Indices of `m` rows of (n, H) `x` chosen greedily so that the mean of the chosen follows the mean of all."""
    mu, chosen, total = x.mean(0), [], np.zeros(x.shape[1])
    available = np.ones(len(x), dtype=bool)
    for k in range(1, m + 1):
        gaps = np.linalg.norm(mu[None] - (total[None] + x) / k, axis=1)
        gaps[~available] = np.inf
        i = int(gaps.argmin())
        chosen.append(i)
        available[i] = False
        total += x[i]
    return np.array(chosen)


@torch.no_grad()
def imprint(task: Any, model: torch.nn.Module, tokenizer: Any, ds: Dataset, data: Any, new: list[str]) -> int:
    """Set the class-head rows of the `new` labels to their examples' mean sentence vector (scaled to the old
    rows' mean norm; bias = the old biases' mean). Returns how many rows were set (0 where the head does not
    read the pooled vector directly)."""
    if not new or not task.class_head or not getattr(model, "pooled_feeds_head", False):
        return 0
    head = model.get_submodule(task.class_head)
    labels = [model.config.id2label[i] for i in range(len(model.config.id2label))]
    label2id = {x: i for i, x in enumerate(labels)}
    pooled = logits_and_features(model, task.encode(ds, tokenizer, label2id, data), tokenizer.pad_token_id,
                                 pooled=True)[1]  # (N, H), the order of ds
    z = pooled / np.maximum(np.linalg.norm(pooled, axis=1, keepdims=True), 1e-12)
    gold = np.array([label2id.get(g, -1) for g in ds[task.gold]])
    new_ids = [label2id[x] for x in new if x in label2id and (gold == label2id[x]).any()]
    old_ids = [i for i in range(len(labels)) if labels[i] not in new]
    if not new_ids or not old_ids:
        return 0
    norm = head.weight[old_ids].norm(dim=1).mean()
    for i in new_ids:
        mean = torch.from_numpy(z[gold == i].mean(0)).to(head.weight)
        head.weight[i] = torch.nn.functional.normalize(mean, dim=0) * norm
        if head.bias is not None:
            head.bias[i] = head.bias[old_ids].mean()
    return len(new_ids)


def lineage(parent: Parent, cfg: RunConfig, new_labels: list[str], replayed: int) -> dict[str, Any]:
    """What this run was trained on, back to the first run of the chain."""
    return {"parent": portable_path(str(parent.run_dir)), "parent_commit": parent.metrics.get("commit"),
            "parent_data": portable_path(parent.config.data.path), "data_added": portable_path(cfg.data.path),
            "new_labels": new_labels, "replayed_examples": replayed, "replay_select": cfg.train.replay_select,
            "parent_lineage": parent.metrics.get("lineage")}


def concat_common(parts: list[Dataset]) -> Dataset:
    """The datasets one after the other, on the columns they all have (typed as the first's)."""
    keep = [c for c in parts[0].column_names if all(c in p.column_names for p in parts)]
    parts = [p.remove_columns([c for c in p.column_names if c not in keep]) for p in parts]
    return concatenate_datasets([parts[0], *(p.cast(parts[0].features) for p in parts[1:])])


def prepare(cfg: RunConfig, task: Any, splits: dict[str, Dataset]
            ) -> tuple[dict[str, Dataset], list[str] | None, dict[str, Any] | None]:
    """For a run that continues a finished one (cfg.model.init names it): the splits with its replayed data,
    the label list (the parent's, then the new) and the lineage; (splits, None, None) for a fresh run."""
    parent = parent_of(cfg)
    if parent is None:
        if cfg.train.replay > 0:
            raise ConfigError("train.replay replays a parent run's data: continue from one (--init RUN)")
        return splits, None, None
    new_labels = [x for x in flat_labels(task.label_list(splits)) if x not in parent.labels]
    per_label = cfg.train.replay if cfg.train.replay >= 0 else (DEFAULT_REPLAY if task.class_head else 0)
    replayed = 0
    if per_label:
        if not task.class_head:
            raise ConfigError(f"train.replay: task {cfg.task!r} is not a classification task")
        replay = replay_split(parent, task, per_label, cfg.train.replay_select, cfg.train.seed)
        splits = {**splits, "train": concat_common([splits["train"], replay])}  # the new data's columns first
        replayed = len(replay)
    labels = merged_labels(parent.labels, flat_labels(task.label_list(splits)))
    return splits, labels, lineage(parent, cfg, new_labels, replayed)
