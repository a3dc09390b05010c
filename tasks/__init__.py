"""One file per task: its data schema, label vocabulary, encoding, model head, decoding and metrics."""

import importlib
from types import ModuleType


def get(name: str) -> ModuleType:
    """Import `tasks.<name>` or raise a ValueError listing the tasks that exist."""
    try:
        return importlib.import_module(f"tasks.{name}")
    except ModuleNotFoundError as err:
        if err.name != f"tasks.{name}":
            raise
        import pkgutil

        known = sorted(m.name for m in pkgutil.iter_modules(__path__))
        raise ValueError(f"unknown task {name!r}; known tasks: {known}") from None
