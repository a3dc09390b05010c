"""The classical bar on every sentence-classification corpus we publish: TF-IDF of word 1-2-grams + a linear SVM or
logistic regression (pipelines.methods.sparse, the featurizer `model.sparse` adds to the topics head), C chosen on
dev accuracy, test read once. Beside each, the shipped recipe's published test figure from its report.

    .venv/bin/python -m benchmarks.tfidf_baselines [--corpora clinc150 atis snips davidson]

Writes reports/tfidf_baselines.json / .md. 20 Newsgroups and BBC News have theirs in reports/topics.md.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.common import SHARED, generated_by, machine, write_report_md
from pipelines.cli import parse_args
from pipelines.io import write_json

CORPORA = ("clinc150", "atis", "snips", "davidson")
# the shipped recipe's published test figure: (report, path of keys, what it is)
SHIPPED = {"clinc150": ("intent_recipe.json", ["final", "test_accuracy_mean"], "accuracy, intent recipe"),
           "atis": ("joint_recipe_atis.json", ["final", "test_intent_acc_mean"], "intent accuracy, joint"),
           "snips": ("joint_recipe_snips.json", ["final", "test_intent_acc_mean"], "intent accuracy, joint"),
           "davidson": ("toxicity.json", ["detection_finetuned", "results", "plain", "tuned", "hate_f1", 0],
                        "hate F1, plain + dev prior correction")}


def splits_of(corpus: str) -> dict[str, tuple[list[str], list[str]]]:
    """(texts, labels) of train, validation and test."""
    from pipelines.config import DataConfig
    from pipelines.data.splits import load_splits

    if corpus == "davidson":
        from benchmarks.toxicity_data import davidson_splits

        ds = davidson_splits()
    else:
        path = SHARED / ("clinc150/data_full.json" if corpus == "clinc150" else corpus)
        ds = load_splits(DataConfig(path=str(path)), path)
    text = "text" if "text" in ds["train"].column_names else "tokens"
    join = (lambda t: t) if text == "text" else " ".join
    return {name: ([join(t) for t in ds[name][text]], list(ds[name]["label"]))
            for name in ("train", "validation", "test")}


def baseline(corpus: str, kind: str) -> dict[str, Any]:
    from sklearn.metrics import f1_score

    from pipelines.methods.sparse import SparseModel

    data = splits_of(corpus)
    labels = sorted(set(data["train"][1]))
    start = time.perf_counter()
    model = SparseModel.fit(data["train"], data["validation"], labels, kind, out_of_fold=False)
    seconds = time.perf_counter() - start
    pred = [labels[k] for k in model.scores(data["test"][0]).argmax(1)]
    gold = data["test"][1]
    known = [label in labels for label in gold]
    out = {"C": model.c, "dev_accuracy": round(100 * model.facts["dev_accuracy_by_C"][str(model.c)], 2),
           "test_accuracy": round(100 * float(np.mean([p == g for p, g in zip(pred, gold, strict=True)])), 2),
           "test_macro_f1": round(100 * f1_score(gold, pred, labels=labels, average="macro", zero_division=0), 2),
           "test_weighted_f1": round(100 * f1_score(gold, pred, labels=labels, average="weighted", zero_division=0), 2),
           "test_labels_unseen_in_train": int(len(known) - sum(known)), "terms": model.facts["terms"],
           "fit_seconds": round(seconds, 1)}
    if corpus == "davidson":
        per = f1_score(gold, pred, labels=labels, average=None, zero_division=0)
        out["test_f1_per_class"] = {lab: round(100 * float(f), 2) for lab, f in zip(labels, per, strict=True)}
    return out


def shipped(corpus: str) -> dict[str, Any] | None:
    name, keys, what = SHIPPED[corpus]
    path = Path("reports") / name
    if not path.exists():
        return None
    value: Any = json.loads(path.read_text())
    for key in keys:
        try:
            value = value[key]
        except (KeyError, IndexError, TypeError):
            return {"report": name, "what": what, "value": None}
    return {"report": name, "what": what, "value": value}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--corpora", nargs="+", choices=CORPORA, default=list(CORPORA))
    parser.add_argument("--out", default="reports/tfidf_baselines.json")
    parser.add_argument("overrides", nargs="*", help="unused: the script trains no run")
    args = parse_args(parser, argv)
    out = Path(args.out)
    report: dict[str, Any] = json.loads(out.read_text()) if out.exists() else {}
    report["machine"] = machine()
    for corpus in args.corpora:
        report.setdefault("corpora", {})[corpus] = {kind: baseline(corpus, kind) for kind in ("svm", "logreg")}
        report["corpora"][corpus]["shipped"] = shipped(corpus)
        write_json(out, report)
        print(corpus, report["corpora"][corpus], flush=True)
    write_md(report, out.with_suffix(".md"))
    return 0


def write_md(report: dict[str, Any], path: Path) -> None:
    lines = ["# TF-IDF baselines on the sentence-classification corpora", "",
             generated_by("benchmarks/tfidf_baselines.py", report["machine"]) + " TF-IDF word 1-2-grams (sublinear "
             "tf, min_df 2) + a linear SVM or logistic regression, C on dev accuracy; test read once. Deterministic: "
             "no seeds; not class-weighted (Davidson et al.'s class-weighted logistic regression: hate F1 about 0.51). "
             "The shipped column is the shipped recipe's published test figure (its report).", "",
             "| corpus | model | C | dev acc | test acc | test macro-F1 | test weighted F1 | test hate F1 | shipped "
             "recipe (test) |", "|---|---|---|---|---|---|---|---|---|"]
    for corpus, rows in report.get("corpora", {}).items():
        ship = rows.get("shipped") or {}
        cell = f"{ship['value']:.2f} ({ship['what']}, {ship['report']})" if ship.get("value") is not None else "-"
        for kind in ("svm", "logreg"):
            r = rows[kind]
            hate = r.get("test_f1_per_class", {}).get("hate")
            lines.append(f"| {corpus} | {kind} | {r['C']} | {r['dev_accuracy']:.2f} | {r['test_accuracy']:.2f} | "
                         f"{r['test_macro_f1']:.2f} | {r['test_weighted_f1']:.2f} | "
                         f"{'-' if hate is None else f'{hate:.2f}'} | {cell} |")
    write_report_md(path, "\n".join(lines) + "\n")


if __name__ == "__main__":
    raise SystemExit(main())
