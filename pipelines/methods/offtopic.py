"""An off-topic detector fitted to a trained classifier and saved beside it (`offtopic.json` + `.safetensors`).

Fit on the in-scope training split (Mahalanobis, kNN) and the validation split (the threshold): with
out-of-scope validation examples the threshold maximises validation accuracy on in-scope + out-of-scope,
without any it keeps `recall` of the in-scope validation examples. The Predictor applies it.

`combined` adds a second view: Mahalanobis on the fine-tuned classifier's sentence vector plus kNN on the
*pretrained* encoder's sentence embedding (`base_encoder`, e.g. the bundled MiniLM before fine-tuning), each
standardised on the in-scope validation scores, summed. Fine-tuning for 150 intents narrows what the
classifier's vector encodes; the pretrained embedding still places "what's the weather" away from every
training sentence. It costs a second encoder pass per message.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors.numpy import load_file, save_file

from pipelines.data.batching import Collator, Features
from pipelines.io import atomic_write_text
from pipelines.methods import ood
from pipelines.models.outputs import infer

METHODS = ("msp", "energy", "mahalanobis", "relative_mahalanobis", "knn", "combined")
META, ARRAYS = "offtopic.json", "offtopic.safetensors"


@dataclass
class OffTopic:
    """A scoring method, its fitted state and a threshold: flag a message when score > threshold."""

    method: str
    threshold: float = float("inf")
    fitted_on: str = ""
    state: dict[str, np.ndarray] = field(default_factory=dict)
    base_encoder: str = ""  # `combined`: the pretrained encoder whose embeddings follow the features
    _embedder: Any = field(default=None, repr=False, compare=False)

    def score(self, logits: np.ndarray, features: np.ndarray) -> np.ndarray:
        """`features`: the classifier's sentence vectors, (N, H); for `combined` followed by the base
        encoder's embeddings, (N, H + H0) (see `embed`)."""
        if self.method == "combined":
            split, (mu_m, sd_m, mu_k, sd_k) = int(self.state["split"][0]), self.state["z"]
            maha = OffTopic("mahalanobis", state=self.state).score(logits, features[:, :split])
            knn = OffTopic("knn", state=self.state).score(logits, features[:, split:])
            return (maha - mu_m) / sd_m + (knn - mu_k) / sd_k
        if self.method == "msp":
            return ood.msp(logits)
        if self.method == "energy":
            return ood.energy(logits)
        if self.method in ("mahalanobis", "relative_mahalanobis"):
            m = ood.Mahalanobis(relative=self.method == "relative_mahalanobis")
            m.means, m.precision = self.state["means"], self.state["precision"]
            m.bg_mean, m.bg_precision = self.state.get("bg_mean"), self.state.get("bg_precision")
            return m.score(features)
        if self.method == "knn":
            k = ood.KNN(int(self.state["k"][0]))
            k.bank = self.state["bank"]
            return k.score(features)
        raise ValueError(f"off-topic method {self.method!r}: expected one of {METHODS}")

    def embed(self, texts: list[str], features: np.ndarray, batch_size: int = 64) -> np.ndarray:
        """The features a detector scores: the classifier's, followed by the base encoder's embeddings of
        `texts` when the method needs them (the base encoder is loaded on first use)."""
        if not self.base_encoder:
            return features
        if self._embedder is None:
            from pipelines.models.pooling import FrozenEncoder

            self._embedder = FrozenEncoder(self.base_encoder)
        return np.concatenate([features, self._embedder.sentences(texts, batch_size)], axis=1)

    def save_pretrained(self, path: str | Path) -> None:
        """Write offtopic.safetensors and offtopic.json into `path` (a model folder being exported)."""
        path = Path(path)
        if self.state:
            save_file({k: np.ascontiguousarray(v) for k, v in self.state.items()}, str(path / ARRAYS))
        atomic_write_text(path / META, json.dumps({"method": self.method, "threshold": self.threshold,
                                                   "fitted_on": self.fitted_on, "base_encoder": self.base_encoder},
                                                  indent=2) + "\n")

    @classmethod
    def load(cls, path: str | Path) -> OffTopic | None:
        path = Path(path)
        if not (path / META).exists():
            return None
        meta = json.loads((path / META).read_text(encoding="utf-8"))
        state = load_file(str(path / ARRAYS)) if (path / ARRAYS).exists() else {}
        return cls(meta["method"], meta["threshold"], meta.get("fitted_on", ""), state, meta.get("base_encoder", ""))


