"""What `Task.gather` yields: one typed record per example (classification) or per window of a sentence (the
token families), read by `join_windows`, `score`, calibration and the benchmarks. A record holds model outputs
and, in a labelled batch, gold ids; -100 (or None for a list) where there is no gold.

The prediction schema a user sees is another set of types (pipelines.predictions, with `to_dict()` for JSON);
these stay inside the library.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import torch

NO_GOLD = -100


@dataclass
class ClassRecord:
    """One text of the sentence-classification family: the class probabilities (L,) and the gold id."""

    example_id: int
    probs: list[float]
    gold: int = NO_GOLD


@dataclass
class TagRecord:
    """One window of a tagged sentence: `core_start` (0 for its first window), the label ids predicted for its
    core words (`pred`), their word scores `scores` (W, L) and the gold ids (None when unlabelled)."""

    example_id: int
    core_start: int
    pred: list[int]
    scores: torch.Tensor
    gold: list[int] | None = None


@dataclass
class JointRecord(TagRecord):
    """A tagged window with its sentence's intent probabilities (K,) and gold intent id (joint intent + slots)."""

    intent_probs: list[float] = field(default_factory=list)
    intent_gold: int = NO_GOLD


@dataclass
class PostRecord(JointRecord):
    """A post window (toxicity): span tags, post-label probabilities, and each core word's character span."""

    word_spans: list[list[int]] = field(default_factory=list)


@dataclass
class TurnRecord(JointRecord):
    """A dialogue turn: its tags and intent, the dialogue and turn number, the words read, the values the system
    offered, the per-slot gate predictions and probabilities, the pooled vector; in a labelled batch the gold
    gates and the state after the turn (one value per tracked slot)."""

    dialogue: int = 0
    turn: int = 0
    words: list[str] = field(default_factory=list)
    offered: list[str] = field(default_factory=list)
    gate_pred: list[int] = field(default_factory=list)
    gate_prob: list[float] = field(default_factory=list)
    pooled: Any = None
    gate_gold: list[int] | None = None
    state: list[str] | None = None
