"""A CRF head (pytorch-crf) with IOB2 constraints, over the first sub-token of each word.

The emission model is any Hugging Face token classifier; `CrfTokenClassifier` saves it in the usual
`save_pretrained` layout and the CRF's transition scores beside it in `crf.safetensors`.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
from torch import nn
from torchcrf import CRF

from pipelines.models.decoding import NEG, iob2_constraints
from pipelines.models.outputs import TaskOutput
from pipelines.models.saving import load_composite, load_pretrained, save_composite


class ConstrainedCRF(CRF):
    """pytorch-crf's CRF whose forbidden IOB2 starts and transitions are fixed at NEG.

    The forbidden entries start at NEG and their gradients are zeroed, so training never moves them and
    Viterbi decoding never returns an I-X after O, after another type, or at the start.
    """

    def __init__(self, labels: Sequence[str]) -> None:
        super().__init__(len(labels), batch_first=True)
        allowed_start, allowed = iob2_constraints(labels)
        self.register_buffer("forbid_start", ~allowed_start, persistent=False)
        self.register_buffer("forbid", ~allowed, persistent=False)
        with torch.no_grad():
            self.start_transitions.masked_fill_(self.forbid_start, NEG)
            self.transitions.masked_fill_(self.forbid, NEG)
        self.start_transitions.register_hook(lambda g: g.masked_fill(self.forbid_start, 0.0))
        self.transitions.register_hook(lambda g: g.masked_fill(self.forbid, 0.0))


def pack_words(logits: torch.Tensor, word_starts: torch.Tensor,
               labels: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
    """Gather first-sub-token positions to the left: the CRF's first timestep is then always on.

    Args:
        logits: (B, T, L) emissions per sub-token.
        word_starts: (B, W) positions of each word's first sub-token, -1 for padding.
        labels: (B, T) label ids per sub-token (-100 off first sub-tokens), or None.
    Returns:
        emissions (B, W, L), mask (B, W) bool, tags (B, W) or None (-100 read as label 0).
    """
    mask = word_starts >= 0  # (B, W)
    pos = word_starts.clamp(min=0)  # (B, W)
    emissions = logits.gather(1, pos[..., None].expand(-1, -1, logits.shape[-1]))  # (B, W, L)
    tags = None
    if labels is not None:
        tags = labels.gather(1, pos).clamp(min=0) * mask  # (B, W)
    return emissions, mask, tags


def crf_nll(crf: CRF, emissions: torch.Tensor, tags: torch.Tensor, mask: torch.Tensor,
            continues: torch.Tensor | None = None) -> torch.Tensor:
    """Mean negative log-likelihood of `tags` per sequence, as pytorch-crf's `-crf(..., reduction="mean")`,
    except that a window continuing an earlier one (`continues`) gets no start transition: its first word may
    rightly be I-X, which the fixed NEG start score would otherwise charge 1e4 for (decoding relaxes it too).

    Args:
        crf: a batch-first pytorch-crf CRF.
        emissions: (B, W, L) scores; tags: (B, W) label ids; mask: (B, W) bool, first column on.
        continues: (B,) bool, True for windows whose first word continues an earlier window; None = none.
    """
    b, w, n = emissions.shape
    start = crf.start_transitions.expand(b, n)  # (B, L)
    if continues is not None:
        start = torch.where(continues[:, None], torch.zeros_like(start), start)
    mask_f = mask.to(emissions.dtype)  # (B, W)
    rows = torch.arange(b, device=emissions.device)
    # score of the gold path
    score = start[rows, tags[:, 0]] + emissions[rows, 0, tags[:, 0]]  # (B,)
    for t in range(1, w):
        step = crf.transitions[tags[:, t - 1], tags[:, t]] + emissions[rows, t, tags[:, t]]  # (B,)
        score = score + step * mask_f[:, t]
    last = tags[rows, mask.long().sum(1) - 1]  # (B,)
    score = score + crf.end_transitions[last]
    # log partition function (forward algorithm)
    alpha = start + emissions[:, 0]  # (B, L)
    for t in range(1, w):
        nxt = torch.logsumexp(alpha[:, :, None] + crf.transitions[None] + emissions[:, t, None, :], dim=1)  # (B, L)
        alpha = torch.where(mask[:, t, None], nxt, alpha)
    log_z = torch.logsumexp(alpha + crf.end_transitions, dim=1)  # (B,)
    return (log_z - score).mean()


def chain_potentials(crf: CRF | None, n_labels: int, temperature: float = 1.0
                     ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(transitions (L, L), start (L,), end (L,)) of a CRF divided by `temperature`; zeros without a CRF, which
    makes the chain's marginals the per-word softmax and a path's probability the product of its words'."""
    if crf is None:
        return torch.zeros(n_labels, n_labels), torch.zeros(n_labels), torch.zeros(n_labels)
    return tuple(p.detach().float().cpu() / temperature  # type: ignore[return-value]
                 for p in (crf.transitions, crf.start_transitions, crf.end_transitions))


