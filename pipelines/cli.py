"""Entry-point wrapper: a user's mistake (bad data, bad config, missing run) is one line, not a traceback."""

from __future__ import annotations

import argparse
import re
import sys
from collections.abc import Callable, Sequence

from pipelines.errors import PipelineError, missing_extra

USER_ERRORS = (PipelineError, FileNotFoundError)  # a missing data file is the user's too


OVERRIDE = re.compile(r"[A-Za-z_]\w*\.[\w.]+=.*")


def parse_args(parser: argparse.ArgumentParser, argv: Sequence[str] | None = None) -> argparse.Namespace:
    """`parse_intermixed_args`, with every `section.key=value` token taken as an override wherever it stands:
    after a list option (`--seeds 1 2 train.epochs=5`) argparse would hand it to the option. The parser's
    positional `overrides` list receives them, in order."""
    argv = list(sys.argv[1:] if argv is None else argv)
    overrides = [a for a in argv if OVERRIDE.fullmatch(a)]
    args = parser.parse_intermixed_args([a for a in argv if not OVERRIDE.fullmatch(a)])
    args.overrides = [*(args.overrides or []), *overrides]
    return args


def run_cli(main: Callable[[], int]) -> None:
    """Run `main` with the offline default (pipelines.env); print user errors as `error: <message>` and exit 2
    (set PIPELINES_DEBUG=1 for tracebacks)."""
    import os

    from pipelines.env import offline_by_default

    offline_by_default()  # a command runs offline unless HF_HUB_OFFLINE=0; the library itself sets nothing
    try:
        try:
            sys.exit(main())
        except ImportError as err:  # an optional dependency missing: say which extra to install
            raise missing_extra(err) or err from None
    except USER_ERRORS as err:
        if os.environ.get("PIPELINES_DEBUG"):
            raise
        print(f"error: {err}", file=sys.stderr)
        sys.exit(2)
