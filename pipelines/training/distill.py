"""Distil a trained run (the teacher) into a small student: `python -m pipelines.training.distill RUN [key=value ...]`.

The transfer set is the training split plus `distill.augment` augmented copies of it (pipelines.methods.augment:
masking, same-label word swaps, n-gram sampling). The teacher scores every example of it: per-class scores for
a classifier, per-word label distributions for a tagger (a CRF teacher's marginals). Original examples keep
their gold labels as the hard targets; augmented ones take the teacher's (the argmax class, or the most
probable valid IOB2 path over its marginals). The student then trains on
(1 - distill.weight) * hard loss + distill.weight * soft loss (KL at a temperature, or MSE of the scores;
pipelines.models.losses.Distillation) through the usual harness, and its run saves, loads and predicts through
`Predictor` like any other. `distill.loss=none` trains the same student on the gold labels alone (the
baseline of the ablation).

Config: `configs/distill_<task>.yaml` (a `distill:` section plus the student's `model:`/`train:`, and `data:`
keys that replace the teacher's data settings; the teacher's data path is the default).
"""

from __future__ import annotations

import argparse
import json
import logging
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from pipelines.cli import parse_args
from pipelines.config import CONFIG_DIR, RunConfig, build_run_config, build_section, read_raw
from pipelines.data.align import words_of
from pipelines.errors import ConfigError
from pipelines.io import atomic_write_text
from pipelines.methods.augment import Augmenter
from pipelines.provenance import portable_path, resolve_portable
from pipelines.training.datamodule import TEACHER

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class DistillConfig:
    loss: str = field(default="kl", metadata={"help": "kl | mse | none (no teacher: gold labels only)"})
    temperature: float = field(default=2.0, metadata={"help": "T of the KL"})
    weight: float = field(default=0.5, metadata={"help": "share of the soft loss"})
    augment: int = field(default=1, metadata={"help": "augmented copies of each training example"})
    p_mask: float = 0.1
    p_swap: float = 0.1
    p_ngram: float = 0.25
    max_ngram: int = 5
    teacher_batch_size: int = 64
    crf_scores: str = field(default="marginals", metadata={"help": "a CRF student: marginals (its per-word "
                                                                   "marginals) | emissions (its emission scores)"})

    def __post_init__(self) -> None:
        if self.loss not in {"kl", "mse", "none"}:
            raise ConfigError(f"distill.loss={self.loss!r}: expected kl|mse|none")
        if self.augment < 0:
            raise ConfigError(f"distill.augment={self.augment}: expected >= 0")
        if self.loss == "none" and self.augment:
            raise ConfigError("distill.loss=none trains on gold labels only: augmented copies need a teacher to "
                              "label them (set distill.augment=0)")
        Augmenter(self.p_mask, self.p_swap, self.p_ngram, self.max_ngram)  # checks the probabilities
        if self.crf_scores not in {"marginals", "emissions"}:
            raise ConfigError(f"distill.crf_scores={self.crf_scores!r}: expected marginals|emissions")


def load(teacher_run: str | Path, config: str | Path | None, overrides: list[str]) -> tuple[DistillConfig, RunConfig]:
    """The distillation settings and the student's run config: the teacher's task and data settings, with the
    config file's and the overrides' sections on top."""
    meta = teacher_meta(teacher_run)
    path = config or CONFIG_DIR / f"distill_{meta['task']}.yaml"
    raw = read_raw(path, overrides)
    dcfg = build_section(DistillConfig, raw.pop("distill", {}), "distill")
    if raw.setdefault("task", meta["task"]) != meta["task"]:
        raise ConfigError(f"{path}: task {raw['task']!r}, but the teacher {teacher_run} is a {meta['task']!r} run")
    raw["data"] = {**meta["data"], "path": resolve_portable(meta["data"]["path"]), **raw.get("data", {})}
    return dcfg, build_run_config(raw, path)


def teacher_meta(run: str | Path) -> dict[str, Any]:
    from pipelines.inference.predict import META, model_dir

    return json.loads((model_dir(run) / META).read_text(encoding="utf-8"))


def example_words(ds: Any, token_task: bool) -> tuple[list[list[str]], list[list[str]]]:
    """Per example its words and one label per word (the tag, or the example's class repeated)."""
    if token_task:
        return [list(t) for t in ds["tokens"]], [list(t) for t in ds["tags"]]
    words = words_of(ds["text"])
    return words, [[lab] * len(ws) for ws, lab in zip(words, ds["label"], strict=True)]


def teacher_scores(teacher: Any, ds: Any, batch_size: int) -> list[np.ndarray]:
    """Per example, the teacher's log-probabilities: (L,) for a classifier, (W, L) per word for a tagger."""
    dists = teacher.task.distributions(teacher.model, teacher.tokenizer, ds, teacher.data, batch_size,
                                       teacher.featurizers)
    return [np.log(np.clip(np.asarray(d, dtype=np.float64), 1e-30, None)).astype(np.float32) for d in dists]


