"""NER on CoNLL-2003: Transformer vs Transformer+CRF vs Transformer+constrained decoding vs BiLSTM-CRF.

Every variant is a config of the `ner` task; seeds x variants are trained (dev-based model selection),
each run is kept under runs/bench/compare/<variant>-seed<k> and skipped when it already finished, so the
script resumes where it stopped. `softmax_viterbi` re-decodes the `softmax` models (no training);
`softmax_viterbi_int8` is that decoding on the same models after dynamic INT8 quantization of their Linear
layers (torch.ao, no retraining): the size/speed practice.

    .venv/bin/python -m benchmarks.ner_compare --seeds 1 2 3 [--variants softmax crf ...]
Writes reports/ner_compare.json, reports/ner_compare.md and reports/ner_compare.png.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from benchmarks.common import (
    NER_BEFORE_CASING,
    NER_BEFORE_CRF,
    SHARED,
    find_or_train,
    machine,
    mean_sd,
    write_report_md,
)
from pipelines.cli import parse_args
from pipelines.config import CONFIG_DIR
from pipelines.io import write_json
from pipelines.provenance import portable_path

# Unlabelled text for the BiLSTM's word2vec: news-like English in ../shared/data (never the CoNLL dev/test text).
UNLABELLED = f"{SHARED / 'bbc_news'},{SHARED / '20newsgroups' / 'train.jsonl.gz'}"
BILSTM = ["model.architecture=bilstm", "model.head=crf", "train.epochs=15"]  # 15 of the config's 30: CPU budget
VARIANTS = {
    "softmax": NER_BEFORE_CRF,  # argmax, no word features, as measured
    "crf": ["model.head=crf", *NER_BEFORE_CASING],  # no word features, one learning rate, as measured
    "softmax_viterbi": None,  # the softmax runs, decoded with model.decode=viterbi
    "softmax_viterbi_int8": None,  # the same, Linear layers quantized to INT8 (dynamic)
    "bilstm_crf_word2vec": [*BILSTM, "model.word_vectors=word2vec", f"model.word2vec_text={UNLABELLED}"],
    "bilstm_crf_random": [*BILSTM, "model.word_vectors=random"],
}
DERIVED = {"softmax_viterbi": ("softmax", "viterbi", False), "softmax_viterbi_int8": ("softmax", "viterbi", True)}
CONFIGS = {v: str(CONFIG_DIR / "ner_bilstm.yaml") for v in VARIANTS if v.startswith("bilstm")}
def train_once(variant: str, seed: int, data: str, extra: list[str], out_dir: Path) -> Path:
    overrides = [*VARIANTS[variant], f"data.path={data}", f"train.seed={seed}", *extra]
    return find_or_train("ner", overrides, out_dir / f"{variant}-seed{seed}", CONFIGS.get(variant))


def measure(run_dir: Path, splits: dict, decode: str | None, texts: list[str], int8: bool = False) -> dict:
    """Dev/test scores (decode overridden when given; int8: Linear layers quantized dynamically), inference
    sentences/s, parameter count (of the float model)."""
    from pipelines.inference.evaluate import evaluate
    from pipelines.inference.predict import Predictor

    predictor = Predictor.load(run_dir)
    params = sum(p.numel() for p in predictor.model.parameters())
    if decode:
        predictor = predictor.with_options(decode=decode)
    if int8:
        import torch
        from torch.ao.quantization import quantize_dynamic

        predictor.model = quantize_dynamic(predictor.model, {torch.nn.Linear}, dtype=torch.qint8)
    scores = {name: evaluate(predictor, ds) for name, ds in splits.items()}
    predictor.predict(texts[:64])
    t0 = time.perf_counter()
    predictor.predict(texts)
    speed = len(texts) / (time.perf_counter() - t0)
    meta = json.loads((run_dir / "metrics.json").read_text())
    return {"dev_f1": 100 * scores["validation"]["f1"], "test_f1": 100 * scores["test"]["f1"],
            "invalid_rate": 100 * scores["test"]["invalid_rate"],
            "per_type": {k: 100 * v["f1"] for k, v in scores["test"]["per_type"].items()},
            "infer_sents_per_s": speed, "params": params, "model_mb": state_mb(predictor.model),
            "train_seconds": meta["train_seconds"]}


def state_mb(model) -> float:
    """Size of the model's weights as torch.save writes them (INT8 layers included), in MB."""
    import io

    import torch

    buf = io.BytesIO()
    torch.save(model.state_dict(), buf)
    return buf.tell() / 1e6


def summarise(rows: list[dict]) -> dict:
    out = {}
    for key in ("test_f1", "dev_f1", "invalid_rate", "infer_sents_per_s", "train_seconds", "model_mb"):
        m, sd = mean_sd([r[key] for r in rows])
        out[f"{key}_mean"], out[f"{key}_sd"] = round(m, 2), round(sd, 2)
    out["per_type_f1_mean"] = {k: round(mean_sd([r["per_type"][k] for r in rows])[0], 2) for k in rows[0]["per_type"]}
    out["params"] = rows[0]["params"]
    out["seeds"] = [r["seed"] for r in rows]
    out["test_f1_per_seed"] = [round(r["test_f1"], 2) for r in rows]
    return out


