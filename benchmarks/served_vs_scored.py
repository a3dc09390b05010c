"""Served = scored: what a service calling `Predictor.predict` on raw text gets, next to the gold-token score.

NER on CoNLL-2003 test, the shipped default recipe (configs/ner.yaml), one seed: the same model scored on the
dataset's tokens (`evaluate`, what the reports publish) and on raw text (`pipelines.inference.served`): each
sentence detokenized with Moses rules (what a person would have written) or joined with single spaces (the
kindest case), split by the run's recorded splitter and by the others, entities matched on (type, start, end).
Also the time the splitter takes against the whole `predict` call (goal: at most 10%).

    .venv/bin/python -m benchmarks.served_vs_scored [--run RUN] [--seed 1]
Writes reports/served_vs_scored.json and .md (key `tasks.ner.conll2003.{gold_tokens, raw_text, gap}`).
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

from benchmarks.common import SHARED, find_or_train, machine, write_report_md
from pipelines.data.rawtext import SPLITTERS
from pipelines.io import write_json
from pipelines.provenance import portable_path

GOAL_GAP = 0.3


def split_cost(predictor: Any, texts: list[str]) -> dict[str, float]:
    """Seconds to split `texts` with the run's splitter, and to predict them (the splitter inside)."""
    from pipelines.data.rawtext import get_splitter

    split = get_splitter(predictor.data.splitter)
    start = time.perf_counter()
    for t in texts:
        split(t)
    splitting = time.perf_counter() - start
    start = time.perf_counter()
    predictor.predict(texts)
    total = time.perf_counter() - start
    return {"split_s": round(splitting, 3), "predict_s": round(total, 2), "split_share": round(splitting / total, 4)}


def intent_paths(run: Path, root: Path, limit: int = 0) -> dict[str, Any]:
    """CLINC150 in-scope test accuracy of one intent run, scored by `evaluate` and by `Predictor.predict` on the
    same strings (the texts are raw already; the two paths must agree)."""
    from pipelines.config import DataConfig
    from pipelines.data.splits import load_splits
    from pipelines.inference.evaluate import evaluate
    from pipelines.inference.predict import Predictor

    predictor = Predictor.load(run)
    test = load_splits(DataConfig(path=str(root / "clinc150" / "data_full.json")), "")["test"]
    if limit:
        test = test.select(range(min(limit, len(test))))
    scored = round(100 * evaluate(predictor, test)["accuracy"], 2)
    preds = predictor.predict(list(test["text"]))
    served = round(100 * sum(p["label"] == g for p, g in zip(preds, test["label"], strict=True)) / len(test), 2)
    return {"run": portable_path(str(run)), "gold_tokens": scored, "raw_text": served,
            "gap": round(served - scored, 2), "examples": len(test)}


