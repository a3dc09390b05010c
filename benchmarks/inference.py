"""Speed methods side by side, in one process, on CLINC150 (intent) and CoNLL-2003 (NER):

- teacher_fp32: the MiniLM teacher in PyTorch, batches in input order, each padded to data.max_length (what
  a plain loop over a tokenizer with padding="max_length" does);
- teacher_sorted: the same model through `Predictor` (dynamic padding, length-sorted batches);
- teacher_onnx: the ONNX graph with ONNX Runtime's full graph optimisation (`quantize method=fp32`);
- teacher_int8: dynamic INT8 (`method=dynamic`); teacher_static_<calibration>: static INT8 calibrated on 256
  training examples with minmax, entropy and percentile (accuracy for all three, speed for the best on dev);
- student_fp32 / student_onnx / student_int8 / student_static_entropy: the distilled BiLSTM
  (reports/distill.json: the best variant on dev, seed 1) in PyTorch, as ONNX, dynamic INT8 (the LSTM's weights
  too) and static INT8 (its MatMul/Gemm layers; ONNX Runtime has no static LSTM); accuracy for all, speed for
  all but the static one.

Per variant: test accuracy or entity F1, model MB, latency at batch 1 (p50, p99 over --latency-texts test
texts) and throughput at batch 64 (--throughput-texts texts), on 1 and 2 threads. Timings interleave the
variants over --rounds rounds; ratios to teacher_fp32 are medians of the per-round ratios.
Also: activation histograms of three tensors of the teacher intent graph with each calibrator's range
(reports/inference_calibration.png).

    .venv/bin/python -m benchmarks.inference [--parts intent ner]
Writes reports/inference.json, reports/inference.md and the plots.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import statistics
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from benchmarks.common import SHARED, machine, write_report_md
from pipelines.io import write_json
from pipelines.models.word_features import INPUTS
from pipelines.provenance import resolve_portable

RUNS = Path("runs/bench/distill")
PER_TOKEN = tuple(INPUTS.values())  # a word-feature tagger's per-sub-token inputs
DATA = {"intent": "clinc150/data_full.json", "ner": "conll2003"}
METRIC = {"intent": "accuracy", "ner": "f1"}
CALIBRATIONS = ("minmax", "entropy", "percentile")


def raw_texts(ds: Any) -> list[str]:
    return list(ds["text"]) if "text" in ds.column_names else [" ".join(t) for t in ds["tokens"]]


def naive(predictor: Any, texts: list[str], batch_size: int) -> None:
    """teacher_fp32: encode, batches in input order padded to max_length, forward, decode."""
    from datasets import Dataset

    from pipelines.data.batching import Collator
    from pipelines.models.outputs import detach_cpu, model_inputs

    task, tok, model = predictor.task, predictor.tokenizer, predictor.model
    column = {"text": texts} if "text" in task.columns else {"tokens": [t.split() for t in texts]}
    feats = task.encode(Dataset.from_dict(column), tok, {}, predictor.data, predictor.featurizers)
    decode_fn = task.decoder(model)
    width = predictor.data.max_length
    collate = Collator(tok.pad_token_id)
    with torch.inference_mode():
        for s in range(0, len(feats), batch_size):
            rows = [dict(r) for r in feats.rows[s:s + batch_size]]
            for r in rows:  # pad every row to the full window: a fixed-shape batch
                pad = width - len(r["input_ids"])
                for key in PER_TOKEN:  # a word-feature tagger's per-sub-token inputs, padded alike
                    if key in r:
                        r[key] = r[key] + [[] if key == "char_ids" else 0] * pad
                r["input_ids"] = r["input_ids"] + [tok.pad_token_id] * pad
                r["attention_mask_len"] = width - pad
                if "labels" in r:
                    r["labels"] = r["labels"] + [-100] * pad
            batch = collate(rows)
            lengths = batch.pop("attention_mask_len")
            batch["attention_mask"] = (torch.arange(width) < lengths[:, None]).long()
            task.gather(batch, detach_cpu(model(**model_inputs(model, batch))), decode_fn)


def timings(run: Any, texts_1: list[str], texts_64: list[str]) -> dict[str, float]:
    """p50/p99 ms of one text at a time, and texts/s at batch 64."""
    lat = []
    for t in texts_1:
        start = time.perf_counter()
        run([t], 1)
        lat.append(1000 * (time.perf_counter() - start))
    start = time.perf_counter()
    run(texts_64, 64)
    rate = len(texts_64) / (time.perf_counter() - start)
    return {"p50_ms": float(np.percentile(lat, 50)), "p99_ms": float(np.percentile(lat, 99)), "texts_per_s": rate}


def runner(predictor: Any, mode: str):
    if mode == "naive":
        return lambda texts, bs: naive(predictor, texts, bs)

    def run(texts: list[str], bs: int) -> None:
        predictor.batch_size = bs
        predictor.predict(texts)
    return run


def model_mb(path: Path) -> float:
    files = list(path.glob("*.onnx")) or list(path.rglob("*.safetensors"))
    return round(sum(f.stat().st_size for f in files) / 2**20, 1)


def build_variants(part: str, teacher: Path, student: Path | None, calibrations: list[str], log) -> dict[str, Path]:
    """Folder per variant (quantised folders written under the runs, gate off: every variant is measured)."""
    from pipelines.inference.quantize import QuantizationRefused, QuantizeConfig, quantize

    folders = {"teacher_fp32": teacher, "teacher_sorted": teacher}
    specs = [("teacher_onnx", teacher, QuantizeConfig(method="fp32", max_drop=100)),
             ("teacher_int8", teacher, QuantizeConfig(method="dynamic", max_drop=100))]
    specs += [(f"teacher_static_{c}", teacher, QuantizeConfig(method="static", calibration=c, max_drop=100))
              for c in calibrations]
    if student is not None:
        folders["student_fp32"] = student
        specs += [("student_onnx", student, QuantizeConfig(method="fp32", max_drop=100)),
                  ("student_int8", student, QuantizeConfig(method="dynamic", max_drop=100)),
                  ("student_static_entropy", student, QuantizeConfig(method="static", max_drop=100))]
    for name, run, qcfg in specs:
        out = run / f"model-{name.split('_', 1)[1]}"  # e.g. teacher_int8 -> <teacher>/model-int8
        if not (out / "quantize.json").exists():
            try:
                quantize(run, qcfg, out, log=log)
            except QuantizationRefused as err:  # cannot happen at max_drop=100; kept for clarity
                log(str(err))
                continue
        folders[name] = out
    return folders


def measure_part(part: str, args: argparse.Namespace, log) -> dict[str, Any]:
    from pipelines.config import DataConfig
    from pipelines.data.splits import load_splits
    from pipelines.inference.evaluate import evaluate
    from pipelines.inference.predict import Predictor

    teacher = Path(args.teacher) if args.teacher else distilled_teacher(part)
    student = Path(args.student) if args.student else best_student(part)
    splits = load_splits(DataConfig(path=str(SHARED / DATA[part])), "", seed=0)
    test = splits["test"]
    folders = build_variants(part, teacher, student, args.calibrations, log)
    rng = np.random.default_rng(0)
    texts = raw_texts(test)
    order = rng.permutation(len(texts))
    texts_1 = [texts[i] for i in order[:args.latency_texts]]
    texts_64 = [texts[i] for i in order[:args.throughput_texts]]
    result: dict[str, Any] = {"teacher": str(teacher), "student": str(student) if student else None, "variants": {}}
    for name, folder in folders.items():
        p = Predictor.load(folder)
        q = json.loads((folder / "quantize.json").read_text()) if (folder / "quantize.json").exists() else {}
        score = 100 * evaluate(p, test)[METRIC[part]] if name != "teacher_fp32" else None
        result["variants"][name] = {"test": score, "dev_drop": q.get("drop"), "mb": model_mb(folder),
                                    "folder": str(folder), "timings": {}}
        log(f"{part} {name}: test {score}, {model_mb(folder)} MB")
    result["variants"]["teacher_fp32"]["test"] = result["variants"]["teacher_sorted"]["test"]  # same model
    statics = {n: v for n, v in result["variants"].items() if n.startswith("teacher_static_")}
    best_static = min(statics, key=lambda n: statics[n]["dev_drop"]) if statics else None
    result["best_static"] = best_static
    timed = [n for n in result["variants"] if "_static_" not in n or n == best_static]
    for threads in args.threads:
        torch.set_num_threads(threads)
        runs = {n: runner(Predictor.load(folders[n], threads=threads), "naive" if n == "teacher_fp32" else "")
                for n in timed}
        for run in runs.values():  # warm-up
            run(texts_1[:8], 1)
        rounds: dict[str, list[dict[str, float]]] = {n: [] for n in timed}
        for _ in range(args.rounds):
            for n in timed:
                rounds[n].append(timings(runs[n], texts_1, texts_64))
        for n in timed:
            base = rounds["teacher_fp32"]
            med = {k: statistics.median(r[k] for r in rounds[n]) for k in rounds[n][0]}
            med["speedup_batch1"] = statistics.median(b["p50_ms"] / r["p50_ms"]
                                                      for b, r in zip(base, rounds[n], strict=True))
            med["speedup_batch64"] = statistics.median(r["texts_per_s"] / b["texts_per_s"]
                                                       for b, r in zip(base, rounds[n], strict=True))
            result["variants"][n]["timings"][str(threads)] = {k: round(v, 2) for k, v in med.items()}
            log(f"{part} {n} threads={threads}: {result['variants'][n]['timings'][str(threads)]}")
    return result


def distilled_teacher(part: str) -> Path:
    """The teacher benchmarks.distill used (reports/distill.json), else runs/bench/distill/teacher-<part>-seed1."""
    path = Path("reports/distill.json")
    if path.exists():
        run = json.loads(path.read_text())["parts"].get(part, {}).get("teacher", {}).get("run")
        if run:
            return Path(run)
    return RUNS / f"teacher-{part}-seed1"


def best_student(part: str) -> Path | None:
    """The distilled variant with the best dev mean in reports/distill.json (seed 1's run)."""
    path = Path("reports/distill.json")
    if not path.exists():
        return None
    students = json.loads(path.read_text())["parts"].get(part, {}).get("students", {})
    if not students:
        return None
    name = max(students, key=lambda n: students[n]["dev_mean"])
    run = RUNS / f"{part}-{name.replace('+', '_')}-seed{students[name]['seeds'][0]}"
    return run if run.exists() else None


def plot_calibration(teacher: Path, out: Path, log) -> dict[str, Any]:
    """Histograms of three activations of the teacher's ONNX graph with each calibrator's range drawn on them:
    the most long-tailed tensor (largest max|x| over its 99.99th percentile), the least, and one between."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from pipelines.data.splits import load_splits
    from pipelines.inference.onnx import export_onnx
    from pipelines.inference.predict import Predictor
    from pipelines.inference.quantize import QuantizeConfig, batches, calibrate

    p = Predictor.load(teacher)
    splits = load_splits(dataclasses.replace(p.data, path=resolve_portable(p.data.path)), p.task.sample, seed=0)
    feats = p.task.encode(splits["train"], p.tokenizer, {}, p.data, p.featurizers)
    calib = batches(feats, p.tokenizer.pad_token_id, count=256, seed=0)
    work = out.parent / ".calibration"
    work.mkdir(exist_ok=True)
    spec = export_onnx(p.model, calib[0], work / "fp32.onnx")
    ranges, hists = {}, None
    for c in CALIBRATIONS:
        data, calibrator = calibrate(work / "fp32.onnx", QuantizeConfig(method="static", calibration=c), calib,
                                     spec["inputs"], work)
        ranges[c] = {k: (float(np.min(v.range_value[0])), float(np.max(v.range_value[1]))) for k, v in data.items()}
        if c == "entropy":
            hists = calibrator.collector.histogram_dict
    tails = {}
    for name, (hist, edges, lo, hi, *_) in hists.items():
        centres = (edges[:-1] + edges[1:]) / 2
        cdf = np.cumsum(hist) / max(hist.sum(), 1)
        p9999 = abs(centres[np.searchsorted(cdf, 0.9999)]) if hist.sum() else 0
        if p9999 > 0 and name in ranges["minmax"]:
            tails[name] = max(abs(lo), abs(hi)) / p9999
    ranked = sorted(tails, key=tails.get)
    chosen = [ranked[-1], ranked[len(ranked) // 2], ranked[0]]
    fig, axes = plt.subplots(1, 3, figsize=(15, 4))
    colours = {"minmax": "tab:red", "entropy": "tab:green", "percentile": "tab:purple"}
    for ax, name in zip(axes, chosen, strict=True):
        hist, edges = hists[name][:2]
        ax.bar(edges[:-1], np.maximum(hist, 0.5), width=np.diff(edges), color="0.6", log=True)
        for c in CALIBRATIONS:
            lo, hi = ranges[c][name]
            for x in (lo, hi):
                ax.axvline(x, color=colours[c], ls="--", label=c if x == lo else None)
        ax.set_title(f"{name[-48:]}\nmax|x| / p99.99 = {tails[name]:.1f}", fontsize=8)
        ax.set_xlabel("activation value")
    axes[0].set_ylabel("count (log)")
    axes[0].legend()
    fig.suptitle("Teacher (MiniLM, CLINC150) activations on 256 training utterances and each calibrator's range")
    fig.tight_layout()
    fig.savefig(out, dpi=110)
    for f in work.iterdir():
        f.unlink()
    work.rmdir()
    log(f"calibration plot: {out}")
    return {"tensors": {n: {"tail_ratio": round(tails[n], 2),
                            **{c: [round(x, 3) for x in ranges[c][n]] for c in CALIBRATIONS}} for n in chosen},
            "tail_ratio_median_all": round(float(np.median(list(tails.values()))), 2), "tensors_calibrated": len(tails)}


def markdown(report: dict[str, Any]) -> str:
    lines = ["# Fast inference: FP32, ONNX, INT8 and distilled students", "",
             f"Generated by `benchmarks/inference.py`; machine: {report['machine']['cpu']}, "
             f"{report['machine']['cores']} cores, torch {report['machine']['torch']}. Ratios are to teacher_fp32 in "
             "the same process, medians over interleaved rounds.", ""]
    for part, res in report["parts"].items():
        lines += [f"## {part} ({METRIC[part]}, test)", "",
                  "| variant | test | dev drop | MB | threads | p50 ms (b=1) | p99 ms | texts/s (b=64) | x b=1 "
                  "| x b=64 |",
                  "|---|---|---|---|---|---|---|---|---|---|"]
        for name, v in res["variants"].items():
            test = f"{v['test']:.2f}" if v["test"] is not None else "-"
            drop = f"{v['dev_drop']:.2f}" if v["dev_drop"] is not None else "-"
            if not v["timings"]:
                lines.append(f"| {name} | {test} | {drop} | {v['mb']} | - | - | - | - | - | - |")
            for threads, t in v["timings"].items():
                lines.append(f"| {name} | {test} | {drop} | {v['mb']} | {threads} | {t['p50_ms']} | {t['p99_ms']} | "
                             f"{t['texts_per_s']} | {t['speedup_batch1']} | {t['speedup_batch64']} |")
        lines.append("")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--parts", nargs="+", default=list(DATA), choices=list(DATA))
    parser.add_argument("--teacher", help="teacher run (default: runs/bench/distill/teacher-<part>-seed1)")
    parser.add_argument("--student", help="student run (default: the best distilled variant on dev)")
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--latency-texts", type=int, default=100)
    parser.add_argument("--throughput-texts", type=int, default=512)
    parser.add_argument("--calibrations", nargs="+", default=list(CALIBRATIONS), choices=CALIBRATIONS)
    parser.add_argument("--no-plot", action="store_true")
    parser.add_argument("--out", default="reports/inference.json")
    args = parser.parse_args(argv)
    path = Path(args.out)
    report = json.loads(path.read_text()) if path.exists() else {"parts": {}}
    report["machine"] = machine()

    def log(msg: str) -> None:
        print(msg, flush=True)

    for part in args.parts:
        report["parts"][part] = measure_part(part, args, log)
        write_json(path, report)
        write_report_md(path.with_suffix(".md"), markdown(report))
    if not args.no_plot and "intent" in args.parts:
        teacher = Path(args.teacher) if args.teacher else distilled_teacher("intent")
        report["calibration"] = plot_calibration(teacher, path.with_name("inference_calibration.png"), log)
        write_json(path, report)


if __name__ == "__main__":
    main()
