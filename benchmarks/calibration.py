"""Label smoothing and temperature scaling: accuracy, calibration and off-topic detection (issue #16, part 3).

    .venv/bin/python -m benchmarks.calibration --datasets clinc150 snips --smoothing 0 0.05 0.1 0.2 --seeds 1 2 3

Each (dataset, smoothing, seed) is one intent run (the recipe before the CLINC150 search, pinned, with no
temperature folded in, and `train.label_smoothing`), reused when runs/bench holds the same config. On its saved
model: test accuracy, ECE (15 bins), NLL and the mean logit gap between the top two classes, before and after a
temperature fitted on dev NLL (what train.calibration=temperature folds into the head); for CLINC150 also the
AUROC of MSP and Mahalanobis (on the mean-pooled vector, fitted on train) against the 1,000 out-of-scope test
queries. Writes reports/calibration.json / .md and calibration_reliability.png.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.common import (
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
from pipelines.io import write_json
from pipelines.methods import calibration as cal
from pipelines.methods import ood

DATA = {"clinc150": SHARED / "clinc150" / "data_full.json", "snips": SHARED / "snips"}


def outputs(run_dir: Path, splits: dict[str, Any], names: list[str]) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Per split, (logits, pooled vectors) of the run's saved model."""
    from pipelines.families.classify import class_outputs
    from pipelines.inference.predict import Predictor

    pred = Predictor.load(run_dir)
    return {s: class_outputs(pred.model, pred.tokenizer, splits[s], pred.data, 64, pooled=True) for s in names}


def measure(out: dict[str, tuple[np.ndarray, np.ndarray]], y: dict[str, np.ndarray]) -> dict[str, Any]:
    from sklearn.metrics import roc_auc_score

    val_logits, test_logits = out["validation"][0], out["test"][0]
    t = cal.fit_temperature(val_logits, y["validation"])
    res: dict[str, Any] = {"temperature": round(t, 4),
                           "accuracy": round(100 * float((test_logits.argmax(1) == y["test"]).mean()), 2),
                           "logit_gap": round(float(cal.top2_gap(test_logits).mean()), 3)}
    for name, z in (("raw", test_logits), ("scaled", test_logits / t)):
        lp = cal.log_softmax(z)
        res[name] = {"ece": round(cal.ece(np.exp(lp), y["test"]), 4), "nll": round(cal.nll(lp, y["test"]), 4),
                     "reliability": [b for b in cal.reliability(np.exp(lp), y["test"]) if b[2]]}
    res["posthoc"] = posthoc(val_logits / t, y["validation"], test_logits / t, y["test"])
    if "oos_test" in out:
        labels = np.r_[np.zeros(len(test_logits)), np.ones(len(out["oos_test"][0]))]
        maha = ood.Mahalanobis().fit(out["train"][1], y["train"])
        msp = np.r_[ood.msp(test_logits), ood.msp(out["oos_test"][0])]
        res["auroc_msp"] = round(float(roc_auc_score(labels, msp)), 4)
        res["auroc_mahalanobis"] = round(float(roc_auc_score(labels, np.r_[maha.score(out["test"][1]),
                                                                            maha.score(out["oos_test"][1])])), 4)
    return res


def posthoc(val: np.ndarray, y_val: np.ndarray, test: np.ndarray, y_test: np.ndarray) -> dict[str, float]:
    """Two more fits on dev, after the NLL temperature (logits `val` / `test` already divided by it): a second
    temperature factor chosen on a grid by dev ECE itself, and isotonic regression of the top class's
    confidence against right/wrong on dev (top-label calibration: the reported confidence changes, not the
    argmax); each one's test ECE."""
    from sklearn.isotonic import IsotonicRegression

    g = cal.refine_by_ece(val, y_val, 1.0)  # what train.calibration=temperature_ece folds in, as a factor
    p_val, p_test = np.exp(cal.log_softmax(val)), np.exp(cal.log_softmax(test))
    iso = IsotonicRegression(y_min=0.0, y_max=1.0, out_of_bounds="clip").fit(p_val.max(1), p_val.argmax(1) == y_val)
    return {"ece_temperature_by_dev_ece": round(cal.ece(np.exp(cal.log_softmax(test / g)), y_test), 4),
            "nll_temperature_by_dev_ece": round(cal.nll(cal.log_softmax(test / g), y_test), 4),
            "extra_factor": g, "ece_isotonic_top_label": round(cal.ece_of(iso.predict(p_test.max(1)),
                                                                         p_test.argmax(1) == y_test), 4)}


