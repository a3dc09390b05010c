"""Shared by the benchmark scripts: machine facts, seeds loop, mean and sd, incremental JSON."""

from __future__ import annotations

import os
import platform
import statistics
import time
from pathlib import Path
from typing import Any

SHARED = Path(__file__).resolve().parent.parent.parent / "shared" / "data"


def machine() -> dict[str, Any]:
    import torch

    cpu = "unknown"
    try:
        cpu = next(line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo") if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    return {"cpu": cpu, "cores": os.cpu_count(), "torch_threads": torch.get_num_threads(),
            "torch": torch.__version__, "python": platform.python_version(), "gpu": torch.cuda.is_available(),
            "date": time.strftime("%Y-%m-%d")}


def mean_sd(values: list[float]) -> tuple[float, float]:
    if not values:
        return float("nan"), float("nan")
    return statistics.fmean(values), statistics.stdev(values) if len(values) > 1 else 0.0


def run_seeds(task: str, overrides: list[str], seeds: list[int], out_dir: str, on_result=None) -> list[dict]:
    """Train `task` once per seed with `overrides`; returns the metrics.json contents of each run."""
    import json

    from pipelines.config import load_config
    from pipelines.train import run

    results = []
    for seed in seeds:
        cfg = load_config(None, [*overrides, f"train.seed={seed}", f"train.out_dir={out_dir}"], task=task)
        run_dir = Path(out_dir) / f"{task}-seed{seed}-{time.strftime('%Y%m%d-%H%M%S')}"
        run(cfg, run_dir)
        results.append({"seed": seed, "run_dir": str(run_dir),
                        **json.loads((run_dir / "metrics.json").read_text())})
        if on_result:
            on_result(results)
    return results
