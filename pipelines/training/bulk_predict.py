"""Batch prediction at scale through Lightning: `nlp-pipelines predict RUN --input big.jsonl --output out/
--devices N`.

The input is cut by position into shards of `--shard-size` records; of N processes (Lightning DDP, one per
device; CPU processes over gloo with `--accelerator cpu`), rank r predicts shards r, r+N, r+2N, ... Each rank
reads the input as a stream (pipelines.inference.predict.stream_records: never held in memory) and skips the
records of other ranks' shards. A `BasePredictionWriter` appends each batch's JSON lines to the shard's
`.part` file and renames it to `shard-00000.jsonl` once the shard is complete, so a shard file is whole or
absent. A rerun on the same `--output` (a killed job, a lost machine) predicts only the shards that are absent;
`plan.json` pins the input and shard size, so a rerun with other settings stops instead of mixing shards. When
every shard is there, `manifest.json` counts records and errors.

Every record comes out exactly once, in a shard, with its line number; a bad record (not UTF-8, not JSON, empty,
too long) is an error record at its line, never a crash. Predictions are the Predictor's (`Predictor.predict`),
the same as `nlp-pipelines predict` without `--output`.
"""

from __future__ import annotations

import argparse
import json
import os
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import lightning.pytorch as pl
import torch
from lightning.pytorch.callbacks import BasePredictionWriter
from torch.utils.data import DataLoader, IterableDataset

from pipelines.errors import ConfigError
from pipelines.inference.predict import MAX_CHARS, Predictor, answer, input_format, stream_records
from pipelines.io import atomic_write_text

PLAN, MANIFEST = "plan.json", "manifest.json"


def shard_file(out: Path, shard: int) -> Path:
    return out / f"shard-{shard:05d}.jsonl"