def main(argv: list[str] | None = None) -> None:
    from pipelines.config import DataConfig
    from pipelines.data.splits import load_splits

    parser = argparse.ArgumentParser()
    parser.add_argument("--datasets", nargs="+", default=["clinc150", "snips"], choices=list(DATA))
    parser.add_argument("--smoothing", type=float, nargs="+", default=[0.0, 0.05, 0.1, 0.2])
    parser.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3])
    parser.add_argument("--recipe", choices=["before", "shipped"], default="before",
                        help="before: the recipe before the CLINC150 search (the published rows); shipped: "
                             "configs/intent.yaml as it is, its smoothing (0.1) unless --smoothing says otherwise")
    parser.add_argument("--out", default="reports/calibration.json")
    parser.add_argument("overrides", nargs="*", help="extra section.key=value for every run")
    args = parse_args(parser, argv)
    out = Path(args.out)
    report: dict[str, Any] = json.loads(out.read_text()) if out.exists() else {}
    pinned = INTENT_BEFORE_SEARCH if args.recipe == "before" else []  # the temperature is fitted here, on dev
    recipe = " ".join([*INTENT_BEFORE_SEARCH, *UNCALIBRATED]) + " + train.label_smoothing"
    report.update({"machine": machine(), "recipe": recipe, "shipped_recipe": "configs/intent.yaml + "
                   "train.calibration=none (the same temperature is fitted here on dev) + train.label_smoothing",
                   "anchors": {"BERT-base CLINC150 ECE (uncertainty-baselines)": 0.0218, "SNGP": 0.0104},
                   "goal": "ECE <= 0.010 on CLINC150, accuracy within 0.2 of plain cross-entropy"})
    runs = report.setdefault("runs", {})
    for name in args.datasets:
        splits = load_splits(DataConfig(path=str(DATA[name])), DATA[name])
        labels = sorted(set(splits["train"]["label"]))
        y = {s: np.array([labels.index(g) for g in splits[s]["label"]]) for s in ("train", "validation", "test")}
        names = ["validation", "test"] + (["train", "oos_test"] if "oos_test" in splits else [])
        for smoothing in args.smoothing:
            for seed in args.seeds:
                key = f"{name}-{'shipped-' if args.recipe == 'shipped' else ''}ls{smoothing}-seed{seed}"
                if key in runs:
                    continue
                run_dir = find_or_train("intent", [*pinned, *UNCALIBRATED, f"data.path={DATA[name]}",
                                                   f"train.seed={seed}", f"train.label_smoothing={smoothing}",
                                                   *args.overrides],
                                        Path("runs/bench/calibration") / key)
                m = json.loads((run_dir / "metrics.json").read_text())
                runs[key] = {"dataset": name, "recipe": args.recipe, "smoothing": smoothing, "seed": seed,
                             "run": str(run_dir),
                             "commit": m.get("commit"), **measure(outputs(run_dir, splits, names), y)}
                write_json(out, report)
                print(key, {k: v for k, v in runs[key].items() if k not in ("raw", "scaled")},
                      runs[key]["raw"]["ece"], runs[key]["scaled"]["ece"], flush=True)
    summarise(report)
    write_json(out, report)
    write_md(report, out.with_suffix(".md"))
    plot(report, out.with_name(out.stem + "_reliability.png"))


def summarise(report: dict[str, Any]) -> None:
    groups: dict[tuple[str, str, float], list[dict[str, Any]]] = {}
    for r in report["runs"].values():
        groups.setdefault((r["dataset"], r.get("recipe", "before"), r["smoothing"]), []).append(r)
    summary = []
    for (name, recipe, smoothing), rs in sorted(groups.items()):
        row = {"dataset": name, "recipe": recipe, "smoothing": smoothing, "seeds": len(rs)}
        for key in ("accuracy", "logit_gap", "temperature", "auroc_msp", "auroc_mahalanobis"):
            if key in rs[0]:
                row[key] = [round(x, 4) for x in mean_sd([r[key] for r in rs])]
        for stage in ("raw", "scaled"):
            for metric in ("ece", "nll"):
                row[f"{metric}_{stage}"] = [round(x, 4) for x in mean_sd([r[stage][metric] for r in rs])]
        if all("posthoc" in r for r in rs):
            for key in ("ece_temperature_by_dev_ece", "ece_isotonic_top_label"):
                row[key] = [round(x, 4) for x in mean_sd([r["posthoc"][key] for r in rs])]
        summary.append(row)
    report["summary"] = summary


