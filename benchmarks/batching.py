"""Fixed-size batches (length-bucketed) against token-budget batches, on CoNLL-2003 (NER) and CLINC150 (intent).

Per dataset: the shape of an epoch (steps, rows per batch, padded tokens per batch: the largest is what sets peak
memory), the training throughput over the same number of timed steps, and the dev score after the same wall time
of training (one epoch's schedule, stopped by train.max_minutes). The budget is the fixed batch size times the
mean sub-token length of the training split, so both see about the same tokens per step on average.

    .venv/bin/python -m benchmarks.batching [--minutes 3] [--seeds 1] [--steps 40]
Writes reports/batching.json / .md.
"""

from __future__ import annotations

import argparse
import json
import statistics
from pathlib import Path
from typing import Any

from benchmarks.common import (
    INTENT_BEFORE_ECE,
    INTENT_BEFORE_SEARCH,
    NER_BEFORE_CASING,
    SHARED,
    find_or_train,
    generated_by,
    machine,
    mean_sd,
    write_report_md,
)
from pipelines.io import write_json

BATCH = 32
DATASETS = {  # name: (task, data path under SHARED, max_length, dev metric)
    "conll2003": ("ner", "conll2003", 128, "f1"),
    "clinc150": ("intent", "clinc150/data_full.json", 64, "accuracy"),
}
# the configs as measured
PINNED = {"conll2003": NER_BEFORE_CASING, "clinc150": [*INTENT_BEFORE_ECE, *INTENT_BEFORE_SEARCH]}


