"""Character-offset spans (SemEval-2021 Toxic Spans: a list of character offsets per text) and word tags.

Rule between the two views: a word belongs to a span when any of its characters is in the offsets (a span that
cuts a word marks the whole word). Two marked neighbouring words are one span when every character between them
is in the offsets too, else the second starts a new span. Back from tags, a span covers its words and the
characters between them. So offsets that start and end on word boundaries round-trip exactly; others are
rounded out to whole words.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Sequence
from typing import Any

from pipelines.data.align import split_words

SPAN = "SPAN"  # the entity type of span tags (B-SPAN / I-SPAN)


def parse_offsets(value: Any, n_chars: int) -> list[int]:
    """Offsets from a JSON list (or a list already parsed), checked against a text of `n_chars` characters.

    Raises:
        ValueError: naming the problem: not a list, not integers, negative, out of range, unsorted or repeated.
    """
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except json.JSONDecodeError:
            raise ValueError(f"spans {value[:40]!r} is not a JSON list of character offsets") from None
    if not isinstance(value, list):
        raise ValueError(f"spans must be a list of character offsets, got {type(value).__name__}")
    if any(not isinstance(x, int) or isinstance(x, bool) for x in value):
        raise ValueError("spans must hold integer character offsets")
    if any(x < 0 for x in value):
        raise ValueError(f"negative offset {min(value)} in spans")
    if value and max(value) >= n_chars:
        raise ValueError(f"offset {max(value)} is out of range for a text of {n_chars} characters")
    if any(b <= a for a, b in itertools.pairwise(value)):
        raise ValueError("spans offsets are unsorted or repeated (expected strictly ascending)")
    return value


def offsets_to_tags(words: Sequence[tuple[str, int, int]], offsets: Sequence[int], kind: str = SPAN) -> list[str]:
    """IOB2 tags for `words` ((word, start, end) from split_words) from character `offsets`."""
    marked = set(offsets)
    tags: list[str] = []
    for k, (_, start, end) in enumerate(words):
        if not any(c in marked for c in range(start, end)):
            tags.append("O")
            continue
        joined = k > 0 and tags[-1] != "O" and all(c in marked for c in range(words[k - 1][2], start))
        tags.append(f"I-{kind}" if joined else f"B-{kind}")
    return tags


def tags_to_offsets(words: Sequence[tuple[str, int, int]], tags: Sequence[str]) -> list[int]:
    """Character offsets of the spans that IOB2 `tags` mark: each span's words and the characters between them."""
    from pipelines.data.tags import spans

    out: list[int] = []
    for _, s, e in spans(list(tags)):
        out.extend(range(words[s][1], words[e - 1][2]))
    return sorted(set(out))


def text_to_tags(text: str, offsets: Sequence[int], kind: str = SPAN) -> tuple[list[str], list[str]]:
    """(words, tags) of a text with character-offset spans, words split as raw text is at prediction time."""
    words = split_words(text)
    return [w for w, _, _ in words], offsets_to_tags(words, offsets, kind)
