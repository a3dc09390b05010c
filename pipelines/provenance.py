"""Where a result came from: the code's git commit (and whether the tree had uncommitted changes), and
paths written relative to the project so that reports do not name the machine that ran them."""

from __future__ import annotations

import os
import subprocess
from functools import lru_cache
from pathlib import Path
from typing import Any

PROJECT = Path(__file__).resolve().parent.parent


@lru_cache(maxsize=1)
def code_version() -> dict[str, Any]:
    """{"commit": sha or None, "dirty": True when tracked files differ from it (None outside a git checkout)}.
    Files under reports/ do not count: benchmarks rewrite them while they run."""
    def git(*args: str) -> str:
        return subprocess.run(["git", "-C", str(PROJECT), *args], capture_output=True, text=True, timeout=10,
                              check=True).stdout.strip()
    try:
        commit = git("rev-parse", "HEAD")
        dirty = bool(git("status", "--porcelain", "--untracked-files=no", "--", ".", ":(exclude)reports"))
    except (OSError, subprocess.SubprocessError):
        return {"commit": None, "dirty": None}
    return {"commit": commit, "dirty": dirty}


def portable_path(path: str | Path | None) -> str:
    """`path` relative to the project when it lies in the project or beside it (`../shared/data/x`), else as
    given; '' stays ''. Hub names (`hub:x`) are kept."""
    if not path or str(path).startswith("hub:"):
        return str(path or "")
    absolute = Path(path).expanduser().resolve()
    if absolute.is_relative_to(PROJECT.parent):
        return os.path.relpath(absolute, PROJECT)
    return str(path)


def resolve_portable(path: str | Path | None) -> str:
    """The inverse of `portable_path`: a relative path written by it is read against the project, wherever the
    reader runs; absolute paths, hub names and '' are kept."""
    if not path or str(path).startswith("hub:") or Path(path).is_absolute():
        return str(path or "")
    return str((PROJECT / path).resolve())
