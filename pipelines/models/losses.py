"""The loss slot: one criterion that every task's `loss` hook calls for its softmax heads.

Label smoothing, class weights, focal loss, logit adjustment and a teacher's soft targets (distillation)
plug in here, so no task changes when they are switched on. CRF heads compute their own negative
log-likelihood and take none of these (pipelines.training.module refuses the combination).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn


@dataclass
class Criterion:
    """Cross-entropy over label scores, ignoring targets of -100.

    Attributes:
        label_smoothing: share of the target mass spread over all labels.
        class_weights: (L,) weight per label of the task's main label set (`labels` targets), or None.
        focal_gamma: > 0 turns the hard part into focal loss, -(1 - p_t)^gamma log p_t (Lin et al. 2017),
            weighted by `class_weights` (its alpha) when given.
        log_priors: (L,) log class priors of the main label set; with `adjust_tau` > 0 the hard part is the
            logit-adjusted loss, cross-entropy of logits + tau * log prior (Menon et al. 2021), whose plain
            argmax at inference then targets the balanced error.
        adjust_tau: tau of the logit adjustment.
        soft_weight: with soft targets (a teacher's probabilities, `soft_targets` in the batch), the loss is
            (1 - soft_weight) * hard loss + soft_weight * T^2 * KL(teacher || student at temperature T).
        temperature: T of the soft part.
    """

    label_smoothing: float = 0.0
    class_weights: torch.Tensor | None = None
    focal_gamma: float = 0.0
    log_priors: torch.Tensor | None = None
    adjust_tau: float = 0.0
    soft_weight: float = 0.5
    temperature: float = 1.0

    @property
    def plain(self) -> bool:
        """True when this is plain cross-entropy (what a CRF head's likelihood can stand in for)."""
        return (self.label_smoothing == 0.0 and self.class_weights is None and self.focal_gamma == 0.0
                and self.adjust_tau == 0.0)

    def __call__(self, logits: torch.Tensor, targets: torch.Tensor, soft: torch.Tensor | None = None,
                 weighted: bool = True) -> torch.Tensor:
        """Mean loss over the non-ignored positions.

        Args:
            logits: (..., L) scores, e.g. (B, L) or (B, T, L).
            targets: (...) label ids, -100 = ignore.
            soft: (..., L) target probabilities (a teacher's), or None.
            weighted: apply `class_weights` (False for a second label set, e.g. the joint task's intents).
        """
        flat, gold = logits.flatten(0, -2), targets.flatten()  # (N, L), (N,)
        weight = self.class_weights.to(flat.device) if weighted and self.class_weights is not None else None
        scores = flat
        if weighted and self.adjust_tau > 0 and self.log_priors is not None:
            scores = flat + self.adjust_tau * self.log_priors.to(flat.device)  # (N, L)
        if self.focal_gamma > 0:
            hard = focal_loss(scores, gold, self.focal_gamma, weight)
        else:
            hard = nn.functional.cross_entropy(scores, gold, weight=weight, ignore_index=-100,
                                               label_smoothing=self.label_smoothing)
        if soft is None:
            return hard
        keep = gold != -100  # (N,)
        t = self.temperature
        log_student = (flat[keep] / t).log_softmax(-1)
        kl = nn.functional.kl_div(log_student, soft.flatten(0, -2)[keep], reduction="batchmean") * t * t
        return (1 - self.soft_weight) * hard + self.soft_weight * kl


def focal_loss(logits: torch.Tensor, targets: torch.Tensor, gamma: float,
               weight: torch.Tensor | None = None) -> torch.Tensor:
    """Mean of -alpha_t (1 - p_t)^gamma log p_t over targets that are not -100 (alpha = `weight`, or 1);
    with weights, normalised by their sum as weighted cross-entropy is. `logits` (N, L), `targets` (N,)."""
    keep = targets != -100
    logp = logits[keep].log_softmax(-1).gather(-1, targets[keep, None]).squeeze(-1)  # (M,)
    alpha = weight[targets[keep]] if weight is not None else torch.ones_like(logp)  # (M,)
    loss = -alpha * (1 - logp.exp()).pow(gamma) * logp
    return loss.sum() / alpha.sum().clamp(min=1e-12)


def log_priors(label_ids: list[int], n_labels: int) -> torch.Tensor:
    """(L,) log of the training label frequencies (-100 skipped; an unseen label counts as half an example)."""
    ids = torch.tensor([i for i in label_ids if i >= 0], dtype=torch.long)
    counts = torch.bincount(ids, minlength=n_labels).float().clamp(min=0.5)  # (L,)
    return (counts / counts.sum()).log()


def balanced_weights(label_ids: list[int], n_labels: int) -> torch.Tensor:
    """(L,) weights n / (L * count) from the training labels (-100 skipped); unseen labels get weight 1."""
    ids = torch.tensor([i for i in label_ids if i >= 0], dtype=torch.long)
    counts = torch.bincount(ids, minlength=n_labels).float()  # (L,)
    weights = torch.where(counts > 0, len(ids) / (n_labels * counts.clamp(min=1)), torch.ones_like(counts))
    return weights


@dataclass
class Distillation:
    """The soft part of distillation: the student's scores against the teacher's, where the batch has them.

    Attributes:
        loss: kl (KL(teacher || student) at `temperature`, times T^2 so its gradients keep their scale;
            Hinton et al. 2015) | mse (mean squared error of the scores, Tang et al. 2019; both sides centred per
            row, since scores that differ by a constant give the same probabilities: the teacher's scores may be
            log-probabilities).
        temperature: T of the KL.
        weight: share of the soft part; the loss is (1 - weight) * hard + weight * soft.
        crf_scores: for a student with a CRF: marginals (its per-word label marginals, forward-backward) |
            emissions (its emission scores alone, which ignore the transitions the CRF adds).
    """

    loss: str = "kl"
    temperature: float = 2.0
    weight: float = 0.5
    crf_scores: str = "marginals"

    def __post_init__(self) -> None:
        if self.loss not in {"kl", "mse"}:
            raise ValueError(f"distillation loss {self.loss!r}: expected kl|mse")
        if self.crf_scores not in {"marginals", "emissions"}:
            raise ValueError(f"crf_scores={self.crf_scores!r}: expected marginals|emissions")
        if self.temperature <= 0 or not 0.0 <= self.weight <= 1.0:
            raise ValueError(f"temperature={self.temperature} (expected > 0), weight={self.weight} (expected in "
                             "[0, 1])")

    def soft(self, student: torch.Tensor, teacher: torch.Tensor, keep: torch.Tensor) -> torch.Tensor:
        """Mean soft loss over the kept rows. `student`, `teacher` (..., L) scores; `keep` (...) bool."""
        s, t = student[keep].float(), teacher[keep].float()  # (N, L)
        if s.numel() == 0:
            return student.sum() * 0.0
        if self.loss == "mse":
            return nn.functional.mse_loss(s - s.mean(-1, keepdim=True), t - t.mean(-1, keepdim=True))
        temp = self.temperature
        return nn.functional.kl_div((s / temp).log_softmax(-1), (t / temp).log_softmax(-1), log_target=True,
                                    reduction="batchmean") * temp * temp

    def __call__(self, hard: torch.Tensor, student: torch.Tensor, teacher: torch.Tensor,
                 keep: torch.Tensor) -> torch.Tensor:
        """(1 - weight) * `hard` + weight * soft(student, teacher, keep)."""
        return (1 - self.weight) * hard + self.weight * self.soft(student, teacher, keep)
