"""Find and read the splits of a data spec: a directory, a file, or `hub:<name>`.

A folder of `<label>/<file>.txt` documents is one labelled set (its own split is carved as below); a folder
with `train/` and `test/` subfolders in that layout (20 Newsgroups' by-date tarball) gives those splits.
Returns a dict with `train`, `validation` and, where present, `test` (plus any extra splits a format
carries, e.g. CLINC150's `oos_*`). A spec without a validation split gets one carved from train
(`data.dev_fraction`, seeded), and says so.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from pathlib import Path

from datasets import Dataset

from pipelines.config import DataConfig
from pipelines.data import readers
from pipelines.data.readers import ReadError

log = logging.getLogger(__name__)

SPLIT_NAMES = {"train": "train", "dev": "validation", "valid": "validation", "validation": "validation",
               "val": "validation", "test": "test"}
CONLL_EXT = {".txt", ".conll", ".bio", ".iob", ".tsv", ".iob2", ".bioes"}


def is_label_folders(path: Path) -> bool:
    """A folder of `<label>/*.txt` documents (BBC News layout), not a folder of split files or seq.in/seq.out."""
    subdirs = [p for p in path.iterdir() if p.is_dir() and not p.name.startswith(".")]
    return (bool(subdirs) and not (path / "seq.in").exists() and not any(SPLIT_NAMES.get(p.name.lower())
            for p in subdirs) and any(next(p.glob("*.txt"), None) is not None for p in subdirs))


def _format_of(path: Path, cfg: DataConfig) -> str:
    if cfg.format != "auto":
        return cfg.format
    if path.is_dir():
        return "folders" if is_label_folders(path) else "seq"
    suffixes = [s for s in path.suffixes if s != ".gz"]
    ext = suffixes[-1] if suffixes else ""
    if ext == ".csv":
        return "csv"
    if ext == ".jsonl":
        return "jsonl"
    if ext in {".md", ".yaml", ".yml"}:
        return "inline"
    if ext == ".json":  # one JSON object with split keys (CLINC150), else JSON records one per line
        try:
            obj = json.loads(readers.read_text(path))
        except json.JSONDecodeError:
            return "jsonl"
        if isinstance(obj, dict) and "train" in obj:
            return "clinc"
        from pipelines.data.dialogue import is_dialogue_json

        return "dialogue" if is_dialogue_json(obj) else "jsonl"
    if ext in CONLL_EXT or not ext:
        return "conll"
    raise ReadError(path, None, f"cannot tell the format from the extension {ext!r}; set data.format")


Reader = Callable[[Path, DataConfig], "Dataset | dict[str, Dataset]"]
READERS: dict[str, Reader] = {}  # data.format -> reader; `auto` picks one by extension (_format_of)


def reader(fmt: str) -> Callable[[Reader], Reader]:
    """Register a reader for `data.format=<fmt>`: a function (path, data config) -> one Dataset (splits are then
    carved from it) or a dict of named splits."""
    def register(fn: Reader) -> Reader:
        READERS[fmt] = fn
        return fn

    return register


reader("conll")(lambda path, cfg: readers.read_conll(path, cfg.tag_column, cfg.scheme))
reader("folders")(lambda path, cfg: readers.read_label_folders(path, cfg.encoding_fallback))
reader("seq")(lambda path, cfg: readers.read_seq_dir(path, cfg.scheme))
reader("csv")(lambda path, cfg: readers.read_csv(path, cfg.text_field, cfg.label_field, cfg.scheme))
reader("jsonl")(lambda path, cfg: readers.read_jsonl(path, cfg.text_field, cfg.label_field, cfg.scheme))
reader("clinc")(lambda path, cfg: readers.read_clinc(path))


@reader("dialogue")
def _dialogue(path: Path, cfg: DataConfig) -> Dataset:
    from pipelines.data.dialogue import read_dialogues

    return read_dialogues(path)


@reader("inline")
def _inline(path: Path, cfg: DataConfig) -> Dataset:
    from pipelines.data.inline import read_inline

    return read_inline(path)


def read_file(path: str | Path, cfg: DataConfig) -> Dataset | dict[str, Dataset]:
    """Read one file or ATIS-style folder with the reader its format calls for."""
    path = Path(path)
    fmt = _format_of(path, cfg)
    if fmt not in READERS:
        raise ReadError(path, None, f"data.format={fmt!r} is not a file format: expected auto, hub or one of "
                                    f"{', '.join(sorted(READERS))}")
    return READERS[fmt](path, cfg)


def _split_files(folder: Path) -> dict[str, Path]:
    """Map split names to files or seq-layout subfolders inside `folder`."""
    found: dict[str, Path] = {}
    for child in sorted(folder.iterdir()):
        stem = child.name.split(".")[0].lower()
        split = SPLIT_NAMES.get(stem)
        if split is None or (child.is_dir() and not (child / "seq.in").exists() and not is_label_folders(child)):
            continue
        if split in found:
            raise ReadError(folder, None, f"two files for split {split!r}: {found[split].name}, {child.name}")
        found[split] = child
    return found


def _load_hub(name: str) -> dict[str, Dataset]:
    """Thin pass-through to `datasets.load_dataset` for users who can reach a hub."""
    import datasets

    try:
        dsd = datasets.load_dataset(name)
    except Exception as err:  # the hub raises many types; the message is what helps
        raise ReadError(f"hub:{name}", None, f"datasets.load_dataset failed ({type(err).__name__}: {err}). "
                        "Runs are offline by default: set HF_HUB_OFFLINE=0 and HF_DATASETS_OFFLINE=0 "
                        "to download") from None
    return {SPLIT_NAMES.get(k, k): v for k, v in dsd.items()}


def load_splits(cfg: DataConfig, default_path: str | Path, seed: int = 0) -> dict[str, Dataset]:
    """Read every split of `cfg.path` (or `default_path` when it is empty)."""
    spec = cfg.path or str(default_path)
    if cfg.train:
        splits = named_splits(cfg)
        spec = cfg.train
    elif spec.startswith("hub:") or cfg.format == "hub":
        splits = _load_hub(spec.removeprefix("hub:"))
    else:
        path = Path(spec)
        if not path.exists() and not cfg.path:
            raise ReadError(path, None, "no data given (--data / data.path) and the task's shipped sample is not "
                                        "here (an install outside the repository has no samples/): give your data")
        if not path.exists():
            raise ReadError(path, None, "no such file or directory")
        if path.is_dir() and not (path / "seq.in").exists() and not is_label_folders(path):
            files = _split_files(path)
            if "train" not in files:
                raise ReadError(path, None, "no train split: expected a file or folder named train.* "
                                            "(with dev.* / valid.* and test.* beside it)")
            splits = {name: read_file(p, cfg) for name, p in files.items()}
        else:
            data = read_file(path, cfg)
            splits = data if isinstance(data, dict) else {"train": data}
    for name, ds in splits.items():
        if len(ds) == 0:
            raise ReadError(spec, None, f"split {name!r} is empty")
    if "validation" not in splits:
        parts = splits["train"].train_test_split(test_size=cfg.dev_fraction, seed=seed)
        splits["train"], splits["validation"] = parts["train"], parts["test"]
        log.warning("%s has no dev split: held out %d of %d train examples (data.dev_fraction=%s)",
                    spec, len(parts["test"]), len(parts["train"]) + len(parts["test"]), cfg.dev_fraction)
    return splits


def fingerprint(ds: Dataset) -> str:
    """A hash of a split's rows (every column, in order): equal when the same examples were held out."""
    import hashlib

    return hashlib.sha1(json.dumps(ds.to_dict(), sort_keys=True, default=str).encode()).hexdigest()[:16]


