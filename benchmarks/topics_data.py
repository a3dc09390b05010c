"""The corpora of the topics benchmark, split the same way every time.

- 20 Newsgroups, by-date (../shared/data/20newsgroups): train 11,314 / test 7,532; dev = a stratified 10% of
  train (seed 0). Two settings: `raw` (the posts as distributed) and `stripped` (headers, quoted lines and
  signature blocks removed with scikit-learn's own strip_newsgroup_* functions, i.e. what
  `fetch_20newsgroups(remove=("headers", "footers", "quotes"))` does, so the numbers compare with papers
  that use it). A post left empty by stripping becomes "" and stays in the data (scikit-learn keeps it too).
- BBC News (../shared/data/bbc_news): 2,225 articles; exact duplicates dropped first (98), then a stratified
  70 / 10 / 20 train / dev / test split (seed 0). `sport/199.txt` is Latin-1 and read as such.

    .venv/bin/python -m benchmarks.topics_data   # prints the split sizes
"""

from __future__ import annotations

import logging
from typing import Any

from datasets import Dataset

from benchmarks.common import SHARED
from pipelines.data.readers import read_jsonl, read_label_folders
from pipelines.data.splits import drop_duplicates, stratified_split

log = logging.getLogger(__name__)
SPLIT_SEED = 0
CORPORA = ("20ng_raw", "20ng_stripped", "bbc")


def strip_post(text: str) -> str:
    from sklearn.datasets._twenty_newsgroups import (
        strip_newsgroup_footer,
        strip_newsgroup_header,
        strip_newsgroup_quoting,
    )

    return strip_newsgroup_footer(strip_newsgroup_quoting(strip_newsgroup_header(text)))


def newsgroups(stripped: bool) -> dict[str, Dataset]:
    root = SHARED / "20newsgroups"
    train, test = read_jsonl(root / "train.jsonl.gz"), read_jsonl(root / "test.jsonl.gz")
    if stripped:
        train, test = (ds.map(lambda r: {"text": strip_post(r["text"])}) for ds in (train, test))
    train, dev = stratified_split(train, 0.1, SPLIT_SEED)
    return {"train": train, "validation": dev, "test": test}


def bbc() -> tuple[dict[str, Dataset], dict[str, Any]]:
    ds = read_label_folders(SHARED / "bbc_news", encoding_fallback="latin-1")
    unique, dropped = drop_duplicates(ds)
    rest, test = stratified_split(unique, 0.2, SPLIT_SEED)
    train, dev = stratified_split(rest, 0.125, SPLIT_SEED)  # 0.125 of 80% = 10% of all
    return {"train": train, "validation": dev, "test": test}, {"documents": len(ds), "duplicates_dropped": dropped}


def load(corpus: str) -> tuple[dict[str, Dataset], dict[str, Any]]:
    """The splits of `corpus` (one of CORPORA) and facts about how they were made."""
    if corpus == "bbc":
        return bbc()
    if corpus in ("20ng_raw", "20ng_stripped"):
        return newsgroups(corpus.endswith("stripped")), {"dev": f"stratified 10% of train, seed {SPLIT_SEED}"}
    raise ValueError(f"corpus {corpus!r}: expected one of {CORPORA}")


if __name__ == "__main__":
    for name in CORPORA:
        splits, facts = load(name)
        print(name, {k: len(v) for k, v in splits.items()}, facts)