def forward_backward(emissions: torch.Tensor, mask: torch.Tensor, trans: torch.Tensor, start: torch.Tensor,
                     end: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Forward and backward log-scores of a linear chain, batched.

    Args:
        emissions: (B, W, L); mask: (B, W) bool, first column on; trans (L, L); start, end (L,).
    Returns:
        alpha (B, W, L): log-sum over the paths up to word t ending in label l, emission at t included;
        beta (B, W, L): log-sum over the continuations after t (end transition included, emission at t not);
        log_z (B,).
    """
    b, w, n = emissions.shape
    alphas = [start + emissions[:, 0]]  # each (B, L)
    for t in range(1, w):
        nxt = torch.logsumexp(alphas[-1][:, :, None] + trans[None], dim=1) + emissions[:, t]  # (B, L)
        alphas.append(torch.where(mask[:, t, None], nxt, alphas[-1]))
    stop = end.expand(b, n)  # (B, L)
    betas = [stop] * w
    for t in range(w - 2, -1, -1):
        nxt = torch.logsumexp(trans[None] + (emissions[:, t + 1] + betas[t + 1])[:, None, :], dim=2)  # (B, L)
        betas[t] = torch.where(mask[:, t + 1, None], nxt, stop)
    return torch.stack(alphas, 1), torch.stack(betas, 1), torch.logsumexp(alphas[-1] + stop, dim=1)


def crf_marginals(crf: CRF, emissions: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Per-word label marginals p(y_t = l | x) of a linear-chain CRF, by the forward-backward algorithm in log
    space: what a CRF teacher's per-token distribution is (the softmax of its emissions is not one).

    Args:
        crf: a batch-first pytorch-crf CRF.
        emissions: (B, W, L) scores; mask: (B, W) bool, first column on.
    Returns:
        (B, W, L) probabilities; rows past a sequence's end are 0.
    """
    alpha, beta, log_z = forward_backward(emissions, mask, crf.transitions, crf.start_transitions,
                                          crf.end_transitions)
    return (alpha + beta - log_z[:, None, None]).exp() * mask[..., None]


def segment_log_probs(emissions: torch.Tensor, segments: Sequence[tuple[int, Sequence[int], int]],
                      trans: torch.Tensor, start: torch.Tensor, end: torch.Tensor) -> list[float]:
    """log p(these words form exactly this entity | x) for each segment (s, path, cont) of one sentence: the
    chain's probability that words s, s+1, ... carry the labels `path` (B-X, I-X, ...) and that the next
    word is not `cont` (I-X, so the entity does not go on; -1 when no label continues it) or the sentence
    ends, summed over every labelling of the other words. That is the probability that the entity with this
    type and these boundaries is right, which is what a user thresholds on; the mean of its words'
    probabilities is not a probability of anything.

    emissions: (W, L) word scores of the sentence; trans, start, end: from `chain_potentials`.
    """
    if not segments:
        return []
    w = emissions.shape[0]
    alpha, beta, log_z = forward_backward(emissions[None], torch.ones(1, w, dtype=torch.bool), trans, start, end)
    alpha, beta, log_z = alpha[0], beta[0], log_z[0]
    out = []
    for s, path, cont in segments:
        score = alpha[s, path[0]]
        for t in range(1, len(path)):
            score = score + trans[path[t - 1], path[t]] + emissions[s + t, path[t]]
        e, last = s + len(path), path[-1]
        if e < w:
            tail = trans[last] + emissions[e] + beta[e]  # (L,): every label of the next word ...
            if cont >= 0:  # ... but one that continues the entity (-1: no label does)
                tail = torch.cat([tail[:cont], tail[cont + 1:]])
            score = score + torch.logsumexp(tail, 0)
        else:
            score = score + end[last]
        out.append(float(score - log_z))
    return out


def word_log_marginals(crf: CRF, logits: torch.Tensor, word_starts: torch.Tensor) -> torch.Tensor:
    """(B, T, L) log-marginals of each word's label, put at its first sub-token (0 elsewhere): a CRF model's own
    per-word distribution, differentiable, for a distillation loss against a teacher's."""
    emissions, mask, _ = pack_words(logits, word_starts)  # (B, W, L), (B, W)
    logm = crf_marginals(crf, emissions, mask).clamp(min=1e-12).log() * mask[..., None]  # (B, W, L)
    index = word_starts.clamp(min=0)[..., None].expand(-1, -1, logits.shape[-1])  # padding adds 0 at position 0
    return logits.new_zeros(logits.shape).scatter_add(1, index, logm)  # (B, T, L)


class CrfTokenClassifier(nn.Module):
    """Emissions from a Hugging Face token classifier, a constrained CRF on top (the task's loss hook takes
    the CRF's likelihood over the emissions)."""

    extra_inputs = ()
    architecture = "CrfTokenClassifier"

    def __init__(self, emitter: nn.Module, labels: Sequence[str]) -> None:
        super().__init__()
        self.emitter = emitter
        self.crf = ConstrainedCRF(labels)

    @property
    def config(self) -> Any:
        return self.emitter.config

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> TaskOutput:
        return TaskOutput(logits=self.emitter(input_ids=input_ids, attention_mask=attention_mask).logits)  # (B,T,L)

    def save_pretrained(self, path: str | Path) -> None:
        save_composite(path, self.architecture, self.emitter, {"crf": self.crf.state_dict()})

    @classmethod
    def from_pretrained(cls, path: str | Path, model_cls: Any) -> CrfTokenClassifier:
        inner, tensors, _ = load_composite(path)
        emitter = load_pretrained(model_cls, inner)
        model = cls(emitter, [emitter.config.id2label[i] for i in range(len(emitter.config.id2label))])
        model.crf.load_state_dict(tensors["crf"])
        return model.eval()


def tagging_loss(model: torch.nn.Module, logits: torch.Tensor, batch: dict[str, torch.Tensor],
                 criterion: Any) -> torch.Tensor:
    """Tag loss of (B, T, L) sub-token scores: the CRF's likelihood over first sub-tokens when the model has a
    CRF (continuation windows get no start transition), else the criterion at the labelled positions."""
    crf = getattr(model, "crf", None)
    if crf is None:
        return criterion(logits, batch["labels"], soft=batch.get("soft_targets"))
    if "word_starts" in batch:
        emissions, mask, tags = pack_words(logits, batch["word_starts"], batch["labels"])
        return crf_nll(crf, emissions, tags, mask, batch["core_start"] > 0)
    return crf_nll(crf, logits, batch["labels"].clamp(min=0), batch["attention_mask"].bool())  # word-level
