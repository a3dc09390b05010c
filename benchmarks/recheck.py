"""Seed-1 recheck: one published row per task, retrained from scratch by this checkout and compared with the
report that published it (the structure issue's check that moving code changed no number).

    .venv/bin/python -m benchmarks.recheck                      # every part, one after another
    .venv/bin/python -m benchmarks.recheck --parts ner atis     # some

Each part trains the recipe its report used, seed 1, into runs/recheck/<part> (never reused from another
commit: a finished run there is reused only when this checkout made it), takes the test scores the run wrote
(metrics.json: `evaluate` on the gold tokens) and puts them beside the published figures. Writes
reports/recheck.json and .md.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from benchmarks.common import INTENT_BEFORE_SEARCH, SHARED, UNCALIBRATED, generated_by, machine, write_report_md
from pipelines.io import write_json

RUNS = Path("runs/recheck")
# part -> task, data (under ../shared/data), the recipe's overrides, the report and key path of the published
# figures, and which test metrics to compare (metrics.json name -> published name)
PARTS: dict[str, dict[str, Any]] = {
    "ner": {"task": "ner", "data": "conll2003", "overrides": [],
            "published": ("served_vs_scored.json", ["tasks", "ner", "conll2003", "gold_tokens"]),
            "metrics": {"f1": "f1"}},
    "atis": {"task": "joint", "data": "atis", "overrides": [],
             "published": ("served_vs_scored.json", ["tasks", "joint", "atis", "gold_tokens"]),
             "metrics": {"slot_f1": "slot_f1", "sentence_acc": "sentence_acc", "intent_acc": "intent_acc"}},
    "simm": {"task": "dialogue", "data": "sim_m", "overrides": [],
             "published": ("served_vs_scored.json", ["tasks", "dialogue", "sim_m", "gold_tokens"]),
             "metrics": {"jga": "jga"}},
    "davidson": {"task": "toxicity", "data": None, "overrides": None,  # benchmarks.toxicity's split and recipe
                 "published": ("served_vs_scored.json", ["tasks", "toxicity", "davidson", "gold_tokens"]),
                 "metrics": {"macro_f1": "macro_f1", "weighted_f1": "weighted_f1"}},
    "topics": {"task": "topics", "data": None, "overrides": None,  # benchmarks.topics' BBC split and recipe
               "published": ("topics.json", ["corpora", "bbc", "variants", "by_fusion", "topics", "runs", 0]),
               "metrics": {"accuracy": "test_accuracy", "macro_f1": "test_macro_f1"}},
    "intent": {"task": "intent", "data": "clinc150/data_full.json", "overrides": [*INTENT_BEFORE_SEARCH, *UNCALIBRATED],
               "published": ("served_vs_scored.json", ["tasks", "intent", "clinc150"]),
               "metrics": {"accuracy": "gold_tokens"}},
}


def train(part: str, seed: int, root: Path, extra: list[str] | None = None) -> Path:
    """runs/recheck/<part>: trained now (or continued), or reused when this checkout made it."""
    from pipelines.config import load_config
    from pipelines.provenance import code_version
    from pipelines.training.train import run

    spec, run_dir = PARTS[part], RUNS / part
    done = run_dir / "metrics.json"
    if done.exists() and json.loads(done.read_text()).get("commit") == code_version()["commit"]:
        return run_dir
    splits, overrides = None, spec["overrides"]
    if part == "topics":  # LDA topics alone (fusion=topics), as benchmarks.topics trained its seeds
        from benchmarks import topics as tb

        return Path(tb.train_variant("bbc", "topics-head-k50", ["model.fusion=topics", "model.pooling=head",
                                                                "model.num_topics=50"], seed, RUNS / "topics",
                                     list(extra or []))["run"])
    if spec["data"] is None:
        from benchmarks import toxicity as tox

        splits = tox.davidson_for("plain", tox.davidson_splits())
        overrides = [*tox.DETECT, *tox.RECIPES["plain"], "data.path=../shared/data/toxicity_davidson/labeled_data.csv"]
    else:
        overrides = [*overrides, f"data.path={root / spec['data']}"]
    resume = (run_dir / "checkpoints" / "last.ckpt").exists() and not done.exists()
    cfg = (load_config(run_dir / "config.yaml") if resume else
           load_config(None, [*overrides, f"train.seed={seed}", f"train.out_dir={RUNS}", "train.progress_bar=false",
                              *(extra or [])], task=spec["task"]))
    print(f"training {run_dir}", flush=True)
    run(cfg, run_dir, resume=resume, splits=splits)
    return run_dir


def compare(part: str, run_dir: Path, reports: Path = Path("reports")) -> dict[str, Any]:
    spec = PARTS[part]
    report, keys = spec["published"]
    published = json.loads((reports / report).read_text())
    for k in keys:
        published = published[k]
    metrics = json.loads((run_dir / "metrics.json").read_text())
    rows = {}
    for mine, theirs in spec["metrics"].items():
        now = round(100 * metrics["test"][mine], 2)
        then = published[theirs] if isinstance(published, dict) else published
        rows[mine] = {"now": now, "published": then, "diff": round(now - then, 2)}
    return {"run": str(run_dir), "commit": metrics.get("commit"), "dirty": metrics.get("dirty"),
            "train_seconds": metrics.get("train_seconds"), "published_in": f"reports/{report} "
            f"{'.'.join(map(str, keys))}", "test": rows}


def to_markdown(report: dict[str, Any]) -> str:
    lines = ["# Seed-1 recheck: published rows retrained by this checkout", "",
             generated_by("benchmarks/recheck.py", report["machine"]), "",
             "Each task's published row, trained again from scratch (seed 1, the recipe its report used) and scored "
             "on test with `evaluate` (gold tokens), beside the published figure.", "",
             "| part | metric | published | now | diff | run (commit) |", "|---|---|---:|---:|---:|---|"]
    for part, res in report["parts"].items():
        for name, row in res["test"].items():
            lines.append(f"| {part} | {name} | {row['published']:.2f} | {row['now']:.2f} | {row['diff']:+.2f} | "
                         f"`{res['run']}` ({str(res['commit'])[:10]}{', dirty' if res['dirty'] else ''}) |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--parts", nargs="+", default=list(PARTS), choices=list(PARTS))
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--data-root", default=str(SHARED))
    parser.add_argument("--out", default="reports/recheck")
    parser.add_argument("--published", default="reports", help="the folder of the reports that published the rows")
    parser.add_argument("overrides", nargs="*", help="appended to every part's recipe (smoke runs only)")
    args = parser.parse_args(argv)
    out = Path(args.out)
    path = out.with_suffix(".json")
    report = json.loads(path.read_text()) if path.exists() else {"parts": {}}
    for part in args.parts:
        report["parts"][part] = compare(part, train(part, args.seed, Path(args.data_root), args.overrides),
                                        Path(args.published))
        report["machine"] = machine()
        write_json(path, report)
        write_report_md(out.with_suffix(".md"), to_markdown(report))
        print(json.dumps(report["parts"][part]["test"]), flush=True)


if __name__ == "__main__":
    main()
