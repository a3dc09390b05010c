"""Word-to-sub-token alignment and windows for token tasks.

A sentence is never silently cut at the encoder's limit: its words are split into *cores* that each
fit, and every core is widened with as much context (neighbouring words of the same sentence, and of
neighbouring sentences when document context is on) as the window holds. Labels sit on the first
sub-token of each core word only, so every word is labelled and scored exactly once.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

WORD_RE = re.compile(r"\d+(?:[.,:]\d+)+(?![\w])|\w+(?:[-'’.]\w+)*|[^\w\s]", re.UNICODE)


def split_words(text: str) -> list[tuple[str, int, int]]:
    """Split raw text into CoNLL-like words with character offsets: [(word, start, end), ...]."""
    return [(m.group(), m.start(), m.end()) for m in WORD_RE.finditer(text)]


def words_of(texts: Sequence[str]) -> list[list[str]]:
    """Each text's words as split_words splits raw text (what a word-level model reads at prediction time)."""
    return [[w for w, _, _ in split_words(t)] for t in texts]


class PieceCache:
    """Sub-token ids per word, computed once per distinct word (a word with no pieces maps to [UNK]).

    Words go to the tokenizer as pre-split words (`is_split_into_words`), so a byte-level BPE tokenizer
    (loaded with `add_prefix_space=True`) gives each word its leading-space marker, as in running text."""

    def __init__(self, tokenizer) -> None:
        self.tokenizer = tokenizer
        self.cache: dict[str, list[int]] = {}

    def __call__(self, words: Sequence[str]) -> list[list[int]]:
        new = list({w for w in words if w not in self.cache})
        if new:
            ids = self.tokenizer([[w] for w in new], is_split_into_words=True, add_special_tokens=False)["input_ids"]
            for w, p in zip(new, ids, strict=True):
                self.cache[w] = p or [self.tokenizer.unk_token_id]
        return [self.cache[w] for w in words]


@dataclass(frozen=True)
class Window:
    """Words [lo, hi) of the stream go into the window; words [start, end) are its labelled core."""

    lo: int
    start: int
    end: int
    hi: int


def plan_windows(sizes: Sequence[int], core_lo: int, core_hi: int, budget: int) -> list[Window]:
    """Cover stream words [core_lo, core_hi) with cores, each widened by context within `budget` pieces.

    Args:
        sizes: sub-token count of every word in the stream (context words included), each >= 1.
        core_lo, core_hi: the words that need labels (the sentence inside its document context).
        budget: sub-tokens a window may hold (the encoder's limit minus special tokens).
    Returns:
        Windows whose cores partition [core_lo, core_hi) in order.
    """
    sizes = [min(max(s, 1), budget) for s in sizes]
    total = sum(sizes[core_lo:core_hi])
    core_budget = budget if total <= budget else max(budget // 2, 1)
    windows = []
    i = core_lo
    while i < core_hi:
        j, used = i, 0
        while j < core_hi and (j == i or used + sizes[j] <= core_budget):
            used += sizes[j]
            j += 1
        lo, hi, grown = i, j, True
        while grown:
            grown = False
            if lo > 0 and used + sizes[lo - 1] <= budget:
                lo, used, grown = lo - 1, used + sizes[lo - 1], True
            if hi < len(sizes) and used + sizes[hi] <= budget:
                hi, used, grown = hi + 1, used + sizes[hi], True
        windows.append(Window(lo, i, j, hi))
        i = j
    return windows


def build_windows(pieces: Sequence[list[int]], core_lo: int, core_hi: int, max_length: int,
                  cls_id: int, sep_id: int) -> list[tuple[list[int], list[int], Window]]:
    """Token ids and first-sub-token positions of the core words for each window.

    Returns:
        [(input_ids, word_starts, window)], where word_starts[k] is the position in input_ids of the
        first sub-token of core word window.start + k.
    """
    budget = max_length - 2
    out = []
    for win in plan_windows([len(p) for p in pieces], core_lo, core_hi, budget):
        ids, starts = [cls_id], []
        for w in range(win.lo, win.hi):
            if win.start <= w < win.end:
                starts.append(len(ids))
            ids.extend(pieces[w][:budget])
        ids = ids[: max_length - 1] + [sep_id]
        out.append((ids, starts, win))
    return out
