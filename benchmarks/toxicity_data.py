"""The toxicity benchmarks' data: Davidson et al. (2017) tweets with a seeded stratified 80/10/10 split, and
SemEval-2021 Task 5 toxic spans (train -> our train/dev, trial -> our test). Texts are read from
../shared/data and never written into the project: the split is published as row ids plus hashes
(`split_manifest`)."""

from __future__ import annotations

import csv
import hashlib
import io
import json
from pathlib import Path
from typing import Any

from datasets import Dataset

from benchmarks.common import SHARED
from pipelines.data.readers import read_csv

DAVIDSON = SHARED / "toxicity_davidson" / "labeled_data.csv"
SPANS = SHARED / "toxic_spans"
CLASSES = {"0": "hate", "1": "offensive", "2": "neither"}
VOTES = {"hate_speech": "hate", "offensive_language": "offensive", "neither": "neither"}


def read_davidson(path: Path = DAVIDSON) -> list[dict[str, Any]]:
    """Rows: id (the file's row id), text, label (hate / offensive / neither), label_votes ({label: count})."""
    rows = []
    for rec in csv.DictReader(io.StringIO(path.read_text(encoding="utf-8"), newline="")):
        rows.append({"id": int(rec[""]), "text": rec["tweet"], "label": CLASSES[rec["class"]],
                     "label_votes": {name: int(rec[col]) for col, name in VOTES.items()}})
    return rows


def davidson_splits(seed: int = 13, path: Path = DAVIDSON) -> dict[str, Dataset]:
    """Stratified 80/10/10 train/validation/test split of the Davidson tweets (seeded)."""
    from sklearn.model_selection import train_test_split

    rows = read_davidson(path)
    labels = [r["label"] for r in rows]
    train, rest = train_test_split(rows, test_size=0.2, stratify=labels, random_state=seed)
    dev, test = train_test_split(rest, test_size=0.5, stratify=[r["label"] for r in rest], random_state=seed)
    return {name: Dataset.from_list(part) for name, part in (("train", train), ("validation", dev), ("test", test))}


def span_splits(seed: int = 13, dev_fraction: float = 0.1, root: Path = SPANS) -> dict[str, Dataset]:
    """SemEval toxic spans: a seeded `dev_fraction` of tsd_train as validation, the rest train; trial = test."""
    import numpy as np

    train = read_csv(root / "tsd_train.csv")
    order = np.random.default_rng(seed).permutation(len(train))
    n_dev = int(round(dev_fraction * len(train)))
    return {"train": train.select(sorted(order[n_dev:])), "validation": train.select(sorted(order[:n_dev])),
            "test": read_csv(root / "tsd_trial.csv")}


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def split_manifest(splits: dict[str, Dataset], source: Path, seed: int, id_field: str = "id") -> dict[str, Any]:
    """Row ids per split, the source file's SHA-256 and each split's (SHA-256 of its rows as JSON lines in this
    order: id and text), so that anyone can rebuild and check the split without the text being published."""
    out: dict[str, Any] = {"source": source.name, "source_sha256": sha256(source.read_bytes()), "seed": seed,
                           "splits": {}}
    for name, ds in splits.items():
        ids = list(ds[id_field])
        lines = "".join(json.dumps({"id": i, "text": t}) + "\n" for i, t in zip(ids, ds["text"], strict=True))
        out["splits"][name] = {"n": len(ids), "sha256": sha256(lines.encode("utf-8")), "ids": ids}
    return out
