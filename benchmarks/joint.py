"""Joint intent + slots on SNIPS and ATIS: the joint model, two separate models, a slot-weight sweep, and the
rate of inconsistent outputs (a predicted slot type never seen with the predicted intent in training).

    .venv/bin/python -m benchmarks.joint train.epochs=5 --datasets atis --seeds 1 2 3 --sweep 0.5 2.0
    .venv/bin/python -m benchmarks.joint --datasets snips --seeds 1 2 3 --sweep
Writes reports/joint_<dataset>.json and reports/joint_vs_separate.json / .md.
"""

from __future__ import annotations

import argparse
import json
from collections import defaultdict
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.common import (
    INTENT_BEFORE_SEARCH,
    JOINT_BEFORE_RECIPE,
    NER_BEFORE_CRF,
    SHARED,
    UNCALIBRATED,
    find_or_train,
    machine,
    summarise,
    write_report_md,
)
from pipelines.cli import parse_args
from pipelines.data.tags import spans
from pipelines.io import write_json
from pipelines.provenance import portable_path

# The shipped configs as they were when reports/joint_vs_separate.md was made (later defaults come from searches
# that this report's rows predate): pinned first, so that the command line still wins.
PINNED = {"joint": JOINT_BEFORE_RECIPE, "intent": [*INTENT_BEFORE_SEARCH, *UNCALIBRATED], "ner": NER_BEFORE_CRF}


def predictions(run_dir: Path, ds: Any, decode: str | None = None) -> tuple[list[str] | None, list[list[str]] | None]:
    """Per example of `ds`: the predicted intent and/or the predicted slot tags (whichever the model makes);
    `decode` overrides the run's decoding (e.g. 'consistent' for the joint model)."""
    from pipelines.inference.evaluate import predict_records
    from pipelines.inference.predict import Predictor

    p = Predictor.load(run_dir)
    id2label = {int(k): v for k, v in p.model.config.id2label.items()}
    records = predict_records(p, ds, decode=decode)
    name = p.task_name
    if name == "intent":
        by_id = {r.example_id: id2label[int(np.argmax(r.probs))] for r in records}
        return [by_id[i] for i in range(len(ds))], None
    from pipelines.families import tagging

    preds = tagging.stitch(records, "pred")
    if name == "ner":
        return None, [[id2label[k] for k in preds[i]] for i in range(len(ds))]
    first = {r.example_id: r for r in sorted(records, key=lambda r: -r.core_start)}
    intents = [p.model.intents[int(np.argmax(first[i].intent_probs))] for i in range(len(ds))]
    return intents, [[p.model.tags[k] for k in preds[i]] for i in range(len(ds))]


def frame_scores(gold_intents, gold_tags, intents, tags, allowed: dict[str, set[str]]) -> dict[str, float]:
    from pipelines.inference.metrics import entity_scores

    intent_ok = np.array([a == b for a, b in zip(intents, gold_intents, strict=True)])
    slots_ok = np.array([list(a) == list(b) for a, b in zip(tags, gold_tags, strict=True)])
    inconsistent = [any(kind not in allowed.get(i, set()) for kind, _, _ in spans(t))
                    for i, t in zip(intents, tags, strict=True)]
    return {"intent_acc": 100 * intent_ok.mean(), "slot_f1": 100 * entity_scores(gold_tags, tags)["f1"],
            "sentence_acc": 100 * (intent_ok & slots_ok).mean(),
            "inconsistent_rate": 100 * float(np.mean(inconsistent))}


def train_seconds(*run_dirs: Path) -> dict[str, float]:
    """Training time of the run(s) behind a row (two for the separate models)."""
    return {"train_seconds": sum(json.loads((d / "metrics.json").read_text())["train_seconds"] for d in run_dirs)}


def dev_scores(run_dir: Path) -> dict[str, float]:
    """A joint run's validation scores (what a choice between variants may look at), from its metrics.json."""
    dev = json.loads((run_dir / "metrics.json").read_text())["validation"]
    return {f"dev_{k}": 100 * dev[k] for k in ("intent_acc", "slot_f1", "sentence_acc")}


