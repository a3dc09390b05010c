"""Shared by the benchmark scripts: machine facts, seeds loop, mean and sd, incremental JSON."""

from __future__ import annotations

import os
import platform
import statistics
import time
from pathlib import Path
from typing import Any

# the real datasets; BENCH_DATA_ROOT points the scripts at another folder of the same layout (the smoke test)
SHARED = Path(os.environ.get("BENCH_DATA_ROOT") or Path(__file__).resolve().parent.parent.parent / "shared" / "data")
STALE: list[dict[str, Any]] = []  # reused runs made by other code than this checkout (see find_or_train)

# Shipped defaults that changed after a report was made. A benchmark whose published rows were trained with the
# earlier default pins it, first among its overrides, so that rerunning it measures what it published.
INTENT_BEFORE_SEARCH = ["model.pooling=mean", "train.lr=1e-4", "train.head_lr=0", "train.layer_decay=1.0",
                        "train.label_smoothing=0", "train.epochs=3"]  # configs/intent.yaml before reports/intent_recipe
NER_BEFORE_BUDGET = ["train.batch_tokens=0"]  # configs/ner.yaml before token-budget batches (reports/ner_features)
NER_BEFORE_HEAD_LR = ["train.head_lr=0", *NER_BEFORE_BUDGET]  # ... and before the head learning rate
NER_BEFORE_CASING = ["model.word_features=none", *NER_BEFORE_HEAD_LR]  # ... and before the casing feature
NER_BEFORE_CRF = ["model.head=softmax", "model.decode=argmax", *NER_BEFORE_CASING]  # ... and before the CRF head
JOINT_BEFORE_RECIPE = ["model.decode=argmax", "model.slot_weight=1.0", "train.epochs=3", "train.lr=1e-4",
                       "train.head_lr=0"]  # configs/joint.yaml before reports/joint_recipe_atis
# configs/intent.yaml before the ECE-chosen temperature (reports/calibration.md): every intent run a report measured
# before then, first among its pins (a later train.calibration pin, e.g. UNCALIBRATED, still wins)
INTENT_BEFORE_ECE = ["train.calibration=temperature"]
UNCALIBRATED = ["train.calibration=none"]  # intent runs made before temperature scaling was the default (issue 16)


def machine() -> dict[str, Any]:
    """The machine, the code version (git commit, uncommitted changes) and any reused runs of other code."""
    import torch

    from pipelines.provenance import code_version

    cpu = "unknown"
    try:
        cpu = next(line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo") if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    return {"cpu": cpu, "cores": os.cpu_count(), "torch_threads": torch.get_num_threads(),
            "torch": torch.__version__, "python": platform.python_version(), "gpu": torch.cuda.is_available(),
            "date": time.strftime("%Y-%m-%d"), "code": code_version(), "reused_runs_of_other_code": STALE}


def mean_sd(values: list[float]) -> tuple[float, float]:
    if not values:
        return float("nan"), float("nan")
    return statistics.fmean(values), statistics.stdev(values) if len(values) > 1 else 0.0


def summarise(rows: list[dict[str, float]]) -> dict[str, Any]:
    """Per key of the rows (one per seed): `key_mean` and `key_sd`, rounded to 2 decimals."""
    out: dict[str, Any] = {}
    for key in rows[0]:
        m, sd = mean_sd([r[key] for r in rows])
        out[f"{key}_mean"], out[f"{key}_sd"] = round(m, 2), round(sd, 2)
    return out


def run_seeds(task: str, overrides: list[str], seeds: list[int], out_dir: str, on_result=None) -> list[dict]:
    """`find_or_train` of `task` once per seed with `overrides` (a finished run of the same config is reused);
    returns the metrics.json contents of each run, with its seed and folder."""
    import json

    results = []
    for seed in seeds:
        run_dir = find_or_train(task, [*overrides, f"train.seed={seed}"],
                                Path(out_dir) / f"{task}-seed{seed}-{time.strftime('%Y%m%d-%H%M%S')}")
        results.append({"seed": seed, "run_dir": str(run_dir), **json.loads((run_dir / "metrics.json").read_text())})
        if on_result:
            on_result(results)
    return results


