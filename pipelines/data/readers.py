"""Readers: plain functions from files to `datasets.Dataset`, raising `ReadError` with file and line.

Columns produced (a task picks what it needs):
- token data: `tokens` (list[str]), `tags` (list[str], IOB2), `doc_id` (int), and `label` where the
  format has a sentence label too (ATIS/SNIPS layout);
- sentence data: `text` (str), `label` (str).
Every dataset also has an `id` column (int, the example's position in its file); a record's own `id` field
is kept as `source_id`. CoNLL, CSV and JSONL data carry `line` (the record's, or the sentence's first, line in
the file) and the file's path in `ds.info.description`, so that any later check names both (`source_of`).
In CSV/JSONL records an empty or null `label` is None and empty or null `spans` leave `tags` None (not
annotated); only tasks that train on partly annotated data accept them (the data module stops on a missing
required field). A text, label, tokens or tags field of the wrong type stops with its line; NUL bytes in a text
are read as spaces and counted; a file of IOB2 tags where some entity starts with I- is read as IOB1, and the
count and the first line are logged.
"""

from __future__ import annotations

import csv
import gzip
import io
import json
import logging
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from datasets import Dataset

from pipelines.data.tags import TagError, detect_scheme, split_tag, to_iob2
from pipelines.errors import ReadError  # noqa: F401  (re-exported)

log = logging.getLogger(__name__)


def read_text(path: str | Path) -> str:
    """Whole file as UTF-8 text (gzip when it ends in .gz); non-UTF-8 bytes and empty files raise."""
    path = Path(path)
    if not path.is_file():
        raise ReadError(path, None, "no such file")
    data = path.read_bytes()
    if path.suffix == ".gz":
        data = gzip.decompress(data)
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as err:
        line = data[: err.start].count(b"\n") + 1
        raise ReadError(path, line, f"not UTF-8 (byte {data[err.start]:#04x} at offset {err.start}); "
                                    "re-encode the file as UTF-8") from None
    if not text.strip():
        raise ReadError(path, None, "file is empty")
    return text.lstrip("\ufeff")


def _finish_tags(path: Path, sentences: list[list[str] | None], lines: list[list[int]],
                 scheme: str) -> list[list[str] | None]:
    """Validate every tag (raising with its line) and convert the sentences to IOB2 (None = not annotated)."""
    for tags, nums in zip(sentences, lines, strict=True):
        for tag, num in zip(tags or [], nums if tags else [], strict=True):
            try:
                split_tag(tag)
            except TagError as err:
                raise ReadError(path, num, str(err)) from None
    if scheme == "auto":
        scheme = detect_scheme([t for t in sentences if t is not None])
        if scheme == "iob1":
            starts = [(nums[i], tag) for tags, nums in zip(sentences, lines, strict=True)
                      for i, tag in enumerate(tags or []) if tag.startswith("I-")
                      and (i == 0 or tags[i - 1] == "O" or tags[i - 1][2:] != tag[2:])]
            log.warning("%s: %d entities start with I- (the first at line %s, %r): the file is read as IOB1 and "
                        "those tags become B-; set data.scheme=iob2 if they are errors to see them as such",
                        path, len(starts), starts[0][0], starts[0][1])
    out: list[list[str] | None] = []
    for tags, nums in zip(sentences, lines, strict=True):
        if tags is None:
            out.append(None)
            continue
        try:
            out.append(to_iob2(tags, scheme))
        except TagError as err:
            raise ReadError(path, nums[0], str(err)) from None
    return out


