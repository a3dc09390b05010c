"""Export a run's model to ONNX and quantise it to INT8, behind an accuracy gate:
`python -m pipelines.inference.quantize RUN [key=value ...]` (`make quantize RUN=...`).

Methods (`method`):
- fp32: the ONNX graph alone, run with ONNX Runtime's full graph optimisation (no quantisation);
- dynamic: INT8 weights, activations quantised per batch at run time from their observed range (no
  calibration; onnxruntime.quantization.quantize_dynamic);
- static: INT8 weights and activations, the activation ranges fixed beforehand from `calibration_size`
  training examples by `calibration`: minmax (the observed extremes), entropy (the range whose 8-bit
  histogram has the least KL divergence from the float one; TensorRT's method) or percentile (cut at the
  `percentile`-th percentile of |x|). Long-tailed activations are where they differ: minmax spends the 256
  levels on rare outliers, the other two clip them.

The gate: the quantised model is scored on the validation split with the task's own metric (`task.monitor`);
if it loses more than `max_drop` points against the PyTorch model, nothing is saved and the command says by
how much it lost. Otherwise the folder (`out`, default RUN/model-<method>) appears whole in one rename, with
`quantize.json` (both scores, sizes, settings) beside the graph; `Predictor.load(folder)` serves it.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import shutil
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from pipelines.config import CONFIG_DIR, build_section, read_raw
from pipelines.data.batching import Collator, Features, sorted_batches
from pipelines.errors import ConfigError
from pipelines.inference.onnx import GRAPH, SPEC, export_onnx, save_heads
from pipelines.io import atomic_write_text, make_readable_dir
from pipelines.provenance import code_version, portable_path

WEIGHTS = {"model.safetensors", "heads.safetensors", "encoder", "config.json", "crf.safetensors"}


class QuantizationRefused(ConfigError):
    """The quantised model lost more than `max_drop` on the validation split; nothing was saved."""


@dataclass(frozen=True)
class QuantizeConfig:
    method: str = field(default="dynamic", metadata={"help": "fp32 | dynamic | static"})
    calibration: str = field(default="entropy", metadata={"help": "static: minmax | entropy | percentile"})
    calibration_size: int = field(default=256, metadata={"help": "static: training examples to calibrate on"})
    percentile: float = field(default=99.999, metadata={"help": "calibration=percentile: where |x| is cut"})
    ops: str = field(default="MatMul,Gemm", metadata={"help": "static: operator types quantised (comma-separated)"})
    max_drop: float = field(default=1.0, metadata={"help": "points of the validation metric the INT8 model may "
                                                           "lose; more, and nothing is saved"})
    seed: int = field(default=0, metadata={"help": "static: which training examples calibrate (the dev set "
                                                   "that gates is the one the run recorded)"})

    def __post_init__(self) -> None:
        if self.method not in {"fp32", "dynamic", "static"}:
            raise ConfigError(f"method={self.method!r}: expected fp32|dynamic|static")
        if self.calibration not in {"minmax", "entropy", "percentile"}:
            raise ConfigError(f"calibration={self.calibration!r}: expected minmax|entropy|percentile")
        if self.calibration_size < 1 or self.max_drop < 0:
            raise ConfigError("calibration_size must be >= 1 and max_drop >= 0")


def batches(feats: Features, pad_id: int, size: int = 32, count: int | None = None, seed: int = 0) -> list[dict]:
    """Length-sorted padded batches of `count` rows of `feats` drawn with `seed` (all rows when None)."""
    rng = np.random.default_rng(seed)
    rows = [feats[i] for i in (rng.permutation(len(feats))[:count] if count else range(len(feats)))]
    sub = Features(rows)
    collate = Collator(pad_id)
    return [collate([sub[i] for i in idx]) for idx in sorted_batches(sub.lengths, size)]


class _Reader:
    """onnxruntime's CalibrationDataReader protocol over our batches."""

    def __init__(self, items: list[dict], inputs: list[str]) -> None:
        self.items = iter([{k: b[k].numpy().astype(np.int64) for k in inputs} for b in items])

    def get_next(self) -> dict[str, np.ndarray] | None:
        return next(self.items, None)

    def rewind(self) -> None:  # called by newer onnxruntime versions; one pass is all we give
        pass


