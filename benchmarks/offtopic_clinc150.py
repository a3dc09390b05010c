"""Off-topic detection on CLINC150: detectors x data variants x seeds, with the default encoder.

Per (variant, seed) one intent model is trained on the in-scope data with the shipped configs/intent.yaml
(reused when a finished run with the same config exists, e.g. from benchmarks.intent_recipe), and every
detector is fitted on it: MSP, energy, Mahalanobis, relative Mahalanobis and kNN on the sentence features
(the vector the classifier reads). Thresholds are fitted on validation three ways: with `oos_val` (max
accuracy; max mean of the in-scope and out-of-scope recalls, "balanced") and without out-of-scope data (95%
in-scope recall). A "151st class" baseline is trained with `oos_train` as one more class (--no-151 skips it).

Metrics on test (in-scope test + oos_test): in-scope accuracy (Larson et al.: an in-scope query flagged
off-topic counts as wrong), out-of-scope recall, AUROC and AUPR (out-of-scope positive), FPR at 95% TPR.

    .venv/bin/python -m benchmarks.offtopic_clinc150 --seeds 1 2 3 --variants data_full data_small ...
Writes reports/offtopic_recipe.json, .md and offtopic_recipe_roc.png / _hist.png (data_full, first seed). With
--recipe-before the classifiers use the intent recipe shipped before the CLINC150 search (the runs of
benchmarks.intent_clinc150), and the report goes to reports/offtopic_clinc150, as that report was made.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from benchmarks.common import (
    INTENT_BEFORE_ECE,
    INTENT_BEFORE_SEARCH,
    SHARED,
    UNCALIBRATED,
    find_or_train,
    generated_by,
    machine,
    mean_sd,
    write_report_md,
)
from pipelines.cli import parse_args
from pipelines.io import atomic_write_text, write_json

DETECTORS = ("msp", "energy", "mahalanobis", "relative_mahalanobis", "knn", "combined")
SPLITS = ("train", "validation", "oos_validation", "test", "oos_test")
VARIANTS = ("data_full", "data_small", "data_imbalanced", "data_oos_plus")


def test_metrics(in_scores, oos_scores, in_correct, threshold) -> dict:
    from sklearn.metrics import average_precision_score, roc_auc_score, roc_curve

    y = np.r_[np.zeros(len(in_scores)), np.ones(len(oos_scores))]
    s = np.r_[in_scores, oos_scores]
    fpr, tpr, _ = roc_curve(y, s)
    return {"in_scope_acc": 100 * float(np.mean(in_correct & (in_scores <= threshold))),
            "oos_recall": 100 * float(np.mean(oos_scores > threshold)),
            "auroc": float(roc_auc_score(y, s)), "aupr": float(average_precision_score(y, s)),
            "fpr95": float(fpr[np.searchsorted(tpr, 0.95)])}


def score_run(run_dir: Path, splits: dict, base: dict) -> tuple[dict, dict]:
    """Every detector x threshold mode on one trained classifier; also returns raw test scores (plots).
    `base`: per split the pretrained encoder's embeddings (for `combined`)."""
    from pipelines.inference.predict import Predictor
    from pipelines.methods.offtopic import fit, logits_and_features

    p = Predictor.load(run_dir)
    label2id = {v: int(k) for k, v in p.model.config.id2label.items()}
    data = p.data
    views = {k: logits_and_features(p.model, p.task.encode(splits[k], p.tokenizer, label2id, data),
                                    p.tokenizer.pad_token_id) for k in SPLITS}
    both = {k: (lg, np.concatenate([f, base[k]], axis=1)) for k, (lg, f) in views.items()}
    train_ids = np.array([label2id[x] for x in splits["train"]["label"]])
    in_correct = views["test"][0].argmax(1) == np.array([label2id.get(x, -1) for x in splits["test"]["label"]])
    out, raw = {}, {}
    for det_name in DETECTORS:
        source = both if det_name == "combined" else views
        train, val, oos_val, test, oos_test = (source[k] for k in SPLITS)
        for mode, oos, balanced in (("oos_val", oos_val, False), ("oos_val_balanced", oos_val, True),
                                    ("no_oos", None, False)):
            det = fit(det_name, (*train, train_ids), val, oos, balanced=balanced, split=p.model.config.hidden_size)
            ins, outs = det.score(*test), det.score(*oos_test)
            out[f"{det_name}/{mode}"] = test_metrics(ins, outs, in_correct, det.threshold)
        raw[det_name] = (ins, outs)
    return out, raw