def write_md(report: dict[str, Any], path: Path) -> None:
    m = report["machine"]
    lines = ["# Label smoothing and temperature scaling (intent task, default encoder)", "",
             generated_by("benchmarks/calibration.py", m) + " Test split; mean ± sd over seeds (n); ECE with 15 "
             "bins; the "
             "temperature is fitted on dev NLL.", "",
             "| data | recipe | smoothing | n | accuracy | ECE | ECE + temperature | NLL | NLL + temperature | T "
             "| top-2 logit gap | AUROC MSP | AUROC Mahalanobis |", "|" + "---|" * 13]

    def f(row: dict[str, Any], key: str, p: int = 4) -> str:
        return f"{row[key][0]:.{p}f} ± {row[key][1]:.{p}f}" if key in row else ""

    for row in report["summary"]:
        lines.append(f"| {row['dataset']} | {row['recipe']} | {row['smoothing']} | {row['seeds']} | "
                     f"{f(row, 'accuracy', 2)} | "
                     f"{f(row, 'ece_raw')} | {f(row, 'ece_scaled')} | {f(row, 'nll_raw')} | "
                     f"{f(row, 'nll_scaled')} | {f(row, 'temperature', 3)} | {f(row, 'logit_gap', 2)} | "
                     f"{f(row, 'auroc_msp')} | {f(row, 'auroc_mahalanobis')} |")
    more = [row for row in report["summary"] if "ece_isotonic_top_label" in row]
    if more:
        lines += ["", "Two more fits on dev after the temperature (no retraining): a temperature factor chosen by dev "
                  "ECE itself, and isotonic regression of the top class's confidence on dev (top-label "
                  "calibration: the confidence a prediction reports changes, not the argmax). Test ECE:", "",
                  "| data | recipe | smoothing | n | ECE + temperature | + factor by dev ECE | + isotonic top label |",
                  "|---|---|---|---|---|---|---|"]
        for row in more:
            lines.append(f"| {row['dataset']} | {row['recipe']} | {row['smoothing']} | {row['seeds']} | "
                         f"{f(row, 'ece_scaled')} | {f(row, 'ece_temperature_by_dev_ece')} | "
                         f"{f(row, 'ece_isotonic_top_label')} |")
    lines += ["", "![reliability diagrams](calibration_reliability.png)", ""]
    write_report_md(path, "\n".join(lines))


def plot(report: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    first = {}
    for r in report["runs"].values():  # one seed per (dataset, smoothing) of the published recipe: the lowest
        if r.get("recipe", "before") != "before":
            continue
        k = (r["dataset"], r["smoothing"])
        if k not in first or r["seed"] < first[k]["seed"]:
            first[k] = r
    datasets = sorted({k[0] for k in first})
    fig, axes = plt.subplots(1, len(datasets), figsize=(5 * len(datasets), 4.2), squeeze=False)
    for ax, name in zip(axes[0], datasets, strict=True):
        ax.plot([0, 1], [0, 1], color="grey", ls=":")
        for (dname, smoothing), r in sorted(first.items()):
            if dname != name:
                continue
            for stage, style in (("raw", "-"), ("scaled", "--")):
                pts = [(c, a) for c, a, _ in r[stage]["reliability"]]
                if stage == "scaled" and smoothing != 0.0:
                    continue
                label = f"smoothing {smoothing}" + (" + temperature" if stage == "scaled" else "")
                ax.plot(*zip(*pts, strict=True), style, marker="o", ms=3, label=label)
        ax.set(title=f"{name} (seed {min(r['seed'] for r in first.values())})", xlabel="confidence",
               ylabel="accuracy", xlim=(0, 1), ylim=(0, 1))
        ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


if __name__ == "__main__":
    main()