def calibration_method(name: str) -> Any:
    from onnxruntime.quantization import CalibrationMethod

    return {"minmax": CalibrationMethod.MinMax, "entropy": CalibrationMethod.Entropy,
            "percentile": CalibrationMethod.Percentile}[name]


def calibrate(fp32: Path, qcfg: QuantizeConfig, calib: list[dict], inputs: list[str], work: Path) -> Any:
    """The activation ranges of the quantised operators' tensors (onnxruntime TensorsData) from `calib`, one
    batch per pass, so batches may differ in shape; the calibrator comes back too (its `collector` holds the
    histograms of entropy and percentile calibration)."""
    from onnxruntime.quantization.calibrate import create_calibrator

    options = {"percentile": qcfg.percentile} if qcfg.calibration == "percentile" else {}
    calibrator = create_calibrator(str(fp32), [o.strip() for o in qcfg.ops.split(",") if o.strip()],
                                   augmented_model_path=str(work / "augmented.onnx"),
                                   calibrate_method=calibration_method(qcfg.calibration), extra_options=options)
    for batch in calib:
        calibrator.collect_data(_Reader([batch], inputs))
    return calibrator.compute_data(), calibrator


def quantize_graph(fp32: Path, out: Path, qcfg: QuantizeConfig, calib: list[dict], inputs: list[str]) -> None:
    """Write the quantised graph of `fp32` to `out` (`calib`: batches for static calibration)."""
    from onnxruntime.quantization import QuantFormat, QuantType, quantize_dynamic, quantize_static
    from onnxruntime.quantization.calibrate import save_tensors_data

    if qcfg.method == "fp32":
        shutil.copyfile(fp32, out)
    elif qcfg.method == "dynamic":
        quantize_dynamic(str(fp32), str(out), weight_type=QuantType.QInt8)
    else:
        ranges, _ = calibrate(fp32, qcfg, calib, inputs, out.parent)
        cache = out.parent / "calibration.json"
        save_tensors_data(ranges, cache)
        quantize_static(str(fp32), str(out), None, quant_format=QuantFormat.QDQ, activation_type=QuantType.QUInt8,
                        weight_type=QuantType.QInt8,
                        op_types_to_quantize=[o.strip() for o in qcfg.ops.split(",") if o.strip()],
                        calibrate_method=calibration_method(qcfg.calibration), calibration_cache_path=cache)
        for leftover in (cache, out.parent / "augmented.onnx"):
            leftover.unlink(missing_ok=True)


def write_folder(predictor: Any, source: Path, staging: Path, spec: dict[str, Any], info: dict[str, Any]) -> None:
    """Beside the graph: config, CRF, tokenizer and featurizer files of the source model, pipeline.json."""
    from pipelines.inference.predict import META
    save_heads(predictor.model.config, getattr(predictor.model, "crf", None), staging)
    for item in source.iterdir():
        if item.name in WEIGHTS or item.name == META:
            continue
        (shutil.copytree if item.is_dir() else shutil.copyfile)(item, staging / item.name)
    atomic_write_text(staging / SPEC, json.dumps({**spec, **info}, indent=2) + "\n")
    meta = json.loads((source / META).read_text(encoding="utf-8"))
    atomic_write_text(staging / META, json.dumps({**meta, "runtime": "onnx"}, indent=2) + "\n")


