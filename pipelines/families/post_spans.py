"""The post-and-spans family: one label per post (a post classifier) and the character spans in it that carry
the label (a span tagger over first sub-tokens: B-SPAN / I-SPAN / O), from one encoder (toxicity).

Spans are character offsets (SemEval-2021 Task 5) turned into word tags and back (pipelines.data.spans: a span
that cuts a word marks the whole word). A post may lack a label or spans: that head is not trained on it.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from datasets import Dataset

from pipelines.config import DataConfig
from pipelines.data.align import split_words, words_of
from pipelines.data.batching import Collator, Features
from pipelines.data.columns import Columns
from pipelines.data.spans import SPAN, tags_to_offsets
from pipelines.data.tagging import encode_with_intents
from pipelines.data.tags import LabelSets
from pipelines.families import tagging
from pipelines.inference import metrics
from pipelines.methods import detox
from pipelines.models.joint import ToxicityModel
from pipelines.models.outputs import TaskOutput, infer
from pipelines.predictions import Span, Toxicity
from pipelines.records import NO_GOLD, PostRecord

TAGS = ["O", f"B-{SPAN}", f"I-{SPAN}"]
log = logging.getLogger(__name__)


TAUS = [round(0.25 * k, 2) for k in range(-4, 9)]  # prior-correction strengths tried on dev


def choose_tau(probs: np.ndarray, gold_ids: Sequence[int], log_prior: np.ndarray) -> float:
    """The tau in TAUS whose argmax(log probs - tau * log_prior) has the best macro-F1 on (`probs` (N, K),
    `gold_ids`); ties go to the smaller correction."""
    from sklearn.metrics import f1_score

    logp = np.log(probs + 1e-12)
    labels = list(range(probs.shape[1]))

    def macro(tau: float) -> float:
        return f1_score(gold_ids, (logp - tau * log_prior).argmax(-1), average="macro", labels=labels,
                        zero_division=0)

    return max(TAUS, key=lambda t: (macro(t), -abs(t)))


def fit_prior_correction(model: ToxicityModel, train_ids: Sequence[int], val_probs: np.ndarray,
                         val_ids: Sequence[int]) -> float:
    """Set `model.post_bias` to -tau * log prior (train label frequencies), tau from TAUS maximising macro-F1 of
    the validation posts (`val_probs` (N, K) uncorrected, `val_ids` gold ids); returns tau."""
    k = len(model.intents)
    log_prior = np.log(np.bincount(np.asarray(train_ids), minlength=k).clip(min=0.5) / len(train_ids))
    best = choose_tau(val_probs, val_ids, log_prior)
    with torch.no_grad():
        model.post_bias.copy_(torch.from_numpy(-best * log_prior).float())
    return best


def prior_correction_on_dev(model: ToxicityModel, tokenizer: Any, splits: dict[str, Dataset], data: DataConfig,
                            batch_size: int = 64) -> float | None:
    """Fit the post-score shift (fit_prior_correction) on the labelled validation posts, with the label prior of
    the training posts; returns tau (None where there is nothing to fit on)."""
    val, train = splits.get("validation"), splits["train"]
    if not model.intents or val is None or "label" not in val.column_names or "label" not in train.column_names:
        return None
    index = {x: i for i, x in enumerate(model.intents)}
    rows = [i for i, x in enumerate(val["label"]) if x in index]
    if not rows:
        return None
    with torch.no_grad():
        model.post_bias.zero_()
    probs = post_probs(model, tokenizer, [val["text"][i] for i in rows], batch_size, data.max_length)
    tau = fit_prior_correction(model, [index[x] for x in train["label"] if x in index], probs,
                               [index[val["label"][i]] for i in rows])
    log.info("prior correction: tau=%s chosen on %d validation posts (post scores - tau * log prior)", tau, len(rows))
    return tau


def word_offsets(ds: Dataset) -> list[list[tuple[int, int]]]:
    """Per example, each word's (start, end) in its `text` (words as split_words splits it), or in the words
    joined by single spaces when there is no text or it splits differently."""
    texts = ds["text"] if "text" in ds.column_names else [None] * len(ds)
    out = []
    for text, words in zip(texts, ds["tokens"], strict=True):
        split = split_words(text) if text is not None else []
        if [w for w, _, _ in split] == list(words):
            out.append([(s, e) for _, s, e in split])
            continue
        pos, offs = 0, []
        for w in words:
            offs.append((pos, pos + len(w)))
            pos += len(w) + 1
        out.append(offs)
    return out


def encode(ds: Dataset, tokenizer, label2id: dict[str, int], cfg: DataConfig) -> Features:
    """The joint task's windows (span tag ids, post label id as `intent_labels`, -100 when absent), plus each
    core word's character span (`word_spans`) for character-level scoring. Text without words is split here."""
    if "tokens" not in ds.column_names:
        ds = ds.add_column("tokens", words_of(ds["text"]))
    if "tags" in ds.column_names:  # every marked span is a toxic span, whatever type it was written with
        ds = ds.remove_columns("tags").add_column("tags", [
            None if t is None else [x if x == "O" else f"{x[:2]}{SPAN}" for x in t] for t in ds["tags"]])
    offsets = word_offsets(ds)
    feats = encode_with_intents(ds, tokenizer, label2id, cfg)
    soft = _soft_targets(ds, label2id)
    for row in feats.rows:
        if soft is not None:
            row["soft_targets"] = soft[row["example_id"]]
        start, n = row["core_start"], len(row["word_starts"])
        row["word_spans"] = [list(x) for x in offsets[row["example_id"]][start:start + n]] or [[0, 0]]
        row.setdefault("labels", [-100] * len(row["input_ids"]))
        row.setdefault("intent_labels", -100)
    return feats