def hard_labels(teacher: Any, scores: list[np.ndarray], token_task: bool) -> list[Any]:
    """The teacher's labels: the argmax class, or the most probable valid IOB2 path over the word scores."""
    import torch

    from pipelines.models.decoding import make_decoder
    from pipelines.task import labels_of

    labels = labels_of(teacher.model)
    if not token_task:
        return [labels[int(np.argmax(s))] for s in scores]
    decode = make_decoder(labels, "viterbi")
    return [[labels[k] for k in decode(torch.from_numpy(s), False)] if len(s) else [] for s in scores]


def transfer_set(teacher: Any, train: Any, dcfg: DistillConfig, seed: int) -> Any:
    """The training split plus augmented copies, every example with the teacher's scores (`teacher_logits`)."""
    from datasets import Dataset, concatenate_datasets

    token_task = "tokens" in train.column_names
    words, labels = example_words(train, token_task)
    augmenter = Augmenter(dcfg.p_mask, dcfg.p_swap, dcfg.p_ngram, dcfg.max_ngram)
    copies = augmenter.copies(words, labels, dcfg.augment, seed=seed) if dcfg.augment else []
    keep = ["tokens", "tags"] if token_task else ["text", "label"]
    base = train.remove_columns([c for c in train.column_names if c not in keep])
    if copies:
        if token_task:
            extra = Dataset.from_dict({"tokens": [w for _, w in copies]})
        else:
            extra = Dataset.from_dict({"text": [" ".join(w) for _, w in copies]})
        start = time.perf_counter()
        scores = teacher_scores(teacher, extra, dcfg.teacher_batch_size)
        column = {"tags" if token_task else "label": hard_labels(teacher, scores, token_task)}
        extra = Dataset.from_dict({**extra.to_dict(), **column}, features=base.features)
        log.info("teacher labelled %d augmented copies in %.0f s", len(copies), time.perf_counter() - start)
        base = concatenate_datasets([base, extra])
    start = time.perf_counter()
    scores = teacher_scores(teacher, base, dcfg.teacher_batch_size)
    log.info("teacher scored the transfer set (%d examples) in %.0f s", len(base), time.perf_counter() - start)
    return base.add_column(TEACHER, [s.tolist() for s in scores])


def distill(teacher_run: str | Path, dcfg: DistillConfig, cfg: RunConfig, run_dir: Path) -> dict[str, Any]:
    """Build the transfer set with the teacher, train the student into `run_dir`; returns its scores."""
    from pipelines.inference.predict import Predictor, run_splits
    from pipelines.models.losses import Distillation
    from pipelines.registry import get_task
    from pipelines.training.train import run

    task = get_task(cfg.task, cfg.model)
    if not task.distillable:
        raise ConfigError(f"task {cfg.task!r} cannot be distilled yet (its model has more than one score head)")
    # the teacher's dev set: a student scored on rows the teacher trained on would learn them from its logits
    splits = run_splits(teacher_run, cfg.data)
    teacher = None
    if dcfg.loss != "none":
        teacher = Predictor.load(teacher_run, batch_size=dcfg.teacher_batch_size)
        if teacher.task.name != cfg.task:
            raise ConfigError(f"the teacher {teacher_run} is a {teacher.task.name!r} run, the student {cfg.task!r}")
        splits = {**splits, "train": transfer_set(teacher, splits["train"], dcfg, cfg.train.seed)}
    run_dir.mkdir(parents=True, exist_ok=True)
    atomic_write_text(run_dir / "distill.yaml", yaml.safe_dump({"teacher": portable_path(str(teacher_run)),
                                                                "distill": asdict(dcfg)}, sort_keys=False))
    loss = None if dcfg.loss == "none" else Distillation(dcfg.loss, dcfg.temperature, dcfg.weight, dcfg.crf_scores)
    facts = {"distill": {**asdict(dcfg), "teacher": portable_path(str(teacher_run)),
                         "teacher_commit": teacher_meta(teacher_run).get("commit"),
                         "transfer_set": len(splits["train"])}}
    return run(cfg, run_dir, splits=splits, distillation=loss, facts=facts)


def main(argv: list[str] | None = None) -> int:
    from pipelines.training.train import _new_run_dir, print_results, setup_logging

    setup_logging()
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("teacher", help="the teacher's run dir")
    parser.add_argument("overrides", nargs="*", help="section.key=value, e.g. distill.loss=mse train.epochs=5")
    parser.add_argument("--config", help="YAML (default: configs/distill_<teacher's task>.yaml)")
    parser.add_argument("--data", help="data of the student (default: the teacher's)")
    parser.add_argument("--out", help="the student's run dir (default: runs/<task>-student-<time>)")
    args = parse_args(parser, argv)
    overrides = args.overrides + ([f"data.path={args.data}"] if args.data else [])
    dcfg, cfg = load(args.teacher, args.config, overrides)
    run_dir = Path(args.out) if args.out else _new_run_dir(cfg, "student")
    print_results(distill(args.teacher, dcfg, cfg, run_dir), run_dir)
    return 0


if __name__ == "__main__":
    from pipelines.cli import run_cli

    run_cli(main)
