"""Dialogues as turns: the reader of the dialogue JSON format (sim-M's), the Schema-Guided Dialogue converter,
the per-slot update labels a state tracker learns, and the one function that applies them.

The format (`data.format=dialogue`; a `.json` file holding a list of objects with `turns` is detected) is
sim-M's: a list of `{"dialogue_id", "turns": [...]}`; a turn has an optional `system_utterance` and
`system_acts` (absent on the first turn), a `user_utterance` `{"text", "tokens", "slots": [{"slot", "start",
"exclusive_end"}]}` (token spans), `user_intents` (where an intent is stated) and `dialogue_state`
`[{"slot", "value"}]`, the user's constraints after the turn.

One row per turn: `tokens`/`tags` (the user's words, IOB2 slot tags), `system` (the system's words before it),
`history` (earlier utterances, oldest first, each with a role word), `system_values` (slot values the system
offered, confirmed or informed in this turn), `label` (the active intent), `state` and `gates`.

Update sources (TripPy's idea, Heck et al. 2020): after each turn every slot is updated by one gate:
`carry` (keep the value), `copy` (the value the user just said: a span of that slot in the user's words),
`system` (the value the system offered or confirmed, which the user accepted), `dontcare` and `delete`.
A gold value that none of them explains (`other`, e.g. a value paraphrased) is not a training target for
its gate, and is counted.
"""

from __future__ import annotations

import gzip
import json
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from datasets import Dataset, Features, List, Value

from pipelines.data.align import split_words
from pipelines.data.tags import spans
from pipelines.errors import ReadError

GATES = ("carry", "copy", "system", "dontcare", "delete")
NO_INTENT = "NONE"
AUGMENTED = "#aug"  # marks the dialogue ids of made-up copies (replace_values)
SYSTEM_VALUE_ACTS = {"OFFER", "CONFIRM", "INFORM", "SELECT"}  # system acts whose slot value a user can accept

_PAIR = {"slot": Value("string"), "value": Value("string")}
FEATURES = Features({
    "dialogue_id": Value("string"), "turn": Value("int32"),
    "tokens": List(Value("string")), "tags": List(Value("string")),
    "system": List(Value("string")), "history": List(Value("string")),
    "system_values": List(_PAIR), "label": Value("string"),
    "state": List(_PAIR), "gates": List({"slot": Value("string"), "gate": Value("string")}),
})


def norm(value: str) -> str:
    """The form in which two values are the same: lower case, no spaces ("6:00 pm" == "6:00pm")."""
    return "".join(value.lower().split())


def user_spans(tokens: Sequence[str], tags: Sequence[str]) -> dict[str, str]:
    """Slot -> the value the user said (its last span in the turn), from IOB2 tags."""
    return {kind: " ".join(tokens[s:e]) for kind, s, e in spans(list(tags))}


def gate_of(prev: str | None, cur: str | None, said: str | None, offered: str | None) -> str:
    """The update that turns the slot's previous value into the current one ('other' where none does)."""
    if cur == prev or (cur is not None and prev is not None and norm(cur) == norm(prev)):
        return "carry"
    if cur is None:
        return "delete"
    if norm(cur) == "dontcare":
        return "dontcare"
    if said is not None and norm(said) == norm(cur):
        return "copy"
    if offered is not None and norm(offered) == norm(cur):
        return "system"
    return "other"


def update(prev: Mapping[str, str], gates: Mapping[str, str], said: Mapping[str, str],
           offered: Mapping[str, str]) -> dict[str, str]:
    """The state after a turn: each slot's gate applied to its previous value. A `copy` with no span of that
    slot in the user's words, or a `system` with no value offered, keeps the previous value."""
    state = dict(prev)
    for slot, gate in gates.items():
        if gate == "copy" and slot in said:
            state[slot] = said[slot]
        elif gate == "system" and slot in offered:
            state[slot] = offered[slot]
        elif gate == "dontcare":
            state[slot] = "dontcare"
        elif gate == "delete":
            state.pop(slot, None)
    return state


def history_entry(role: str, words: Sequence[str]) -> str:
    """One earlier utterance as the tracker reads it in the history: a role word, then the words."""
    return f"{role} : " + " ".join(words)


def same_state(a: Mapping[str, str], b: Mapping[str, str]) -> bool:
    return {k: norm(v) for k, v in a.items()} == {k: norm(v) for k, v in b.items()}


def as_dict(pairs: Iterable[Mapping[str, str]]) -> dict[str, str]:
    return {p["slot"]: p["value"] for p in pairs}


