"""Offline by default: commands never reach a model or dataset hub unless the user says so.

Importing `pipelines` changes nothing; every command (`nlp-pipelines ...`, pipelines.cli.run_cli) calls
`offline_by_default()`, and a library user may call it too (`pipelines.offline_by_default()`).
"""

from __future__ import annotations

import os
import sys

DEFAULTS = {"HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"}


def _true(value: str | None) -> bool:
    return (value or "").upper() in {"1", "ON", "YES", "TRUE"}


def offline_by_default() -> None:
    """Set HF_HUB_OFFLINE=1, HF_DATASETS_OFFLINE=1 and TOKENIZERS_PARALLELISM=false unless already set (a user's
    `HF_HUB_OFFLINE=0` wins). huggingface_hub and datasets read these when first imported; where they were
    imported already, their read flags are updated too, so the call works at any time before a download."""
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
