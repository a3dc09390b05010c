"""Classification with few or no labelled examples, on frozen sentence embeddings.

The default encoder (all-MiniLM-L6-v2) was trained to put paraphrases close under cosine similarity, so a
label's *text* (its name, a phrase, a description) can stand in for its examples:

- `ZeroShot`: one unit vector per label (the mean of its texts' embeddings); a message goes to the label of
  highest cosine similarity. `centre` subtracts the mean embedding of unlabelled in-domain messages from both
  sides first: every request shares a "this is a question to an assistant" direction that says nothing about
  which one it is. `adapt` re-estimates each label vector from the unlabelled messages it wins confidently
  (one step of self-training).
- `prototypes`: nearest class mean of the k examples (Snell et al. 2017);
- `SoftmaxHead`: a linear softmax layer trained on the k-shot embeddings with an L2 penalty that pulls its
  weights toward `prior` (the zero-shot label vectors, scaled) instead of toward zero: with five examples a
  class, the penalty decides most of the weights, and the label text is a better default than nothing.

An off-topic threshold needs no out-of-scope data: keep `recall` of unlabelled in-domain messages above it
(`threshold_at_recall` on their best similarity).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import yaml

from pipelines.errors import ReadError

Embed = Callable[[Sequence[str]], np.ndarray]  # texts -> (N, H) sentence embeddings
LABEL_FIELDS = ("phrase", "description")
# chosen on CLINC150 dev (5- and 10-shot, seed 1, benchmarks/fewshot.py): the prior's scale (the logit a
# label text alone gives at cosine 1) and the L2 pull toward it
PRIOR_SCALE, L2 = 5.0, 1e-4
# contrastive epochs = this / (examples): the same number of anchor visits at every k. CLINC150, k = 10, dev
# (3 seeds): 6,000 visits (4 epochs) 92.99, 12,000 93.09, 24,000 93.48 (reports/fewshot.md)
ANCHOR_PASSES = 24000


def unit(x: np.ndarray) -> np.ndarray:
    """Rows scaled to unit length."""
    return x / np.maximum(np.linalg.norm(x, axis=-1, keepdims=True), 1e-12)


def label_words(name: str) -> str:
    """A label name read as words: "book_flight" -> "book flight", "AddToPlaylist" -> "add to playlist"."""
    spaced = re.sub(r"(?<=[a-z0-9])(?=[A-Z])", " ", name)
    return re.sub(r"[_\-./]+", " ", spaced).strip().lower()


def read_labels(path: str | Path) -> dict[str, dict[str, str]]:
    """A labels file: YAML mapping each label to a description string, or to {phrase, description} (either
    may be missing). A ReadError names the file and the entry at fault."""
    path = Path(path)
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as err:
        raise ReadError(path, None, f"cannot read the labels file: {err}") from err
    if not isinstance(raw, dict) or not raw:
        raise ReadError(path, None, "expected a mapping label -> description (or -> {phrase, description})")
    out: dict[str, dict[str, str]] = {}
    for key, value in raw.items():
        if isinstance(key, bool) or key is None:
            raise ReadError(path, None, f"label {key!r} was read by YAML as {type(key).__name__}: quote it "
                            f"(e.g. \"yes\": ..., \"no\": ...)")
        if isinstance(value, str):
            value = {"description": value}
        if not isinstance(value, dict) or not set(value) <= set(LABEL_FIELDS) or not all(
                isinstance(v, str) and v.strip() for v in value.values()):
            raise ReadError(path, None, f"label {key!r}: expected a non-empty description string or a mapping "
                            f"with {' and/or '.join(LABEL_FIELDS)} strings, got {value!r}")
        out[str(key)] = {k: v.strip() for k, v in value.items()}
    return out


def label_texts(labels: Sequence[str], how: str, written: dict[str, dict[str, str]] | None = None
                ) -> dict[str, list[str]]:
    """Per label, the texts that describe it. `how`: name (as written) | words (label_words) | phrase |
    description | phrase+description | all (words, phrase and description). A label without the written
    text asked for falls back to its words."""
    written = written or {}
    parts = {"name": ["name"], "words": ["words"], "phrase": ["phrase"], "description": ["description"],
             "phrase+description": ["phrase", "description"], "all": ["words", "phrase", "description"]}
    if how not in parts:
        raise ValueError(f"label texts {how!r}: expected one of {'|'.join(parts)}")
    out = {}
    for lab in labels:
        own = {"name": lab, "words": label_words(lab), **written.get(lab, {})}
        out[lab] = [own[p] for p in parts[how] if p in own] or [own["words"]]
    return out


@dataclass
class ZeroShot:
    """Label vectors (L, H), unit length, in `labels` order; `centre` (H,) is subtracted from every embedding
    before normalising (zeros = none)."""

    labels: list[str]
    vectors: np.ndarray
    centre: np.ndarray

    @classmethod
    def build(cls, embed: Embed, texts: dict[str, list[str]], unlabelled: np.ndarray | None = None) -> ZeroShot:
        """Label vectors from each label's texts; with `unlabelled` (N, H) in-domain message embeddings, centred
        on their mean."""
        labels = list(texts)
        flat = [t for lab in labels for t in texts[lab]]
        emb = embed(flat)  # (sum of texts, H)
        centre = unlabelled.mean(0) if unlabelled is not None and len(unlabelled) else np.zeros(emb.shape[1])
        owner = np.repeat(np.arange(len(labels)), [len(texts[lab]) for lab in labels])
        vecs = np.stack([unit(emb[owner == i] - centre).mean(0) for i in range(len(labels))])
        return cls(labels, unit(vecs).astype(np.float32), centre.astype(np.float32))

    def similarities(self, x: np.ndarray) -> np.ndarray:
        """(N, H) message embeddings -> (N, L) cosine similarities."""
        return unit(x - self.centre) @ self.vectors.T

    def predict(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(label ids (N,), best similarity (N,))."""
        sims = self.similarities(x)
        return sims.argmax(1), sims.max(1)

    def adapt(self, unlabelled: np.ndarray, share: float = 0.5, weight: float = 1.0) -> ZeroShot:
        """One self-training step: each label vector moves to the mean of the unlabelled messages it wins with a
        margin in the top `share` of that label's wins, plus `weight` times its text vector."""
        sims = self.similarities(unlabelled)
        best = sims.argmax(1)
        top2 = np.sort(sims, axis=1)[:, -2:]
        margin = top2[:, 1] - top2[:, 0]
        x = unit(unlabelled - self.centre)
        vecs = self.vectors.copy()
        for c in range(len(self.labels)):
            won = np.flatnonzero(best == c)
            if len(won) == 0:
                continue
            keep = won[margin[won] >= np.quantile(margin[won], 1.0 - share)]
            vecs[c] = unit(x[keep].mean(0)) + weight * self.vectors[c]
        return ZeroShot(self.labels, unit(vecs).astype(np.float32), self.centre)