def system_values(acts: Iterable[Mapping[str, Any]]) -> dict[str, str]:
    return {a["slot"]: a["value"] for a in acts
            if a.get("type") in SYSTEM_VALUE_ACTS and a.get("slot") and a.get("value") is not None}


def make_turn(dialogue_id: str, index: int, tokens: list[str], tags: list[str], system: list[str],
              history: list[str], offered: dict[str, str], intent: str, state: dict[str, str],
              prev: dict[str, str]) -> dict[str, Any]:
    said = user_spans(tokens, tags)
    gates = {s: gate_of(prev.get(s), state.get(s), said.get(s), offered.get(s)) for s in set(prev) | set(state)}
    return {"dialogue_id": dialogue_id, "turn": index, "tokens": tokens, "tags": tags, "system": system,
            "history": list(history), "system_values": [{"slot": k, "value": v} for k, v in offered.items()],
            "label": intent, "state": [{"slot": k, "value": v} for k, v in state.items()],
            "gates": [{"slot": k, "gate": g} for k, g in sorted(gates.items()) if g != "carry"]}


def _tags(n: int, slots: Sequence[Mapping[str, Any]], where: str, path: Path) -> list[str]:
    tags = ["O"] * n
    for s in sorted(slots, key=lambda s: s["start"]):
        start, end = int(s["start"]), int(s["exclusive_end"])
        if not 0 <= start < end <= n:
            raise ReadError(path, None, f"{where}: slot {s.get('slot')!r} span [{start}, {end}) is outside the "
                                        f"{n} tokens")
        if any(t != "O" for t in tags[start:end]):
            raise ReadError(path, None, f"{where}: slot {s.get('slot')!r} span [{start}, {end}) overlaps another")
        tags[start:end] = [f"B-{s['slot']}"] + [f"I-{s['slot']}"] * (end - start - 1)
    return tags


def _words(utterance: Mapping[str, Any]) -> list[str]:
    tokens = utterance.get("tokens")
    return list(tokens) if tokens is not None else [w for w, _, _ in split_words(utterance.get("text", ""))]


def read_dialogues(path: str | Path) -> Dataset:
    """The turns of a dialogue JSON file (sim-M's format; see the module docstring). Errors name the file, the
    dialogue and the turn."""
    path = Path(path)
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as err:
        raise ReadError(path, err.lineno, f"not valid JSON ({err.msg})") from None
    if not isinstance(raw, list):
        raise ReadError(path, None, "expected a JSON list of dialogues ({\"dialogue_id\", \"turns\": [...]})")
    rows = []
    for d, dialogue in enumerate(raw):
        if not isinstance(dialogue, dict) or not isinstance(dialogue.get("turns"), list):
            raise ReadError(path, None, f"dialogue {d}: expected an object with a 'turns' list")
        did = str(dialogue.get("dialogue_id", d))
        prev: dict[str, str] = {}
        history: list[str] = []
        intent = NO_INTENT
        for t, turn in enumerate(dialogue["turns"]):
            where = f"dialogue {did} turn {t}"
            user = turn.get("user_utterance")
            if not isinstance(user, dict):
                raise ReadError(path, None, f"{where}: no user_utterance")
            tokens = _words(user)
            tags = _tags(len(tokens), user.get("slots", []), where, path)
            system_utt = turn.get("system_utterance") or {}
            system = _words(system_utt) if system_utt else []
            intent = (turn.get("user_intents") or [intent])[-1]
            try:
                state = as_dict(turn.get("dialogue_state", []))
            except (KeyError, TypeError):
                raise ReadError(path, None, f"{where}: dialogue_state must be a list of {{slot, value}}") from None
            rows.append(make_turn(did, t, tokens, tags, system, history, system_values(turn.get("system_acts", [])),
                                  intent, state, prev))
            if system:
                history.append(history_entry("system", system))
            history.append(history_entry("user", tokens))
            prev = state
    if not rows:
        raise ReadError(path, None, "no turns")
    return Dataset.from_list(rows, features=FEATURES)


def is_dialogue_json(obj: Any) -> bool:
    return isinstance(obj, list) and bool(obj) and isinstance(obj[0], dict) and "turns" in obj[0]