def find_or_train(task: str, overrides: list[str], run_dir: Path, config: str | None = None) -> Path:
    """A finished run of this config: `run_dir` if done, else any finished run under runs/bench with the same
    config, else `run_dir` trained now (continued from its checkpoint when an earlier try was interrupted)."""
    from pipelines.config import ConfigError, load_config, same_run
    from pipelines.training.train import run

    if (run_dir / "metrics.json").exists():
        flag_if_stale(run_dir)
        return run_dir
    resume = (run_dir / "config.yaml").exists() and any((run_dir / "checkpoints").glob("*.ckpt"))
    if resume:
        cfg = load_config(run_dir / "config.yaml")
    else:
        cfg = load_config(config, [*overrides, "train.progress_bar=false", f"train.out_dir={run_dir.parent}"],
                          task=task)
        for other in sorted(Path("runs/bench").glob("**/config.yaml")):
            if not (other.parent / "metrics.json").exists():
                continue
            try:
                same = same_run(load_config(other), cfg)
            except ConfigError:  # written by another version of the code: not this config
                continue
            if same:
                print(f"reusing {other.parent} for {run_dir.name}", flush=True)
                flag_if_stale(other.parent)
                return other.parent
    run(cfg, run_dir, resume=resume)
    return run_dir


def with_value(overrides: list[str], key: str, value: str) -> list[str]:
    """`overrides` with `key` set to `value` (an earlier setting of `key` removed)."""
    return [o for o in overrides if not o.startswith(f"{key}=")] + [f"{key}={value}"]


def slug(overrides: list[str]) -> str:
    """A run-folder name for a list of overrides: `train.lr=1e-4 train.epochs=3` -> `lr1e-4_epochs3`."""
    return "_".join(o.split("=")[0].split(".")[-1] + o.split("=")[1] for o in overrides)


def coordinate_search(start: list[str], stages: list[tuple[str, list[str]]], dev_score,
                      on_stage=None) -> tuple[list[str], list[dict[str, Any]]]:
    """One knob per stage, from `start`: each stage tries its values on top of the best overrides so far and
    keeps the best `dev_score(overrides) -> (score, row)`; ties keep the earlier value. Returns the winning
    overrides and one row per try (`stage`, `value`, `overrides`, `chosen` and the caller's row).
    `on_stage(rows)` is called after every stage (write a partial report)."""
    best, rows = list(start), []
    for key, values in stages:
        scored = []
        for value in values:
            overrides = with_value(best, key, value)
            score, row = dev_score(overrides)
            rows.append({"stage": key, "value": value, "overrides": overrides, **row})
            scored.append((score, -len(scored), overrides))
        best = max(scored)[2]
        rows[-len(values):] = [{**row, "chosen": row["overrides"] == best} for row in rows[-len(values):]]
        if on_stage:
            on_stage(rows)
    return best, rows


def flag_if_stale(run_dir: Path) -> None:
    """Record (in STALE, which machine() reports) and print a reused run made by another commit or a dirty tree."""
    import json

    from pipelines.provenance import code_version

    made = json.loads((run_dir / "metrics.json").read_text())
    now = code_version()
    if made.get("commit") != now["commit"] or made.get("dirty"):
        STALE.append({"run": str(run_dir), "commit": made.get("commit"), "dirty": made.get("dirty")})
        print(f"flag: {run_dir} was trained by commit {made.get('commit')} (dirty: {made.get('dirty')}), "
              f"not by this checkout ({now['commit']})", flush=True)


def write_text_splits(folder: Path, splits: dict[str, Any]) -> Path:
    """Write {"train": ds, "dev": ds, "test": ds} (datasets with text and label) as JSONL files in `folder`, the
    layout `data.path=<folder>` reads; returns `folder`."""
    import json

    from pipelines.io import atomic_write_text

    folder.mkdir(parents=True, exist_ok=True)
    for name, ds in splits.items():
        atomic_write_text(folder / f"{name}.jsonl", "".join(json.dumps({"text": t, "label": g}) + "\n"
                                                            for t, g in zip(ds["text"], ds["label"], strict=True)))
    return folder


def generated_by(script: str, m: dict[str, Any]) -> str:
    """The provenance sentence a generated report opens with: script, date, commit and machine (machine())."""
    gpu = "a GPU" if m.get("gpu") else "no GPU"
    return (f"Generated by `{script}` on {m['date']} (commit {m['code']['commit'][:10]}); {m['cpu']}, "
            f"{m['cores']} cores, {gpu}.")


NOTES_MARKER = "<!-- notes below are written by hand and kept when the script rewrites the tables above -->"


def write_report_md(path: str | Path, generated: str) -> None:
    """Write a generated Markdown report, keeping any hand-written reading of it (everything after
    NOTES_MARKER in the existing file)."""
    from pipelines.io import atomic_write_text

    path = Path(path)
    old = path.read_text(encoding="utf-8") if path.exists() else ""
    notes = old[old.index(NOTES_MARKER):] if NOTES_MARKER in old else ""
    atomic_write_text(path, generated.rstrip("\n") + "\n\n" + notes if notes else generated)
