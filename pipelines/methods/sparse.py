"""A classical sparse model as a featurizer: TF-IDF of word 1-2-grams and a linear classifier (scikit-learn),
fitted on the training split only, whose class scores a classifier head reads beside its dense inputs.

The head must learn how far to trust these scores, so on the training split it reads out-of-fold scores
(`fit`: k-fold cross-validation, each document scored by a model that never saw it); a model that saw the
document would be near-perfect there and the head would learn to copy it. Dev, test and the served path read
the model fitted on the whole training split. C is chosen on dev accuracy (the classical baseline's choice).

Saved as data, never a pickle (`save_pretrained` / `load`): the vocabulary as JSON lines, the idf weights,
coefficients and intercepts as safetensors; `load` rebuilds a `TfidfVectorizer` from them.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from pipelines.errors import ModelFormatError
from pipelines.io import atomic_write_text

FOLDER, FORMAT = "sparse", "nlp-pipelines-sparse-1"
KINDS = {"svm": (0.1, 0.5, 1.0), "logreg": (1.0, 10.0, 100.0)}  # C grids searched on dev
FOLDS = 5
log = logging.getLogger(__name__)


def vectorizer(vocabulary: dict[str, int] | None = None) -> Any:
    """Word 1-2-grams, sublinear tf, terms in at least 2 training documents (float32: half the memory)."""
    from sklearn.feature_extraction.text import TfidfVectorizer

    return TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True, min_df=2, dtype=np.float32, vocabulary=vocabulary)


def classifier(kind: str, c: float, seed: int) -> Any:
    from sklearn.linear_model import LogisticRegression
    from sklearn.svm import LinearSVC

    return LinearSVC(C=c, random_state=seed) if kind == "svm" else LogisticRegression(C=c, max_iter=2000)


class SparseModel:
    """TF-IDF + a linear model over `labels` (in the head's order). `scores(texts)` gives (N, L) decision
    values; during training the training texts get their out-of-fold scores (`oof`, not saved)."""

    def __init__(self, vec: Any, coef: np.ndarray, intercept: np.ndarray, labels: Sequence[str], kind: str,
                 c: float, oof: dict[str, np.ndarray] | None = None, facts: dict[str, Any] | None = None) -> None:
        if coef.shape != (len(labels), len(vec.vocabulary_)) or intercept.shape != (len(labels),):
            raise ValueError(f"sparse model: coefficients {coef.shape} and intercepts {intercept.shape} do not fit "
                             f"{len(labels)} labels x {len(vec.vocabulary_)} terms")
        self.vec, self.coef = vec, np.ascontiguousarray(coef, dtype=np.float32)  # LinearSVC keeps coef_ F-ordered
        self.intercept = np.ascontiguousarray(intercept, dtype=np.float32)
        self.labels, self.kind, self.c = list(labels), kind, c
        self.oof = oof or {}
        self.facts = facts or {}

    @property
    def num_labels(self) -> int:
        return len(self.labels)

    @classmethod
    def fit(cls, train: tuple[Sequence[str], Sequence[str]], dev: tuple[Sequence[str], Sequence[str]] | None,
            labels: Sequence[str], kind: str = "svm", seed: int = 1, out_of_fold: bool = True) -> SparseModel:
        """Fit on `train` (texts, labels), C chosen on `dev` (texts, labels) accuracy (the grid's middle value
        without dev); with `out_of_fold`, out-of-fold scores of the training texts for the head to train on."""
        from sklearn.model_selection import StratifiedKFold, cross_val_predict

        if kind not in KINDS:
            raise ValueError(f"sparse model {kind!r}: expected {'|'.join(KINDS)}")
        index = {label: i for i, label in enumerate(labels)}
        texts, y = list(train[0]), np.array([index[t] for t in train[1]])
        if missing := [label for label in labels if label not in set(train[1])]:
            raise ValueError(f"sparse model: labels without a training example: {missing[:5]}")
        vec = vectorizer()
        x = vec.fit_transform(texts)
        grid = KINDS[kind]
        dev_acc: dict[float, float] = {}
        if dev is not None and len(dev[0]):
            xd, yd = vec.transform(list(dev[0])), np.array(list(dev[1]))
            for c in grid:
                pred = classifier(kind, c, seed).fit(x, y).predict(xd)
                dev_acc[c] = float(np.mean(np.array(labels)[pred] == yd))
        c = max(grid, key=lambda g: dev_acc[g]) if dev_acc else grid[1]
        clf = classifier(kind, c, seed).fit(x, y)
        folds = min(FOLDS, int(np.bincount(y).min())) if out_of_fold else 0
        oof = None
        if folds >= 2:
            cv = StratifiedKFold(folds, shuffle=True, random_state=seed)
            oof = cross_val_predict(classifier(kind, c, seed), x, y, cv=cv, method="decision_function")
        elif out_of_fold:  # a class with one example: no stratified folds; the head reads the full model's scores
            log.warning("sparse model: a class has fewer than 2 training examples; the head trains on in-sample "
                        "scores (it will over-trust them)")
            oof = clf.decision_function(x)
        coef, intercept = _class_scores(clf, len(labels))
        if oof is not None:
            oof = oof.reshape(len(texts), -1) if oof.ndim == 2 else np.stack([-oof, oof], 1)
        log.info("sparse model: TF-IDF %d terms + %s C=%s (dev accuracy %s)", x.shape[1], kind, c,
                 {str(g): round(100 * a, 2) for g, a in dev_acc.items()} or "not measured")
        facts = {"terms": int(x.shape[1]), "C": c, "dev_accuracy_by_C": {str(g): a for g, a in dev_acc.items()},
                 "folds": folds}
        rows = {} if oof is None else dict(zip(texts, oof.astype(np.float32), strict=True))
        return cls(vec, coef, intercept, labels, kind, c, rows, facts)

    @classmethod
    def fit_splits(cls, splits: dict[str, Any], labels: Sequence[str], kind: str, seed: int,
                   out_of_fold: bool = True) -> SparseModel:
        """`fit` on the train split's text and label columns, C chosen on the validation split's if any."""
        dev = splits.get("validation")
        return cls.fit((splits["train"]["text"], splits["train"]["label"]),
                       (dev["text"], dev["label"]) if dev is not None else None, labels, kind, seed, out_of_fold)

    def scores(self, texts: Sequence[str]) -> np.ndarray:
        """(N, L) decision values; a training text seen by `fit` gets its out-of-fold row."""
        out = np.asarray(self.vec.transform(list(texts)) @ self.coef.T) + self.intercept
        for i, text in enumerate(texts):
            if text in self.oof:
                out[i] = self.oof[text]
        return out.astype(np.float32)

    def save_pretrained(self, path: str | Path) -> None:
        from safetensors.numpy import save_file

        folder = Path(path) / FOLDER
        folder.mkdir(parents=True, exist_ok=True)
        terms = sorted(self.vec.vocabulary_, key=self.vec.vocabulary_.get)
        atomic_write_text(folder / "vocabulary.jsonl", "".join(json.dumps(t) + "\n" for t in terms))
        save_file({"idf": np.ascontiguousarray(self.vec.idf_, dtype=np.float32), "coef": self.coef,
                   "intercept": self.intercept}, str(folder / "sparse.safetensors"))
        atomic_write_text(folder / "sparse.json", json.dumps({"format": FORMAT, "kind": self.kind, "C": self.c,
                                                              "labels": self.labels, **self.facts}, indent=1) + "\n")

    @classmethod
    def load(cls, path: str | Path) -> SparseModel | None:
        """The sparse model saved in a model/ folder, or None when it has none (data files only)."""
        from safetensors.numpy import load_file

        folder = Path(path) / FOLDER
        if not folder.is_dir():
            return None
        meta = json.loads((folder / "sparse.json").read_text(encoding="utf-8"))
        if meta.get("format") != FORMAT:
            raise ModelFormatError(f"{folder}: sparse model format {meta.get('format')!r}, expected {FORMAT!r}")
        with (folder / "vocabulary.jsonl").open(encoding="utf-8") as f:
            vocabulary = {json.loads(line): i for i, line in enumerate(f)}
        arrays = load_file(str(folder / "sparse.safetensors"))
        if arrays["idf"].shape != (len(vocabulary),):
            raise ModelFormatError(f"{folder}: {arrays['idf'].shape[0]} idf weights for {len(vocabulary)} terms")
        vec = vectorizer(vocabulary)
        vec.idf_ = arrays["idf"]
        facts = {k: v for k, v in meta.items() if k not in {"format", "kind", "C", "labels"}}
        return cls(vec, arrays["coef"], arrays["intercept"], meta["labels"], meta["kind"], meta["C"], facts=facts)


def _class_scores(clf: Any, n_labels: int) -> tuple[np.ndarray, np.ndarray]:
    """(L, V) coefficients and (L,) intercepts whose products are the decision values of every class (a
    binary scikit-learn model keeps one row: the second class's; the first class gets its negation)."""
    coef = clf.coef_.toarray() if hasattr(clf.coef_, "toarray") else np.asarray(clf.coef_)
    intercept = np.atleast_1d(np.asarray(clf.intercept_, dtype=np.float64))
    if n_labels == 2 and coef.shape[0] == 1:
        coef, intercept = np.concatenate([-coef, coef]), np.concatenate([-intercept, intercept])
    return coef, intercept


def required(kind: str, featurizers: dict[str, Any] | None, labels: Sequence[str] | None = None
             ) -> SparseModel | None:
    """The fitted or loaded sparse model when `kind` (model.sparse) asks for one, None for "none"; its labels
    must be the head's."""
    if kind == "none":
        return None
    sparse = (featurizers or {}).get("sparse")
    if sparse is None:
        raise ModelFormatError(f"model.sparse={kind}: no sparse model among the featurizers (fit_featurizers in "
                               "training, load_featurizers for a saved model)")
    if labels is not None and list(labels) != sparse.labels:
        raise ModelFormatError(f"the sparse model's labels {sparse.labels[:5]} are not the head's {list(labels)[:5]}")
    return sparse


WEIGHTS = (0.0, 0.25, 0.5, 1.0, 2.0, 4.0, 8.0, 16.0, 32.0)  # late-fusion weights tried on dev


def choose_weight(log_probs: np.ndarray, scores: np.ndarray, gold: np.ndarray) -> tuple[float, dict[str, float]]:
    """The w in WEIGHTS whose argmax(log_probs + w * scores) is right most often on (N, L) dev rows with `gold`
    ids (ties: the smaller w); and the dev accuracy of every w."""
    acc = {w: float(np.mean((log_probs + w * scores).argmax(1) == gold)) for w in WEIGHTS}
    best = max(WEIGHTS, key=lambda w: (acc[w], -w))
    return best, {str(w): round(100 * a, 2) for w, a in acc.items()}