# Schema-Guided Dialogue -----------------------------------------------------------------------------------
def read_sgd_dialogues(folder: str | Path, services: Sequence[str] | None = None,
                       single_domain: bool = True) -> list[dict[str, Any]]:
    """SGD dialogues of `folder` (`dialogues_*.json`, optionally `.gz`) whose services are all in `services`
    (every dialogue when None; one service only when `single_domain`)."""
    folder = Path(folder)
    files = sorted(folder.glob("dialogues_*.json*"))
    if not files:
        raise ReadError(folder, None, "no dialogues_*.json(.gz) files")
    out = []
    for f in files:
        opener = gzip.open if f.suffix == ".gz" else open
        with opener(f, "rt", encoding="utf-8") as fh:
            for dialogue in json.load(fh):
                svc = dialogue["services"]
                if single_domain and len(svc) != 1:
                    continue
                if services is not None and not set(svc) <= set(services):
                    continue
                out.append(dialogue)
    return out


def sgd_to_dialogues(dialogues: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """SGD dialogues in the dialogue JSON format: words from the utterance text, character spans turned into
    word spans, each slot's first value as the state, the active intent per turn as `user_intents`. Slot names
    are prefixed by the service only where the dialogue has several. Values a span does not match the words of
    are left out of the slots (the state keeps them)."""
    out = []
    for dialogue in dialogues:
        multi = len(dialogue["services"]) > 1
        turns, system_utt, system_acts = [], None, []
        for turn in dialogue["turns"]:
            words = split_words(turn["utterance"])
            if turn["speaker"] == "SYSTEM":
                system_utt = {"text": turn["utterance"], "tokens": [w for w, _, _ in words], "slots": []}
                system_acts = [{"type": a["act"], "slot": _name(fr["service"], a["slot"], multi),
                                "value": a["values"][0]} for fr in turn["frames"] for a in fr["actions"]
                               if a.get("slot") and a.get("values")]
                continue
            slots, state, intent = [], [], None
            for fr in turn["frames"]:
                for s in fr.get("slots", []):
                    ws = [i for i, (_, a, b) in enumerate(words) if a >= s["start"] and b <= s["exclusive_end"]]
                    if ws and words[ws[0]][1] == s["start"] and words[ws[-1]][2] == s["exclusive_end"]:
                        slots.append({"slot": _name(fr["service"], s["slot"], multi), "start": ws[0],
                                      "exclusive_end": ws[-1] + 1})
                st = fr.get("state", {})
                if st.get("active_intent", "NONE") != "NONE":
                    intent = st["active_intent"]
                state += [{"slot": _name(fr["service"], k, multi), "value": v[0]}
                          for k, v in st.get("slot_values", {}).items() if v]
            t: dict[str, Any] = {"user_utterance": {"text": turn["utterance"], "tokens": [w for w, _, _ in words],
                                                    "slots": _no_overlap(slots)},
                                 "dialogue_state": state, "user_intents": [intent or NO_INTENT]}
            if system_utt is not None:
                t["system_utterance"], t["system_acts"] = system_utt, system_acts
            turns.append(t)
        out.append({"dialogue_id": dialogue["dialogue_id"], "turns": turns})
    return out


def _name(service: str, slot: str, multi: bool) -> str:
    return f"{service}-{slot}" if multi else slot


def _no_overlap(slots: list[dict[str, Any]]) -> list[dict[str, Any]]:
    kept, used = [], set()
    for s in sorted(slots, key=lambda s: (s["start"], -s["exclusive_end"])):
        cells = set(range(s["start"], s["exclusive_end"]))
        if not cells & used:
            kept.append(s)
            used |= cells
    return kept


# value replacement ----------------------------------------------------------------------------------------
# `style="titles"`: made-up values shaped like real names and titles, as sim-M's training titles are ("the girl on
# the train", "12 angry men", "boo! a madea halloween", "achcham yenbadhu madamaiyada"; common English function
# words, not a list fitted to any test set), with a longer tail of lengths: 1-7 words,
# short ones most often, some function words inside, words no vocabulary holds (split into several word pieces,
# as foreign titles are), now and then a number, a hyphenated pair or a final "!"
TITLE_LENGTHS = (1, 2, 3, 4, 5, 6, 7)
TITLE_LENGTH_WEIGHTS = (30, 30, 16, 10, 7, 4, 3)
FUNCTION_WORDS = ("the", "a", "an", "of", "and", "or", "in", "on", "at", "to", "with", "for", "from", "my", "is")
PUNCTUATION = ("!", "?!")
MADE_UP_STYLES = ("words", "titles")  # model.augment_style


def made_up_value(rng: Any, words: Sequence[str], style: str = "words") -> str:
    """One made-up value: `words` style is 1-4 random `words`; `titles` style as TITLE_LENGTHS etc. describe."""
    if style == "words":
        return " ".join(rng.choice(words) for _ in range(rng.randint(1, 4)))
    n = rng.choices(TITLE_LENGTHS, TITLE_LENGTH_WEIGHTS)[0]
    out = []
    for i in range(n):
        roll = rng.random()
        if 0 < i < n - 1 and roll < 0.25 or i == 0 and n > 1 and roll < 0.12:
            out.append(rng.choice(FUNCTION_WORDS))
        elif roll > 0.95 and n > 1:  # never a bare number (a count of tickets)
            out.append(str(rng.randint(1, 2020)))
        elif roll > 0.9:
            out.append(f"{rng.choice(words)}-{rng.choice(words)}")
        elif roll > 0.75:  # a word no vocabulary has (as "sahibzaade" is): the start of one, the end of another
            a, b = rng.choice(words), rng.choice(words)
            out.append(a[:max(2, len(a) // 2)] + b[len(b) // 2:])
        else:
            out.append(rng.choice(words))
    if rng.random() < 0.1:
        out[-1] += rng.choice(PUNCTUATION)
    return " ".join(out)


def replace_values(ds: Dataset, slots: Sequence[str], words: Sequence[str], seed: int,
                   copies: int = 1, style: str = "words") -> Dataset:
    """`copies` copies of every dialogue of `ds` in which each value of `slots` is replaced, everywhere the
    dialogue holds it (the user's spans, the system's words, the history, offered values, the states), by a
    made-up value (`made_up_value`: random `words`): a tracker trained on them must find such values from the
    words around them, as it must for values it never saw (sim-M's test movies are all new)."""
    import random

    if style not in MADE_UP_STYLES:
        raise ValueError(f"made-up value style {style!r}: expected {'|'.join(MADE_UP_STYLES)}")
    rng = random.Random(seed)
    slots = set(slots)
    rows = ds.to_list()
    out = []
    for copy in range(copies):
        new_of: dict[str, dict[str, str]] = {}  # dialogue -> normalised value -> made-up value
        raw: dict[str, set[str]] = {}  # dialogue -> the values' spellings, to find them in running text
        for r in rows:
            values = {p["value"] for p in r["state"] + r["system_values"] if p["slot"] in slots}
            values |= {v for k, v in user_spans(r["tokens"], r["tags"]).items() if k in slots}
            for value in sorted(values):  # sorted: the draws must not follow string hashing (PYTHONHASHSEED)
                if norm(value) != "dontcare":
                    # drawn for every occurrence (a repeated value's draw is discarded), as the runs measured
                    new_of.setdefault(r["dialogue_id"], {}).setdefault(norm(value), made_up_value(rng, words, style))
                    raw.setdefault(r["dialogue_id"], set()).add(value)
        for r in rows:
            did = r["dialogue_id"]
            by_norm = new_of.get(did, {})

            def get(value: str, by_norm: dict[str, str] = by_norm) -> str:
                return by_norm.get(norm(value), value)

            def swap(p: dict[str, str], get: Any = get) -> dict[str, str]:
                return {**p, "value": get(p["value"]) if p["slot"] in slots else p["value"]}

            spelled = {v: get(v) for v in raw.get(did, ())}
            tokens, tags = [], []
            i = 0
            while i < len(r["tokens"]):
                tag = r["tags"][i]
                if tag.startswith("B-") and tag[2:] in slots:
                    j = i + 1
                    while j < len(r["tags"]) and r["tags"][j] == "I-" + tag[2:]:
                        j += 1
                    new = get(" ".join(r["tokens"][i:j])).split()
                    tokens += new
                    tags += [tag] + ["I-" + tag[2:]] * (len(new) - 1)
                    i = j
                else:
                    tokens.append(r["tokens"][i])
                    tags.append(tag)
                    i += 1
            out.append({**r, "dialogue_id": f"{did}{AUGMENTED}{copy}", "tokens": tokens, "tags": tags,
                        "system": _swap_text(" ".join(r["system"]), spelled).split() if r["system"] else [],
                        "history": [_swap_text(h, spelled) for h in r["history"]],
                        "system_values": [swap(p) for p in r["system_values"]], "state": [swap(p) for p in r["state"]]})
    return Dataset.from_list(out, features=FEATURES)


def _swap_text(text: str, mapping: dict[str, str]) -> str:
    import re

    for old in sorted(mapping, key=len, reverse=True):
        text = re.sub(rf"(?<!\S){re.escape(old)}(?!\S)", mapping[old], text)
    return text
