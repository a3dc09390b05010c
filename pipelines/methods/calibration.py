"""Confidence calibration of a classifier: measures and temperature scaling (Guo et al. 2017).

- `ece`: expected calibration error with equal-width confidence bins (15, as Guo et al.): the mean gap
  between a bin's accuracy and its mean confidence, weighted by the bin's share of examples;
- `nll`: mean negative log-likelihood of the gold class;
- `reliability`: per bin (confidence, accuracy, count), for a reliability diagram; `reliability_of` and
  `ece_of` take confidences and right/wrong outcomes directly (an entity's probability of being right);
- `fit_temperature`: the T > 0 that minimises validation NLL of softmax(z / T). One scalar changes no
  argmax, so accuracy is untouched; T > 1 softens an over-confident model.
- `refine_by_ece`: the NLL temperature times the factor in [0.5, 2] with the lowest ECE on the same split
  (one scalar chosen by the measure the calibration is judged by);
- `fold_temperature`: divide a linear head's weight and bias by T, so that every consumer of the saved model
  (predict, serve, ONNX, the off-topic detectors) reads calibrated logits with no extra file.

Label smoothing (train.label_smoothing) acts during training instead: with target 1 - e on the gold class and
e / (K - 1) elsewhere, the loss is minimised at a finite logit gap, log((1 - e)(K - 1) / e), rather than an
infinite one; the model cannot become arbitrarily confident.
"""

from __future__ import annotations

import numpy as np
import torch


def log_softmax(z: np.ndarray) -> np.ndarray:
    z = z - z.max(axis=1, keepdims=True)
    return z - np.log(np.exp(z).sum(axis=1, keepdims=True))


def reliability(probs: np.ndarray, gold: np.ndarray, bins: int = 15) -> list[tuple[float, float, int]]:
    """(N, K) probabilities, (N,) gold ids -> per confidence bin (mean confidence, accuracy, count); empty bins
    are (nan, nan, 0)."""
    return reliability_of(probs.max(1), probs.argmax(1) == gold, bins)


def reliability_of(conf: np.ndarray, correct: np.ndarray, bins: int = 15) -> list[tuple[float, float, int]]:
    """(N,) confidences of N predictions and whether each was right -> per confidence bin (mean confidence,
    accuracy, count): a classifier's top class, or an entity's probability of being exactly right."""
    conf, correct = np.asarray(conf, dtype=np.float64), np.asarray(correct, dtype=np.float64)
    which = np.minimum((conf * bins).astype(int), bins - 1)  # bin i holds confidences in [i/bins, (i+1)/bins)
    out = []
    for b in range(bins):
        sel = which == b
        out.append((float(conf[sel].mean()), float(correct[sel].mean()), int(sel.sum())) if sel.any()
                   else (float("nan"), float("nan"), 0))
    return out


def ece(probs: np.ndarray, gold: np.ndarray, bins: int = 15) -> float:
    """Expected calibration error: sum over bins of count / N * |accuracy - confidence|."""
    return ece_of(probs.max(1), probs.argmax(1) == gold, bins)


def ece_of(conf: np.ndarray, correct: np.ndarray, bins: int = 15) -> float:
    """`ece` of (N,) confidences and right/wrong outcomes (see `reliability_of`)."""
    if not len(conf):
        return 0.0
    return float(sum(n * abs(acc - c) for c, acc, n in reliability_of(conf, correct, bins) if n) / len(conf))


def binary_nll(conf: np.ndarray, correct: np.ndarray) -> float:
    """Mean negative log-likelihood of right/wrong outcomes under their confidences."""
    conf = np.clip(np.asarray(conf, dtype=np.float64), 1e-12, 1 - 1e-12)
    correct = np.asarray(correct, dtype=bool)
    return float(-np.where(correct, np.log(conf), np.log1p(-conf)).mean())


def nll(log_probs: np.ndarray, gold: np.ndarray) -> float:
    return float(-log_probs[np.arange(len(gold)), gold].mean())


def top2_gap(logits: np.ndarray) -> np.ndarray:
    """(N, K) -> (N,) difference between the two largest logits (what label smoothing bounds)."""
    top = np.sort(logits, axis=1)[:, -2:]
    return top[:, 1] - top[:, 0]


def fit_temperature(logits: np.ndarray, gold: np.ndarray, bounds: tuple[float, float] = (0.05, 20.0)) -> float:
    """The temperature minimising NLL of softmax(logits / T) on (logits, gold), by L-BFGS on log T, clipped to
    `bounds`: a dev set the model gets all right makes the NLL fall without limit as T -> 0, and a
    factor-of-a-thousand sharpening of a barely trained model is not a calibration."""
    z, y = torch.from_numpy(np.asarray(logits, dtype=np.float64)), torch.from_numpy(np.asarray(gold)).long()
    log_t = torch.zeros(1, dtype=torch.float64, requires_grad=True)
    opt = torch.optim.LBFGS([log_t], lr=0.5, max_iter=100, line_search_fn="strong_wolfe")

    def closure() -> torch.Tensor:
        opt.zero_grad()
        loss = torch.nn.functional.cross_entropy(z / log_t.exp(), y)
        loss.backward()
        return loss

    opt.step(closure)
    return float(np.clip(float(log_t.detach().exp()), *bounds))


def refine_by_ece(log_probs: np.ndarray, gold: np.ndarray, temperature: float, bins: int = 15,
                  factors: np.ndarray | None = None) -> float:
    """`temperature` times the factor (0.5 to 2 in steps of 0.01 unless `factors` says otherwise; the first of
    ties) whose softmax(log_probs / T) has the lowest ECE on (log_probs, gold): the NLL temperature moved to the
    one that makes the reported confidences match the accuracy best (`train.calibration=temperature_ece`)."""
    factors = np.round(np.arange(0.5, 2.0001, 0.01), 2) if factors is None else np.asarray(factors)
    errors = [ece(np.exp(log_softmax(log_probs / (temperature * f))), gold, bins) for f in factors]
    return float(temperature * factors[int(np.argmin(errors))])


@torch.no_grad()
def fold_temperature(head: torch.nn.Module, temperature: float) -> None:
    """Divide a linear layer's weight and bias by `temperature` in place: its logits become z / T."""
    if not isinstance(head, torch.nn.Linear):
        raise TypeError(f"temperature scaling folds into a linear head, not {type(head).__name__}")
    head.weight.div_(temperature)
    if head.bias is not None:
        head.bias.div_(temperature)
