"""Cleaning toxic text once its spans are found: mask them, remove them, or rewrite their words.

Rewriting replaces each word of a span with its nearest neighbour in a word2vec space (gensim, trained on the
task's training text) that is not a toxic word itself, the idea of CondBERT (Dale et al. 2021) without a
masked-LM head. A word counts as toxic when at least `toxic_share` of its occurrences in the training data lie
inside gold spans. A rewrite is kept only when a judge (the post classifier) scores it clean; otherwise the
next-nearest neighbours are tried, and after `tries` the span is removed instead.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from pipelines.data.align import split_words
from pipelines.io import atomic_write_bytes, atomic_write_text

VOCAB_FILE = "rewriter_vocab.json"
VECTORS_FILE = "rewriter_vectors.npy"
Span = tuple[int, int]  # character start, end (end exclusive)


def replace_spans(text: str, spans: Sequence[Span], by: Sequence[str] | str) -> str:
    """`text` with each span replaced (by one string for all, or one per span)."""
    subs = [by] * len(spans) if isinstance(by, str) else list(by)
    out, pos = [], 0
    for (start, end), sub in sorted(zip(spans, subs, strict=True)):
        out += [text[pos:start], sub]
        pos = end
    return "".join(out + [text[pos:]])


def tidy(text: str) -> str:
    """Spacing repaired after a deletion: runs of spaces become one, no space before punctuation, trimmed."""
    text = re.sub(r"[ \t]{2,}", " ", text)
    text = re.sub(r" +([.,!?;:])", r"\1", text)
    return re.sub(r"^[ \t]+|[ \t]+$", "", text, flags=re.MULTILINE).strip()


def mask(text: str, spans: Sequence[Span], token: str = "***") -> str:
    return replace_spans(text, spans, token)


def remove(text: str, spans: Sequence[Span]) -> str:
    return tidy(replace_spans(text, spans, ""))


def _match_case(word: str, like: str) -> str:
    if like.isupper() and len(like) > 1:
        return word.upper()
    return word.capitalize() if like[:1].isupper() else word


class Rewriter:
    """Word vectors (unit length) and the toxic-word lexicon, saved beside the model."""

    def __init__(self, words: list[str], vectors: np.ndarray, toxic: set[str]) -> None:
        self.words, self.toxic = words, toxic
        self.index = {w: i for i, w in enumerate(words)}
        self.vectors = vectors / np.linalg.norm(vectors, axis=1, keepdims=True).clip(min=1e-8)  # (V, D)

    @classmethod
    def fit(cls, sentences: Sequence[Sequence[str]], tags: Sequence[Sequence[str] | None] | None = None,
            seed: int = 13, dim: int = 100, epochs: int = 10, toxic_share: float = 0.25) -> Rewriter:
        """word2vec on the lower-cased `sentences`; toxic words from the span `tags` (IOB2, None = no
        annotation) where given."""
        from gensim.models import Word2Vec

        lower = [[w.lower() for w in s] for s in sentences if s]
        w2v = Word2Vec(lower, vector_size=dim, window=5, min_count=2, workers=1, seed=seed, epochs=epochs)
        inside, total = Counter(), Counter()
        for words, sent_tags in zip(sentences, tags or [None] * len(sentences), strict=True):
            if sent_tags is None:
                continue
            for w, t in zip(words, sent_tags, strict=True):
                total[w.lower()] += 1
                inside[w.lower()] += t != "O"
        toxic = {w for w, n in inside.items() if n and n / total[w] >= toxic_share}
        words = list(w2v.wv.index_to_key)
        return cls(words, np.asarray(w2v.wv.vectors, dtype=np.float32), toxic)

    def neighbours(self, word: str, k: int = 3) -> list[str]:
        """Up to `k` nearest alphabetic, non-toxic words other than `word` (none for an unknown word)."""
        i = self.index.get(word.lower())
        if i is None:
            return []
        order = np.argsort(-(self.vectors @ self.vectors[i]))
        out = []
        for j in order[1:200]:
            w = self.words[j]
            if w.isalpha() and len(w) > 1 and w not in self.toxic and w != word.lower():
                out.append(w)
                if len(out) == k:
                    break
        return out

    def substitute(self, span_text: str, choice: int) -> str:
        """The span with each word replaced by its `choice`-th neighbour (dropped when it has none)."""
        out = []
        for w, _, _ in split_words(span_text):
            near = self.neighbours(w, choice + 1)
            if len(near) > choice:
                out.append(_match_case(near[choice], w))
            elif not w.isalpha() and w.lower() not in self.toxic:
                out.append(w)  # punctuation inside a span stays
        return " ".join(out)

    def rewrite(self, texts: Sequence[str], spans: Sequence[Sequence[Span]],
                judge: Callable[[list[str]], list[bool]] | None = None, tries: int = 3) -> list[tuple[str, bool]]:
        """Per text, (rewritten text, accepted): the first of `tries` rewrites that `judge` calls clean, else the
        text with its spans removed (accepted False). Without a judge the first rewrite is kept (accepted
        True). Texts without spans come back unchanged."""
        result: list[tuple[str, bool] | None] = [(t, True) if not s else None
                                                 for t, s in zip(texts, spans, strict=True)]
        for choice in range(tries if judge is not None else 1):
            todo = [i for i, r in enumerate(result) if r is None]
            if not todo:
                break
            drafts = [tidy(replace_spans(texts[i], spans[i], [self.substitute(texts[i][a:b], choice)
                                                                for a, b in spans[i]])) for i in todo]
            verdicts = judge(drafts) if judge is not None else [True] * len(drafts)
            for i, draft, ok in zip(todo, drafts, verdicts, strict=True):
                if ok:
                    result[i] = (draft, True)
        return [r if r is not None else (remove(texts[i], spans[i]), False) for i, r in enumerate(result)]

    def save_pretrained(self, path: str | Path) -> None:
        import io

        path = Path(path)
        atomic_write_text(path / VOCAB_FILE, json.dumps({"words": self.words, "toxic": sorted(self.toxic)}))
        buf = io.BytesIO()
        np.save(buf, self.vectors.astype(np.float32))
        atomic_write_bytes(path / VECTORS_FILE, buf.getvalue())

    @classmethod
    def load(cls, path: str | Path) -> Rewriter | None:
        path = Path(path)
        if not (path / VOCAB_FILE).exists():
            return None
        meta = json.loads((path / VOCAB_FILE).read_text(encoding="utf-8"))
        return cls(meta["words"], np.load(path / VECTORS_FILE, allow_pickle=False), set(meta["toxic"]))
