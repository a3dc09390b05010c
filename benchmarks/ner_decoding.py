"""Decoding of trained softmax NER models: per-word argmax vs IOB2-constrained Viterbi (no retraining).

Re-scores every finished sentence-level CoNLL-2003 run under runs/bench (from benchmarks.ner_conll2003)
on dev and test with both decoders: entity F1 (seqeval strict IOB2) and the share of predicted sentences
that are invalid IOB2.

    .venv/bin/python -m benchmarks.ner_decoding
Writes reports/ner_decoding.json.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import yaml

from benchmarks.common import SHARED, machine, mean_sd
from pipelines.io import write_json


def main(argv: list[str] | None = None) -> None:
    from pipelines.data.readers import read_conll
    from pipelines.inference.evaluate import evaluate
    from pipelines.inference.predict import Predictor

    parser = argparse.ArgumentParser()
    parser.add_argument("--data", default=str(SHARED / "conll2003"))
    parser.add_argument("--out", default="reports/ner_decoding.json")
    args = parser.parse_args(argv)
    splits = {"validation": read_conll(Path(args.data) / "dev.txt"), "test": read_conll(Path(args.data) / "test.txt")}
    per_run = []
    for cfg_path in sorted(Path("runs/bench").glob("ner-seed*/config.yaml")):
        cfg = yaml.safe_load(cfg_path.read_text())
        run_dir = cfg_path.parent
        if cfg["data"]["doc_context"] or cfg["model"].get("head", "softmax") != "softmax" \
                or not (run_dir / "model" / "pipeline.json").exists():
            continue
        loaded = Predictor.load(run_dir)
        row = {"run": str(run_dir), "seed": cfg["train"]["seed"]}
        for decode in ("argmax", "viterbi"):
            predictor = loaded.with_options(decode=decode)
            for split, ds in splits.items():
                scores = evaluate(predictor, ds)
                row[f"{split}_{decode}_f1"] = round(100 * scores["f1"], 2)
                row[f"{split}_{decode}_invalid_rate"] = round(100 * scores["invalid_rate"], 2)
        per_run.append(row)
        print(row, flush=True)
    summary = {}
    for decode in ("argmax", "viterbi"):
        for split in ("validation", "test"):
            for key in ("f1", "invalid_rate"):
                m, sd = mean_sd([r[f"{split}_{decode}_{key}"] for r in per_run])
                summary[f"{split}_{decode}_{key}_mean"] = round(m, 2)
                summary[f"{split}_{decode}_{key}_sd"] = round(sd, 2)
    write_json(args.out, {"data": "CoNLL-2003 dev and test", "models": "sentence-level softmax runs of "
                          "benchmarks.ner_conll2003 (default encoder)", "metric": "seqeval strict IOB2; invalid "
                          "rate = % of predicted sentences with an I-X after O or another type",
                          "machine": machine(), "runs": per_run, **summary})


if __name__ == "__main__":
    main()