def plot(report: dict, path: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = [v for v in VARIANTS if v in report["variants"]]
    res = [report["variants"][v] for v in names]
    fig, (a, b) = plt.subplots(1, 2, figsize=(11, 4))
    a.bar(names, [r["test_f1_mean"] for r in res], yerr=[r["test_f1_sd"] for r in res], color="tab:blue")
    a.set_ylim(min(r["test_f1_mean"] for r in res) - 3, max(r["test_f1_mean"] for r in res) + 1.5)
    a.set_ylabel("test entity F1 (strict IOB2)")
    b.bar(names, [r["infer_sents_per_s_mean"] for r in res], color="tab:green")
    b.set_ylabel("inference sentences/s (CPU)")
    for ax in (a, b):
        ax.tick_params(axis="x", rotation=30)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def markdown(report: dict) -> str:
    lines = ["# NER on CoNLL-2003: Transformer vs CRF", "",
             f"Data: {report['data']}. Metric: {report['metric']}. Machine: {report['machine']['cpu']}, "
             f"{report['machine']['cores']} cores. Commands: "
             + "; ".join(f"`{c}`" for c in report["commands"]) + ".", "",
             "| variant | seeds | test F1 | dev F1 | invalid sentences % | infer sent/s | train s | params | MB |",
             "|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for name, r in report["variants"].items():
        lines.append(f"| {name} | {len(r['seeds'])} | {r['test_f1_mean']:.2f} ± {r['test_f1_sd']:.2f} | "
                     f"{r['dev_f1_mean']:.2f} | "
                     f"{r['invalid_rate_mean']:.2f} | {r['infer_sents_per_s_mean']:.0f} | "
                     f"{r['train_seconds_mean']:.0f} | {r['params'] / 1e6:.1f}M | "
                     f"{r['model_mb_mean']:.0f} |")
    lines += ["", "Per-type test F1 (mean over seeds):", "", "| variant | " + " | ".join(
        next(iter(report["variants"].values()))["per_type_f1_mean"]) + " |"]
    lines.append("|---|" + "---:|" * len(next(iter(report["variants"].values()))["per_type_f1_mean"]))
    for name, r in report["variants"].items():
        lines.append(f"| {name} | " + " | ".join(f"{v:.2f}" for v in r["per_type_f1_mean"].values()) + " |")
    lines += ["", "![comparison](ner_compare.png)", ""]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    from pipelines.config import DataConfig
    from pipelines.data.splits import load_splits

    parser = argparse.ArgumentParser()
    parser.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3])
    parser.add_argument("--variants", nargs="+", default=list(VARIANTS), choices=list(VARIANTS))
    parser.add_argument("--data", default=str(SHARED / "conll2003"))
    parser.add_argument("--texts", type=int, default=2000, help="test sentences for the speed measurement")
    parser.add_argument("--out", default="reports/ner_compare")
    parser.add_argument("--runs", default="runs/bench/compare", help="where the trained runs are kept")
    parser.add_argument("overrides", nargs="*", help="extra section.key=value for every training run")
    args = parse_args(parser, argv)
    splits = load_splits(DataConfig(path=args.data), args.data)
    splits = {k: splits[k] for k in ("validation", "test")}
    texts = [" ".join(t) for t in splits["test"]["tokens"][: args.texts]]
    command = (f"python -m benchmarks.ner_compare --seeds {' '.join(map(str, args.seeds))} "
               f"--variants {' '.join(args.variants)} {' '.join(args.overrides)}").strip()
    old = Path(f"{args.out}.json")
    kept = json.loads(old.read_text()) if old.exists() else {}  # variants not rerun now are kept
    report = {"data": f"{portable_path(args.data)} (train / dev / test)", "metric": "entity F1, seqeval "
              "mode=strict scheme=IOB2, best epoch on dev; invalid = % of test sentences predicted as invalid IOB2",
              "commands": [c for c in kept.get("commands", []) if c != command] + [command],
              "machine": machine(),
              "variants": {k: v for k, v in kept.get("variants", {}).items() if k not in args.variants}}
    for variant in args.variants:
        rows = []
        for seed in args.seeds:
            source, decode, int8 = DERIVED.get(variant, (variant, None, False))
            run_dir = train_once(source, seed, args.data, args.overrides, Path(args.runs))
            rows.append({"seed": seed, **measure(run_dir, splits, decode, texts, int8)})
            report["variants"][variant] = summarise(rows)
            report["variants"] = {k: report["variants"][k] for k in VARIANTS if k in report["variants"]}
            write_json(f"{args.out}.json", report)
    plot(report, f"{args.out}.png")
    write_report_md(f"{args.out}.md", markdown(report))


if __name__ == "__main__":
    main()
