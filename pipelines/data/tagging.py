"""Features of token tasks (NER, slots, spans): one row per window of a sentence, labels on first sub-tokens.

Long sentences are split into windows (pipelines.data.align), so every word is labelled and scored once;
with document context, words of the neighbouring sentences of the same document fill the window. A word-level
tokenizer (pipelines.data.words.WordTokenizer) gets one position per word instead.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from datasets import Dataset

from pipelines.config import DataConfig
from pipelines.data.align import PieceCache, build_windows
from pipelines.data.batching import Features
from pipelines.data.tags import LabelSets
from pipelines.data.words import MAX_CHARS
from pipelines.data.words import casing as word_casing


def _context(ds: Dataset, budget: int) -> tuple[list[list[str]], list[list[str]]]:
    """Words of the preceding / following sentences of the same document, at most `budget` each side."""
    docs, tokens = ds["doc_id"], ds["tokens"]
    left: list[list[str]] = []
    right: list[list[str]] = [[] for _ in tokens]
    for i in range(len(tokens)):
        words: list[str] = []
        j = i - 1
        while j >= 0 and docs[j] == docs[i] and len(words) < budget:
            words = tokens[j] + words
            j -= 1
        left.append(words[-budget:])
    for i in range(len(tokens) - 1, -1, -1):
        words, j = [], i + 1
        while j < len(tokens) and docs[j] == docs[i] and len(words) < budget:
            words = words + tokens[j]
            j += 1
        right[i] = words[:budget]
    return left, right


def encode_tokens(ds: Dataset, tokenizer, label2id: dict[str, int], cfg: DataConfig, casing: bool = False,
                  chars: bool = False, word_rows: Mapping[str, int] | None = None) -> Features:
    """One feature per window: input_ids, labels (-100 off first sub-tokens and on unseen tags),
    word_starts, example_id, core_start (index of the window's first core word in its sentence) and last
    (1 when the window's core words reach the sentence's end). casing=True adds `case_ids`: per sub-token,
    1 + the casing class of its word (pipelines.data.words.CASES), 0 on [CLS], [SEP] and padding; chars=True
    adds `char_ids`: per sub-token, its word's first MAX_CHARS UTF-8 bytes + 1 ([] on [CLS] and [SEP]);
    `word_rows` (lower-cased word -> row, rows from 2) adds `word_ids`: per sub-token, its word's row, 1 for a
    word not in `word_rows`, 0 on [CLS] and [SEP]."""
    tokens, tags = ds["tokens"], ds["tags"] if "tags" in ds.column_names else None
    if getattr(tokenizer, "word_level", False):
        return _encode_words(tokens, tags, tokenizer, label2id)
    cache = PieceCache(tokenizer)
    if cfg.doc_context and "doc_id" in ds.column_names:
        left, right = _context(ds, cfg.max_length)
    else:
        left = right = [[] for _ in tokens]
    rows = []
    for i, words in enumerate(tokens):
        stream = left[i] + list(words) + right[i]
        lo = len(left[i])
        pieces = cache(stream)
        for ids, starts, win in build_windows(pieces, lo, lo + len(words), cfg.max_length,
                                              tokenizer.cls_token_id, tokenizer.sep_token_id):
            row: dict[str, Any] = {"input_ids": ids, "word_starts": starts, "example_id": i,
                                   "core_start": win.start - lo, "last": int(win.end - lo == len(words))}
            if casing or chars or word_rows is not None:  # build_windows' walk and cuts: per sub-token, its word
                owners = ([None] + [w for w in range(win.lo, win.hi) for _ in pieces[w][: cfg.max_length - 2]]
                          )[: cfg.max_length - 1] + [None]
            if casing:
                row["case_ids"] = [0 if w is None else 1 + word_casing(stream[w]) for w in owners]
            if chars:
                row["char_ids"] = [[] if w is None else word_bytes(stream[w]) for w in owners]
            if word_rows is not None:
                row["word_ids"] = [0 if w is None else word_rows.get(stream[w].lower(), 1) for w in owners]
            if tags is not None:  # a sentence whose tags are None is not annotated: every label -100
                labels = [-100] * len(ids)
                core = tags[i][win.start - lo: win.end - lo] if tags[i] is not None else [None] * len(starts)
                for pos, tag in zip(starts, core, strict=True):
                    labels[pos] = label2id.get(tag, -100)
                row["labels"] = labels
            rows.append(row)
    return Features(rows)


def word_bytes(word: str) -> list[int]:
    """The first MAX_CHARS UTF-8 bytes of `word`, each + 1 (0 is padding)."""
    return [b + 1 for b in word.encode("utf-8")[:MAX_CHARS]]


def _encode_words(tokens: Sequence[Sequence[str]], tags: Sequence[Sequence[str]] | None, tokenizer,
                  label2id: dict[str, int]) -> Features:
    """Word-level features (one position per word, no windows): word, char and casing ids."""
    rows = []
    for i, words in enumerate(tokens):
        if not words:
            continue
        ids, chars, cases = zip(*(tokenizer.encode_word(w) for w in words), strict=True)
        row: dict[str, Any] = {"input_ids": list(ids), "char_ids": list(chars), "case_ids": list(cases),
                               "word_starts": list(range(len(words))), "example_id": i, "core_start": 0,
                               "last": 1}
        if tags is not None:
            row["labels"] = [label2id.get(t, -100) for t in tags[i]] if tags[i] is not None else [-100] * len(words)
        rows.append(row)
    return Features(rows)


def encode_with_intents(ds: Dataset, tokenizer, label2id: dict[str, int], cfg: DataConfig) -> Features:
    """`encode_tokens` for a model with an intent head and a tag head (`LabelSets`): the
    tag ids index the tag head, and each window also carries its sentence's intent id (-100 when unknown)."""
    intents, _, tags = LabelSets.of(label2id)
    feats = encode_tokens(ds, tokenizer, {t: i for i, t in enumerate(tags)}, cfg)
    if "label" in ds.column_names:
        intent2id, gold = {x: i for i, x in enumerate(intents)}, ds["label"]
        for row in feats.rows:
            row["intent_labels"] = intent2id.get(gold[row["example_id"]], -100)
    return feats