def render(report: dict[str, Any]) -> str:
    ner = report["tasks"]["ner"]["conll2003"]
    lines = ["# Served = scored: Predictor.predict on raw text vs the gold-token score", "",
             f"NER, CoNLL-2003 test, the default recipe (`configs/ner.yaml`), seed {report['seed']}, run "
             f"`{report['run']}` (its recorded splitter: `{ner['splitter']}`). Entity F1, exact type and span.", "",
             "| path | F1 | precision | recall |", "|---|---:|---:|---:|",
             f"| gold tokens (`evaluate`, as the reports publish) | {ner['gold_tokens']['f1']:.2f} | "
             f"{ner['gold_tokens']['precision']:.2f} | {ner['gold_tokens']['recall']:.2f} |"]
    for key, row in ner["variants"].items():
        lines.append(f"| raw text, {key} | {row['f1']:.2f} | {row['precision']:.2f} | {row['recall']:.2f} |")
    cost = ner["split_cost"]
    lines += ["", f"Served path (Moses text, the recorded splitter): **{ner['raw_text']['f1']:.2f}**, gap "
              f"**{ner['gap']:+.2f}** points (goal: at most {GOAL_GAP}: "
              f"{'met' if abs(ner['gap']) <= GOAL_GAP else 'missed'}).",
              f"Splitting the {cost['texts']} test texts takes {cost['split_s']} s of {cost['predict_s']} s of "
              f"`predict` ({100 * cost['split_share']:.1f}%; goal at most 10%).", ""]
    if "intent" in report["tasks"]:
        it = report["tasks"]["intent"]["clinc150"]
        lines += [f"Intent, CLINC150 in-scope test ({it['examples']} texts), run `{it['run']}`: accuracy "
                  f"{it['gold_tokens']:.2f} through `evaluate`, {it['raw_text']:.2f} through `Predictor.predict` "
                  f"(gap {it['gap']:+.2f}; the texts are raw already, so the two paths must agree).", ""]
    lines += [
              f"Machine: {report['machine']['cpu']}, {report['machine']['cores']} cores, commit "
              f"{report['machine']['code']['commit'][:10]}. Script: `benchmarks/served_vs_scored.py`."]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> None:
    from pipelines.config import DataConfig
    from pipelines.data.splits import load_splits
    from pipelines.inference.evaluate import evaluate
    from pipelines.inference.predict import Predictor
    from pipelines.inference.served import served_scores

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--run", help="a finished NER run (default: the default recipe, trained here if missing)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--data-root", default=str(SHARED))
    parser.add_argument("--out-dir", default="reports")
    parser.add_argument("--limit", type=int, default=0, help="score the first N test sentences only (smoke runs)")
    parser.add_argument("--intent-run", help="also an intent run on CLINC150 data_full: accuracy through evaluate "
                                             "and through Predictor.predict on the same raw test texts")
    args = parser.parse_args(argv)
    data = str(Path(args.data_root) / "conll2003")
    run = Path(args.run) if args.run else find_or_train(
        "ner", [f"data.path={data}", f"train.seed={args.seed}"], Path("runs/bench/served") / f"ner-seed{args.seed}")
    predictor = Predictor.load(run)
    test = load_splits(DataConfig(path=data), "")["test"]
    if args.limit:
        test = test.select(range(min(args.limit, len(test))))
    pct = lambda s: {k: round(100 * s[k], 2) for k in ("f1", "precision", "recall")}  # noqa: E731
    gold = pct(evaluate(predictor, test))
    variants = {}
    for detok in ("moses", "plain"):
        for splitter in SPLITTERS:
            scores = served_scores(predictor.with_data(splitter=splitter), test, detok)
            variants[f"{detok} text, {splitter} splitter"] = {**pct(scores), "failed": scores["failed"]}
            print(detok, splitter, variants[f"{detok} text, {splitter} splitter"], flush=True)
    served = variants[f"moses text, {predictor.data.splitter} splitter"]
    from pipelines.inference.served import raw_examples

    texts, _ = raw_examples(test)
    cost = {**split_cost(predictor, texts), "texts": len(texts)}
    metrics = json.loads((run / "metrics.json").read_text())
    report = {"run": portable_path(str(run)), "seed": args.seed, "data": portable_path(data),
              "run_commit": metrics.get("commit"),
              "tasks": {"ner": {"conll2003": {"gold_tokens": gold, "raw_text": served,
                                              "gap": round(served["f1"] - gold["f1"], 2),
                                              "splitter": predictor.data.splitter, "variants": variants,
                                              "split_cost": cost, "goal_gap": GOAL_GAP}}},
              "machine": machine()}
    if args.intent_run:
        report["tasks"]["intent"] = {"clinc150": intent_paths(Path(args.intent_run), Path(args.data_root), args.limit)}
    out = Path(args.out_dir) / "served_vs_scored.json"
    write_json(out, report)
    write_report_md(out.with_suffix(".md"), render(report))
    print(render(report))


if __name__ == "__main__":
    main()