def _soft_targets(ds: Dataset, label2id: dict[str, int]) -> list[list[float]] | None:
    """Per example, the post-label distribution from its `label_votes` ({label: annotator count}, e.g.
    Davidson's per-annotator counts), in the model's post-label order; None without votes or post labels."""
    intents = LabelSets.of(label2id).intents
    if "label_votes" not in ds.column_names or not intents:
        return None
    out = []
    labels = ds["label"] if "label" in ds.column_names else [None] * len(ds)
    for votes, label in zip(ds["label_votes"], labels, strict=True):
        counts = [float((votes or {}).get(x) or 0) for x in intents]
        if sum(counts) <= 0:  # no votes: the gold label, else uniform
            counts = [float(x == label) for x in intents] if label in intents else [1.0] * len(intents)
        out.append([c / sum(counts) for c in counts])
    return out


def gather(batch: dict[str, torch.Tensor], out: TaskOutput, decode_fn) -> list[PostRecord]:
    """Per window: span tag predictions (tagging.gather), post probabilities and gold, core word offsets."""
    probs = out.intent_logits.float().softmax(-1)  # (B, K)
    gold = batch["intent_labels"].tolist() if "intent_labels" in batch else [NO_GOLD] * len(probs)
    return [PostRecord(**vars(rec), intent_probs=probs[b].tolist(), intent_gold=int(gold[b]),
                       word_spans=batch["word_spans"][b, :len(rec.pred)].tolist())
            for b, rec in enumerate(tagging.gather(batch, out.slot_logits, decode_fn))]


def post_scores(records: Sequence[PostRecord], intents: Sequence[str]) -> dict[str, Any]:
    """Accuracy, macro-F1, weighted F1 and per-class scores of the posts that have a gold label."""
    from sklearn.metrics import f1_score

    first = {r.example_id: r for r in sorted(records, key=lambda r: -r.core_start)}  # core_start 0 wins
    rows = [first[i] for i in sorted(first) if first[i].intent_gold >= 0]
    if not rows or not intents:
        return {}
    gold = [intents[r.intent_gold] for r in rows]
    pred = [intents[int(np.argmax(r.intent_probs))] for r in rows]
    result = metrics.classification_scores(gold, pred, intents)
    result["weighted_f1"] = float(f1_score(gold, pred, labels=list(intents), average="weighted", zero_division=0))
    return result


def span_scores(records: Sequence[PostRecord], gold: Sequence[Sequence[int] | None] | None = None) -> dict[str, Any]:
    """char_f1 over the posts with span annotation: predicted word spans -> character offsets, against `gold`
    offsets (e.g. the SemEval file's) or, without them, the offsets of the gold word tags."""
    preds, golds = tagging.stitch(records, "pred"), tagging.stitch(records, "gold")
    offs = tagging.stitch(records, "word_spans")
    gold_sets, pred_sets = [], []
    for i in sorted(preds):
        if gold is not None:
            if gold[i] is None:
                continue
            g = list(gold[i])
        elif all(k < 0 for k in golds[i]):
            continue
        else:
            g = _offsets(offs[i], [TAGS[k] if k >= 0 else "O" for k in golds[i]])
        gold_sets.append(g)
        pred_sets.append(_offsets(offs[i], [TAGS[k] for k in preds[i]]))
    if not gold_sets:
        return {}
    per_post = np.array([metrics.span_f1(g, p) for g, p in zip(gold_sets, pred_sets, strict=True)])
    return {"char_f1": float(per_post.mean()), "char_f1_ci95": metrics.bootstrap_ci(lambda v: float(v.mean()),
                                                                                   per_post),
            "span_posts": len(gold_sets)}


