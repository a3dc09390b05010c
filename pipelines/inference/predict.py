"""Production inference without Lightning: `Predictor.load(run_dir).predict(texts)`.

Contract for services:
- `predict(texts)` returns one dict per text, in order. A text that is empty, not a string, longer than
  `max_chars` characters, or holding a character no tokenizer should see (a lone UTF-16 surrogate, NUL or another
  control character but tab, newline, carriage return, form feed and vertical tab) raises a ValueError naming its
  positions (`errors="raise"`, the default), or, with `errors="return"`, gets `{"error": "<why>"}` in its place
  while the other texts are predicted; should the model still fail on a batch, `errors="return"` predicts its
  texts one at a time, so that only the text it fails on gets an error.
- Thread safety: one call runs at a time per Predictor (a lock inside `predict`); concurrent calls from
  threads are safe and wait for each other. For parallel throughput run one Predictor per worker process.

CLI (`make predict RUN=runs/X`): one text per stdin line, one JSON object per output line, answered as lines
arrive (a batch is whatever is waiting, up to --batch-size lines); or `--input FILE` (JSONL / CSV records with a
text field, so a text may hold newlines) and `--out FILE`, with progress on stderr and `--resume` to continue a
stopped run. An empty line, a line that is not UTF-8 or one over the length cap yields
{"line": N, "error": "..."} and is counted on stderr.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import json
import logging
import os
import re
import select
import shutil
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import torch

from pipelines.config import META, SCHEMA, DataConfig
from pipelines.errors import ModelFormatError, ModelNotFoundError, missing_extra
from pipelines.inference.onnx import OnnxModel, is_onnx
from pipelines.io import atomic_write_text, make_readable_dir
from pipelines.models.encoders import load_saved_tokenizer
from pipelines.provenance import code_version, portable_path
from pipelines.registry import get_task, task_class
from pipelines.shipped import installed_model

log = logging.getLogger(__name__)
MAX_CHARS = 10_000
_BAD_CHARS = re.compile("[\x00-\x08\x0e-\x1f\ud800-\udfff]")


def text_problem(text: Any, max_chars: int = MAX_CHARS) -> str | None:
    """Why `text` cannot be predicted, or None when it can."""
    if not isinstance(text, str):
        return f"not a string ({type(text).__name__})"
    if not text.strip():
        return "empty text"
    if len(text) > max_chars:
        return f"text of {len(text)} characters is longer than max_chars={max_chars}"
    return bad_characters(text)


def bad_characters(text: str) -> str | None:
    """Where `text` holds a lone UTF-16 surrogate (valid JSON, not valid UTF-8), NUL or another control character
    (tab, newline, carriage return, form feed and vertical tab pass), or None."""
    if bad := _BAD_CHARS.search(text):
        char = bad.group()
        kind = "a lone UTF-16 surrogate" if "\ud800" <= char <= "\udfff" else "a control character"
        return f"{kind} ({ascii(char)[1:-1]}) at character {bad.start()}"
    return None


def model_dir(run_or_model_dir: str | Path) -> Path:
    """A run dir's `model/` folder (resolved once: a re-export swaps it whole), the folder itself when it
    holds the model, or the model of an installed model package of that name (`nlp-pipelines package`)."""
    path = Path(run_or_model_dir)
    if (path / "model" / META).exists():
        return (path / "model").resolve()
    if (path / META).exists():
        return path.resolve()
    if not path.exists() and (installed := installed_model(str(run_or_model_dir))) is not None:
        return installed
    raise ModelNotFoundError(f"{path}: no trained model here (expected {path}/model/{META}; a run writes it "
                             "when training ends), nor an installed model package of that name")


def pipeline_meta(task: Any, data: DataConfig, split: dict[str, Any] | None = None) -> dict[str, Any]:
    """pipeline.json: the task, its whole options and the whole data config the model was trained with (so
    evaluation and prediction encode as training did), how its splits were made (`split`:
    pipelines.data.splits.split_record), and the code version."""
    named = {k: portable_path(v) for k in ("train", "dev", "test") if (v := getattr(data, k)) and Path(v).exists()}
    data_dict = {**dataclasses.asdict(data), "path": portable_path(data.path), **named}  # names inside path stay
    return {"schema": SCHEMA, "task": task.name, "options": dataclasses.asdict(task.options), "data": data_dict,
            **({"split": split} if split else {}), **code_version()}


def run_splits(run: str | Path, data: str | DataConfig | None = None) -> dict[str, Any]:
    """The splits of the data a run trained on, with the dev set it held out: every tool that needs "the dev
    split of this run" (quantize, distill, eval) reads it here. `data` (a path, or a whole DataConfig) reads
    other data; a dev set carved from it uses the run's seed too. On the run's own data, a dev set that differs
    from the one training recorded (the file changed since) is an error."""
    from pipelines.data.splits import fingerprint, load_splits
    from pipelines.provenance import resolve_portable

    path = model_dir(run)
    meta = json.loads((path / META).read_text(encoding="utf-8"))
    named = {k: resolve_portable(v) for k in ("train", "dev", "test") if (v := meta["data"].get(k))
             and Path(resolve_portable(v)).exists()}
    trained = DataConfig(**{**meta["data"], **named})
    own = data is None or (isinstance(data, str) and data == resolve_portable(trained.path))
    if isinstance(data, DataConfig):
        dcfg = data
        own = resolve_portable(trained.path) == data.path
    else:
        dcfg = trained if data is None else dataclasses.replace(trained, path=data, train="", dev="", test="")
        dcfg = dataclasses.replace(dcfg, path=resolve_portable(dcfg.path)) if data is None else dcfg
    record = meta.get("split")
    if record is None:
        log.warning("%s/%s records no split (trained by an older version): a dev set carved from the data uses "
                    "seed 0, which need not be the one training held out", path, META)
    splits = load_splits(dcfg, task_class(meta["task"]).sample, seed=record["seed"] if record else 0)
    if own and record and fingerprint(splits["validation"]) != record["validation"]:
        raise ValueError(f"{dcfg.path or 'the shipped sample'}: its dev split is not the one {path.parent} held "
                         f"out in training ({record['sizes'].get('validation')} rows then, "
                         f"{len(splits['validation'])} now): the data changed since; retrain, or give the dev data")
    return splits


def export(model: torch.nn.Module, tokenizer: Any, out_dir: str | Path, meta: dict[str, Any],
           featurizers: dict[str, Any] | None = None) -> Path:
    """Save model (safetensors, id2label in config), tokenizer, featurizers and pipeline.json so that the folder
    appears whole: everything goes into a new hidden version folder, then `out_dir` (a relative symlink) is
    switched to it in one atomic rename. A reader never sees a half-written or missing `out_dir`. The version
    before stays until the next export, for readers that resolved it just before the switch."""
    out_dir = Path(out_dir)
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    version = Path(tempfile.mkdtemp(dir=out_dir.parent, prefix=f".{out_dir.name}-{time.strftime('%Y%m%d%H%M%S')}-"))
    make_readable_dir(version)
    model.save_pretrained(version)
    tokenizer.save_pretrained(version)
    for featurizer in (featurizers or {}).values():
        featurizer.save_pretrained(version)
    atomic_write_text(version / META, json.dumps(meta, indent=2) + "\n")
    if out_dir.exists() and not out_dir.is_symlink():  # a real folder (an older layout): move it aside first
        os.replace(out_dir, out_dir.with_name(f".{out_dir.name}-replaced-{time.strftime('%Y%m%d%H%M%S')}"))
    previous = out_dir.resolve() if out_dir.is_symlink() else None
    link = out_dir.with_name(f".{out_dir.name}.link")
    link.unlink(missing_ok=True)
    link.symlink_to(version.name)
    os.replace(link, out_dir)
    for old in out_dir.parent.glob(f".{out_dir.name}-*"):
        if old.is_dir() and old not in {version, previous} and "-replaced-" not in old.name:
            shutil.rmtree(old, ignore_errors=True)
    return out_dir


class Predictor:
    """A trained model, its tokenizer, featurizers and task, for batched inference (see the module docstring
    for the error and thread-safety contract)."""

    def __init__(self, task: Any, model: torch.nn.Module, tokenizer: Any, data: DataConfig | None = None,
                 batch_size: int = 64, featurizers: dict[str, Any] | None = None, max_chars: int = MAX_CHARS) -> None:
        self.task = get_task(task) if isinstance(task, str) else task
        self.task_name = self.task.name
        self.model, self.tokenizer = model.eval(), tokenizer
        self.data = data or DataConfig()
        self.batch_size, self.max_chars = batch_size, max_chars
        self.featurizers = dict(featurizers or {})
        self._lock = threading.Lock()

    @property
    def max_length(self) -> int:
        return self.data.max_length

    @property
    def offtopic(self) -> Any:
        return self.featurizers.get("offtopic")

    @classmethod
    def load(cls, run_dir: str | Path, device: str = "cpu", batch_size: int = 64,
             max_chars: int = MAX_CHARS, threads: int = 0) -> Predictor:
        """The model of a run dir or a model folder: PyTorch, or an ONNX graph (then `threads` sets ONNX
        Runtime's, 0 = all cores)."""
        path = model_dir(run_dir)
        meta = json.loads((path / META).read_text(encoding="utf-8"))
        if "options" not in meta or "data" not in meta:
            raise ModelFormatError(f"{path}/{META} was written by an older version of this project (no model "
                                    "options or data config in it): retrain the run")
        if meta.get("schema", 1) != SCHEMA:
            raise ModelFormatError(f"{path}: model folder schema {meta.get('schema')}, and this version of "
                                   f"nlp-pipelines reads schema {SCHEMA}: install the version that wrote it "
                                   f"(commit {meta.get('commit', 'unknown')}) or retrain")
        task = get_task(meta["task"], task_class(meta["task"]).Options.from_saved(meta["options"]))
        data = DataConfig(**{"splitter": "regex", **meta["data"]})  # runs before data.splitter split with the regex
        try:
            with _no_progress_bars():  # no "Loading weights" bar on every load
                if is_onnx(path):  # an ONNX Runtime graph (pipelines.inference.quantize)
                    model = OnnxModel.load(path, threads=threads)
                else:
                    model = task.load_model(path).to(device)
                return cls(task, model, load_saved_tokenizer(path), data, batch_size, task.load_featurizers(path),
                           max_chars)
        except ImportError as err:  # e.g. a topics model without gensim: name the extra to install
            raise missing_extra(err) or err from None

    def with_options(self, **changes: Any) -> Predictor:
        """The same model with some task options changed (e.g. `decode="argmax"`), sharing weights."""
        options = dataclasses.replace(self.task.options, **changes)
        return Predictor(get_task(self.task.name, options), self.model, self.tokenizer, self.data, self.batch_size,
                         self.featurizers, self.max_chars)

    def with_data(self, **changes: Any) -> Predictor:
        """The same model with some data settings changed (e.g. `splitter="regex"`), sharing weights."""
        return Predictor(self.task, self.model, self.tokenizer, dataclasses.replace(self.data, **changes),
                         self.batch_size, self.featurizers, self.max_chars)

    def problems(self, texts: list[Any]) -> dict[int, str]:
        """Position -> why that text cannot be predicted."""
        found = {i: text_problem(text, self.max_chars) for i, text in enumerate(texts)}
        return {i: why for i, why in found.items() if why is not None}

    def predict(self, texts: str | list[str] | None = None, errors: str = "raise",
                tokens: list[list[str]] | None = None) -> list[dict[str, Any]]:
        """Predictions for each text (a single string is taken as a list of one), or for each pre-split sentence
        in `tokens` (its words kept as given, joined by single spaces; offsets refer to that joined text).

        Args:
            errors: "raise": a ValueError names the positions of unusable texts; "return": those positions
                get {"error": "<why>"} and the rest are predicted.
        """
        if errors not in {"raise", "return"}:
            raise ValueError(f"errors={errors!r}: expected raise|return")
        if tokens is not None:
            if texts is not None:
                raise ValueError("give texts or tokens, not both")
            spaced = [i for i, words in enumerate(tokens) if any(not w or w.split() != [w] for w in words)]
            if spaced:
                raise ValueError(f"tokens at positions {spaced[:10]} hold an empty word or whitespace inside a word")
            return self.with_data(splitter="whitespace").predict([" ".join(words) for words in tokens], errors)
        if texts is None:
            raise ValueError("give texts (raw strings) or tokens (pre-split sentences)")
        texts = [texts] if isinstance(texts, str) else list(texts)
        bad = self.problems(texts)
        if bad and errors == "raise":
            first = sorted(bad)[:10]
            raise ValueError(f"texts at positions {first} cannot be predicted: "
                             + "; ".join(f"{i}: {bad[i]}" for i in first))
        good = [i for i in range(len(texts)) if i not in bad]
        if not good:
            return [{"error": bad[i]} for i in range(len(texts))]
        try:
            out = self._predict([texts[i] for i in good])
        except Exception as err:
            if errors == "raise":
                raise
            out = [failed(err)] if len(good) == 1 else [self._predict_alone(texts[i]) for i in good]
        results: list[dict[str, Any]] = [{"error": bad[i]} if i in bad else {} for i in range(len(texts))]
        for i, res in zip(good, out, strict=True):
            results[i] = res
        return results

    def _predict_alone(self, text: str) -> dict[str, Any]:
        """One text's prediction, or its error (after a batch that held it failed)."""
        try:
            return self._predict([text])[0]
        except Exception as err:  # noqa: BLE001 - reported at its position
            return failed(err)

    def _predict(self, texts: list[str]) -> list[dict[str, Any]]:
        with self._lock:
            out = self.task.predict(self.model, self.tokenizer, texts, self.batch_size, self.data, self.featurizers)
        if len(out) != len(texts):
            raise RuntimeError(f"task {self.task_name!r} returned {len(out)} predictions for {len(texts)} texts")
        return out


@contextlib.contextmanager
def _no_progress_bars():
    """transformers' progress bars off for the block, as they were after it."""
    from transformers.utils import logging as hf_logging

    was_on = hf_logging.is_progress_bar_enabled()
    hf_logging.disable_progress_bar()
    try:
        yield
    finally:
        if was_on:
            hf_logging.enable_progress_bar()


def failed(err: Exception) -> dict[str, str]:
    return {"error": f"prediction failed: {type(err).__name__}: {err}"}


def _stdin_batches(stream: Any, batch_size: int):
    """Yield lists of raw byte lines: whatever is waiting on `stream`, at most `batch_size`, without waiting
    for the end of the input (so an interactive user gets each answer at once)."""
    batch: list[bytes] = []
    while True:
        line = stream.readline()
        if not line:
            break
        batch.append(line)
        waiting = False
        try:
            waiting = bool(select.select([stream], [], [], 0)[0])
        except (OSError, ValueError):  # not selectable (e.g. a test's BytesIO): batch by size
            waiting = True
        if len(batch) >= batch_size or not waiting:
            yield batch
            batch = []
    if batch:
        yield batch


def _decoded(line: bytes) -> str | UnicodeError:
    try:
        return line.decode("utf-8").rstrip("\r\n")
    except UnicodeDecodeError as err:
        return UnicodeError(f"not UTF-8 (byte {line[err.start]:#04x} at column {err.start + 1})")


def input_format(path: Path, fmt: str = "auto") -> str:
    """`lines`, `jsonl` or `csv`: `fmt`, or for `auto` the file's extension (anything else is lines)."""
    return {".jsonl": "jsonl", ".csv": "csv"}.get(path.suffix, "lines") if fmt == "auto" else fmt


def stream_records(path: Path, fmt: str, field_name: str = "text"):
    """(line, text or UnicodeError) per record of a file, read as a stream (never held in memory): `lines` (every
    line a text), `jsonl` (a string field; blank lines skipped) or `csv` (a column; a text may hold newlines). A
    bad record (not UTF-8, not JSON, no such field) is a UnicodeError in its place, answered as an error there."""
    import csv

    from pipelines.data.readers import ReadError, jsonl_lines

    if not path.is_file():
        raise ReadError(path, None, "no such file")
    if fmt == "csv":
        with open(path, encoding="utf-8-sig", newline="") as fh:
            reader = csv.DictReader(fh)
            try:
                if field_name not in (reader.fieldnames or []):
                    raise ReadError(path, 1, f"no column {field_name!r} (columns: {reader.fieldnames}); name it "
                                             "with --text-field")
                for rec in reader:
                    yield reader.line_num, rec[field_name]
            except UnicodeDecodeError as err:
                raise ReadError(path, reader.line_num + 1, f"not UTF-8 ({err.reason}); re-encode the file as "
                                                           "UTF-8") from None
        return
    with open(path, "rb") as fh:
        lines = ((num, _decoded(raw.removeprefix(b"\xef\xbb\xbf") if num == 1 else raw))
                 for num, raw in enumerate(fh, start=1))
        if fmt == "lines":
            yield from lines
            return
        for num, rec, problem in jsonl_lines(path, lines):
            if problem:
                yield num, UnicodeError(problem)
                continue
            value = rec.get(field_name) if isinstance(rec, dict) else None
            yield num, value if isinstance(value, str) else UnicodeError(f"no string field {field_name!r}")


def answer(predictor: Predictor, records: list[tuple[int, Any]]) -> list[dict[str, Any]]:
    """One JSON row per (line, text or UnicodeError) record: {"line", "text", ...the prediction} or
    {"line", "error"}; what `predict` writes, with or without --output."""
    texts = [text if isinstance(text, str) else "" for _, text in records]
    rows = []
    for (line, text), res in zip(records, predictor.predict(texts, errors="return"), strict=True):
        if isinstance(text, UnicodeError):
            res = {"error": str(text)}
        rows.append({"line": line, **(res if "error" in res else {"text": text, **res})})
    return rows


def _batches_of(records, size: int):
    batch = []
    for item in records:
        batch.append(item)
        if len(batch) >= size:
            yield batch
            batch = []
    if batch:
        yield batch


def _stdin_records(stream: Any, batch_size: int):
    """Batches of (line, text or UnicodeError) from stdin lines, answered as they arrive."""
    number = 0
    for raw in _stdin_batches(stream, batch_size):
        batch = []
        for line in raw:
            number += 1
            batch.append((number, _decoded(line)))
        yield batch


def _done_lines(out: Path) -> int:
    """Complete JSON lines already in `out` (a torn last line, from a killed run, is cut off)."""
    if not out.exists():
        return 0
    data = out.read_bytes()
    keep = data[: data.rfind(b"\n") + 1]
    if len(keep) != len(data):
        with open(out, "r+b") as fh:
            fh.truncate(len(keep))
    return keep.count(b"\n")


def main(argv: list[str] | None = None) -> int:
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()  # no "Loading weights" bar in CLI output
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n")[0],
        epilog="Input: one text per line on stdin (answered as lines arrive), or --input FILE: .jsonl / .csv "
               "records with a text field (--text-field; a text may hold newlines), or any other file as lines. "
               "Output: one JSON object per input record, with its line number, on stdout or --out FILE; "
               "--resume continues an --out file, skipping the records already in it. At scale: --input FILE --output "
               "DIR [--devices N] writes shard files with several processes through Lightning, and a rerun resumes "
               "(nlp-pipelines predict RUN --input F --output DIR --help; needs the [train] extra).")
    parser.add_argument("run", help="run dir (or its model/ folder)")
    parser.add_argument("--input", type=Path, help="a file to read instead of stdin")
    parser.add_argument("--format", choices=["auto", "lines", "jsonl", "csv"], default="auto",
                        help="of --input (auto: by its extension)")
    parser.add_argument("--text-field", default="text", help="JSONL / CSV field holding the text")
    parser.add_argument("--out", type=Path, help="write here instead of stdout")
    parser.add_argument("--resume", action="store_true", help="with --out: skip records already in it")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--max-chars", type=int, default=MAX_CHARS, help="longest text accepted")
    args = parser.parse_args(argv)
    if args.resume and not args.out:
        parser.error("--resume needs --out (the file to continue)")
    predictor = Predictor.load(args.run, batch_size=args.batch_size, max_chars=args.max_chars)
    if args.input is None:
        batches = _stdin_records(sys.stdin.buffer, args.batch_size)
    else:
        batches = _batches_of(stream_records(args.input, input_format(args.input, args.format), args.text_field),
                              args.batch_size)
    skip = _done_lines(args.out) if args.resume else 0
    out = open(args.out, "a" if args.resume else "w", encoding="utf-8") if args.out else sys.stdout  # noqa: SIM115
    progress = args.out is not None or not sys.stdin.isatty()
    number = failed = 0
    start = last = time.monotonic()
    try:
        for batch in batches:
            if number + len(batch) <= skip:
                number += len(batch)
                continue
            batch = batch[max(0, skip - number):]
            number = max(number, skip)
            for row in answer(predictor, batch):
                number += 1
                failed += "error" in row
                out.write(json.dumps(row, ensure_ascii=False) + "\n")
            out.flush()
            if progress and time.monotonic() - last > 10:
                last = time.monotonic()
                print(f"{number} records done ({(number - skip) / (last - start):.1f}/s)", file=sys.stderr, flush=True)
    finally:
        if out is not sys.stdout:
            out.close()
    if skip:
        print(f"resumed: {min(skip, number)} records were already in {args.out}", file=sys.stderr)
    if failed:
        print(f"{failed} of {number - skip} line(s) not predicted (see their 'error')", file=sys.stderr)
    return 0


if __name__ == "__main__":
    from pipelines.cli import run_cli

    run_cli(main)
