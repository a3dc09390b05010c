"""Raw text from tokens, and tokens from raw text: what a service sends, and how a model's words are found in it.

- `detokenize(tokens)`: the running text a person would have written (sacremoses' Moses detokenizer, English
  rules: "Keller 's" -> "Keller's", "( Reuters )" -> "(Reuters)"), with each token's character span in it, so
  that gold entities on tokens become gold character offsets. Used to evaluate the served path on data that has
  no original text (CoNLL columns, ATIS / SNIPS `seq.in`).
- `SPLITTERS`: the word splitters a model may use to find words in raw text, by name; a run records its
  splitter in pipeline.json (`data.splitter`), and predict, eval, serve and ONNX use the recorded one.
  - `treebank`: NLTK's Penn Treebank tokenizer (`TreebankWordTokenizer.span_tokenize`), the conventions of
    CoNLL-2003's Reuters text ("Keller" "'s", "U.S.", "--", "1/2" kept whole); chosen by token agreement
    (reports/splitters.md);
  - `regex`: the splitter written here before (`pipelines.data.align.split_words`), kept for runs that
    recorded it;
  - `whitespace`: words between spaces, for text that is already tokens (`Predictor.predict(tokens=...)`).
Each returns [(word, start, end), ...] with `text[start:end] == word`.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from functools import lru_cache
from typing import Any

from pipelines.data.align import split_words

Words = list[tuple[str, int, int]]
DEFAULT_SPLITTER = "treebank"


@lru_cache(maxsize=1)
def _detokenizer():
    from sacremoses import MosesDetokenizer

    return MosesDetokenizer(lang="en")


def detokenize(tokens: Sequence[str]) -> tuple[str, list[tuple[int, int]]]:
    """(text, [(start, end) of each token in text]). Every token appears verbatim, in order."""
    text = _detokenizer().detokenize(list(tokens))
    spans, pos = [], 0
    for tok in tokens:
        start = text.find(tok, pos)
        if start < 0:  # the detokenizer changed the token (it should not): fall back to plain spaces
            return plain_join(tokens)
        spans.append((start, start + len(tok)))
        pos = start + len(tok)
    return text, spans


def plain_join(tokens: Sequence[str]) -> tuple[str, list[tuple[int, int]]]:
    """Tokens joined by single spaces, with their spans (the kindest detokenization: every splitter sees the
    gold boundaries)."""
    spans, pos = [], 0
    for tok in tokens:
        spans.append((pos, pos + len(tok)))
        pos += len(tok) + 1
    return " ".join(tokens), spans


@lru_cache(maxsize=1)
def _treebank():
    from nltk.tokenize import TreebankWordTokenizer

    return TreebankWordTokenizer()


def treebank_words(text: str) -> Words:
    """Penn Treebank words with their offsets (quotes keep their original characters)."""
    out = []
    for line_start, line in _lines(text):
        try:
            spans = list(_treebank().span_tokenize(line))
        except ValueError:  # NLTK cannot align its quote rewriting with this line: the regex splitter for it
            spans = [(a, b) for _, a, b in split_words(line)]
        out += [(text[line_start + a:line_start + b], line_start + a, line_start + b) for a, b in spans]
    return out


def _lines(text: str):
    """(offset, line) per line: the Treebank rules treat a final period as the end of the text they see."""
    pos = 0
    for line in text.splitlines(keepends=True):
        if line.strip():
            yield pos, line
        pos += len(line)


def whitespace_words(text: str) -> Words:
    """Words between whitespace: text that is already tokens joined by spaces (`Predictor.predict(tokens=...)`)."""
    return [(m.group(), m.start(), m.end()) for m in _NON_SPACE.finditer(text)]


_NON_SPACE = re.compile(r"\S+")
SPLITTERS: dict[str, Callable[[str], Words]] = {"treebank": treebank_words, "regex": split_words}
ALL_SPLITTERS: dict[str, Callable[[str], Words]] = {**SPLITTERS, "whitespace": whitespace_words}


def get_splitter(name: str) -> Callable[[str], Words]:
    """The splitter called `name`; `auto` (not resolved by a training run: a config built in code) is `regex`,
    what runs split with before the splitter was recorded."""
    if name == "auto":
        name = "regex"
    try:
        return ALL_SPLITTERS[name]
    except KeyError:
        raise ValueError(f"data.splitter={name!r}: expected one of {sorted(ALL_SPLITTERS)}") from None


def agreement(detokenized: Sequence[tuple[str, list[tuple[int, int]]]], splitter: str) -> float:
    """Share of (text, token spans) pairs (from `detokenize`) that `splitter` splits back into exactly those
    spans."""
    split = get_splitter(splitter)
    same = sum([(a, b) for _, a, b in split(text)] == spans for text, spans in detokenized)
    return same / max(1, len(detokenized))


def choose_splitter(train: Any, sample: int = 2000) -> tuple[str, dict[str, float]]:
    """The splitter that gives back the most training sentences' own tokens (the first `sample` sentences), and
    each one's agreement; text-only data (the model learns on the splitter's own words) keeps `regex`."""
    if "tokens" not in train.column_names:
        return "regex", {}
    rows = train.select(range(min(sample, len(train))))
    sentences = [t for t in rows["tokens"] if t]
    if "text" in rows.column_names:  # words cut from the text by the regex (inline annotations, char spans)
        cut = [[w for w, _, _ in split_words(x)] == t
               for x, t in zip(rows["text"], rows["tokens"], strict=True) if x and t]
        if cut and sum(cut) / len(cut) >= 0.99:
            return "regex", {"regex": round(sum(cut) / len(cut), 4)}
    detokenized = [detokenize(tokens) for tokens in sentences]  # once, for every splitter
    scores = {name: round(agreement(detokenized, name), 4) for name in SPLITTERS}
    return max(scores, key=lambda n: (scores[n], n == DEFAULT_SPLITTER)), scores
