"""Inline-annotated examples written by hand, grouped by intent, in Markdown or YAML.

Markdown (`.md`):                          YAML (`.yaml`, `.yml`):
    ## intent: book_table                      book_table:
    - book a table at [Roma](restaurant)         - book a table at [Roma](restaurant)
    - table for [4](party_size) please           - table for [4](party_size) please

`[text](type)` marks an entity. Each example becomes `text` (markup removed), `label` (the intent),
`tokens` and `tags` (IOB2 over `pipelines.data.align.split_words`), so the same file trains an intent
classifier, a tagger or a joint model. Mistakes raise `ReadError` with the file and line.
"""

from __future__ import annotations

import re
from pathlib import Path

import yaml
from datasets import Dataset

from pipelines.data.align import split_words
from pipelines.data.readers import ReadError, read_text

ENTITY = re.compile(r"\[([^\[\]()]+)\]\(([A-Za-z0-9_.:-]+)\)")
HEADING = re.compile(r"^#{1,6}\s*(?:intent\s*:\s*)?(\S+)\s*$")
ITEM = re.compile(r"^\s*[-*]\s+(.*\S)\s*$")


def parse_example(line: str, path: Path, num: int) -> tuple[str, list[str], list[str]]:
    """'book [Roma](restaurant)' -> ('book Roma', ['book', 'Roma'], ['O', 'B-restaurant'])."""
    text, spans, pos = "", [], 0
    for m in ENTITY.finditer(line):
        text += line[pos:m.start()]
        spans.append((len(text), len(text) + len(m.group(1)), m.group(2)))
        text += m.group(1)
        pos = m.end()
    text += line[pos:]
    masked = ENTITY.sub(lambda m: " " * len(m.group()), line)
    stray = [i for i, ch in enumerate(masked) if ch in "[]"]
    if stray:
        raise ReadError(path, num, f"unclosed or malformed entity at column {stray[0] + 1}: expected [text](type) "
                                   f"in {line!r}")
    words = split_words(text)
    tags = []
    for _, start, end in words:
        tag = "O"
        for s, e, kind in spans:
            if start < e and end > s:
                if start < s or end > e:
                    raise ReadError(path, num, f"entity {text[s:e]!r} starts or ends inside the word "
                                               f"{text[start:end]!r}")
                tag = f"{'B' if start == s else 'I'}-{kind}"
        tags.append(tag)
    return text, [w for w, _, _ in words], tags


def _markdown(path: Path) -> list[tuple[int, str, str]]:
    rows, intent = [], None
    for num, line in enumerate(read_text(path).splitlines(), start=1):
        if not line.strip() or line.lstrip().startswith("<!--"):
            continue
        if (m := HEADING.match(line)) is not None:
            intent = m.group(1)
        elif (m := ITEM.match(line)) is not None:
            if intent is None:
                raise ReadError(path, num, "example before any '## intent: NAME' heading")
            rows.append((num, intent, m.group(1)))
        else:
            raise ReadError(path, num, f"expected '## intent: NAME' or '- example', got {line.strip()!r}")
    return rows


def _yaml(path: Path) -> list[tuple[int, str, str]]:
    try:
        root = yaml.compose(read_text(path))
    except yaml.YAMLError as err:
        line = err.problem_mark.line + 1 if getattr(err, "problem_mark", None) else None
        raise ReadError(path, line, f"not valid YAML: {getattr(err, 'problem', err)}") from None
    if not isinstance(root, yaml.MappingNode):
        raise ReadError(path, 1, "expected a mapping of intent -> list of examples")
    rows = []
    for key, value in root.value:
        if not isinstance(value, yaml.SequenceNode):
            raise ReadError(path, key.start_mark.line + 1, f"intent {key.value!r}: expected a list of examples")
        for item in value.value:
            if not isinstance(item, yaml.ScalarNode):
                raise ReadError(path, item.start_mark.line + 1, "expected an example string")
            rows.append((item.start_mark.line + 1, str(key.value), str(item.value)))
    return rows


def read_inline(path: str | Path) -> Dataset:
    """Read a Markdown or YAML file of inline-annotated examples grouped by intent."""
    path = Path(path)
    rows = _yaml(path) if path.suffix in {".yaml", ".yml"} else _markdown(path)
    if not rows:
        raise ReadError(path, None, "no examples found")
    cols: dict[str, list] = {"id": [], "text": [], "label": [], "tokens": [], "tags": [], "doc_id": []}
    for i, (num, intent, line) in enumerate(rows):
        text, tokens, tags = parse_example(line, path, num)
        if not tokens:
            raise ReadError(path, num, "empty example")
        for key, value in zip(cols, (i, text, intent, tokens, tags, i), strict=True):
            cols[key].append(value)
    return Dataset.from_dict(cols)
