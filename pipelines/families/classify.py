"""The sentence-classification family (intent, topics): one feature per text (`encode`: sub-tokens, or words for
a word-level model), records of class probabilities, scores (accuracy, macro-F1, per-class scores, confusion
matrix, calibration) and the ranked labels `predict` returns, with off-topic flags when a detector is given."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from datasets import Dataset

from pipelines.config import DataConfig
from pipelines.data.align import words_of
from pipelines.data.batching import Features
from pipelines.data.columns import Columns
from pipelines.inference import metrics
from pipelines.methods import calibration
from pipelines.methods.offtopic import OffTopic, apply, logits_and_features
from pipelines.models.outputs import TaskOutput
from pipelines.predictions import Classification, Ranked
from pipelines.records import NO_GOLD, ClassRecord
from pipelines.task import labels_of

log = logging.getLogger(__name__)

TOP_K = 3


def score(records: Sequence[ClassRecord], id2label: dict[int, str],
          gold: Sequence[str] | None = None) -> dict[str, Any]:
    """Accuracy, macro-F1, per-class scores, confusion matrix; `gold` (label strings) replaces the ids."""
    recs = sorted({r.example_id: r for r in records}.values(), key=lambda r: r.example_id)
    pred = [id2label[int(np.argmax(r.probs))] for r in recs]
    if gold is None:
        golds = [id2label.get(r.gold, "<unseen>") for r in recs]
    else:
        golds = [gold[r.example_id] for r in recs]
    result = metrics.classification_scores(golds, pred, [id2label[i] for i in sorted(id2label)])
    correct = np.array([g == p for g, p in zip(golds, pred, strict=True)], dtype=np.float64)
    result["accuracy_ci95"] = metrics.bootstrap_ci(lambda v: float(v.mean()), correct)
    label2id = {v: k for k, v in id2label.items()}
    known = [(r.probs, label2id[g]) for r, g in zip(recs, golds, strict=True) if g in label2id]
    if known:  # confidence calibration (pipelines.methods.calibration), on the examples of known labels
        probs, ids = np.array([p for p, _ in known]), np.array([i for _, i in known])
        result["ece"] = calibration.ece(probs, ids)
        result["nll"] = calibration.nll(np.log(np.clip(probs, 1e-12, None)), ids)
    return result


def ranked(probs: torch.Tensor, labels: Sequence[str], k: int = TOP_K, **extra: Any) -> Classification:
    """The best label, its probability and the k best (pipelines.predictions.Classification) from one (L,)
    probability row; `extra` fills its optional fields (off-topic flags, topics)."""
    top = probs.argsort(descending=True)[:k].tolist()
    best = [Ranked(labels[i], round(float(probs[i]), 4)) for i in top]
    return Classification(best[0].label, best[0].probability, best, **extra)


def gather(batch: dict[str, torch.Tensor], out: TaskOutput) -> list[ClassRecord]:
    """Per row: example_id, the class probabilities and, in a labelled batch, the gold id."""
    probs = out.logits.float().softmax(-1)  # (B, L)
    gold = batch["labels"].tolist() if "labels" in batch else [NO_GOLD] * probs.shape[0]
    return [ClassRecord(int(batch["example_id"][b]), probs[b].tolist(), int(gold[b])) for b in range(probs.shape[0])]


def encode(ds: Dataset, tokenizer, label2id: dict[str, int], cfg: DataConfig) -> Features:
    """One feature per utterance: input_ids, example_id and labels (-100 for a label the model lacks); a
    word-level tokenizer (the BiLSTM's) adds char_ids and case_ids, one position per word."""
    labels = ds["label"] if "label" in ds.column_names else None
    if getattr(tokenizer, "word_level", False):
        rows = []
        for i, words in enumerate(words_of(ds["text"])):
            ids, chars, cases = zip(*(tokenizer.encode_word(w) for w in words or ["<unk>"]), strict=True)
            rows.append({"input_ids": list(ids), "char_ids": list(chars), "case_ids": list(cases), "example_id": i})
    else:
        enc = tokenizer(list(ds["text"]))["input_ids"]
        cut = sum(len(ids) > cfg.max_length for ids in enc)
        if cut:
            log.warning("%d of %d texts are longer than data.max_length=%d sub-tokens and were truncated",
                        cut, len(enc), cfg.max_length)
            enc = [ids if len(ids) <= cfg.max_length else ids[: cfg.max_length - 1] + ids[-1:] for ids in enc]
        rows = [{"input_ids": ids, "example_id": i} for i, ids in enumerate(enc)]
    if labels is not None:
        for row in rows:
            row["labels"] = label2id.get(labels[row["example_id"]], -100)
    return Features(rows)


def class_outputs(model: torch.nn.Module, tokenizer, ds: Dataset, data: DataConfig, batch_size: int = 64,
                  pooled: bool = False) -> tuple[np.ndarray, np.ndarray | None]:
    """(N, K) logits and, with `pooled`, (N, H) sentence vectors of the examples of `ds`, in order."""
    feats = encode(ds.remove_columns([c for c in ds.column_names if c != "text"]), tokenizer, {}, data)
    return logits_and_features(model, feats, tokenizer.pad_token_id, batch_size, pooled=pooled)


def predict_texts(model: torch.nn.Module, tokenizer: Any, texts: Sequence[str], batch_size: int = 64,
                  data: DataConfig | None = None, detector: OffTopic | None = None) -> list[dict[str, Any]]:
    """Per text: {"label", "probability", "top_k"}, plus "off_topic" and "off_topic_score" with a `detector`."""
    ds = Columns({"text": list(texts)})  # no datasets.Dataset per call (pipelines.data.columns)
    logits, vectors = class_outputs(model, tokenizer, ds, data or DataConfig(), batch_size, pooled=detector is not None)
    probs = torch.from_numpy(logits).softmax(-1)  # (N, K)
    flags = apply(detector, logits, vectors, list(texts)) if detector is not None and len(texts) else [{}] * len(texts)
    return [ranked(row, labels_of(model), **flag).to_dict() for row, flag in zip(probs, flags, strict=True)]