class ShardStream(IterableDataset):
    """Batches of one rank's shards: {"shard": k, "records": [(line, text or UnicodeError), ...], "last": bool}
    (`last`: the shard's final batch). A batch never spans two shards; `done` shards are skipped."""

    def __init__(self, path: Path, fmt: str, field: str, shard_size: int, batch_size: int, rank: int = 0,
                 world: int = 1, done: frozenset[int] = frozenset(), total: int | None = None) -> None:
        self.path, self.fmt, self.field = path, fmt, field
        self.shard_size, self.batch_size, self.rank, self.world, self.done = shard_size, batch_size, rank, world, done
        self.total = total

    def mine(self, shard: int) -> bool:
        return shard % self.world == self.rank and shard not in self.done

    def __iter__(self) -> Iterator[dict[str, Any]]:
        batch: list[tuple[int, Any]] = []
        current = -1
        for i, record in enumerate(stream_records(self.path, self.fmt, self.field)):
            shard = i // self.shard_size
            if shard != current and batch:
                yield {"shard": current, "records": batch, "last": True}
                batch = []
            current = shard
            if not self.mine(shard):
                continue
            batch.append(record)
            if len(batch) == self.batch_size and (i + 1) % self.shard_size:
                yield {"shard": shard, "records": batch, "last": False}
                batch = []
        if batch:
            yield {"shard": current, "records": batch, "last": True}

    def __len__(self) -> int:
        """Batches this rank yields (for the progress bar); needs `total`, the number of records."""
        if self.total is None:
            raise TypeError("ShardStream has no length before the records are counted")
        batches = 0
        for shard in range(-(-self.total // self.shard_size)):
            if self.mine(shard):
                size = min(self.shard_size, self.total - shard * self.shard_size)
                batches += -(-size // self.batch_size)
        return batches


class BulkModule(pl.LightningModule):
    """A Predictor as a LightningModule for `Trainer.predict`: each batch's records -> JSON-ready rows."""

    def __init__(self, predictor: Predictor) -> None:
        super().__init__()
        self.predictor = predictor
        self.model = predictor.model  # registered, so Lightning places it on the rank's device
        self.allow_zero_length_dataloader_with_multiple_devices = True  # a rank may have no shard left

    def predict_step(self, batch: dict[str, Any], batch_idx: int = 0) -> list[dict[str, Any]]:
        return answer(self.predictor, batch["records"])


class ShardWriter(BasePredictionWriter):
    """Appends each batch's rows to `.shard-k.part`; the shard's last batch renames it to shard-k.jsonl."""

    def __init__(self, out: Path) -> None:
        super().__init__(write_interval="batch")
        self.out = out
        self._open: dict[int, Any] = {}

    def write_on_batch_end(self, trainer, pl_module, prediction, batch_indices, batch, batch_idx,
                           dataloader_idx=0) -> None:
        shard = batch["shard"]
        part = self.out / f".shard-{shard:05d}.part"
        if shard not in self._open:
            self._open[shard] = open(part, "w", encoding="utf-8")  # noqa: SIM115 - closed at the shard's end
        fh = self._open[shard]
        fh.write("".join(json.dumps(row, ensure_ascii=False) + "\n" for row in prediction))
        if batch["last"]:
            fh.flush()
            os.fsync(fh.fileno())
            fh.close()
            del self._open[shard]
            os.replace(part, shard_file(self.out, shard))


class Shards(pl.LightningDataModule):
    """The stream of this rank's shards: the rank is known only once Lightning has started the processes."""

    def __init__(self, stream: ShardStream) -> None:
        super().__init__()
        self.stream = stream

    def predict_dataloader(self) -> DataLoader:
        self.stream.rank, self.stream.world = self.trainer.global_rank, self.trainer.world_size
        return DataLoader(self.stream, batch_size=None)


def count_records(path: Path, fmt: str, field: str) -> int:
    return sum(1 for _ in stream_records(path, fmt, field))


def check_plan(out: Path, plan: dict[str, Any]) -> None:
    """Write plan.json on the first run; a rerun must use the same input and shard size."""
    known = out / PLAN
    if known.exists():
        old = json.loads(known.read_text())
        if old != plan:
            changed = sorted(k for k in plan if old.get(k) != plan[k])
            raise ConfigError(f"{out} holds shards of another job ({', '.join(changed)} differ: {PLAN} has "
                              f"{ {k: old.get(k) for k in changed} }); give another --output or the same settings")
    else:
        atomic_write_text(known, json.dumps(plan, indent=2) + "\n")


def predict_to_shards(run: str | Path, input_path: str | Path, out: str | Path, fmt: str = "auto",
                      field: str = "text", shard_size: int = 10_000, batch_size: int = 64, devices: int = 1,
                      accelerator: str = "cpu", max_chars: int = MAX_CHARS,
                      progress: bool = True) -> dict[str, Any] | None:
    """Predict every record of `input_path` into shard files under `out` (see the module docstring); returns
    the manifest on the main process once every shard exists (None on the other ranks)."""
    input_path, out = Path(input_path), Path(out)
    fmt = input_format(input_path, fmt)
    if shard_size < 1 or batch_size < 1 or devices < 1:
        raise ConfigError("--shard-size, --batch-size and --devices must be >= 1")
    out.mkdir(parents=True, exist_ok=True)
    total = count_records(input_path, fmt, field)
    shards = -(-total // shard_size)
    check_plan(out, {"input": str(input_path.resolve()), "format": fmt, "text_field": field,
                     "shard_size": shard_size, "records": total, "shards": shards})
    done = frozenset(k for k in range(shards) if shard_file(out, k).exists())
    if accelerator == "cpu" and devices > 1:
        torch.set_num_threads(max(1, (os.cpu_count() or 1) // devices))  # the cores shared out, not oversubscribed
    predictor = Predictor.load(run, batch_size=batch_size, max_chars=max_chars)
    trainer = pl.Trainer(accelerator=accelerator, devices=devices, strategy="ddp" if devices > 1 else "auto",
                         logger=False, enable_checkpointing=False, enable_progress_bar=progress,
                         enable_model_summary=False, callbacks=[ShardWriter(out)], inference_mode=True)
    warnings.filterwarnings("ignore", message=".*IterableDataset. has .__len__. defined")  # one loader per rank
    warnings.filterwarnings("ignore", message=".*infer the batch indices")  # the writer needs none
    if len(done) < shards:
        data = Shards(ShardStream(input_path, fmt, field, shard_size, batch_size, done=done, total=total))
        trainer.predict(BulkModule(predictor), datamodule=data, return_predictions=False)
        trainer.strategy.barrier("shards written")  # every rank's shards are renamed before the manifest
    if not trainer.is_global_zero:
        return None
    missing = [k for k in range(shards) if not shard_file(out, k).exists()]
    if missing:
        raise RuntimeError(f"shards {missing[:10]} are missing after the run; rerun to predict them")
    records = errors = 0
    for k in range(shards):
        with open(shard_file(out, k), encoding="utf-8") as fh:
            for line in fh:
                records += 1
                errors += '"error":' in line and "error" in json.loads(line)
    manifest = {"records": records, "errors": errors, "shards": shards, "resumed_shards": len(done),
                "devices": devices, "accelerator": accelerator}
    atomic_write_text(out / MANIFEST, json.dumps(manifest, indent=2) + "\n")
    return manifest


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("run", help="run dir, model folder or installed model name")
    parser.add_argument("--input", type=Path, required=True, help="a .jsonl / .csv / text file (one text a line)")
    parser.add_argument("--output", type=Path, required=True, help="folder of shard files (rerun to resume)")
    parser.add_argument("--format", choices=["auto", "lines", "jsonl", "csv"], default="auto")
    parser.add_argument("--text-field", default="text", help="JSONL / CSV field holding the text")
    parser.add_argument("--devices", type=int, default=1, help="processes (DDP), one per device")
    parser.add_argument("--accelerator", default="cpu", help="cpu, gpu, ... (Lightning's)")
    parser.add_argument("--shard-size", type=int, default=10_000, help="records per output shard")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--max-chars", type=int, default=MAX_CHARS, help="longest text accepted")
    args = parser.parse_args(argv)
    manifest = predict_to_shards(args.run, args.input, args.output, args.format, args.text_field, args.shard_size,
                                 args.batch_size, args.devices, args.accelerator, args.max_chars)
    if manifest is not None:
        print(f"{manifest['records']} records in {manifest['shards']} shards under {args.output} "
              f"({manifest['errors']} errors; {manifest['resumed_shards']} shards were already done)")
    return 0


if __name__ == "__main__":
    from pipelines.cli import run_cli

    run_cli(main)
