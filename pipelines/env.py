"""Offline by default: runs never reach a model or dataset hub unless the user says so.

`HF_HUB_OFFLINE` and `HF_DATASETS_OFFLINE` are read by huggingface_hub and datasets when they are first
imported, so `pipelines/__init__.py` calls `offline_by_default()` before anything imports them. A value the
user set (`HF_HUB_OFFLINE=0` to use a hub) is kept. Where a library was imported before `pipelines`, its
already-read flag is updated too.
"""

from __future__ import annotations

import os
import sys

DEFAULTS = {"HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"}


def _true(value: str | None) -> bool:
    return (value or "").upper() in {"1", "ON", "YES", "TRUE"}


def offline_by_default() -> None:
    for key, value in DEFAULTS.items():
        os.environ.setdefault(key, value)
    hub = sys.modules.get("huggingface_hub.constants")
    if hub is not None:
        hub.HF_HUB_OFFLINE = _true(os.environ["HF_HUB_OFFLINE"])
    ds = sys.modules.get("datasets.config")
    if ds is not None:
        ds.HF_HUB_OFFLINE = _true(os.environ["HF_HUB_OFFLINE"])
        ds.HF_DATASETS_OFFLINE = _true(os.environ["HF_DATASETS_OFFLINE"])


def is_offline() -> bool:
    return _true(os.environ.get("HF_HUB_OFFLINE"))
