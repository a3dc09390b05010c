"""Comparing word embeddings that come from different models, and word analogies.

Two embedding spaces of the same words (rows aligned: row i of X and of Y is the same word) can differ by a
rotation, a scale and noise even when they encode the same similarities, so coordinates are never compared
directly. Three measures that ignore what should not count:
- `procrustes`: the orthogonal R minimising ||X R - Y|| on training words (SVD of X^T Y; Schönemann 1966),
  scored by the cosine of held-out words' X R against their Y: does one space map onto the other by a rotation?
  (Widths may differ: Y is then zero-padded to X's, or X to Y's.)
- `linear_cka`: centred kernel alignment with linear kernels (Kornblith et al. 2019); invariant to rotation
  and isotropic scaling, 1 for identical geometry.
- `rsa`: Spearman correlation of the two spaces' pairwise cosine similarities over a sample of words
  (representational similarity analysis).
- `knn_overlap`: the mean share of each word's k nearest neighbours (cosine) that the two spaces agree on.
`analogies` runs gensim's `evaluate_word_analogies` (3CosAdd, the question's three words excluded) and
returns the score per section with its coverage.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np


def _unit(x: np.ndarray) -> np.ndarray:
    return x / np.clip(np.linalg.norm(x, axis=1, keepdims=True), 1e-12, None)


def _same_width(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    d = max(x.shape[1], y.shape[1])
    pad = lambda a: np.pad(a, ((0, 0), (0, d - a.shape[1])))  # noqa: E731
    return pad(x), pad(y)


def procrustes(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """The orthogonal (D, D) matrix R with X R closest to Y (rows unit-normalised, widths padded to D)."""
    x, y = _same_width(_unit(x), _unit(y))
    u, _, vt = np.linalg.svd(x.T @ y)
    return u @ vt


def procrustes_cosine(x: np.ndarray, y: np.ndarray, test_fraction: float = 0.2, seed: int = 0) -> dict[str, float]:
    """Fit R on a random (1 - test_fraction) of the rows, report the mean cosine of X R and Y on the rest
    (and on the training rows, and for a random rotation as the floor)."""
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(x))
    cut = int(len(x) * (1 - test_fraction))
    train, test = order[:cut], order[cut:]
    r = procrustes(x[train], y[train])
    xp, yp = _same_width(_unit(x), _unit(y))
    cos = lambda a, b: float(np.mean(np.sum(_unit(a) * _unit(b), axis=1)))  # noqa: E731
    q, _ = np.linalg.qr(rng.standard_normal((r.shape[0], r.shape[0])))
    return {"held_out_cosine": cos(xp[test] @ r, yp[test]), "train_cosine": cos(xp[train] @ r, yp[train]),
            "random_rotation_cosine": cos(xp[test] @ q, yp[test]), "train_words": len(train), "test_words": len(test)}


def linear_cka(x: np.ndarray, y: np.ndarray) -> float:
    """Linear CKA of (N, D1) and (N, D2): ||Yc^T Xc||_F^2 / (||Xc^T Xc||_F ||Yc^T Yc||_F)."""
    xc, yc = x - x.mean(0), y - y.mean(0)
    num = np.linalg.norm(yc.T @ xc) ** 2
    return float(num / (np.linalg.norm(xc.T @ xc) * np.linalg.norm(yc.T @ yc)))


def rsa(x: np.ndarray, y: np.ndarray, sample: int = 2000, seed: int = 0) -> float:
    """Spearman correlation of the upper triangles of the two cosine-similarity matrices (a sample of rows)."""
    from scipy.stats import spearmanr

    idx = np.random.default_rng(seed).permutation(len(x))[:sample]
    sx, sy = _unit(x[idx]) @ _unit(x[idx]).T, _unit(y[idx]) @ _unit(y[idx]).T
    iu = np.triu_indices(len(idx), k=1)
    return float(spearmanr(sx[iu], sy[iu]).statistic)


def knn_overlap(x: np.ndarray, y: np.ndarray, k: int = 10) -> float:
    """Mean |kNN_X(i) ∩ kNN_Y(i)| / k over all rows (cosine; a word is not its own neighbour)."""
    def neighbours(a: np.ndarray) -> np.ndarray:
        sims = _unit(a) @ _unit(a).T
        np.fill_diagonal(sims, -np.inf)
        return np.argpartition(-sims, k, axis=1)[:, :k]

    nx, ny = neighbours(x), neighbours(y)
    return float(np.mean([len(set(a) & set(b)) / k for a, b in zip(nx, ny, strict=True)]))


def compare(x: np.ndarray, y: np.ndarray, k: int = 10, seed: int = 0) -> dict[str, Any]:
    """Every measure above for two aligned spaces."""
    return {"words": len(x), "dims": [int(x.shape[1]), int(y.shape[1])],
            "procrustes": procrustes_cosine(x, y, seed=seed), "linear_cka": linear_cka(x, y),
            "rsa_spearman": rsa(x, y, seed=seed), f"knn_overlap@{k}": knn_overlap(x, y, k)}


def keyed_vectors(words: Sequence[str], vectors: np.ndarray) -> Any:
    """A gensim KeyedVectors over `words` (e.g. an encoder's input embedding rows)."""
    from gensim.models import KeyedVectors

    kv = KeyedVectors(vector_size=vectors.shape[1])
    kv.add_vectors(list(words), np.asarray(vectors, dtype=np.float32))
    return kv


def analogies(kv: Any, questions: str | Path, restrict_vocab: int = 300_000) -> dict[str, Any]:
    """gensim's analogy evaluation: per section correct / evaluated, the overall score, and coverage (the
    share of questions whose four words are all in the vocabulary; the others are skipped, not counted wrong)."""
    total_questions, covered, per_section = 0, 0, {}
    known = {w.lower() for w in kv.key_to_index}
    with open(questions, encoding="utf-8") as fh:
        section = None
        for line in fh:
            if line.startswith(":"):
                section = line[1:].strip()
                per_section[section] = 0
            elif line.strip():
                per_section[section] += 1
                total_questions += 1
                covered += all(w.lower() in known for w in line.split())
    if not covered:  # gensim divides by zero when it can evaluate nothing
        return {"accuracy": None, "sections": {}, "evaluated": 0, "questions": total_questions, "coverage": 0.0}
    score, sections = kv.evaluate_word_analogies(str(questions), restrict_vocab=restrict_vocab,
                                                 case_insensitive=True)
    out: dict[str, Any] = {"accuracy": round(100 * float(score), 2), "sections": {}}
    evaluated = 0
    for sec in sections:
        n = len(sec["correct"]) + len(sec["incorrect"])
        if sec["section"] == "Total accuracy":
            evaluated = n
            continue
        out["sections"][sec["section"]] = {"accuracy": round(100 * len(sec["correct"]) / n, 2) if n else None,
                                           "evaluated": n, "questions": per_section.get(sec["section"], 0)}
    out["evaluated"], out["questions"] = evaluated, total_questions
    out["coverage"] = round(100 * evaluated / total_questions, 2) if total_questions else 0.0
    return out