def quantize(run: str | Path, qcfg: QuantizeConfig, out: str | Path | None = None, data: str | None = None,
             log=print) -> dict[str, Any]:
    """Export, quantise, gate and publish; returns the quantize.json report. Raises QuantizationRefused."""
    from pipelines.inference.evaluate import evaluate
    from pipelines.inference.predict import Predictor, model_dir, run_splits

    source = model_dir(run)
    out = Path(out) if out else Path(run) / f"model-{qcfg.method}"
    predictor = Predictor.load(run)
    task, tok = predictor.task, predictor.tokenizer
    splits = run_splits(run, data)  # the dev set training held out, never rows it trained on
    label2id = {v: int(k) for k, v in predictor.model.config.id2label.items()}
    train_feats = task.encode(splits["train"], tok, label2id, predictor.data, predictor.featurizers)
    calib = batches(train_feats, tok.pad_token_id, count=qcfg.calibration_size, seed=qcfg.seed)
    out.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(dir=out.parent, prefix=f".{out.name}-"))
    try:
        start = time.perf_counter()
        fp32 = staging / "fp32.onnx"
        spec = export_onnx(predictor.model, calib[0], fp32, check=calib[-1])
        quantize_graph(fp32, staging / GRAPH, qcfg, calib, spec["inputs"])
        fp32.unlink()
        for extra in staging.glob("*.onnx.data"):  # calibration leftovers
            extra.unlink()
        info = {"settings": dataclasses.asdict(qcfg), "source": portable_path(str(source)), **code_version(),
                "graph_mb": round((staging / GRAPH).stat().st_size / 2**20, 2),
                "source_mb": round(sum(f.stat().st_size for f in source.rglob("*.safetensors")) / 2**20, 2),
                "seconds": round(time.perf_counter() - start, 1)}
        write_folder(predictor, source, staging, spec, info)
        metric = task.monitor.split("/", 1)[1]
        before = evaluate(predictor, splits["validation"])[metric] * 100
        after = evaluate(Predictor.load(staging), splits["validation"])[metric] * 100
        report = {**info, "metric": f"validation {metric}", "pytorch_fp32": round(before, 2),
                  "onnx": round(after, 2), "drop": round(before - after, 2)}
        log(f"{qcfg.method}: validation {metric} {before:.2f} (PyTorch) -> {after:.2f} (ONNX), "
            f"{report['graph_mb']} MB graph")
        if before - after > qcfg.max_drop:
            raise QuantizationRefused(f"{qcfg.method} INT8 loses {before - after:.2f} points of validation {metric} "
                                      f"({before:.2f} -> {after:.2f}), more than max_drop={qcfg.max_drop}: not saved")
        atomic_write_text(staging / "quantize.json", json.dumps(report, indent=2) + "\n")
        publish(staging, out)
        return report
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def publish(staging: Path, out: Path) -> None:
    """Move `staging` to `out` in one rename (an older `out` is moved aside first, then removed)."""
    make_readable_dir(staging)
    old = None
    if out.exists():
        old = out.with_name(f".{out.name}-old-{time.strftime('%Y%m%d%H%M%S')}")
        os.replace(out, old)
    os.replace(staging, out)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def main(argv: list[str] | None = None) -> int:
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("run", help="run dir (or its model/ folder)")
    parser.add_argument("overrides", nargs="*", help="key=value of configs/quantize.yaml, e.g. method=static")
    parser.add_argument("--config", default=str(CONFIG_DIR / "quantize.yaml"))
    parser.add_argument("--data", help="data to calibrate and check on (default: the run's)")
    parser.add_argument("--out", help="output folder (default: RUN/model-<method>)")
    args = parser.parse_args(argv)
    raw = read_raw(args.config, [f"quantize.{o}" for o in args.overrides]).get("quantize", {})
    qcfg = build_section(QuantizeConfig, raw, "quantize")
    report = quantize(args.run, qcfg, args.out, args.data)
    print(f"saved {args.out or Path(args.run) / f'model-{qcfg.method}'} (drop {report['drop']} points, "
          f"{report['graph_mb']} MB)")
    return 0


if __name__ == "__main__":
    from pipelines.cli import run_cli

    run_cli(main)
