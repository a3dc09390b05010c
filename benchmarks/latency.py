"""Batch-1 latency of `Predictor.predict` on one thread: the light encode route (plain columns) against the
route it replaced (a `datasets.Dataset` built per call), for a MiniLM intent model, its dynamic INT8 ONNX export
and a BiLSTM intent model of the distilled student's architecture (configs/distill_intent.yaml).

Models are trained on the shipped intent sample (speed does not depend on how well a model learned); texts are
CLINC150 test utterances (../shared/data/clinc150), one per call. The two routes alternate in `--reps` rounds
of `--calls` calls each on the same predictor, so a busy moment of the machine hits both.

    .venv/bin/python -m benchmarks.latency [--calls 500 --reps 3]      # -> reports/latency.{json,md}
"""

import argparse
import json
import time
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.common import INTENT_BEFORE_ECE, SHARED, find_or_train, generated_by, machine, write_report_md
from pipelines.cli import parse_args
from pipelines.io import write_json

RUNS = Path("runs/bench/latency")
STUDENT = ["model.architecture=bilstm", "model.pooling=max", "model.dropout=0.3", "train.epochs=10",
           "train.batch_size=64", "train.lr=2e-3", "train.weight_decay=0", "train.warmup_ratio=0"]
FAMILIES = ("classify", "tagging", "post_spans")  # the modules whose predict path builds the columns


def route(name: str) -> None:
    """Switch Predictor.predict's encode input: "light" (pipelines.data.columns) or "datasets" (as before)."""
    import importlib

    from datasets import Dataset

    from pipelines.data.columns import Columns

    for module in FAMILIES:
        importlib.import_module(f"pipelines.families.{module}").Columns = (Columns if name == "light"
                                                                           else Dataset.from_dict)


def latencies(predictor: Any, texts: list[str], calls: int, reps: int) -> dict[str, dict[str, float]]:
    """p50 / p99 ms per route over reps x calls single-text calls."""
    for t in texts[:50]:
        predictor.predict([t])
    ms: dict[str, list[float]] = {"light": [], "datasets": []}
    for _ in range(reps):
        for name in ms:
            route(name)
            for t in texts[:calls]:
                start = time.perf_counter()
                predictor.predict([t])
                ms[name].append(1000 * (time.perf_counter() - start))
    route("light")
    return {name: {"p50_ms": round(float(np.percentile(v, 50)), 3), "p99_ms": round(float(np.percentile(v, 99)), 3),
                   "calls": len(v)} for name, v in ms.items()}


def main(argv: list[str] | None = None) -> None:
    import torch

    from pipelines.inference.predict import Predictor
    from pipelines.inference.quantize import QuantizeConfig, quantize

    parser = argparse.ArgumentParser()
    parser.add_argument("--calls", type=int, default=500)
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--texts", default=str(SHARED / "clinc150" / "data_full.json"))
    parser.add_argument("--out", default="reports/latency")
    parser.add_argument("overrides", nargs="*", help="for both trainings (smoke runs)")
    args = parse_args(parser, argv)
    torch.set_num_threads(1)
    texts = [t for t, _ in json.loads(Path(args.texts).read_text())["test"]][:args.calls]
    teacher = find_or_train("intent", [*INTENT_BEFORE_ECE, "train.seed=1", *args.overrides], RUNS / "teacher")
    student = find_or_train("intent", [*INTENT_BEFORE_ECE, *STUDENT, "train.seed=1", *args.overrides],
                            RUNS / "student")
    int8 = teacher / "model-int8"
    if not (int8 / "quantize.json").exists():
        quantize(teacher, QuantizeConfig(method="dynamic", max_drop=100), int8, log=print)
    report: dict[str, Any] = {"machine": machine(), "threads": 1, "calls": args.calls, "reps": args.reps,
                              "texts": "CLINC150 test utterances, one per call", "models": {}}
    for name, folder in (("teacher_fp32", teacher), ("teacher_int8", int8), ("student_fp32", student)):
        report["models"][name] = {"folder": str(folder),
                                  **latencies(Predictor.load(folder, threads=1), texts, args.calls, args.reps)}
        write_json(f"{args.out}.json", report)
    p50 = {name: v["light"]["p50_ms"] for name, v in report["models"].items()}
    report["student_vs_teacher_p50"] = round(p50["teacher_fp32"] / p50["student_fp32"], 2)
    write_json(f"{args.out}.json", report)
    write_report_md(f"{args.out}.md", render(report))


def render(r: dict[str, Any]) -> str:
    lines = ["# Batch-1 latency: the light encode route", "", generated_by("benchmarks/latency.py", r["machine"]), "",
             f"`Predictor.predict([text])`, {r['threads']} torch / ONNX Runtime thread, {r['texts']}; "
             f"{r['reps']} alternating rounds of {r['calls']} calls per route. Models trained on the shipped intent "
             "sample: the shipped MiniLM intent config (teacher), its dynamic INT8 ONNX export, and a BiLSTM of the "
             "distilled student's architecture.", "",
             "| model | light p50 ms | light p99 ms | datasets p50 ms | datasets p99 ms |",
             "|---|---:|---:|---:|---:|"]
    for name, v in r["models"].items():
        lines.append(f"| {name} | {v['light']['p50_ms']:.2f} | {v['light']['p99_ms']:.2f} | "
                     f"{v['datasets']['p50_ms']:.2f} | {v['datasets']['p99_ms']:.2f} |")
    lines += ["", f"Teacher FP32 p50 / student p50 (light route): {r['student_vs_teacher_p50']:.1f}x.", ""]
    return "\n".join(lines)


if __name__ == "__main__":
    main()
