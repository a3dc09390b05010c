"""Columns: the few `datasets.Dataset` reads the encoders make, over plain lists.

`Predictor.predict` encodes a handful of texts per call; building a `datasets.Dataset` for them (an Arrow
table, a fingerprint per transform) cost about 3 ms a call, a seventh of a MiniLM intent call at batch 1 and
more of a small student's. The encoders only read whole columns (`ds["text"]`), ask for `column_names`, and
add or drop a column, so the served path hands them this instead; training and evaluation keep their Datasets.
Both give the same features (tests/test_predict.py compares them).
"""

from collections.abc import Iterable, Sequence
from typing import Any


class Columns:
    """Named columns of equal length, read like a `datasets.Dataset`: `cols["text"]`, `cols.column_names`,
    `len(cols)`, `add_column`, `remove_columns` (both return a new Columns)."""

    def __init__(self, columns: dict[str, Sequence[Any]]) -> None:
        lengths = {name: len(values) for name, values in columns.items()}
        if len(set(lengths.values())) > 1:
            raise ValueError(f"columns of different lengths: {lengths}")
        self._columns = {name: list(values) for name, values in columns.items()}

    @property
    def column_names(self) -> list[str]:
        return list(self._columns)

    def __getitem__(self, name: str) -> list[Any]:
        if not isinstance(name, str):
            raise TypeError(f"Columns are read by column name, got {type(name).__name__}")
        return self._columns[name]

    def __len__(self) -> int:
        return len(next(iter(self._columns.values()), []))

    def add_column(self, name: str, values: Sequence[Any]) -> "Columns":
        if name in self._columns:
            raise ValueError(f"column {name!r} exists already")
        return Columns({**self._columns, name: values})

    def remove_columns(self, names: str | Iterable[str]) -> "Columns":
        drop = {names} if isinstance(names, str) else set(names)
        missing = drop - set(self._columns)
        if missing:
            raise ValueError(f"no column {sorted(missing)} to remove; columns are {self.column_names}")
        return Columns({k: v for k, v in self._columns.items() if k not in drop})
