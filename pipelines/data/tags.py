"""Tag schemes: validate BIO-family tags and convert IOB1 / BIOES input to IOB2.

Every token task stores IOB2 internally (every entity starts with B-), which is what seqeval's strict
mode scores.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from pipelines.errors import TagError  # noqa: F401  (re-exported)

PREFIXES = {"B", "I", "E", "S"}


def split_tag(tag: str) -> tuple[str, str]:
    """'B-PER' -> ('B', 'PER'); 'O' -> ('O', ''). Raises TagError for anything else."""
    if tag == "O":
        return "O", ""
    prefix, sep, kind = tag.partition("-")
    if not sep or prefix not in PREFIXES or not kind:
        raise TagError(f"tag {tag!r} fits no scheme: expected 'O' or B-/I-/E-/S- followed by a type")
    return prefix, kind


def detect_scheme(sentences: Sequence[Sequence[str]]) -> str:
    """'bioes' if any E-/S- tag occurs, else 'iob1' if some entity starts with I-, else 'iob2'."""
    scheme = "iob2"
    for tags in sentences:
        for tag in tags:
            if split_tag(tag)[0] in {"E", "S"}:
                return "bioes"
        if scheme == "iob2" and not is_valid_iob2(tags):
            scheme = "iob1"
    return scheme


def to_iob2(tags: Sequence[str], scheme: str) -> list[str]:
    """Convert one sentence's tags from `scheme` ('iob1', 'iob2', 'bioes') to IOB2.

    For 'iob1' and 'iob2' an I-X that starts an entity (after O or another type) becomes B-X: that is
    the IOB1 rule, and the usual repair of invalid IOB2.
    """
    out: list[str] = []
    prev_kind = ""
    for tag in tags:
        prefix, kind = split_tag(tag)
        if prefix == "O":
            out.append("O")
        elif scheme == "bioes":
            out.append(f"{'B' if prefix in {'B', 'S'} else 'I'}-{kind}")
        elif prefix in {"E", "S"}:
            raise TagError(f"tag {tag!r} is BIOES but the scheme is {scheme}")
        elif prefix == "I" and prev_kind != kind:
            out.append(f"B-{kind}")
        else:
            out.append(tag)
        prev_kind = "" if prefix == "O" or (scheme == "bioes" and prefix in {"E", "S"}) else kind
    return out


def is_valid_iob2(tags: Sequence[str]) -> bool:
    """True when no I-X follows O or a tag of another type (the start included)."""
    prev_kind = ""
    for tag in tags:
        prefix, kind = split_tag(tag)
        if prefix == "I" and prev_kind != kind:
            return False
        prev_kind = kind if prefix in {"B", "I"} else ""
    return True


def spans(tags: Sequence[str]) -> list[tuple[str, int, int]]:
    """Entities as (type, start, end) word spans, end exclusive, read leniently (I-X after O starts one)."""
    found: list[tuple[str, int, int]] = []
    start, kind = -1, ""
    for i, tag in enumerate([*tags, "O"]):
        prefix, k = ("O", "") if tag == "O" else split_tag(tag)
        if kind and (prefix != "I" or k != kind):
            found.append((kind, start, i))
            kind = ""
        if prefix in {"B", "I", "S", "E"} and not kind:
            start, kind = i, k
    return found


# --- label vocabularies ---------------------------------------------------------------------------------------
_INTENT, _SLOT = "intent:", "slot:"  # the stored form's markers; nothing outside LabelSets reads or writes them


@dataclass(frozen=True)
class LabelSets:
    """The label sets of a model with several heads, by head: the post or utterance labels (`intents`), the
    tracked slots (`slots`: the dialogue tracker's gates) and the IOB2 tags; each head's class ids are the
    positions in its own set. A task with several heads returns one from `Task.label_list`.

    A Hugging Face config keeps one id2label, so the model stores them as one list (`flat`) and the harness
    passes that list and its label2id around; `LabelSets.of` reads any of those back. Task code builds and
    reads `LabelSets` only, never the stored form."""

    intents: tuple[str, ...] = ()
    slots: tuple[str, ...] = ()
    tags: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        for name in ("intents", "slots", "tags"):
            object.__setattr__(self, name, tuple(getattr(self, name)))

    def __iter__(self):  # intents, slots, tags = sets
        return iter((self.intents, self.slots, self.tags))

    def flat(self) -> list[str]:
        """The stored form: one list, intents then slots then tags (config.json's id2label)."""
        return [_INTENT + x for x in self.intents] + [_SLOT + s for s in self.slots] + list(self.tags)

    @classmethod
    def of(cls, labels: LabelSets | Sequence[str] | dict) -> LabelSets:
        """The label sets of a stored label list, a label2id ({label: id}) or an id2label ({id: label}), each
        set in id order; a LabelSets as it is."""
        if isinstance(labels, LabelSets):
            return labels
        if isinstance(labels, dict):  # label2id maps to ints; id2label to labels (its ids may be JSON strings)
            to_ids = all(isinstance(v, int) for v in labels.values())
            labels = [x for _, x in sorted((v, k) if to_ids else (int(k), v) for k, v in labels.items())]
        return cls(tuple(x[len(_INTENT):] for x in labels if x.startswith(_INTENT)),
                   tuple(x[len(_SLOT):] for x in labels if x.startswith(_SLOT)),
                   tuple(x for x in labels if not x.startswith((_INTENT, _SLOT))))


def flat_labels(labels: LabelSets | Sequence[str]) -> list[str]:
    """What `Task.label_list` returned, as the one list a model stores (a one-head task's list as it is)."""
    return labels.flat() if isinstance(labels, LabelSets) else list(labels)


def tag_list(splits: dict[str, Any]) -> list[str]:
    """'O' first, then B-/I- of each type, types sorted; taken from every split so dev/test types are known."""
    kinds = sorted({t[2:] for name in ("train", "validation", "test") if name in splits
                    for tags in splits[name]["tags"] for t in tags if t != "O"})
    return ["O"] + [f"{p}-{k}" for k in kinds for p in ("B", "I")]