def prototypes(x: np.ndarray, y: np.ndarray, n_classes: int) -> np.ndarray:
    """(C, H) unit class means of unit-length embeddings (nearest-class-mean head); cosine to them scores."""
    xs = unit(x)
    return unit(np.stack([xs[y == c].mean(0) for c in range(n_classes)]))


class SoftmaxHead:
    """A linear softmax classifier on (unit-length) embeddings, fitted by L-BFGS on the full batch:
    loss = CE(x W^T + b, y) + l2 * ||W - prior||^2 / 2. `prior` (C, H): the weights it is pulled toward
    (None = zeros, plain L2-regularised logistic regression)."""

    def __init__(self, l2: float = 1e-3, prior: np.ndarray | None = None, max_iter: int = 200) -> None:
        self.l2, self.prior, self.max_iter = l2, prior, max_iter
        self.weight: np.ndarray | None = None  # (C, H)
        self.bias: np.ndarray | None = None  # (C,)

    def fit(self, x: np.ndarray, y: np.ndarray, n_classes: int) -> SoftmaxHead:
        xt, yt = torch.from_numpy(unit(x)).double(), torch.from_numpy(np.asarray(y)).long()
        prior = (torch.zeros(n_classes, xt.shape[1], dtype=torch.float64) if self.prior is None
                 else torch.from_numpy(self.prior).double())
        w = prior.clone().requires_grad_(True)
        b = torch.zeros(n_classes, dtype=torch.float64, requires_grad=True)
        opt = torch.optim.LBFGS([w, b], max_iter=self.max_iter, line_search_fn="strong_wolfe")

        def closure() -> torch.Tensor:
            opt.zero_grad()
            loss = torch.nn.functional.cross_entropy(xt @ w.T + b, yt) + self.l2 / 2 * (w - prior).pow(2).sum()
            loss.backward()
            return loss

        opt.step(closure)
        self.weight, self.bias = w.detach().float().numpy(), b.detach().float().numpy()
        return self

    def logits(self, x: np.ndarray) -> np.ndarray:
        return unit(x) @ self.weight.T + self.bias


def k_shot(labels: Sequence[Any], k: int, seed: int) -> np.ndarray:
    """Indices of k examples per label (all of a label that has fewer), drawn with `seed`, sorted."""
    rng = np.random.default_rng(seed)
    labels = np.asarray(labels)
    picked = [rng.choice(np.flatnonzero(labels == c), size=min(k, int((labels == c).sum())), replace=False)
              for c in np.unique(labels)]
    return np.sort(np.concatenate(picked))
