"""The prediction schema: what each task's `predict` (and so `Predictor.predict`, the predict CLI and POST /predict)
returns per text, one dataclass per kind of output. A task builds these and hands back `to_dict()`, the JSON
form; `PREDICTIONS` maps a task to its class, and `fields_of(task)` lists its fields (GET /info shows them).

Fields marked optional are left out of `to_dict()` when None (off-topic flags without a detector, topics for a
model that reads none); every other field is always there, possibly None (toxicity's span outputs when no
training post had spans).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

OPTIONAL = {"optional": True}  # metadata: left out of to_dict() when None


@dataclass(frozen=True)
class Prediction:
    """Base of every prediction: `to_dict()` gives plain JSON-ready values (nested dataclasses as dicts)."""

    def to_dict(self) -> dict[str, Any]:
        out = {}
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if value is None and f.metadata.get("optional"):
                continue
            out[f.name] = _plain(value)
        return out


def _plain(value: Any) -> Any:
    if dataclasses.is_dataclass(value):
        return value.to_dict() if isinstance(value, Prediction) else dataclasses.asdict(value)
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    return value


@dataclass(frozen=True)
class Entity(Prediction):
    """A typed span of the text: character offsets [start, end), and the probability that exactly this span has
    this type."""

    type: str
    text: str
    start: int
    end: int
    score: float


@dataclass(frozen=True)
class Ranked(Prediction):
    label: str
    probability: float


@dataclass(frozen=True)
class Topic(Prediction):
    topic: int
    weight: float
    words: list[str]


@dataclass(frozen=True)
class Entities(Prediction):
    """ner: the entities of a text (a text with line breaks is a document of sentences)."""

    entities: list[Entity]


@dataclass(frozen=True)
class Classification(Prediction):
    """intent, topics: the best label, its probability and the top labels; off-topic flags with a detector,
    the document's top topics for a model that reads LDA topics."""

    label: str
    probability: float
    top_k: list[Ranked]
    off_topic: bool | None = field(default=None, metadata=OPTIONAL)
    off_topic_score: float | None = field(default=None, metadata=OPTIONAL)
    topics: list[Topic] | None = field(default=None, metadata=OPTIONAL)


@dataclass(frozen=True)
class IntentAndSlots(Prediction):
    """joint: the intent, its probability and the slot values as entities."""

    intent: str
    probability: float
    entities: list[Entity]


@dataclass(frozen=True)
class Span(Prediction):
    start: int
    end: int
    text: str
    score: float


@dataclass(frozen=True)
class Toxicity(Prediction):
    """toxicity: the post label (None without post labels), whether it is toxic, the toxic character spans and
    the text masked, with the spans removed and rewritten (the span outputs are None when no training post had
    spans)."""

    label: str | None
    probability: float | None
    toxic: bool | None
    spans: list[Span] | None
    offsets: list[int] | None
    masked: str | None
    removed: str | None
    rewritten: str | None
    rewrite_accepted: bool | None


@dataclass(frozen=True)
class Turn(Prediction):
    """dialogue: the turn's intent, the non-carry gates by slot, the values the user said and the state after the
    turn; off-topic flags with a detector."""

    intent: str
    probability: float
    gates: dict[str, str]
    said: dict[str, str]
    state: dict[str, str]
    off_topic: bool | None = field(default=None, metadata=OPTIONAL)
    off_topic_score: float | None = field(default=None, metadata=OPTIONAL)


PREDICTIONS: dict[str, type[Prediction]] = {"ner": Entities, "intent": Classification, "topics": Classification,
                                            "joint": IntentAndSlots, "toxicity": Toxicity, "dialogue": Turn}


def fields_of(task: str) -> dict[str, str]:
    """{field: type} of the task's prediction (a '?' marks a field left out when empty)."""
    cls = PREDICTIONS.get(task)
    if cls is None:
        return {}
    return {f.name: str(f.type) + ("?" if f.metadata.get("optional") else "") for f in dataclasses.fields(cls)}
