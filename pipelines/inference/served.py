"""Scores of the served path: `Predictor.predict` on raw text, against gold entities as character spans.

The published scores of token tasks are computed on the datasets' own tokens (`evaluate`); a service sends raw
strings, which the model splits into words itself (`data.splitter`). Here each labelled sentence becomes the
text a person would have written (`pipelines.data.rawtext.detokenize`, Moses rules; `plain` joins the tokens
with single spaces, the kindest case), its gold entities become (type, start, end) character spans, and the
entities `predict` returns are matched exactly (type and both offsets): precision, recall and F1 over all
entities, as seqeval's strict mode counts them on tokens. Joint runs add intent accuracy and sentence accuracy
(the intent right and every slot exact).
"""

from __future__ import annotations

from typing import Any

from datasets import Dataset

from pipelines.data.rawtext import detokenize, plain_join
from pipelines.data.tags import spans as tag_spans


def raw_examples(ds: Dataset, detok: str = "moses") -> tuple[list[str], list[set[tuple[str, int, int]]]]:
    """(texts, gold entity character spans per text) from a token dataset."""
    join = detokenize if detok == "moses" else plain_join
    texts, gold = [], []
    for tokens, tags in zip(ds["tokens"], ds["tags"], strict=True):
        text, offsets = join(tokens)
        texts.append(text)
        gold.append({(kind, offsets[s][0], offsets[e - 1][1]) for kind, s, e in tag_spans(tags)})
    return texts, gold


def raw_documents(ds: Dataset, detok: str = "moses") -> tuple[list[str], list[set[tuple[str, int, int]]]]:
    """(texts, gold entity character spans per text) with one text per document (`doc_id`): its sentences'
    texts, one per line, as `predict` reads a document."""
    texts, gold = raw_examples(ds, detok)
    docs: dict[Any, tuple[list[str], set[tuple[str, int, int]]]] = {}
    for doc, text, spans in zip(ds["doc_id"], texts, gold, strict=True):
        lines, found = docs.setdefault(doc, ([], set()))
        shift = sum(len(line) + 1 for line in lines)
        lines.append(text)
        found.update((kind, s + shift, e + shift) for kind, s, e in spans)
    return ["\n".join(lines) for lines, _ in docs.values()], [found for _, found in docs.values()]


def served_scores(predictor: Any, ds: Dataset, detok: str = "moses", documents: bool = False) -> dict[str, Any]:
    """Entity P/R/F1 (and, for joint runs, intent and sentence accuracy) of `predictor.predict` on raw text;
    `documents`: one text per document (NER; lines are sentences) instead of one per sentence."""
    texts, gold = raw_documents(ds, detok) if documents else raw_examples(ds, detok)
    preds = predictor.predict(texts, errors="return")
    tp = n_pred = n_gold = 0
    exact = intent_right = sentences = failed = 0
    labels = ds["label"] if "label" in ds.column_names and not documents else None  # joint: the intent too
    for i, (pred, want) in enumerate(zip(preds, gold, strict=True)):
        if "error" in pred:
            failed += 1
            got: set[tuple[str, int, int]] = set()
        else:
            got = {(e["type"], e["start"], e["end"]) for e in pred.get("entities") or []}
        tp, n_pred, n_gold = tp + len(got & want), n_pred + len(got), n_gold + len(want)
        if labels is not None and "intent" in pred:
            sentences += 1
            right = pred["intent"] == labels[i]
            intent_right += right
            exact += right and got == want
    p = tp / n_pred if n_pred else 0.0
    r = tp / n_gold if n_gold else 0.0
    out = {"f1": 2 * p * r / (p + r) if p + r else 0.0, "precision": p, "recall": r, "examples": len(texts),
           "failed": failed, "detokenizer": detok, "splitter": predictor.data.splitter}
    if sentences:
        out.update({"intent_acc": intent_right / sentences, "sentence_acc": exact / sentences})
    return out