def read_conll(path: str | Path, tag_column: int = -1, scheme: str = "auto") -> Dataset:
    """CoNLL column file: one token per line, blank line between sentences, `-DOCSTART-` between documents.

    Args:
        path: the file.
        tag_column: which whitespace-separated column holds the tag (-1 = last; the word is column 0).
        scheme: 'auto', 'iob1', 'iob2' or 'bioes'; tags are returned as IOB2.
    """
    path = Path(path)
    tokens: list[list[str]] = []
    tags: list[list[str]] = []
    lines: list[list[int]] = []
    docs: list[int] = []
    doc, cur_tok, cur_tag, cur_line = 0, [], [], []
    seen_docstart = False

    def flush() -> None:
        if cur_tok:
            tokens.append(list(cur_tok)), tags.append(list(cur_tag)), lines.append(list(cur_line))
            docs.append(doc)
            cur_tok.clear(), cur_tag.clear(), cur_line.clear()

    for num, line in enumerate(read_text(path).splitlines(), start=1):
        cols = line.split()
        if not cols:
            flush()
            continue
        if cols[0] == "-DOCSTART-":
            flush()
            doc += 1 if seen_docstart or tokens else 0
            seen_docstart = True
            continue
        if len(cols) < 2:
            raise ReadError(path, num, f"expected at least 2 columns (word ... tag), got {len(cols)}: {line!r}")
        if not -len(cols) <= tag_column < len(cols) or tag_column == 0:
            raise ReadError(path, num, f"tag column {tag_column} does not exist in a line of {len(cols)} columns")
        cur_tok.append(cols[0]), cur_tag.append(cols[tag_column]), cur_line.append(num)
    flush()
    if not tokens:
        raise ReadError(path, None, "no sentences found")
    tags = _finish_tags(path, tags, lines, scheme)
    return described(Dataset.from_dict({"id": list(range(len(tokens))), "tokens": tokens, "tags": tags,
                                        "doc_id": docs, "line": [nums[0] for nums in lines]}), path)


def read_seq_dir(path: str | Path, scheme: str = "auto") -> Dataset:
    """ATIS/SNIPS layout: a folder with `seq.in` (words), `seq.out` (tags) and optionally `label` (intent)."""
    path = Path(path)
    words = read_text(path / "seq.in").splitlines()
    tag_lines = read_text(path / "seq.out").splitlines()
    if len(words) != len(tag_lines):
        raise ReadError(path / "seq.out", None, f"{len(tag_lines)} lines but seq.in has {len(words)}")
    labels = read_text(path / "label").splitlines() if (path / "label").exists() else None
    if labels is not None and len(labels) != len(words):
        raise ReadError(path / "label", None, f"{len(labels)} lines but seq.in has {len(words)}")
    tokens, tags, nums = [], [], []
    for num, (w, t) in enumerate(zip(words, tag_lines, strict=True), start=1):
        w, t = w.split(), t.split()
        if len(w) != len(t):
            raise ReadError(path / "seq.out", num, f"{len(t)} tags for {len(w)} words in seq.in line {num}")
        if not w:
            raise ReadError(path / "seq.in", num, "empty line")
        tokens.append(w), tags.append(t), nums.append([num] * len(t))
    tags = _finish_tags(path / "seq.out", tags, nums, scheme)
    cols: dict[str, list[Any]] = {"id": list(range(len(tokens))), "tokens": tokens, "tags": tags,
                                  "text": [" ".join(w) for w in tokens], "doc_id": list(range(len(tokens)))}
    if labels is not None:
        cols["label"] = [label.strip() for label in labels]
    return Dataset.from_dict(cols)


def _rows_to_dataset(path: Path, rows: list[tuple[int, dict[str, Any]]], text_field: str, label_field: str,
                     scheme: str) -> Dataset:
    """Normalise records: text/label fields renamed, `tokens`/`tags` split when given as strings."""
    if not rows:
        raise ReadError(path, None, "no records found")
    cols: dict[str, list[Any]] = {"id": []}
    tag_lines: list[list[int]] = []
    nul_lines: list[int] = []
    for num, row in rows:
        rec = dict(row)
        _check_types(path, num, rec, text_field, label_field)
        if isinstance(rec.get(text_field), str) and "\x00" in rec[text_field]:
            rec[text_field] = rec[text_field].replace("\x00", " ")
            nul_lines.append(num)
        if "id" in rec:  # the record's own id (20 Newsgroups' "group/number"); `id` is the position in the file
            rec["source_id"] = rec.pop("id")
        if text_field in rec and text_field != "text":
            rec["text"] = rec.pop(text_field)
        if label_field in rec and label_field != "label":
            rec["label"] = rec.pop(label_field)
        if "spans" in rec:  # character offsets (SemEval Toxic Spans): words and IOB2 tags from them
            _spans_to_tags(path, num, rec)
        for key in ("tokens", "tags"):
            if isinstance(rec.get(key), str):
                rec[key] = rec[key].split()
        if "tokens" in rec and "tags" in rec and rec["tags"] is None:  # a record without span annotation
            tag_lines.append([])
        elif "tokens" in rec and "tags" in rec:
            if len(rec["tokens"]) != len(rec["tags"]):
                raise ReadError(path, num, f"{len(rec['tags'])} tags for {len(rec['tokens'])} tokens")
            tag_lines.append([num] * len(rec["tags"]))
        if "text" not in rec and "tokens" in rec:
            rec["text"] = " ".join(rec["tokens"])
        if "label" in rec:  # an empty or null label: the record has none (only tasks that allow it accept it)
            rec["label"] = str(rec["label"]) if rec["label"] not in (None, "") else None
        if cols["id"] and set(rec) != set(cols) - {"id", "line"}:
            differ = sorted((set(cols) - {"id", "line"}) ^ set(rec))
            raise ReadError(path, num, f"fields differ from the first record's: {differ}")
        cols["id"].append(len(cols["id"]))
        cols.setdefault("line", []).append(num)
        for key, value in rec.items():
            cols.setdefault(key, []).append(value)
    if nul_lines:
        log.warning("%s: %d records hold NUL bytes in their text (the first at line %d): read as spaces",
                    path, len(nul_lines), nul_lines[0])
    if "tags" in cols:
        cols["tags"] = _finish_tags(path, cols["tags"], tag_lines, scheme)
        cols.setdefault("doc_id", list(cols["id"]))
    return described(Dataset.from_dict(cols), path)