def main(argv: list[str] | None = None) -> None:
    from pipelines.config import DataConfig
    from pipelines.data.splits import load_splits

    parser = argparse.ArgumentParser()
    parser.add_argument("--datasets", nargs="+", default=["snips", "atis"])
    parser.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3])
    parser.add_argument("--sweep", type=float, nargs="*", default=[0.5, 2.0],
                        help="slot weights besides 1.0 (first seed only)")
    parser.add_argument("--separate-seeds", type=int, default=1,
                        help="train the two separate models for this many of the seeds (CPU time)")
    parser.add_argument("--data-root", default=str(SHARED))
    parser.add_argument("--out-dir", default="reports")
    parser.add_argument("overrides", nargs="*")
    args = parse_args(parser, argv)
    compare_path = Path(args.out_dir) / "joint_vs_separate.json"
    # one call per dataset is allowed (e.g. different epochs): results of other datasets are kept
    compare: dict[str, Any] = json.loads(compare_path.read_text()) if compare_path.exists() else {"datasets": {}}
    compare.update({"machine": machine(), "encoder": "all-MiniLM-L6-v2 (default)"})
    for name in args.datasets:
        data = str(Path(args.data_root) / name)
        splits = load_splits(DataConfig(path=data), data)
        allowed: dict[str, set[str]] = defaultdict(set)
        for intent, tags in zip(splits["train"]["label"], splits["train"]["tags"], strict=True):
            allowed[intent] |= {kind for kind, _, _ in spans(tags)}
        test = splits["test"]
        gold = (test["label"], test["tags"])
        rows: dict[str, list[dict[str, float]]] = defaultdict(list)
        for seed in args.seeds:
            base = [f"data.path={data}", f"train.seed={seed}", *args.overrides]
            runs = Path("runs/bench/joint") / name
            j = find_or_train("joint", [*PINNED["joint"], *base], runs / f"joint-seed{seed}")
            rows["joint"].append({**frame_scores(*gold, *predictions(j, test), allowed), **train_seconds(j),
                                  **dev_scores(j)})
            # the fix: slots decoded as a valid IOB2 path over the types seen with the predicted intent
            rows["joint_consistent_decoding"].append(frame_scores(*gold, *predictions(j, test, "consistent"), allowed))
            if seed in args.seeds[: args.separate_seeds]:
                i = find_or_train("intent", [*PINNED["intent"], *base], runs / f"intent-seed{seed}")
                s = find_or_train("ner", [*PINNED["ner"], *base], runs / f"slots-seed{seed}")
                rows["separate"].append({**frame_scores(*gold, predictions(i, test)[0], predictions(s, test)[1],
                                                        allowed), **train_seconds(i, s)})
                rows["joint_same_seeds_as_separate"].append(rows["joint"][-1])
            if seed == args.seeds[0]:
                for w in args.sweep:
                    r = find_or_train("joint", [*PINNED["joint"], *base, f"model.slot_weight={w}"],
                                     runs / f"joint-w{w}-seed{seed}")
                    rows[f"joint_slot_weight_{w}"].append({**frame_scores(*gold, *predictions(r, test), allowed),
                                                           **dev_scores(r)})
            result = {k: {"n_seeds": len(v), **summarise(v)} for k, v in rows.items()}
            write_json(Path(args.out_dir) / f"joint_{name}.json",
                       {"data": portable_path(data), "seeds": args.seeds[: len(rows["joint"])],
                        "overrides": args.overrides,
                        "selection": "best epoch on dev (never test)", "machine": compare["machine"],
                        **result["joint"], "variants": result})
            compare["datasets"][name] = {"overrides": args.overrides, "variants": result}
            write_json(compare_path, compare)
    lines = ["# Joint vs separate models", "", "Test set; mean ± sd over the seeds (n). Inconsistent = a "
             "predicted slot type never seen with the predicted intent in training.", ""]
    metrics = ("intent_acc", "slot_f1", "sentence_acc", "inconsistent_rate")
    for name, entry in compare["datasets"].items():
        lines += [f"## {name} (overrides: {' '.join(entry['overrides']) or 'none'})", "",
                  "| model | n | intent acc | slot F1 | sentence acc | inconsistent % | train s |",
                  "|---|---:|---:|---:|---:|---:|---:|"]
        for model, r in entry["variants"].items():
            cells = [f"{r[f'{k}_mean']:.2f} ± {r[f'{k}_sd']:.2f}" for k in metrics]
            cells.append(f"{r['train_seconds_mean']:.0f}" if "train_seconds_mean" in r else "")
            lines.append(f"| {model} | {r['n_seeds']} | " + " | ".join(cells) + " |")
        lines.append("")
    write_report_md(Path(args.out_dir) / "joint_vs_separate.md", "\n".join(lines))


if __name__ == "__main__":
    main()
