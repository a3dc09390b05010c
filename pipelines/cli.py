"""Entry-point wrapper: a user's mistake (bad data, bad config, missing run) is one line, not a traceback."""

from __future__ import annotations

import sys
from collections.abc import Callable

from pipelines.config import ConfigError
from pipelines.readers import ReadError
from pipelines.tags import TagError

USER_ERRORS = (ReadError, ConfigError, TagError, FileNotFoundError)


def run_cli(main: Callable[[], int]) -> None:
    """Run `main`; print user errors as `error: <message>` and exit 2 (set PIPELINES_DEBUG=1 for tracebacks)."""
    import os

    try:
        sys.exit(main())
    except USER_ERRORS as err:
        if os.environ.get("PIPELINES_DEBUG"):
            raise
        print(f"error: {err}", file=sys.stderr)
        sys.exit(2)
