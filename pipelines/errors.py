"""The errors a user's mistake raises; entry points print them as one line (pipelines.cli)."""

from __future__ import annotations

from pathlib import Path


class ConfigError(ValueError):
    """A config file or override that does not fit the run config, or a task that does not exist."""


class ReadError(ValueError):
    """Malformed input: the message names the file, the line and the problem."""

    def __init__(self, path: str | Path, line: int | None, problem: str) -> None:
        where = f"{path}:{line}" if line is not None else str(path)
        super().__init__(f"{where}: {problem}")


class TagError(ValueError):
    """A tag that fits no supported scheme."""


class EncoderError(ValueError):
    """An encoder that cannot be loaded: a hub id while offline, a wrong path, a missing package."""


class UnsafeModelError(ValueError):
    """A saved model holds a file whose loading could run code (a Python pickle): it is refused, not loaded."""
