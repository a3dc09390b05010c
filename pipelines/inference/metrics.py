"""Metrics shared by every task: seqeval (strict IOB2) for entities, sklearn for classes, bootstrap CIs."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
from seqeval.metrics import classification_report
from seqeval.scheme import IOB2, Entities


def entity_scores(gold: Sequence[Sequence[str]], pred: Sequence[Sequence[str]]) -> dict[str, Any]:
    """Entity precision/recall/F1 with seqeval `mode="strict", scheme=IOB2`: micro, macro and per type.

    An entity counts only when its type and both boundaries match and it is a valid IOB2 chunk.
    """
    if len(gold) != len(pred):
        raise ValueError(f"{len(pred)} predicted sentences for {len(gold)} gold sentences")
    for i, (g, p) in enumerate(zip(gold, pred, strict=True)):
        if len(g) != len(p):
            raise ValueError(f"sentence {i}: {len(p)} predicted tags for {len(g)} gold tags")
    report = classification_report([list(g) for g in gold], [list(p) for p in pred], mode="strict",
                                   scheme=IOB2, output_dict=True, zero_division=0)
    per_type = {k: _prf(v) for k, v in report.items() if not k.endswith(" avg")}
    micro = _prf(report.get("micro avg", {"precision": 0, "recall": 0, "f1-score": 0, "support": 0}))
    macro = _prf(report.get("macro avg", {"precision": 0, "recall": 0, "f1-score": 0, "support": 0}))
    return {"f1": micro["f1"], "precision": micro["precision"], "recall": micro["recall"],
            "macro_f1": macro["f1"], "support": micro["support"], "per_type": per_type}


def _prf(row: dict[str, Any]) -> dict[str, Any]:
    return {"precision": float(row["precision"]), "recall": float(row["recall"]), "f1": float(row["f1-score"]),
            "support": int(row["support"])}


def entity_counts(gold: Sequence[Sequence[str]], pred: Sequence[Sequence[str]]) -> np.ndarray:
    """Per sentence (true positives, predicted, gold) entity counts under strict IOB2. Shape (N, 3)."""
    g_ents = Entities([list(s) for s in gold], IOB2).entities
    p_ents = Entities([list(s) for s in pred], IOB2).entities
    rows = []
    for g, p in zip(g_ents, p_ents, strict=True):
        g_set = {e.to_tuple() for e in g}
        p_set = {e.to_tuple() for e in p}
        rows.append((len(g_set & p_set), len(p_set), len(g_set)))
    return np.asarray(rows, dtype=np.float64).reshape(-1, 3)


def f1_from_counts(counts: np.ndarray) -> float:
    tp, n_pred, n_gold = counts.sum(axis=0)
    return float(2 * tp / (n_pred + n_gold)) if n_pred + n_gold else 0.0


def classification_scores(gold: Sequence[str], pred: Sequence[str], labels: Sequence[str]) -> dict[str, Any]:
    """Accuracy, macro-F1, per-class precision/recall/F1 and the confusion matrix (rows = gold)."""
    from sklearn.metrics import accuracy_score, confusion_matrix, precision_recall_fscore_support

    if len(gold) != len(pred):
        raise ValueError(f"{len(pred)} predictions for {len(gold)} gold labels")
    names = list(labels) + sorted(set(gold) - set(labels))
    p, r, f, s = precision_recall_fscore_support(gold, pred, labels=names, zero_division=0)
    per_class = {n: {"precision": float(p[i]), "recall": float(r[i]), "f1": float(f[i]), "support": int(s[i])}
                 for i, n in enumerate(names)}
    present = [i for i, n in enumerate(names) if s[i] > 0]
    return {"accuracy": float(accuracy_score(gold, pred)),
            "macro_f1": float(np.mean([f[i] for i in present])) if present else 0.0,
            "support": len(gold), "per_class": per_class,
            "confusion": {"labels": names, "matrix": confusion_matrix(gold, pred, labels=names).tolist()}}


def bootstrap_ci(stat: Callable[[np.ndarray], float], values: np.ndarray, resamples: int = 1000,
                 alpha: float = 0.05, seed: int = 0) -> tuple[float, float]:
    """Percentile bootstrap interval of `stat` over the rows of `values` (rows = examples or sentences)."""
    rng = np.random.default_rng(seed)
    n = len(values)
    if n == 0:
        return 0.0, 0.0
    draws = [stat(values[rng.integers(0, n, n)]) for _ in range(resamples)]
    lo, hi = np.quantile(draws, [alpha / 2, 1 - alpha / 2])
    return float(lo), float(hi)


def span_f1(gold: Sequence[int], pred: Sequence[int]) -> float:
    """SemEval-2021 Toxic Spans F1 of one text over character offsets: 1.0 when both are empty, 0.0 when only
    one is."""
    g, p = set(gold), set(pred)
    if not g and not p:
        return 1.0
    if not g or not p:
        return 0.0
    return 2 * len(g & p) / (len(g) + len(p))


def char_f1(gold: Sequence[Sequence[int]], pred: Sequence[Sequence[int]]) -> float:
    """The task's official score: `span_f1` per text, averaged over texts."""
    if len(gold) != len(pred):
        raise ValueError(f"{len(pred)} predictions for {len(gold)} texts")
    return float(np.mean([span_f1(g, p) for g, p in zip(gold, pred, strict=True)])) if gold else 0.0