def base_embeddings(splits: dict, name: str = "default") -> dict:
    """The pretrained encoder's sentence embeddings per split (the same for every seed)."""
    from pipelines.models.pooling import FrozenEncoder

    encoder = FrozenEncoder(name)
    return {k: encoder.sentences(splits[k]["text"]) for k in SPLITS}


def baseline_151(run_dir: Path, splits: dict) -> dict:
    from pipelines.inference.predict import Predictor

    p = Predictor.load(run_dir)
    ins = p.predict(list(splits["test"]["text"]))
    outs = p.predict(list(splits["oos_test"]["text"]))
    return {"in_scope_acc": 100 * float(np.mean([r["label"] == g
                                                 for r, g in zip(ins, splits["test"]["label"], strict=True)])),
            "oos_recall": 100 * float(np.mean([r["label"] == "oos" for r in outs]))}


def with_oos_class(path: Path, out: Path) -> Path:
    """A copy of a CLINC file whose train/val carry oos_train/oos_val as the class 'oos' (151 classes)."""
    obj = json.loads(path.read_text())
    obj["train"] = obj["train"] + obj["oos_train"]
    obj["val"] = obj["val"] + obj["oos_val"]
    atomic_write_text(out, json.dumps(obj))
    return out


def plots(raw: dict, prefix: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from sklearn.metrics import roc_curve

    fig, ax = plt.subplots(figsize=(5, 5))
    for name, (ins, outs) in raw.items():
        fpr, tpr, _ = roc_curve(np.r_[np.zeros(len(ins)), np.ones(len(outs))], np.r_[ins, outs])
        ax.plot(fpr, tpr, label=name)
    ax.set_xlabel("false positive rate (in-scope flagged)")
    ax.set_ylabel("true positive rate (out-of-scope flagged)")
    ax.legend()
    fig.savefig(f"{prefix}_roc.png", dpi=100)
    fig, axes = plt.subplots(1, len(raw), figsize=(4 * len(raw), 3))
    for ax, (name, (ins, outs)) in zip(axes, raw.items(), strict=True):
        ax.hist(ins, bins=50, alpha=0.6, density=True, label="in-scope")
        ax.hist(outs, bins=50, alpha=0.6, density=True, label="out-of-scope")
        ax.set_title(name)
    axes[0].legend()
    fig.tight_layout()
    fig.savefig(f"{prefix}_hist.png", dpi=100)
    plt.close("all")


def main(argv: list[str] | None = None) -> None:
    from pipelines.data.readers import read_clinc

    parser = argparse.ArgumentParser()
    parser.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3])
    parser.add_argument("--variants", nargs="+", default=list(VARIANTS), choices=list(VARIANTS))
    parser.add_argument("--data", default=str(SHARED / "clinc150"))
    parser.add_argument("--out", default=None, help="default: reports/offtopic_recipe "
                                                    "(--recipe-before: reports/offtopic_clinc150)")
    parser.add_argument("--base-encoder", default="default", help="encoder of the `combined` detector's second view")
    parser.add_argument("--recipe-before", action="store_true",
                        help="train the classifiers with the intent recipe shipped before the CLINC150 search, as "
                             "reports/offtopic_clinc150 was made (default: the shipped configs/intent.yaml)")
    parser.add_argument("--no-151", dest="baseline_151", action="store_false",
                        help="skip the 151st-class baseline (one more training per variant and seed)")
    parser.add_argument("overrides", nargs="*")
    args = parse_args(parser, argv)
    if args.recipe_before:
        args.overrides = [*INTENT_BEFORE_SEARCH, *UNCALIBRATED, *args.overrides]  # as the report's runs were made
    args.out = args.out or ("reports/offtopic_clinc150" if args.recipe_before else "reports/offtopic_recipe")
    out_json = Path(f"{args.out}.json")
    # one call per variant set is allowed: variants measured by earlier calls are kept
    report: dict = json.loads(out_json.read_text()) if out_json.exists() else {"variants": {}}
    report.update({"data": "CLINC150 (../shared/data/clinc150)", "encoder": "all-MiniLM-L6-v2 (default)",
                   "machine": machine(), "anchors": {"Larson et al. BERT oos-train": [96.9, 40.3],
                                                     "Larson et al. BERT threshold": [96.2, 52.3],
                                                     "uncertainty-baselines BERT softmax AUROC": 0.942},
                   "goals": {"in_scope_acc": 96.0, "oos_recall": 75.0, "auroc": 0.98}})
    for variant in args.variants:
        path = Path(args.data) / f"{variant}.json"
        splits = read_clinc(path)
        embeddings = base_embeddings(splits, args.base_encoder)
        rows, base = [], []
        # data_oos_plus has data_full's in-scope splits (only oos_train grows): the same in-scope model serves
        in_scope = Path(args.data) / "data_full.json" if variant == "data_oos_plus" else path
        for seed in args.seeds:
            run_dir = find_or_train("intent", [*INTENT_BEFORE_ECE, f"data.path={in_scope}", f"train.seed={seed}",
                                               *args.overrides],
                                    Path("runs/bench/offtopic") / f"{variant}-seed{seed}")
            scores, raw = score_run(run_dir, splits, embeddings)
            rows.append(scores)
            if variant == "data_full" and seed == args.seeds[0]:
                plots(raw, args.out)
            if args.baseline_151:
                path151 = with_oos_class(path, Path("runs/bench/offtopic/data") / f"{variant}_151.json")
                b_dir = find_or_train("intent", [*INTENT_BEFORE_ECE, f"data.path={path151}", f"train.seed={seed}",
                                                 *args.overrides],
                                      Path("runs/bench/offtopic") / f"{variant}-151-seed{seed}")
                base.append(baseline_151(b_dir, splits))
            summary = {k: {m: [round(v, 4) for v in mean_sd([r[k][m] for r in rows])] for m in rows[0][k]}
                       for k in rows[0]}
            if base:
                summary["151st_class"] = {m: [round(v, 4) for v in mean_sd([b[m] for b in base])] for m in base[0]}
            report["variants"][variant] = {"seeds": args.seeds[: len(rows)], "in_scope_model": str(in_scope.name),
                                           "overrides": args.overrides, "mean_sd": summary}
            write_json(out_json, report)
    report.pop("overrides", None)  # written by earlier versions for the whole report; now kept per variant
    write_json(out_json, report)
    lines = ["# Off-topic detection on CLINC150", "",
             generated_by("benchmarks/offtopic_clinc150.py", report["machine"]), "",
             "In-scope classifiers: the shipped configs/intent.yaml plus each section's overrides. Values: mean, sd "
             "over seeds. In-scope accuracy counts an in-scope query flagged off-topic as wrong (Larson et al.).", ""]
    for variant, r in report["variants"].items():
        lines += [f"## {variant} (seeds {r['seeds']})", "", f"Overrides: {recipe(r.get('overrides'))}.", "",
                  "| detector / threshold | in-scope acc | OOS recall | AUROC | AUPR | FPR@95 |",
                  "|---|---:|---:|---:|---:|---:|"]
        for name, m in r["mean_sd"].items():
            cells = [f"{m[k][0]:.3f} ± {m[k][1]:.3f}" if k in m else "" for k in
                     ("in_scope_acc", "oos_recall", "auroc", "aupr", "fpr95")]
            lines.append(f"| {name} | " + " | ".join(cells) + " |")
        lines.append("")
    lines += [f"![ROC]({Path(args.out).name}_roc.png)", f"![scores]({Path(args.out).name}_hist.png)", ""]
    write_report_md(f"{args.out}.md", "\n".join(lines))


def recipe(overrides: list[str] | None) -> str:
    """How a variant's classifiers differ from the shipped config (None: measured before overrides were kept)."""
    if overrides is None:
        return "not recorded (measured before the report kept them per variant)"
    return " ".join(f"`{o}`" for o in overrides) or "none"


if __name__ == "__main__":
    main()