def _check_types(path: Path, num: int, rec: dict[str, Any], text_field: str, label_field: str) -> None:
    """One line that names the field, for a value of the wrong type (pyarrow would fail far from the file)."""
    text = rec.get(text_field)
    if text is not None and not isinstance(text, str):
        raise ReadError(path, num, f"{text_field!r} must be a string, got {type(text).__name__} {text!r:.60}")
    label = rec.get(label_field)
    if isinstance(label, (list, dict, bool)):
        raise ReadError(path, num, f"{label_field!r} must be one label (a string or a number), got "
                                   f"{type(label).__name__} {label!r:.60}")
    for key in ("tokens", "tags"):
        value = rec.get(key)
        if value is not None and not isinstance(value, str) and not (
                isinstance(value, list) and all(isinstance(v, str) for v in value)):
            raise ReadError(path, num, f"{key!r} must be a list of strings (or one space-separated string), "
                                       f"got {value!r:.60}")


def described(ds: Dataset, path: Path) -> Dataset:
    """`ds` with the file it came from in its info, so that later checks can name file and line."""
    ds.info.description = str(path)
    return ds


def source_of(ds: Dataset, row: int, fallback: str) -> str:
    """"file:line" of a record of `ds` (its `line` column and the file its reader noted), else `fallback`."""
    where = ds.info.description or fallback
    return f"{where}:{ds[row]['line']}" if "line" in ds.column_names else f"{fallback} (record {row + 1})"


def _spans_to_tags(path: Path, num: int, rec: dict[str, Any]) -> None:
    """Check a record's `spans` (character offsets into `text`) and add `tokens` and `tags` (pipelines.data.spans)."""
    from pipelines.data.spans import parse_offsets, text_to_tags

    text = rec.get("text")
    if not isinstance(text, str) or not text.strip():
        raise ReadError(path, num, "a record with spans needs a non-empty text")
    if rec["spans"] is None or rec["spans"] == "":  # null / empty cell: not annotated ("[]" = no toxic span)
        rec["spans"], rec["tokens"], rec["tags"] = None, text_to_tags(text, [])[0], None
        return
    try:
        rec["spans"] = parse_offsets(rec["spans"], len(text))
    except ValueError as err:
        raise ReadError(path, num, str(err)) from None
    rec["tokens"], rec["tags"] = text_to_tags(text, rec["spans"])


def read_jsonl(path: str | Path, text_field: str = "text", label_field: str = "label",
               scheme: str = "auto") -> Dataset:
    """JSON Lines: one object per line, e.g. {"text": ..., "label": ...} or {"tokens": [...], "tags": [...]}."""
    path = Path(path)
    rows = []
    for num, rec, problem in jsonl_lines(path):
        if problem:
            raise ReadError(path, num, problem)
        if not isinstance(rec, dict):
            raise ReadError(path, num, f"expected a JSON object, got {type(rec).__name__}")
        rows.append((num, rec))
    return _rows_to_dataset(path, rows, text_field, label_field, scheme)