def epoch_shape(lengths: list[int], sampler_batches: list[list[int]]) -> dict[str, Any]:
    """Steps, rows and padded tokens per batch, and how a per-batch mean loss weights short against long
    examples: each example's weight in its batch is 1 / rows, so `short_vs_long_weight` is the mean weight of
    the shortest quarter of the examples over that of the longest quarter (1.0 = every example counts the same)."""
    rows = [len(b) for b in sampler_batches]
    padded = [len(b) * max(lengths[i] for i in b) for b in sampler_batches]
    real = sum(lengths)
    weight = {i: 1 / len(b) for b in sampler_batches for i in b}
    by_length = sorted(weight, key=lambda i: lengths[i])
    quarter = max(1, len(by_length) // 4)
    short, long = by_length[:quarter], by_length[-quarter:]
    ratio = statistics.fmean(weight[i] for i in short) / statistics.fmean(weight[i] for i in long)
    return {"steps_per_epoch": len(sampler_batches), "rows_min": min(rows), "rows_median": statistics.median(rows),
            "rows_max": max(rows), "padded_tokens_mean": round(statistics.fmean(padded), 1),
            "padded_tokens_max": max(padded), "padding_share": round(1 - real / sum(padded), 3),
            "short_vs_long_weight": round(ratio, 3)}


def shapes(dm: Any, budget: int) -> dict[str, dict[str, Any]]:
    from pipelines.data.batching import LengthGroupedSampler, TokenBudgetBatchSampler

    lengths = dm.features["train"].lengths
    order = list(LengthGroupedSampler(lengths, BATCH, seed=1))
    fixed = [order[k:k + BATCH] for k in range(0, len(order), BATCH)]
    return {"fixed": epoch_shape(lengths, fixed),
            "budget": epoch_shape(lengths, TokenBudgetBatchSampler(lengths, budget, seed=1).batches())}


def throughput(task: str, dm: Any, steps: int, budget: int, encoder: str = "default") -> dict[str, float]:
    """Sentences and real sub-tokens per second over `steps` optimizer steps after the first WARMUP
    (benchmarks.throughput.StepClock)."""
    import lightning.pytorch as pl

    from benchmarks.throughput import WARMUP, StepClock
    from pipelines.training.module import TaskModule

    class Clock(pl.Callback):
        def __init__(self) -> None:
            self.clock = StepClock()

        def on_train_batch_end(self, trainer, module, outputs, batch, batch_idx) -> None:
            self.clock.tick(len(batch["input_ids"]), int(batch["attention_mask"].sum()))

    pl.seed_everything(0, verbose=False)
    dm.batch_tokens = budget
    module = TaskModule(task, dm.labels, {"encoder": encoder}, tokenizer=dm.tokenizer, lr=5e-5)
    clock = Clock()
    trainer = pl.Trainer(max_steps=steps + WARMUP, accelerator="cpu", logger=False, enable_checkpointing=False,
                         enable_progress_bar=False, enable_model_summary=False, limit_val_batches=0,
                         gradient_clip_val=1.0, callbacks=[clock])
    trainer.fit(module, train_dataloaders=dm.train_dataloader())
    totals = clock.clock.totals()
    return {k: totals[k] for k in ("sents_per_s", "tokens_per_s")}


def main(argv: list[str] | None = None) -> None:
    from pipelines.cli import parse_args
    from pipelines.config import DataConfig
    from pipelines.data.batching import token_budget
    from pipelines.models.encoders import load_tokenizer
    from pipelines.training.datamodule import TaskDataModule

    parser = argparse.ArgumentParser()
    parser.add_argument("--datasets", nargs="+", default=list(DATASETS))
    parser.add_argument("--minutes", type=float, default=3.0, help="training wall time per run")
    parser.add_argument("--seeds", type=int, nargs="+", default=[1])
    parser.add_argument("--steps", type=int, default=40, help="timed steps per throughput measurement")
    parser.add_argument("--out-dir", default="reports")
    parser.add_argument("--encoder", default="default", help="'tiny' for a smoke run")
    parser.add_argument("overrides", nargs="*")
    args = parse_args(parser, argv)
    out = Path(args.out_dir) / "batching.json"
    report: dict[str, Any] = json.loads(out.read_text()) if out.exists() else {"datasets": {}}
    report.update({"machine": machine(), "batch_size": BATCH, "minutes": args.minutes, "seeds": args.seeds})
    tok = load_tokenizer(args.encoder)
    for name in args.datasets:
        task, rel, max_length, metric = DATASETS[name]
        data = str(SHARED / rel)
        dm = TaskDataModule(task, DataConfig(path=data, max_length=max_length), tok, batch_size=BATCH, seed=1)
        dm.setup("fit")
        lengths = dm.features["train"].lengths
        budget = token_budget(lengths, BATCH)  # what train.batch_tokens=auto picks
        entry: dict[str, Any] = {"task": task, "max_length": max_length, "batch_tokens": budget,
                                 "mean_length": round(statistics.fmean(lengths), 1), "shape": shapes(dm, budget),
                                 "throughput": {"fixed": throughput(task, dm, args.steps, 0, args.encoder),
                                                "budget": throughput(task, dm, args.steps, budget, args.encoder)}}
        scores: dict[str, list[dict[str, float]]] = {"fixed": [], "budget": []}
        for seed in args.seeds:
            for kind, extra in (("fixed", []), ("budget", [f"train.batch_tokens={budget}"])):
                overrides = [*PINNED.get(name, []), f"data.path={data}", f"data.max_length={max_length}",
                             f"train.seed={seed}", "train.epochs=1", f"train.max_minutes={args.minutes}",
                             f"model.encoder={args.encoder}", *extra, *args.overrides]
                run_dir = find_or_train(task, overrides, Path("runs/bench/batching") / name / f"{kind}-seed{seed}")
                m = json.loads((run_dir / "metrics.json").read_text())
                scores[kind].append({"dev": 100 * m["validation"][metric], "steps": m["global_step"],
                                     "train_seconds": m["train_seconds"]})
        entry["same_wall_time"] = {kind: {"metric": metric, **{f"{k}_{s}": round(v, 2) for k in rows[0]
                                          for s, v in zip(("mean", "sd"), mean_sd([r[k] for r in rows]), strict=True)},
                                          "n_seeds": len(rows)} for kind, rows in scores.items()}
        report["datasets"][name] = entry
        write_json(out, report)
    write_report_md(out.with_suffix(".md"), render(report))


def render(r: dict[str, Any]) -> str:
    lines = ["# Fixed-size vs token-budget batches", "", generated_by("benchmarks/batching.py", r["machine"]), "",
             f"The bundled all-MiniLM-L6-v2. Fixed = {r['batch_size']} examples per batch from length buckets "
             "(the default); budget = up to `train.batch_tokens` padded sub-tokens per batch, also from length "
             f"buckets, with the budget = {r['batch_size']} x the mean training length. Dev after "
             f"{r['minutes']:g} minutes of training (one epoch's linear schedule, stopped by `train.max_minutes`), "
             f"seeds {' '.join(map(str, r['seeds']))}.", ""]
    for name, e in r["datasets"].items():
        f, b = e["shape"]["fixed"], e["shape"]["budget"]
        tf, tb = e["throughput"]["fixed"], e["throughput"]["budget"]
        wf, wb = e["same_wall_time"]["fixed"], e["same_wall_time"]["budget"]
        lines += [f"## {name} ({e['task']}, max_length {e['max_length']}, mean length {e['mean_length']}, "
                  f"budget {e['batch_tokens']})", "",
                  "| batches | steps / epoch | rows min / median / max | padded tokens mean / max | padding | "
                  "short / long weight | sentences/s | real tokens/s | steps in the time | dev " + wf["metric"] + " |",
                  "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
        for label, s, t, w in (("fixed", f, tf, wf), ("budget", b, tb, wb)):
            lines.append(f"| {label} | {s['steps_per_epoch']} | {s['rows_min']} / {s['rows_median']:g} / "
                         f"{s['rows_max']} | {s['padded_tokens_mean']:.0f} / {s['padded_tokens_max']} | "
                         f"{100 * s['padding_share']:.1f}% | {s['short_vs_long_weight']:.2f} | "
                         f"{t['sents_per_s']:.1f} | {t['tokens_per_s']:.0f} | "
                         f"{w['steps_mean']:.0f} | {w['dev_mean']:.2f} ± {w['dev_sd']:.2f} |")
        lines.append("")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
