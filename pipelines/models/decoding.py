"""IOB2 transition constraints and Viterbi decoding over per-word label scores.

`viterbi` finds the best label path under a transition score matrix; with `iob2_constraints` it can never
return an I-X after O or after another type (or at the start of a sentence).
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache

import torch

NEG = -1e4  # a score low enough to forbid, finite so sums stay finite


@lru_cache(maxsize=64)
def _constraints(labels: tuple[str, ...]) -> tuple[torch.Tensor, torch.Tensor]:
    return iob2_constraints(labels)


def iob2_constraints(labels: Sequence[str]) -> tuple[torch.Tensor, torch.Tensor]:
    """Allowed starts and transitions for IOB2 labels.

    Returns:
        start: (L,) bool, True where a sentence may start with that label (not I-X).
        trans: (L, L) bool, trans[i, j] True where label j may follow label i.
    """
    kinds = [lab[2:] if lab[:2] in ("B-", "I-") else None for lab in labels]
    inside = [lab.startswith("I-") for lab in labels]
    n = len(labels)
    start = torch.tensor([not inside[j] for j in range(n)])
    trans = torch.ones(n, n, dtype=torch.bool)
    for i in range(n):
        for j in range(n):
            if inside[j] and kinds[i] != kinds[j]:
                trans[i, j] = False
    return start, trans


def viterbi(scores: torch.Tensor, trans: torch.Tensor, start: torch.Tensor | None = None,
            end: torch.Tensor | None = None) -> list[int]:
    """Best label path for one sequence.

    Args:
        scores: (T, L) per-position label scores (e.g. log-probabilities or CRF emissions).
        trans: (L, L) transition scores, trans[i, j] for label i followed by j.
        start, end: (L,) scores added at the first / last position (None = 0).
    Returns:
        T label ids.
    """
    t_len, n = scores.shape
    if t_len == 0:
        return []
    score = scores[0] + (start if start is not None else 0)  # (L,)
    back = []
    for t in range(1, t_len):
        total = score[:, None] + trans  # (L, L): previous i -> current j
        score, idx = total.max(dim=0)  # (L,), (L,)
        score = score + scores[t]
        back.append(idx)
    if end is not None:
        score = score + end
    best = [int(score.argmax())]
    for idx in reversed(back):
        best.append(int(idx[best[-1]]))
    return best[::-1]


def constrained_decode(log_probs: torch.Tensor, labels: Sequence[str], continues: bool = False) -> list[int]:
    """Most probable valid IOB2 path given per-word log-probabilities (T, L) of a softmax tagger.

    `continues` relaxes the start constraint for a window whose first word continues an earlier window.
    """
    allowed_start, allowed = _constraints(tuple(labels))
    trans = torch.where(allowed, 0.0, NEG)
    start = None if continues else torch.where(allowed_start, 0.0, NEG)
    return viterbi(log_probs.float(), trans, start)


def make_decoder(labels: Sequence[str], mode: str = "argmax", crf: torch.nn.Module | None = None):
    """A function (word logits (W, L), continues) -> label ids for one window.

    mode: 'argmax' (per word), 'viterbi' (best valid IOB2 path over softmax log-probabilities), or 'crf'
    (Viterbi over emissions with the CRF's learned, constrained transitions).
    """
    labels = tuple(labels)
    if mode == "argmax":
        return lambda logits, continues=False: logits.argmax(-1).tolist()
    if mode == "viterbi":
        return lambda logits, continues=False: constrained_decode(logits.float().log_softmax(-1), labels, continues)
    if mode == "crf":
        if crf is None:
            raise ValueError("decode mode 'crf' needs a model with a CRF head")
        trans, start, end = (p.detach().float().cpu() for p in (crf.transitions, crf.start_transitions,
                                                                  crf.end_transitions))
        return lambda logits, continues=False: viterbi(logits.float(), trans, None if continues else start, end)
    raise ValueError(f"decode mode {mode!r}: expected argmax|viterbi|crf")