def logits_and_features(model: torch.nn.Module, feats: Features, pad_id: int, batch_size: int = 64,
                        pooled: bool = True, scores: str = "logits") -> tuple[np.ndarray, np.ndarray | None]:
    """(N, C) class scores (the model output named `scores`: `logits`, or e.g. `intent_logits`) and (N, H)
    sentence vectors (`pooled`; None when not asked) in the order of `feats`."""
    logits, vectors, order = [], [], []
    device = next(model.parameters()).device
    for batch, out in infer(model, feats, Collator(pad_id), batch_size, device, pooled=pooled):
        logits.append(getattr(out, scores).numpy())
        if pooled:
            vectors.append(out.pooled.numpy())
        order.extend(batch["example_id"].tolist())
    if not order:
        return np.zeros((0, model.config.num_labels), dtype=np.float32), None
    inv = np.argsort(order)
    return np.concatenate(logits)[inv], np.concatenate(vectors)[inv] if pooled else None


def fit(method: str, train: tuple[np.ndarray, np.ndarray, np.ndarray], val: tuple[np.ndarray, np.ndarray],
        oos_val: tuple[np.ndarray, np.ndarray] | None = None, recall: float = 0.95, k: int = 10,
        balanced: bool = False, split: int = 0) -> OffTopic:
    """Fit `method` on (train logits, train features, train label ids); threshold on validation.

    Args:
        train: in-scope training (logits (N, C), features (N, H), label ids (N,)).
        val: in-scope validation (logits, features).
        oos_val: out-of-scope validation (logits, features), or None.
        balanced: with oos_val, maximise the mean of in-scope and out-of-scope recall, not accuracy.
        split: `combined` only: features[:, :split] are the classifier's, the rest the base encoder's.
    """
    det = OffTopic(method)
    if method in ("mahalanobis", "relative_mahalanobis"):
        m = ood.Mahalanobis(relative=method == "relative_mahalanobis").fit(train[1], train[2])
        det.state = {"means": m.means, "precision": m.precision}
        if m.relative:
            det.state.update(bg_mean=m.bg_mean, bg_precision=m.bg_precision)
    elif method == "knn":
        det.state = {"bank": ood.KNN(k).fit(train[1]).bank, "k": np.array([k])}
    elif method == "combined":
        if not 0 < split < train[1].shape[1]:
            raise ValueError("off-topic method 'combined' needs the classifier's features followed by the base "
                             f"encoder's (split={split}, features {train[1].shape[1]} wide)")
        maha = fit("mahalanobis", (train[0], train[1][:, :split], train[2]), (val[0], val[1][:, :split]))
        knn = fit("knn", (train[0], train[1][:, split:], train[2]), (val[0], val[1][:, split:]), k=k)
        m_val, k_val = maha.score(val[0], val[1][:, :split]), knn.score(val[0], val[1][:, split:])
        z = np.array([m_val.mean(), m_val.std() + 1e-12, k_val.mean(), k_val.std() + 1e-12])
        det.state = {**maha.state, **knn.state, "split": np.array([split]), "z": z}
    in_scores = det.score(*val)
    if oos_val is not None and len(oos_val[0]):
        det.threshold = ood.threshold_with_oos(in_scores, det.score(*oos_val), balanced)
        det.fitted_on = "validation in-scope + out-of-scope (" + (
            "max mean of the two recalls)" if balanced else "max accuracy)")
    else:
        det.threshold = ood.threshold_at_recall(in_scores, recall)
        det.fitted_on = f"validation in-scope only (in-scope recall {recall})"
    return det


def apply(det: OffTopic, logits: np.ndarray, features: np.ndarray, texts: list[str]) -> list[dict[str, Any]]:
    scores = det.score(logits, det.embed(texts, features))
    return [{"off_topic": bool(s > det.threshold), "off_topic_score": round(float(s), 4)} for s in scores]


def fit_on_splits(task: Any, model: torch.nn.Module, tokenizer: Any, splits: dict[str, Any], method: str,
                  recall: float, data: Any, base_encoder: str = "", balanced: bool = False,
                  batch_size: int = 64) -> OffTopic:
    """Fit a detector for a trained classifier on a run's splits (train, validation, oos_validation);
    `base_encoder` (the encoder the classifier was fine-tuned from) is used by `combined`."""
    label2id = {v: int(k) for k, v in model.config.id2label.items()}
    probe = OffTopic(method, base_encoder=base_encoder if method == "combined" else "")

    def run(ds: Any) -> tuple[np.ndarray, np.ndarray]:
        logits, feats = logits_and_features(model, task.encode(ds, tokenizer, label2id, data), tokenizer.pad_token_id,
                                            batch_size)
        return logits, probe.embed(list(ds["text"]), feats, batch_size)

    train = splits["train"].filter(lambda r: r["label"] in label2id)
    t_logits, t_feats = run(train)
    oos = splits.get("oos_validation")
    det = fit(method, (t_logits, t_feats, np.array([label2id[x] for x in train["label"]])),
              run(splits["validation"]), run(oos) if oos is not None else None, recall,
              balanced=balanced, split=model.config.hidden_size if method == "combined" else 0)
    det.base_encoder, det._embedder = probe.base_encoder, probe._embedder
    return det
