"""Tag schemes: validate BIO-family tags and convert IOB1 / BIOES input to IOB2.

Every token task stores IOB2 internally (every entity starts with B-), which is what seqeval's strict
mode scores.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, NamedTuple

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
# A model with several heads keeps one label list (its config's id2label): intents as "intent:<name>", slots
# (the dialogue tracker's gates) as "slot:<name>", then the IOB2 tags. `label_sets` reads them apart.
INTENT, SLOT = "intent:", "slot:"


class LabelSets(NamedTuple):
    """The label sets packed into one label list."""

    intents: list[str]
    slots: list[str]
    tags: list[str]


def label_sets(labels: Sequence[str]) -> LabelSets:
    """(intents, slots, tags) of one packed label list, each in its order there."""
    return LabelSets([x[len(INTENT):] for x in labels if x.startswith(INTENT)],
                     [x[len(SLOT):] for x in labels if x.startswith(SLOT)],
                     [x for x in labels if not x.startswith((INTENT, SLOT))])


def tag_list(splits: dict[str, Any]) -> list[str]:
    """'O' first, then B-/I- of each type, types sorted; taken from every split so dev/test types are known."""
    kinds = sorted({t[2:] for name in ("train", "validation", "test") if name in splits
                    for tags in splits[name]["tags"] for t in tags if t != "O"})
    return ["O"] + [f"{p}-{k}" for k in kinds for p in ("B", "I")]
