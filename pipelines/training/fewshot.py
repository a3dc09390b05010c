"""Few-shot intents as a run a Predictor loads: contrastive fine-tuning of the encoder on the few examples, then a
cosine logistic head pulled toward the label texts' embeddings (the best of benchmarks/fewshot.py on CLINC150:
reports/fewshot.md).

    python -m pipelines.training.fewshot --data few_examples/ [--labels labels.yaml] [--epochs 0]
    make few-shot DATA=few_examples/ LABELS=labels.yaml

The run directory has the layout of `make train` (config.yaml, model/, metrics.json, report.md), so `make
predict`, `make serve`, `make eval` and `--init` (more examples and intents later) take it as they take any
intent run.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
import yaml

from pipelines.config import load_config, replace, to_dict
from pipelines.io import atomic_write_text
from pipelines.methods import fewshot as fs
from pipelines.models.pooling import MeanPoolClassifier
from pipelines.training.contrastive import fit_contrastive


def fit(texts: list[str], labels: list[str], written: dict[str, dict[str, str]], encoder: str = "default",
        epochs: int = 0, seed: int = 13, progress_bar: bool = True) -> tuple[MeanPoolClassifier, Any, dict[str, Any]]:
    """(model, tokenizer, facts): the encoder tuned contrastively on (texts, labels) for `epochs` (0 = about
    fs.ANCHOR_PASSES anchor visits) and a normalised-mean head fitted with the label-text prior."""
    names = sorted(set(labels))
    epochs = epochs or max(2, round(fs.ANCHOR_PASSES / len(texts)))
    start = time.perf_counter()
    tuned = fit_contrastive(texts, labels, encoder=encoder, epochs=epochs, seed=seed, progress_bar=progress_bar)
    x = tuned.sentences(texts)
    prior = fs.ZeroShot.build(tuned.sentences, fs.label_texts(names, "phrase+description", written)).vectors
    y = np.array([names.index(g) for g in labels])
    head = fs.SoftmaxHead(fs.L2, fs.PRIOR_SCALE * prior).fit(x, y, len(names))
    model = MeanPoolClassifier(tuned.model, names, dropout=0.0, normalize=True)
    with torch.no_grad():
        model.classifier.weight.copy_(torch.from_numpy(head.weight))
        model.classifier.bias.copy_(torch.from_numpy(head.bias))
    facts = {"contrastive_epochs": epochs, "prior_scale": fs.PRIOR_SCALE, "l2": fs.L2,
             "labels_with_written_text": sum(n in written for n in names), "train_seconds":
             round(time.perf_counter() - start, 1)}
    return model.eval(), tuned.tokenizer, facts


def main(argv: list[str] | None = None) -> int:
    from pipelines.data.splits import load_splits
    from pipelines.inference import reports
    from pipelines.inference.evaluate import evaluate
    from pipelines.inference.predict import Predictor, export, pipeline_meta
    from pipelines.provenance import code_version, portable_path
    from pipelines.registry import get_task
    from pipelines.training.train import print_results, setup_logging

    setup_logging()
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", required=True, help="intent data with a few examples per label")
    parser.add_argument("--labels", default="", help="YAML labels file: label -> description or {phrase, description}")
    parser.add_argument("--encoder", default="default")
    parser.add_argument("--epochs", type=int, default=0, help="contrastive epochs (0 = automatic)")
    parser.add_argument("--seed", type=int, default=13)
    parser.add_argument("--out", default="", help="run dir (default: runs/intent-fewshot-<time>)")
    args = parser.parse_args(argv)
    cfg = load_config(None, [f"data.path={args.data}", f"model.encoder={args.encoder}", f"train.seed={args.seed}"],
                      task="intent")
    task = get_task("intent", cfg.model)
    splits = load_splits(cfg.data, task.sample, seed=args.seed)
    written = fs.read_labels(args.labels) if args.labels else {}
    model, tokenizer, facts = fit(list(splits["train"]["text"]), list(splits["train"]["label"]), written,
                                  args.encoder, args.epochs, args.seed)
    run_dir = Path(args.out or f"runs/intent-fewshot-{time.strftime('%Y%m%d-%H%M%S')}")
    run_dir.mkdir(parents=True, exist_ok=True)
    cfg = replace(cfg, train={"epochs": facts["contrastive_epochs"]})
    atomic_write_text(run_dir / "config.yaml", yaml.safe_dump(to_dict(cfg), sort_keys=False))
    export(model, tokenizer, run_dir / "model", pipeline_meta(task, cfg.data))
    predictor = Predictor.load(run_dir)
    results = {n: evaluate(predictor, splits[n], predictor.data) for n in ("validation", "test") if n in splits}
    reports.write(run_dir, "metrics", f"intent: few-shot ({args.encoder})", results,
                  extra={"task": "intent", "encoder": args.encoder, "seed": args.seed, "method": "fewshot",
                         "labels_file": portable_path(args.labels), "data": portable_path(args.data), **facts,
                         **code_version()}, md_name="report")
    print_results(results, run_dir)
    return 0


if __name__ == "__main__":
    from pipelines.cli import run_cli

    run_cli(main)
