"""Incremental training with new intents (issue #16, part 4), on CLINC150.

    .venv/bin/python -m benchmarks.incremental --seeds 1 --replay 0 5 20 --steps 1 5

A base run learns 100 intents (drawn by seed); the other 50 arrive in one step, or in 5 steps of 10. Each step
continues the previous run (`--init`, pipelines.training.incremental) on the new intents' training data, plus
`train.replay` examples of every earlier intent (0 = naive fine-tuning on the new data only; random or herding
selection). Full retraining on all 150 intents is the upper bound (the plain intent run of the same seed).
Every run selects its epoch on the full dev split and uses configs/intent.yaml. On test: accuracy on the old
intents' queries, the new ones', overall; forgetting = the base's old-intent accuracy minus the final one;
training time summed over the steps. Writes reports/incremental.json / .md.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.common import (
    INTENT_BEFORE_ECE,
    INTENT_BEFORE_SEARCH,
    SHARED,
    find_or_train,
    generated_by,
    machine,
    write_report_md,
    write_text_splits,
)
from pipelines.cli import parse_args
from pipelines.io import write_json

DATA = SHARED / "clinc150" / "data_full.json"
ROOT = Path("runs/bench/incremental")


def accuracies(run_dir: Path, test: Any, old: set[str]) -> dict[str, float]:
    from pipelines.inference.predict import Predictor

    pred = [p["label"] for p in Predictor.load(run_dir).predict(list(test["text"]))]
    gold = list(test["label"])
    hit = np.array([p == g for p, g in zip(pred, gold, strict=True)])
    is_old = np.array([g in old for g in gold])
    return {"old": round(100 * float(hit[is_old].mean()), 2),
            "new": round(100 * float(hit[~is_old].mean()), 2) if (~is_old).any() else float("nan"),
            "overall": round(100 * float(hit.mean()), 2)}


def main(argv: list[str] | None = None) -> None:
    from pipelines.config import DataConfig
    from pipelines.data.splits import load_splits

    parser = argparse.ArgumentParser()
    parser.add_argument("--seeds", type=int, nargs="+", default=[1])
    parser.add_argument("--replay", type=int, nargs="+", default=[0, 5, 20], help="examples per earlier intent")
    parser.add_argument("--select", nargs="+", default=["random"], choices=["random", "herding"])
    parser.add_argument("--steps", type=int, nargs="+", default=[1, 5], help="the 50 new intents in this many steps")
    parser.add_argument("--base", type=int, default=100)
    parser.add_argument("--out", default="reports/incremental.json")
    parser.add_argument("overrides", nargs="*")
    args = parse_args(parser, argv)
    out = Path(args.out)
    report: dict[str, Any] = json.loads(out.read_text()) if out.exists() else {}
    report.update({"machine": machine(), "protocol": f"{args.base} base intents, the rest in "
                                                     f"{' or '.join(map(str, args.steps))} step(s)"})
    runs = report.setdefault("runs", {})
    splits = load_splits(DataConfig(path=str(DATA)), DATA)
    labels = sorted(set(splits["train"]["label"]))
    for seed in args.seeds:
        order = list(np.random.default_rng(seed).permutation(labels))
        base_labels = set(order[: args.base])

        def part(name: str, keep: set[str]) -> Any:
            return splits[name].filter(lambda r: r["label"] in keep)

        def data_for(keep: set[str], tag: str, seed: int = seed) -> Path:
            return write_text_splits(ROOT / "data" / f"seed{seed}-{tag}", {
                "train": part("train", keep), "dev": splits["validation"], "test": splits["test"]})

        base = find_or_train("intent", [*INTENT_BEFORE_ECE, *INTENT_BEFORE_SEARCH,
                                        f"data.path={data_for(base_labels, 'base')}", f"train.seed={seed}",
                                        *args.overrides], ROOT / f"base-seed{seed}")
        base_m = json.loads((base / "metrics.json").read_text())
        runs.setdefault(f"base-seed{seed}", {"seed": seed, **accuracies(base, part("test", base_labels), base_labels),
                                             "train_seconds": base_m["train_seconds"], "run": str(base)})
        full = find_or_train("intent", [*INTENT_BEFORE_ECE, *INTENT_BEFORE_SEARCH, f"data.path={DATA}",
                                        f"train.seed={seed}", *args.overrides],
                             ROOT / f"full-seed{seed}")
        if f"full-seed{seed}" not in runs:
            full_m = json.loads((full / "metrics.json").read_text())
            runs[f"full-seed{seed}"] = {"seed": seed, **accuracies(full, splits["test"], base_labels),
                                        "train_seconds": full_m["train_seconds"], "run": str(full)}
        write_json(out, report)
        new = order[args.base:]
        for steps in args.steps:
            chunks = [set(c) for c in np.array_split(new, steps)]
            for replay in args.replay:
                for select in args.select if replay else ["random"]:
                    key = f"steps{steps}-replay{replay}-{select}-seed{seed}"
                    if key in runs:
                        continue
                    parent, seconds = base, 0.0
                    for i, chunk in enumerate(chunks):
                        run_dir = ROOT / f"{key}-step{i + 1}"
                        data = data_for(chunk, f"steps{steps}-chunk{i + 1}")
                        step = [*INTENT_BEFORE_SEARCH, f"data.path={data}", f"train.seed={seed}",
                                *args.overrides,  # the parent wins
                                f"model.init={parent}", f"train.replay={replay}",
                                f"train.replay_select={select}"]
                        run_dir = find_or_train("intent", step, run_dir)
                        seconds += json.loads((run_dir / "metrics.json").read_text())["train_seconds"]
                        parent = run_dir
                    final = accuracies(parent, splits["test"], base_labels)
                    runs[key] = {"seed": seed, "steps": steps, "replay": replay, "select": select, **final,
                                 "forgetting": round(runs[f"base-seed{seed}"]["old"] - final["old"], 2),
                                 "train_seconds": round(seconds, 1), "run": str(parent),
                                 "of_full_accuracy": round(final["overall"] / runs[f"full-seed{seed}"]["overall"], 4),
                                 "of_full_time": round(seconds / runs[f"full-seed{seed}"]["train_seconds"], 4)}
                    write_json(out, report)
                    print(key, runs[key], flush=True)
    write_json(out, report)
    write_md(report, out.with_suffix(".md"))


def write_md(report: dict[str, Any], path: Path) -> None:
    m = report["machine"]
    lines = ["# Incremental training with new intents (CLINC150)", "",
             generated_by("benchmarks/incremental.py", m) + f" {report['protocol']}. Test accuracy (%); replay = "
             "examples per "
             "earlier intent; time = training seconds summed over the steps (the base run not counted).", "",
             "| run | seed | old intents | new intents | overall | forgetting | train s | of full accuracy | "
             "of full time |", "|---|---|---|---|---|---|---|---|---|"]
    for key, r in report["runs"].items():
        name = key.rsplit("-seed", 1)[0]
        new = r.get("new", float("nan"))
        lines.append(f"| {name} | {r['seed']} | {r['old']} | {'' if new != new else new} | {r['overall']} | "
                     f"{r.get('forgetting', '')} | {r['train_seconds']} | {r.get('of_full_accuracy', '')} | "
                     f"{r.get('of_full_time', '')} |")
    write_report_md(path, "\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
