"""Out-of-scope (off-topic) scores for any classifier, and thresholds fitted on validation data.

Every score is "higher = more likely out of scope":
- `msp`: 1 - maximum softmax probability (Hendrycks & Gimpel 2017);
- `energy`: -T * logsumexp(logits / T) (Liu et al. 2020);
- `Mahalanobis`: smallest distance to a class mean under one shared covariance (Lee et al. 2018);
  `relative=True` subtracts the distance under one Gaussian fitted to all training features (Ren et al. 2021,
  "A Simple Fix to Mahalanobis Distance for Improving Near-OOD Detection"): directions in which every
  sentence varies stop counting;
- `KNN`: 1 - cosine similarity to the k-th nearest training embedding (Sun et al. 2022).
"""

from __future__ import annotations

import numpy as np


def msp(logits: np.ndarray) -> np.ndarray:
    """(N, C) logits -> (N,) 1 - max softmax probability."""
    z = logits - logits.max(axis=1, keepdims=True)
    p = np.exp(z) / np.exp(z).sum(axis=1, keepdims=True)
    return 1.0 - p.max(axis=1)


def energy(logits: np.ndarray, temperature: float = 1.0) -> np.ndarray:
    """(N, C) logits -> (N,) free energy -T * logsumexp(logits / T)."""
    z = logits / temperature
    m = z.max(axis=1)
    return -temperature * (m + np.log(np.exp(z - m[:, None]).sum(axis=1)))


class Mahalanobis:
    """Class means and a shared (tied) covariance fitted on in-scope training features; with `relative`, also
    one background Gaussian (mean and covariance of all training features)."""

    def __init__(self, ridge: float = 1e-6, relative: bool = False) -> None:
        self.ridge, self.relative = ridge, relative
        self.means: np.ndarray | None = None  # (C, D)
        self.precision: np.ndarray | None = None  # (D, D)
        self.bg_mean: np.ndarray | None = None  # (1, D)
        self.bg_precision: np.ndarray | None = None  # (D, D)

    def _inverse(self, centred: np.ndarray) -> np.ndarray:
        cov = centred.T @ centred / len(centred)  # (D, D)
        cov += self.ridge * np.trace(cov) / len(cov) * np.eye(len(cov))
        return np.linalg.inv(cov)

    def fit(self, features: np.ndarray, labels: np.ndarray) -> Mahalanobis:
        features = features.astype(np.float64)  # float32 features make a poorly conditioned inverse
        classes = np.unique(labels)
        self.means = np.stack([features[labels == c].mean(axis=0) for c in classes])  # (C, D)
        self.precision = self._inverse(features - self.means[np.searchsorted(classes, labels)])
        if self.relative:
            self.bg_mean = features.mean(axis=0, keepdims=True)
            self.bg_precision = self._inverse(features - self.bg_mean)
        return self

    @staticmethod
    def _distances(x: np.ndarray, means: np.ndarray, precision: np.ndarray) -> np.ndarray:
        """(N, C) squared distances. (x - mu)^T P (x - mu) = x^T P x - 2 x^T P mu + mu^T P mu as matrix
        products: O(N D^2 + N C D), not an (N, C, D) tensor (2 GB and minutes for CLINC150's test set)."""
        xp, mp = x @ precision, means @ precision  # (N, D), (C, D)
        return np.maximum((xp * x).sum(1)[:, None] - 2 * xp @ means.T + (mp * means).sum(1)[None], 0.0)

    def score(self, features: np.ndarray) -> np.ndarray:
        """(N, D) -> (N,) min over classes of (x - mu_c)^T S^-1 (x - mu_c) [- (x - mu_0)^T S_0^-1 (x - mu_0)]."""
        x = features.astype(np.float64)
        dist = self._distances(x, self.means, self.precision).min(axis=1)
        if self.relative:
            dist = dist - self._distances(x, self.bg_mean, self.bg_precision)[:, 0]
        return dist


class KNN:
    """k-th nearest neighbour cosine distance to normalised training features."""

    def __init__(self, k: int = 10) -> None:
        self.k = k
        self.bank: np.ndarray | None = None  # (M, D)

    def fit(self, features: np.ndarray) -> KNN:
        self.bank = features / np.linalg.norm(features, axis=1, keepdims=True)
        return self

    def score(self, features: np.ndarray, batch: int = 1024) -> np.ndarray:
        x = features / np.linalg.norm(features, axis=1, keepdims=True)
        k = min(self.k, len(self.bank))
        out = []
        for s in range(0, len(x), batch):
            sims = x[s:s + batch] @ self.bank.T  # (B, M)
            out.append(1.0 - np.partition(sims, -k, axis=1)[:, -k])
        return np.concatenate(out)


def threshold_at_recall(in_scope_scores: np.ndarray, recall: float = 0.95) -> float:
    """Smallest threshold that keeps `recall` of in-scope examples at or below it (flag = score > t)."""
    return float(np.quantile(in_scope_scores, recall, method="higher"))


def threshold_with_oos(in_scope_scores: np.ndarray, oos_scores: np.ndarray, balanced: bool = False) -> float:
    """Threshold that maximises accuracy on validation in-scope + out-of-scope examples (flag = score > t);
    `balanced` maximises the mean of in-scope recall and out-of-scope recall instead (for when the share of
    off-topic messages in use is larger than in the validation set, e.g. CLINC150's 100 of 3,100)."""
    candidates = np.unique(np.concatenate([in_scope_scores, oos_scores]))
    in_sorted, oos_sorted = np.sort(in_scope_scores), np.sort(oos_scores)
    kept = np.searchsorted(in_sorted, candidates, side="right")  # in-scope with score <= t
    caught = len(oos_sorted) - np.searchsorted(oos_sorted, candidates, side="right")  # oos with score > t
    objective = kept / len(in_sorted) + caught / len(oos_sorted) if balanced else kept + caught
    return float(candidates[int(np.argmax(objective))])