def score(records: Sequence[PostRecord], id2label: dict[int, str],
          gold: Sequence[Sequence[int] | None] | None = None) -> dict[str, Any]:
    """Post scores and span char-F1; `score` is their mean (those present)."""
    intents = LabelSets.of(id2label).intents
    result = {**post_scores(records, intents), **span_scores(records, gold)}
    parts = [result[k] for k in ("macro_f1", "char_f1") if k in result]
    result["score"] = float(np.mean(parts)) if parts else 0.0
    return result


def _offsets(word_spans: Sequence[Sequence[int]], tags: Sequence[str]) -> list[int]:
    return tags_to_offsets([("", s, e) for s, e in word_spans], tags)


def post_probs(model: ToxicityModel, tokenizer, texts: Sequence[str], batch_size: int = 64,
               max_length: int = 128) -> np.ndarray:
    """(N, K) post-label probabilities of raw texts (their first window)."""
    feats = encode(Columns({"text": list(texts)}), tokenizer, {}, DataConfig(max_length=max_length))
    probs = np.full((len(texts), len(model.intents)), np.nan)
    for batch, out in infer(model, feats, Collator(tokenizer.pad_token_id), batch_size):
        p = out.intent_logits.softmax(-1).numpy()
        for b in range(len(p)):
            if int(batch["core_start"][b]) == 0:
                probs[int(batch["example_id"][b])] = p[b]
    return probs



def predict(task: Any, model: ToxicityModel, tokenizer: Any, texts: Sequence[str], batch_size: int = 64,
            data: DataConfig | None = None, rewriter: detox.Rewriter | None = None, clean_label: str = "neither",
            mask: str = "***") -> list[dict[str, Any]]:
    """Per text: {"label", "probability", "toxic", "spans": [{"start", "end", "text", "score"}],
    "offsets", "masked", "removed", "rewritten", "rewrite_accepted"}; label, probability and toxic are
    None when the model has no post labels, the span outputs None when no training post had spans."""
    max_length = (data or DataConfig()).max_length
    words, records, _ = tagging.predict_words(task, model, tokenizer, texts, batch_size, data)
    found_by_text = tagging.sentence_entities(records, model.tags, model)
    first = {r.example_id: r for r in sorted(records, key=lambda r: -r.core_start)}
    out, spans = [], []
    for i, (text, ws) in enumerate(zip(texts, words, strict=True)):
        found = tagging.entities(text, ws, *found_by_text.get(i, ([], [])))
        res: dict[str, Any] = {"label": None, "probability": None, "toxic": None}
        if model.intents and i in first:
            p = np.asarray(first[i].intent_probs)
            k = int(p.argmax())
            res = {"label": model.intents[k], "probability": round(float(p[k]), 4),
                   "toxic": model.intents[k] != clean_label}
        cut = [(s["start"], s["end"]) for s in found]
        spans.append(cut)
        res.update({"spans": [{k: s[k] for k in ("start", "end", "text", "score")} for s in found],
                    "offsets": [c for a, b in cut for c in range(a, b)],
                    "masked": detox.mask(text, cut, mask), "removed": detox.remove(text, cut)})
        out.append(res)
    if "slots" in getattr(model, "untrained", []):  # a span head that never saw a span: no spans at all
        for res in out:
            res.update(dict.fromkeys(("spans", "offsets", "masked", "removed", "rewritten", "rewrite_accepted")))
        return _typed(out)
    if rewriter is None:
        for res in out:
            res["rewritten"], res["rewrite_accepted"] = res["removed"], False
        return _typed(out)
    judge = None
    if clean_label in model.intents:
        clean = model.intents.index(clean_label)

        def judge(drafts: list[str]) -> list[bool]:
            return list(post_probs(model, tokenizer, drafts, batch_size, max_length).argmax(-1) == clean)

    for res, (text, ok) in zip(out, rewriter.rewrite(list(texts), spans, judge), strict=True):
        res["rewritten"], res["rewrite_accepted"] = text, ok
    return _typed(out)


def _typed(out: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Each result through the prediction schema (pipelines.predictions.Toxicity), back as its JSON form."""
    return [Toxicity(**{**r, "spans": None if r["spans"] is None else [Span(**s) for s in r["spans"]]}).to_dict()
            for r in out]
