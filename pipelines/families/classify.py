"""Records of classification tasks (intent, topics): per example its class probabilities; scores (accuracy,
macro-F1, per-class scores, confusion matrix, calibration) and the ranked labels `predict` returns."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch

from pipelines.inference import metrics
from pipelines.methods import calibration
from pipelines.models.outputs import TaskOutput

TOP_K = 3


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
    correct = np.array([g == p for g, p in zip(golds, pred, strict=True)], dtype=np.float64)
    result["accuracy_ci95"] = metrics.bootstrap_ci(lambda v: float(v.mean()), correct)
    label2id = {v: k for k, v in id2label.items()}
    known = [(r["probs"], label2id[g]) for r, g in zip(recs, golds, strict=True) if g in label2id]
    if known:  # confidence calibration (pipelines.methods.calibration), on the examples of known labels
        probs, ids = np.array([p for p, _ in known]), np.array([i for _, i in known])
        result["ece"] = calibration.ece(probs, ids)
        result["nll"] = calibration.nll(np.log(np.clip(probs, 1e-12, None)), ids)
    return result


def ranked(probs: torch.Tensor, labels: Sequence[str], k: int = TOP_K) -> dict[str, Any]:
    """{"label", "probability", "top_k": the k best [{"label", "probability"}]} from one (L,) probability row."""
    top = probs.argsort(descending=True)[:k].tolist()
    best = [{"label": labels[i], "probability": round(float(probs[i]), 4)} for i in top]
    return {"label": best[0]["label"], "probability": best[0]["probability"], "top_k": best}


def gather(batch: dict[str, torch.Tensor], out: TaskOutput) -> list[dict[str, Any]]:
    """Per row: example_id, the class probabilities and, in a labelled batch, the gold id."""
    probs = out.logits.float().softmax(-1)  # (B, L)
    records = []
    for b in range(probs.shape[0]):
        rec = {"example_id": int(batch["example_id"][b]), "probs": probs[b].tolist()}
        if "labels" in batch:
            rec["gold"] = int(batch["labels"][b])
        records.append(rec)
    return records
