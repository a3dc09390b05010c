"""Joint intent + slots recipe search on dev, then the winner with 3 seeds on test.

A coordinate search, one knob per stage, each stage keeping whichever value had the best dev sentence accuracy
(ties keep the earlier value): learning rate, a separate head learning rate, the CRF head, the number of
epochs. The decoding is compared on dev for the winner without retraining (consistent vs viterbi vs argmax).
Only the winner sees test.

    .venv/bin/python -m benchmarks.joint_recipe --dataset atis --seeds 1 2 3
    .venv/bin/python -m benchmarks.joint_recipe --dataset snips --seeds 1 --shipped   (no search)
Writes reports/joint_recipe_<dataset>.json / .md.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from benchmarks.common import (
    SHARED,
    coordinate_search,
    find_or_train,
    generated_by,
    machine,
    slug,
    summarise,
    write_report_md,
)
from benchmarks.joint import frame_scores, predictions
from pipelines.cli import parse_args
from pipelines.io import write_json
from pipelines.provenance import portable_path

START = ["train.epochs=10", "model.slot_weight=2.0", "model.decode=consistent"]
STAGES: list[tuple[str, list[str]]] = [
    ("train.lr", ["1e-4", "2e-4"]),
    ("train.head_lr", ["0", "1e-3"]),
    ("model.head", ["softmax", "crf"]),
    ("train.epochs", ["10", "16"]),
]
# JointBERT (Chen et al. 2019, BERT-base) test: intent acc, slot F1, sentence acc
ANCHORS = {"atis": (97.5, 96.1, 88.2), "snips": (98.6, 97.0, 92.8)}
METRICS = ("intent_acc", "slot_f1", "sentence_acc")


def run_scores(run_dir: Path) -> dict[str, float]:
    m = json.loads((run_dir / "metrics.json").read_text())
    return {**{f"dev_{k}": round(100 * m["validation"][k], 2) for k in METRICS},
            **{f"test_{k}": round(100 * m["test"][k], 2) for k in METRICS}, "train_seconds": m["train_seconds"]}


def main(argv: list[str] | None = None) -> None:
    from collections import defaultdict

    from pipelines.config import DataConfig
    from pipelines.data.splits import load_splits
    from pipelines.data.tags import spans

    parser = argparse.ArgumentParser()
    parser.add_argument("--dataset", default="atis")
    parser.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3], help="the first one searches")
    parser.add_argument("--data-root", default=str(SHARED))
    parser.add_argument("--out-dir", default="reports")
    parser.add_argument("--shipped", action="store_true",
                        help="no search: run the shipped configs/joint.yaml (the ATIS winner) on every seed; seeds "
                             "of an earlier --shipped call with the same overrides are kept in the report")
    parser.add_argument("overrides", nargs="*", help="added to every run (e.g. a cheaper setting for a smoke test)")
    args = parse_args(parser, argv)
    data = str(Path(args.data_root) / args.dataset)
    runs = Path("runs/bench/joint_recipe") / args.dataset
    out_json = Path(args.out_dir) / f"joint_recipe_{args.dataset}.json"
    m = machine()

    def train(overrides: list[str], seed: int) -> Path:
        return find_or_train("joint", [f"data.path={data}", f"train.seed={seed}", *overrides, *args.overrides],
                             runs / f"{slug(overrides) or 'shipped'}-seed{seed}")

    def dev_score(overrides: list[str]) -> tuple[float, dict[str, Any]]:
        r = run_scores(train(overrides, args.seeds[0]))
        return r["dev_sentence_acc"], {k: v for k, v in r.items() if not k.startswith("test_")}

    def partial(rows: list[dict[str, Any]]) -> None:
        write_json(out_json, {"data": portable_path(data), "machine": m, "search": rows})

    best, search = ([], []) if args.shipped else coordinate_search(START, STAGES, dev_score, partial)

    # decoding of the winner, on dev, without retraining
    splits = load_splits(DataConfig(path=data), data)
    allowed: dict[str, set[str]] = defaultdict(set)
    for intent, tags in zip(splits["train"]["label"], splits["train"]["tags"], strict=True):
        allowed[intent] |= {kind for kind, _, _ in spans(tags)}
    dev = splits["validation"]
    winner_dir = train(best, args.seeds[0])
    modes = ["consistent", "viterbi"] + ([] if "model.head=crf" in best else ["argmax"])
    decoding = {mode: {k: round(v, 2) for k, v in frame_scores(dev["label"], dev["tags"],
                                                                *predictions(winner_dir, dev, mode), allowed).items()}
                for mode in modes}

    kept = earlier_seeds(out_json, portable_path(data), args.overrides, args.seeds) if args.shipped else {}
    by_seed = {**kept.get("rows", {}), **{seed: run_scores(train(best, seed)) for seed in args.seeds}}
    seeds = sorted(by_seed)
    rows = [by_seed[seed] for seed in seeds]
    final = summarise(rows)
    shipped_path = Path(args.out_dir) / f"joint_{args.dataset}.json"
    shipped = json.loads(shipped_path.read_text()) if shipped_path.exists() else {}
    result = {"data": portable_path(data), "machine": m, "seeds": seeds, "search_seed": args.seeds[0],
              "seeds_from_earlier_calls": {"machine": kept["machine"]} if kept else None,
              "start": START, "transferred": args.shipped, "extra_overrides": args.overrides, "search": search,
              "winner": best,
              "dev_decoding_of_winner": decoding, "per_seed": rows, "final": final,
              "shipped_before": {**{k: shipped.get(f"{k}_mean") for k in METRICS},
                                 "overrides": shipped.get("overrides")},
              "anchor_jointbert": dict(zip(METRICS, ANCHORS.get(args.dataset, (None,) * 3), strict=True))}
    write_json(out_json, result)
    write_report_md(out_json.with_suffix(".md"), render(args.dataset, result))


def earlier_seeds(out_json: Path, data: str, overrides: list[str], seeds: list[int]) -> dict[str, Any]:
    """Per-seed rows of an earlier --shipped report on the same data with the same overrides, for the seeds not in
    `seeds` (each with the machine that made it), or {}."""
    if not out_json.exists():
        return {}
    r = json.loads(out_json.read_text())
    if not r.get("transferred") or r.get("data") != data or settings(r.get("extra_overrides")) != settings(overrides):
        return {}
    rows = {seed: row for seed, row in zip(r["seeds"], r["per_seed"], strict=True) if seed not in seeds}
    older = {int(seed): mach for seed, mach in ((r.get("seeds_from_earlier_calls") or {}).get("machine") or {}).items()}
    return {"rows": rows, "machine": {seed: older.get(seed, r["machine"]) for seed in rows}} if rows else {}


def settings(overrides: list[str] | None) -> list[str] | None:
    """The overrides that change results (a progress bar does not)."""
    return None if overrides is None else [o for o in overrides if not o.startswith("train.progress_bar=")]


def render(name: str, r: dict[str, Any]) -> str:
    lines = [f"# Joint recipe search: {name}", "", generated_by(f"benchmarks/joint_recipe.py --dataset {name}",
                                                                 r["machine"]), "",
             f"Data `{r['data']}`; the bundled all-MiniLM-L6-v2. "]
    if r.get("transferred"):
        lines[-1] += ("No search on this dataset: the shipped `configs/joint.yaml` (the ATIS dev winner) "
                      "was run as it is.")
    else:
        lines[-1] += (f"Search on dev with seed {r['search_seed']}, one knob per stage from `{' '.join(r['start'])}`; "
                      f"each stage keeps the best dev sentence accuracy. Test is read for the winner only.")
        lines += ["", f"## Search (dev, seed {r['search_seed']})", "",
                  "| stage | value | dev intent | dev slot F1 | dev sentence | train s | kept |",
                  "|---|---|---:|---:|---:|---:|---|"]
    for row in r["search"]:
        lines.append(f"| {row['stage']} | {row['value']} | {row['dev_intent_acc']:.2f} | {row['dev_slot_f1']:.2f} | "
                     f"{row['dev_sentence_acc']:.2f} | {row['train_seconds']:.0f} | {'yes' if row['chosen'] else ''} |")
    recipe = f"Winner: `{' '.join(r['winner'])}`" if r["winner"] else "Recipe: the shipped `configs/joint.yaml`"
    lines += ["", recipe, "", f"## Decoding of the winner (dev, seed {r['search_seed']}, no retraining)", "",
              "| decode | intent | slot F1 | sentence | inconsistent % |", "|---|---:|---:|---:|---:|"]
    for mode, s in r["dev_decoding_of_winner"].items():
        lines.append(f"| {mode} | {s['intent_acc']:.2f} | {s['slot_f1']:.2f} | {s['sentence_acc']:.2f} | "
                     f"{s['inconsistent_rate']:.2f} |")
    f, b, a = r["final"], r["shipped_before"], r["anchor_jointbert"]
    lines += ["", f"## Test, seeds {' '.join(map(str, r['seeds']))} (mean ± sd)", "",
              "| recipe | intent acc | slot F1 | sentence acc |", "|---|---:|---:|---:|",
              "| winner | " + " | ".join(f"{f[f'test_{k}_mean']:.2f} ± {f[f'test_{k}_sd']:.2f}"
                                        for k in METRICS) + " |"]
    if b.get("slot_f1") is not None:
        lines.append(f"| shipped before ({' '.join(b['overrides'] or []) or 'defaults'}) | " +
                     " | ".join(f"{b[k]:.2f}" for k in METRICS) + " |")
    if a.get("slot_f1") is not None:
        lines.append("| JointBERT, BERT-base (published) | " + " | ".join(f"{a[k]:.1f}" for k in METRICS) + " |")
    lines += ["", "Dev of the winner: " + ", ".join(f"{k} {f[f'dev_{k}_mean']:.2f} ± {f[f'dev_{k}_sd']:.2f}"
                                                      for k in METRICS) +
              f"; training {f['train_seconds_mean']:.0f} s per run."]
    for seed, mach in ((r.get("seeds_from_earlier_calls") or {}).get("machine") or {}).items():
        lines.append(f"Seed {seed} comes from an earlier call (commit {mach['code']['commit'][:10]}, {mach['cpu']}, "
                     f"{mach['date']}).")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
