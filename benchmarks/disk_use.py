"""Disk use of a finished run: the exported model folder and each checkpoint (weights, AdamW's two moments, the
scheduler), and what a run keeps under each `train.keep_checkpoints` setting.

    .venv/bin/python -m benchmarks.disk_use [--run runs/bench/served/ner-seed1]   # -> reports/disk_use.json
The default run is the NER default recipe on CoNLL-2003 that `benchmarks.served_vs_scored` trains.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from benchmarks.common import machine
from pipelines.io import write_json
from pipelines.provenance import portable_path


def mb(path: Path) -> float:
    files = [path] if path.is_file() else [f for f in path.resolve().rglob("*") if f.is_file()]
    return round(sum(f.stat().st_size for f in files) / 1e6, 1)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--run", default="runs/bench/served/ner-seed1")
    parser.add_argument("--out", default="reports/disk_use.json")
    args = parser.parse_args(argv)
    run = Path(args.run)
    ckpts = sorted((run / "checkpoints").glob("*.ckpt"))
    if not ckpts:
        raise SystemExit(f"{run}/checkpoints holds no checkpoint to measure")
    model, ckpt = mb(run / "model"), max(mb(c) for c in ckpts)  # best.ckpt and last.ckpt hold the same tensors
    metrics = json.loads((run / "metrics.json").read_text())
    report = {"run": portable_path(str(run)), "encoder": metrics.get("encoder"), "run_commit": metrics.get("commit"),
              "model_mb": model, "checkpoint_mb": ckpt,
              "run_mb": {"last": round(model + ckpt, 1), "both": round(model + 2 * ckpt, 1), "none": model},
              "machine": machine()}
    write_json(args.out, report)
    print(json.dumps({k: report[k] for k in ("model_mb", "checkpoint_mb", "run_mb")}))


if __name__ == "__main__":
    main()
