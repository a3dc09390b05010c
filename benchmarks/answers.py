"""Render the numbers of the answer pages (docs/answers/*.md) from the reports: `make answers`.

A number on a page is written between two markers that name its report, its key and its format:

    <!--n ner_compare.json variants.crf.test_f1_mean .2f-->87.58<!--/n-->

(`reports/` is implied; the key is dotted, a list index is a number, a name with dots in it is matched
whole, a space in a name is written %20; the format is a Python format spec, `%` multiplies by 100 first:
`.1%` -> `.1f` of value * 100). This
script rewrites every marked number from its report; `tests/test_answers.py` fails when a page's number differs
from its report or a key is missing, so no number on a page is typed by hand.

    .venv/bin/python -m benchmarks.answers [--check]
"""

from __future__ import annotations

import argparse
import json
import re
from pathlib import Path
from typing import Any
from urllib.parse import unquote

PAGES = Path("docs/answers")
REPORTS = Path("reports")
MARK = re.compile(r"<!--n (?P<report>\S+) (?P<key>\S+) (?P<fmt>[^\s-]+)-->(?P<value>.*?)<!--/n-->")


def lookup(report: dict[str, Any], key: str) -> Any:
    """report[a][b][0]... for the key "a.b.0"; a name that holds dots itself ("slot_weight_0.5") is matched
    whole, the longest name first."""
    value: Any = report
    parts = unquote(key).split(".")
    while parts:
        if isinstance(value, list):
            value, parts = value[int(parts[0])], parts[1:]
            continue
        for n in range(len(parts), 0, -1):
            if ".".join(parts[:n]) in value:
                value, parts = value[".".join(parts[:n])], parts[n:]
                break
        else:
            raise KeyError(parts[0])
    return value


def formatted(value: Any, fmt: str) -> str:
    if fmt.endswith("%"):
        return format(float(value) * 100, fmt[:-1] + "f")
    if fmt == "s":
        return str(value)
    return format(value, "," + fmt if fmt.endswith("d") else fmt)


def render(text: str, reports: Path = REPORTS) -> tuple[str, list[str]]:
    """The page with every marked number from its report, and the problems (a missing report or key)."""
    problems: list[str] = []
    cache: dict[str, Any] = {}

    def one(match: re.Match) -> str:
        name, key, fmt = match["report"], match["key"], match["fmt"]
        try:
            if name not in cache:
                cache[name] = json.loads((reports / name).read_text(encoding="utf-8"))
            value = formatted(lookup(cache[name], key), fmt)
        except (OSError, KeyError, IndexError, ValueError, TypeError) as err:
            problems.append(f"{name} {key}: {type(err).__name__} {err}")
            return match[0]
        return f"<!--n {name} {key} {fmt}-->{value}<!--/n-->"

    return MARK.sub(one, text), problems


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--check", action="store_true", help="change nothing; exit 1 if a page is out of date")
    args = parser.parse_args(argv)
    stale, bad = [], []
    for page in sorted(PAGES.glob("*.md")):
        text = page.read_text(encoding="utf-8")
        new, problems = render(text)
        bad += [f"{page}: {p}" for p in problems]
        if new != text:
            stale.append(str(page))
            if not args.check:
                page.write_text(new, encoding="utf-8")
    for line in bad:
        print(line)
    print(f"{len(stale)} page(s) {'out of date' if args.check else 'rewritten'}: {stale}" if stale else
          "every page is up to date")
    return 1 if bad or (args.check and stale) else 0


if __name__ == "__main__":
    raise SystemExit(main())