def split_record(splits: dict[str, Dataset], seed: int) -> dict:
    """What a run records of its splits (pipeline.json "split"): the seed that carved any held-out dev set, the
    sizes, and the validation rows' fingerprint, so later tools take exactly the same dev set."""
    return {"seed": seed, "sizes": {k: len(v) for k, v in splits.items()},
            "validation": fingerprint(splits["validation"])}


def named_splits(cfg: DataConfig) -> dict[str, Dataset]:
    """The split files `data.train` / `data.dev` / `data.test` name (relative to `data.path` when that is a
    folder and the name is not a path found as it is)."""
    base = Path(cfg.path) if cfg.path and Path(cfg.path).is_dir() else None
    splits = {}
    for split, name in (("train", cfg.train), ("validation", cfg.dev), ("test", cfg.test)):
        if not name:
            continue
        path = Path(name)
        if not path.exists() and base is not None:
            path = base / name
        if not path.exists():
            raise ReadError(path, None, f"no such file (data.{'dev' if split == 'validation' else split})")
        data = read_file(path, cfg)
        splits[split] = data if not isinstance(data, dict) else data.get(split, data.get("train"))
    return splits


def drop_duplicates(ds: Dataset, column: str = "text") -> tuple[Dataset, int]:
    """`ds` without exact repeats of `column` (the first occurrence kept) and how many were dropped. Run it
    before splitting: a duplicate on both sides of a split leaks the answer into the test."""
    seen: set[str] = set()
    keep = []
    for i, value in enumerate(ds[column]):
        if value not in seen:
            seen.add(value)
            keep.append(i)
    return ds.select(keep), len(ds) - len(keep)


def stratified_split(ds: Dataset, fraction: float, seed: int, label: str = "label") -> tuple[Dataset, Dataset]:
    """(rest, held-out) with `fraction` of every class held out, seeded (scikit-learn's stratified split)."""
    from sklearn.model_selection import train_test_split

    idx = list(range(len(ds)))
    rest, held = train_test_split(idx, test_size=fraction, random_state=seed, stratify=ds[label])
    return ds.select(sorted(rest)), ds.select(sorted(held))
