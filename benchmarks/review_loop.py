"""The review loop on planted flips: find-bad-labels, a reviewer going down the suspects, retraining.

The shipped intent sample (samples/intent, written for this project) with `--flips` training labels moved to
another intent (seeded); `find-bad-labels --frozen` (the default encoder's features, 5-fold logistic regression)
ranks the training examples; a reviewer who knows the clean labels goes through the top `--budget` x flips
suspects with pipelines.inference.review (what the page's buttons call): relabel where the given label is wrong,
keep otherwise. Then the shipped intent config is trained on the noisy and on the corrected data
(review/data), and both are scored on the sample's dev and test splits.

    .venv/bin/python -m benchmarks.review_loop --seeds 1 2 3     # -> reports/review_loop.{json,md}
"""

import argparse
import json
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.common import INTENT_BEFORE_ECE, find_or_train, generated_by, machine, summarise, write_report_md
from pipelines.cli import parse_args
from pipelines.data.readers import read_jsonl
from pipelines.io import atomic_write_text, write_json
from pipelines.shipped import SAMPLES

RUNS = Path("runs/bench/review_loop")


def plant(seed: int, flips: int, out: Path) -> dict[int, str]:
    """The sample with `flips` training labels moved to another intent, written to `out`; {row: clean label}."""
    clean = read_jsonl(SAMPLES / "intent" / "train.jsonl")
    labels = sorted(set(clean["label"]))
    rng = np.random.default_rng(seed)
    rows = [{"text": t, "label": g} for t, g in zip(clean["text"], clean["label"], strict=True)]
    planted = sorted(int(i) for i in rng.choice(len(rows), flips, replace=False))
    for i in planted:
        rows[i]["label"] = labels[(labels.index(rows[i]["label"]) + 1 + int(rng.integers(len(labels) - 1)))
                                  % len(labels)]
    atomic_write_text(out / "train.jsonl", "".join(json.dumps(r) + "\n" for r in rows))
    for name in ("dev", "test"):
        atomic_write_text(out / f"{name}.jsonl", (SAMPLES / "intent" / f"{name}.jsonl").read_text(encoding="utf-8"))
    return {i: clean["label"][i] for i in planted}


def review(folder: Path, truth: dict[int, str], look_at: int) -> dict[str, Any]:
    """The oracle reviewer over the top `look_at` suspects; what it found and did."""
    from pipelines.inference.review import Review

    session = Review(folder)
    for suspect in session.suspects[:look_at]:
        if suspect["id"] in session.decisions:
            continue
        wrong = suspect["id"] in truth and suspect["given"] != truth[suspect["id"]]
        session.decide({"id": suspect["id"], "action": "relabel", "label": truth[suspect["id"]]} if wrong
                       else {"id": suspect["id"], "action": "keep"})
    ranks = sorted(k + 1 for k, s in enumerate(session.suspects) if s["id"] in truth)
    fixed = sum(d["action"] == "relabel" for d in session.decisions.values())
    return {"looked_at": look_at, "planted_in_view": sum(r <= look_at for r in ranks), "relabelled": fixed,
            "planted_ranks": ranks, "suggestion_right": sum(s["suggested"] == truth[s["id"]]
                                                            for s in session.suspects if s["id"] in truth)}


def scores(run: Path) -> dict[str, float]:
    m = json.loads((run / "metrics.json").read_text())
    return {"dev_accuracy": round(100 * m["validation"]["accuracy"], 2),
            "test_accuracy": round(100 * m["test"]["accuracy"], 2)}


def main(argv: list[str] | None = None) -> None:
    from pipelines.training.find_bad_labels import main as find_bad_labels

    parser = argparse.ArgumentParser()
    parser.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3])
    parser.add_argument("--flips", type=int, default=18, help="planted wrong labels (of 360)")
    parser.add_argument("--budget", type=int, default=2, help="the reviewer looks at budget x flips suspects")
    parser.add_argument("--out", default="reports/review_loop")
    parser.add_argument("overrides", nargs="*", help="for find-bad-labels and both trainings (smoke runs)")
    args = parse_args(parser, argv)
    rows: list[dict[str, Any]] = []
    for seed in args.seeds:
        data = RUNS / f"data-seed{seed}"
        truth = plant(seed, args.flips, data)
        suspects = RUNS / f"suspects-seed{seed}"
        if not (suspects / "suspects.jsonl").exists():
            find_bad_labels(["--task", "intent", "--data", str(data), "--frozen", "--out", str(suspects),
                             *args.overrides])
        found = review(suspects, truth, args.budget * args.flips)
        fixed = read_jsonl(suspects / "review" / "data" / "train.jsonl")["label"]
        clean = read_jsonl(SAMPLES / "intent" / "train.jsonl")["label"]
        row: dict[str, Any] = {"seed": seed, **found,
                               "wrong_after_review": sum(a != b for a, b in zip(fixed, clean, strict=True))}
        for name, path in (("noisy", data), ("corrected", suspects / "review" / "data")):
            run = find_or_train("intent", [*INTENT_BEFORE_ECE, f"data.path={path}", f"train.seed={seed}",
                                           *args.overrides],
                                RUNS / f"{name}-seed{seed}")
            row.update({f"{name}_{k}": v for k, v in scores(run).items()})
        rows.append(row)
        report = {"data": "samples/intent (360 train, dev, test), labels flipped by seed", "flips": args.flips,
                  "budget": args.budget, "overrides": args.overrides, "machine": machine(), "per_seed": rows,
                  "summary": summarise([{k: float(v) for k, v in r.items() if k not in ("seed", "planted_ranks")}
                                        for r in rows])}
        write_json(f"{args.out}.json", report)
    write_report_md(f"{args.out}.md", render(report))


def render(r: dict[str, Any]) -> str:
    s = r["summary"]

    def pm(key: str) -> str:
        return f"{s[key + '_mean']:.2f} ± {s[key + '_sd']:.2f}"

    lines = ["# The review loop on planted flips", "", generated_by("benchmarks/review_loop.py", r["machine"]), "",
             f"Data: {r['data']}; {r['flips']} training labels flipped. `find-bad-labels --frozen` ranks the "
             f"examples; a reviewer who knows the clean labels looks at the top {r['budget']} x {r['flips']} suspects "
             "through `pipelines.inference.review` (relabel a wrong label, keep a right one); the shipped intent "
             f"config is trained on the noisy and on the corrected data. Seeds {[x['seed'] for x in r['per_seed']]}, "
             "mean ± sd.", "",
             "| planted flips among the suspects looked at | relabelled | suggestion = the clean label | "
             "labels still wrong in review/data/train.jsonl |", "|---:|---:|---:|---:|",
             f"| {pm('planted_in_view')} | {pm('relabelled')} | {pm('suggestion_right')} | "
             f"{pm('wrong_after_review')} |", "",
             "| training data | dev accuracy | test accuracy |", "|---|---:|---:|",
             f"| noisy | {pm('noisy_dev_accuracy')} | {pm('noisy_test_accuracy')} |",
             f"| corrected by the review | {pm('corrected_dev_accuracy')} | {pm('corrected_test_accuracy')} |", ""]
    return "\n".join(lines)


if __name__ == "__main__":
    main()
