"""Intent classification: one label per utterance, scored by accuracy and macro-F1.

Data: `text` and `label`. Utterances longer than data.max_length sub-tokens are truncated (intents are
short); `encode` logs how many were.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from datasets import Dataset
from transformers import AutoModel, AutoModelForSequenceClassification

from pipelines.config import DataConfig
from pipelines.data.batching import Collator, Features, infer
from pipelines.inference import metrics
from pipelines.models import encoders
from pipelines.models.pooling import META_FILE as POOLED_META
from pipelines.models.pooling import MeanPoolClassifier

MONITOR = "val/accuracy"
SAMPLE = Path(__file__).resolve().parent.parent / "samples" / "intent"
MODEL_CLASS = AutoModelForSequenceClassification
COLUMNS = ("text", "label")
TOP_K = 3
log = logging.getLogger(__name__)


def label_list(splits: dict[str, Dataset]) -> list[str]:
    """Sorted labels of the train split (a classifier can only learn what train shows)."""
    return sorted(set(splits["train"]["label"]))


def build_model(encoder: str, labels: Sequence[str], tokenizer, dropout: float = 0.1, head: str = "softmax",
                pooling: str = "cls") -> torch.nn.Module:
    """pooling='cls': Hugging Face's sequence classifier ([CLS] + pooler); 'mean': pipelines.models.pooling."""
    if head != "softmax":
        raise ValueError(f"model.head={head!r}: the intent task has a softmax head only")
    if pooling == "mean":
        return MeanPoolClassifier(encoders.load_model(encoder, AutoModel, tokenizer), labels, dropout)
    return encoders.load_model(encoder, MODEL_CLASS, tokenizer, num_labels=len(labels),
                               id2label=dict(enumerate(labels)), label2id={lab: i for i, lab in enumerate(labels)},
                               classifier_dropout=dropout)


def load_model(path: str | Path) -> torch.nn.Module:
    if (Path(path) / POOLED_META).exists():
        return MeanPoolClassifier.from_pretrained(path)
    return MODEL_CLASS.from_pretrained(path)


def decoder(model: torch.nn.Module, decode: str = "argmax") -> None:
    """Classification has nothing to decode."""
    return None


def encode(ds: Dataset, tokenizer, label2id: dict[str, int], cfg: DataConfig) -> Features:
    """One feature per utterance: input_ids, example_id and labels (-100 for a label the model lacks)."""
    enc = tokenizer(list(ds["text"]))["input_ids"]
    cut = sum(len(ids) > cfg.max_length for ids in enc)
    if cut:
        log.warning("%d of %d texts are longer than data.max_length=%d sub-tokens and were truncated",
                    cut, len(enc), cfg.max_length)
        enc = [ids if len(ids) <= cfg.max_length else ids[: cfg.max_length - 1] + ids[-1:] for ids in enc]
    labels = ds["label"] if "label" in ds.column_names else None
    rows = []
    for i, ids in enumerate(enc):
        row: dict[str, Any] = {"input_ids": ids, "example_id": i}
        if labels is not None:
            row["labels"] = label2id.get(labels[i], -100)
        rows.append(row)
    return Features(rows)


def gather(batch: dict[str, torch.Tensor], logits: torch.Tensor, decode_fn: Any = None) -> list[dict[str, Any]]:
    probs = logits.float().softmax(-1)  # (B, L)
    out = []
    for b in range(logits.shape[0]):
        rec = {"example_id": int(batch["example_id"][b]), "probs": probs[b].tolist()}
        if "labels" in batch:
            rec["gold"] = int(batch["labels"][b])
        out.append(rec)
    return out


def score(records: Sequence[dict[str, Any]], id2label: dict[int, str],
          gold: Sequence[str] | None = None) -> dict[str, Any]:
    """Accuracy, macro-F1, per-class scores, confusion matrix; `gold` (label strings) replaces the ids."""
    recs = sorted({r["example_id"]: r for r in records}.values(), key=lambda r: r["example_id"])
    pred = [id2label[int(np.argmax(r["probs"]))] for r in recs]
    if gold is None:
        golds = [id2label.get(r["gold"], "<unseen>") for r in recs]
    else:
        golds = [gold[r["example_id"]] for r in recs]
    result = metrics.classification_scores(golds, pred, [id2label[i] for i in sorted(id2label)])
    correct = np.array([g == p for g, p in zip(golds, pred)], dtype=np.float64)
    result["accuracy_ci95"] = metrics.bootstrap_ci(lambda v: float(v.mean()), correct)
    return result


def predict(model: torch.nn.Module, tokenizer, texts: Sequence[str], batch_size: int = 64,
            max_length: int = 128, decode: str = "argmax", offtopic: Any = None) -> list[dict[str, Any]]:
    """Per text: {"label", "probability", "top_k": [{"label", "probability"}, ...]}, plus "off_topic" and
    "off_topic_score" when an off-topic detector (pipelines.methods.offtopic.OffTopic) is given."""
    id2label = model.config.id2label
    feats = encode(Dataset.from_dict({"text": list(texts)}), tokenizer, {}, DataConfig(max_length=max_length))
    device = next(model.parameters()).device
    logits, hidden = {}, {}
    for batch, out in infer(model, feats, Collator(tokenizer.pad_token_id), batch_size, device,
                            hidden=offtopic is not None):
        for b, i in enumerate(batch["example_id"].tolist()):
            logits[i] = out[b]
            if offtopic is not None:
                hidden[i] = batch["features"][b]
    results = []
    for i in range(len(texts)):
        probs = logits[i].softmax(-1)
        top = probs.argsort(descending=True)[:TOP_K].tolist()
        ranked = [{"label": id2label[k], "probability": round(float(probs[k]), 4)} for k in top]
        results.append({"label": ranked[0]["label"], "probability": ranked[0]["probability"], "top_k": ranked})
    if offtopic is not None:
        from pipelines.methods.offtopic import apply

        flags = apply(offtopic, torch.stack([logits[i] for i in range(len(texts))]).numpy(),
                      torch.stack([hidden[i] for i in range(len(texts))]).numpy(), list(texts))
        for res, flag in zip(results, flags):
            res.update(flag)
    return results


def distributions(model: torch.nn.Module, tokenizer, ds: Dataset, data: DataConfig,
                  batch_size: int = 64) -> np.ndarray:
    """(N, K) predicted class probabilities for the examples of `ds`, in order."""
    feats = encode(ds.remove_columns([c for c in ds.column_names if c != "text"]), tokenizer, {}, data)
    out = np.zeros((len(ds), model.config.num_labels), dtype=np.float32)
    for batch, logits in infer(model, feats, Collator(tokenizer.pad_token_id), batch_size,
                               next(model.parameters()).device):
        out[batch["example_id"].numpy()] = logits.softmax(-1).numpy()
    return out
