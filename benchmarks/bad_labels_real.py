"""Bad-label suspects in real, unmodified corpora: `pipelines.training.find_bad_labels` on CoNLL-2003 (test split,
scored by a finished CoNLL-2003 model; train split, frozen-encoder k-fold or fine-tuned k-fold, 1 epoch per
fold) and ATIS (intents, frozen-encoder k-fold; slots, fine-tuned k-fold, 2 epochs per fold).

    .venv/bin/python -m benchmarks.bad_labels_real --conll-model runs/bench/ner-seed1-...
Runs what is missing under runs/bench/badlabels/ and writes reports/bad_labels_real.json: per corpus the
number of rows, how many confident learning flags, and the top 50 suspects as ids, labels and scores only.
The corpora's text is not copied into the project (their licences); `runs/bench/badlabels/<corpus>/summary.md`
shows the sentences on the machine that ran this.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from benchmarks.common import SHARED, machine
from pipelines.cli import parse_args
from pipelines.io import write_json
from pipelines.training.find_bad_labels import main as find_bad_labels


def strip_text(row: dict) -> dict:
    """A suspect row without the corpus text: ids, labels, entity types and word offsets, scores."""
    out = {k: v for k, v in row.items() if k not in {"text", "worst_word"}}
    for key in ("given", "suggested"):
        if isinstance(out.get(key), list):
            out[key] = [{k: v for k, v in e.items() if k != "text"} for e in out[key]]
    return out


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--conll-model", required=True, help="a finished CoNLL-2003 NER run (trained on train)")
    parser.add_argument("--corpora", nargs="+", default=["conll2003-test", "atis-intent-train",
                                                          "atis-slots-train-finetune", "conll2003-train-finetune"])
    parser.add_argument("--top", type=int, default=50)
    parser.add_argument("--out", default="reports/bad_labels_real.json")
    parser.add_argument("overrides", nargs="*")
    args = parse_args(parser, argv)
    conll, atis = str(SHARED / "conll2003"), str(SHARED / "atis")
    jobs = {
        "conll2003-test": ["--task", "ner", "--data", conll, "--split", "test", "--model", args.conll_model],
        "atis-intent-train": ["--task", "intent", "--data", atis, "--frozen"],
        "conll2003-train": ["--task", "ner", "--data", conll, "--frozen"],
        "atis-slots-train-finetune": ["--task", "ner", "--data", atis, "train.epochs=2"],
        "conll2003-train-finetune": ["--task", "ner", "--data", conll, "--cheap"],
    }
    path = Path(args.out)
    report = json.loads(path.read_text()) if path.exists() else {"corpora": {}}
    report.update({"machine": machine(), "encoder": "all-MiniLM-L6-v2 (default)"})
    unknown = sorted(set(args.corpora) - set(jobs))
    if unknown:
        raise SystemExit(f"--corpora: unknown {unknown}; known: {sorted(jobs)}")
    for name in args.corpora:
        argv = jobs[name]
        out = Path("runs/bench/badlabels") / name
        if not (out / "suspects.jsonl").exists():
            find_bad_labels([*argv, "--out", str(out), *args.overrides])  # later overrides win
        rows = [json.loads(x) for x in (out / "suspects.jsonl").read_text().splitlines()]
        title = (out / "summary.md").read_text().splitlines()[0].lstrip("# ")
        report["corpora"][name] = {"how": title, "rows": len(rows),
                                   "confident_learning_flags": sum(r["confident_learning_flag"] for r in rows),
                                   "top": [strip_text(r) for r in rows[: args.top]]}
        write_json(path, report)


if __name__ == "__main__":
    main()