def jsonl_lines(path: Path, lines: Iterable[tuple[int, str | UnicodeError]] | None = None):
    """(line number, the parsed value or None, what is wrong with the line or None) per non-blank line of a JSON
    Lines file; `read_jsonl` stops at a bad line, `make predict` answers it in place. `lines`: the file's
    (number, text or UnicodeError) pairs read as a stream by the caller; default: the whole file as UTF-8."""
    for num, line in lines if lines is not None else enumerate(read_text(path).splitlines(), start=1):
        if isinstance(line, UnicodeError):
            yield num, None, str(line)
            continue
        if not line.strip():
            continue
        try:
            yield num, json.loads(line), None
        except json.JSONDecodeError as err:
            yield num, None, f"not valid JSON: {err.msg}"


def read_csv(path: str | Path, text_field: str = "text", label_field: str = "label",
             scheme: str = "auto") -> Dataset:
    """CSV with a header row; `tokens`/`tags` columns hold space-separated words and tags."""
    path = Path(path)
    reader = csv.DictReader(io.StringIO(read_text(path), newline=""))
    rows = []
    for rec in reader:
        num = reader.line_num
        if None in rec or None in rec.values():
            raise ReadError(path, num, f"expected {len(reader.fieldnames or [])} fields as in the header")
        rows.append((num, rec))
    return _rows_to_dataset(path, rows, text_field, label_field, scheme)


def read_clinc(path: str | Path) -> dict[str, Dataset]:
    """CLINC150 JSON: keys train/val/test/oos_train/oos_val/oos_test, each a list of [text, label]."""
    path = Path(path)
    try:
        obj = json.loads(read_text(path))
    except json.JSONDecodeError as err:
        raise ReadError(path, err.lineno, f"not valid JSON: {err.msg}") from None
    names = {"train": "train", "val": "validation", "test": "test",
             "oos_train": "oos_train", "oos_val": "oos_validation", "oos_test": "oos_test"}
    if not isinstance(obj, dict) or "train" not in obj:
        raise ReadError(path, None, f"expected a JSON object with keys {sorted(names)}")
    out = {}
    for key, split in names.items():
        pairs = obj.get(key) or []
        bad = next((i for i, p in enumerate(pairs) if not (isinstance(p, list) and len(p) == 2)), None)
        if bad is not None:
            raise ReadError(path, None, f"{key}[{bad}]: expected [text, label], got {pairs[bad]!r}")
        if pairs:
            out[split] = Dataset.from_dict({"id": list(range(len(pairs))), "text": [p[0] for p in pairs],
                                            "label": [p[1] for p in pairs]})
    return out


def read_label_folders(path: str | Path, encoding_fallback: str = "") -> Dataset:
    """A folder of `<label>/<file>.txt` documents (the BBC News layout): `text`, `label`, `file`.

    An empty document, a label folder without .txt files, or a file that is not UTF-8 raises with the file's
    path; `encoding_fallback` (e.g. "latin-1") decodes a non-UTF-8 file instead, and the count is logged.
    """
    import logging

    path = Path(path)
    folders = sorted(p for p in path.iterdir() if p.is_dir() and not p.name.startswith("."))
    if not folders:
        raise ReadError(path, None, "no label folders: expected <label>/<file>.txt inside")
    cols: dict[str, list[Any]] = {"id": [], "text": [], "label": [], "file": []}
    fell_back = []
    for folder in folders:
        files = sorted(folder.glob("*.txt"))
        if not files:
            raise ReadError(folder, None, f"label folder {folder.name!r} has no .txt files")
        for file in files:
            data = file.read_bytes()
            try:
                text = data.decode("utf-8")
            except UnicodeDecodeError as err:
                if not encoding_fallback:
                    line = data[: err.start].count(b"\n") + 1
                    raise ReadError(file, line, f"not UTF-8 (byte {data[err.start]:#04x} at offset {err.start}); "
                                                "re-encode it, or set data.encoding_fallback=latin-1") from None
                text = data.decode(encoding_fallback)
                fell_back.append(file)
            if not text.strip():
                raise ReadError(file, None, "empty document")
            cols["id"].append(len(cols["id"]))
            cols["text"].append(text.lstrip("\ufeff"))
            cols["label"].append(folder.name)
            cols["file"].append(f"{folder.name}/{file.name}")
    if fell_back:
        logging.getLogger(__name__).warning("%s: %d files are not UTF-8 and were read as %s (the first: %s)",
                                            path, len(fell_back), encoding_fallback, fell_back[0])
    return Dataset.from_dict(cols)
