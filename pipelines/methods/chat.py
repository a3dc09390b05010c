"""A task-oriented bot over a dialogue state tracker: sessions, guards and a rule policy (the session stores are
in pipelines.inference.sessions).

    engine = ChatEngine(nlu, Domain.movies(catalogue))
    session = Session.new()
    engine.reply(session, "two tickets for paper tigers tomorrow")  # action 'request' (asks for the time)
    engine.reply(session, "what's the weather like?")               # action 'redirect' (the state is kept)

`nlu(turns)` takes turn dicts ({"text", "system", "history", "system_values", "prev_state"}, as
tasks.dialogue.predict_turns does) and returns per turn {"state", "gates", "said", "off_topic"?}. The
engine never imports a model: pipelines.inference.chat wires a trained run in.

One turn, in order:
1. an empty message -> 'empty'; one over `max_chars` -> 'too_long' (nothing is read, the state is kept);
2. each guard (e.g. a toxicity classifier: `guard(text) -> True` to refuse) -> 'refuse', the state kept;
3. the tracker updates the state from the message and its context;
4. off topic (the detector flags it, and the message changed no slot or only to values the catalogue does not
   know, as "weather in paris" read as a theatre; a yes or no to the read-back is never off topic) ->
   'redirect': the state is kept and the pending question asked again;
5. a value of a checked slot (movie, theatre) that the catalogue does not know -> 'unknown_value', the slot
   emptied and some known values offered;
6. the policy: ask for the next missing slot ('request'); with every slot filled, read the summary back
   ('confirm'); a yes to it books ('book', a summary; the session is done); a no without a new value asks
   what to change ('ask_change'); then a new value re-confirms, a no reads the booking back again, and anything
   else (a yes) is asked again with the slots that can change, never redirected as off topic.
Yes / no are read from words (`AFFIRM`, `NEGATE`): the tracker has no dialogue-act head.
"""

from __future__ import annotations

import json
import re
import secrets
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pipelines.data.align import split_words
from pipelines.data.dialogue import history_entry
from pipelines.io import atomic_write_text

AFFIRM = {"yes", "yeah", "yep", "sure", "correct", "right", "ok", "okay", "perfect", "great", "fine", "please",
          "confirm", "book"}
NEGATE = {"no", "nope", "not", "wrong", "change", "incorrect", "don't", "dont"}
SESSION_ID = re.compile(r"^[0-9a-f]{32}$")
Guard = Callable[[str], bool]


@dataclass
class Domain:
    """What the policy asks for, how it asks, and which values it checks against a catalogue."""

    name: str
    required: tuple[str, ...]
    questions: dict[str, str]
    catalogue: dict[str, list[str]] = field(default_factory=dict)  # slot -> known values
    checked: tuple[str, ...] = ()  # slots whose value must be in the catalogue (what is showing, and where)
    redirect: str = "Sorry, I can only help with {name}."

    @classmethod
    def movies(cls, catalogue: dict[str, list[str]] | None = None) -> Domain:
        return cls(name="movie tickets", required=("movie", "num_tickets", "date", "time", "theatre_name"),
                   questions={"movie": "Which movie would you like to see?",
                              "num_tickets": "How many tickets do you need?",
                              "date": "For which date?", "time": "What time would you like?",
                              "theatre_name": "Which theatre?"},
                   catalogue=dict(catalogue or {}),
                   checked=tuple(s for s in ("movie", "theatre_name") if s in (catalogue or {})))

    def summary(self, state: dict[str, str]) -> str:
        s = {k: v for k, v in state.items() if v != "dontcare"}
        parts = [f"{s.get('num_tickets', '?')} ticket(s) for {s.get('movie', '?')}"]
        if "date" in s:
            parts.append(f"on {s['date']}")
        if "time" in s:
            parts.append(f"at {s['time']}")
        if "theatre_name" in s:
            parts.append(f"at {s['theatre_name']}")
        extra = [f"{k}={v}" for k, v in s.items() if k not in {"num_tickets", "movie", "date", "time", "theatre_name"}]
        return " ".join(parts + extra)


@dataclass
class Session:
    """One conversation: the tracked state and what the tracker reads as context."""

    id: str
    state: dict[str, str] = field(default_factory=dict)
    history: list[str] = field(default_factory=list)  # "user : ..." / "system : ..." (the reader's format)
    system: list[str] = field(default_factory=list)   # the words of the bot's last message
    offered: dict[str, str] = field(default_factory=dict)  # values the bot's last message confirmed/offered
    phase: str = "collecting"  # collecting | confirming | changing (asked what to change) | done
    turns: int = 0
    updated: float = field(default_factory=time.time)

    @classmethod
    def new(cls) -> Session:
        return cls(id=secrets.token_hex(16))


@dataclass
class Reply:
    text: str
    action: str  # empty | too_long | refuse | redirect | unknown_value | request | confirm | ask_change | book | done
    state: dict[str, str]
    slot: str = ""


class ChatEngine:
    """The bot: guards, the tracker (`nlu`), the off-topic redirect and the rule policy (module docstring)."""

    def __init__(self, nlu: Callable[[list[dict[str, Any]]], list[dict[str, Any]]], domain: Domain,
                 guards: Sequence[Guard] = (), max_chars: int = 500,
                 split: Callable[[str], list[str]] | None = None) -> None:
        """split: a message's words, as the tracker's training data has them (the run's splitter; default
        the regex splitter)."""
        self.nlu, self.domain, self.guards, self.max_chars = nlu, domain, list(guards), max_chars
        self.split = split or (lambda text: [w for w, _, _ in split_words(text)])

    def greeting(self) -> str:
        return f"Hello! I can book {self.domain.name}. What would you like to see?"

    def reply(self, session: Session, text: str) -> Reply:
        session.updated = time.time()
        text = text if isinstance(text, str) else ""
        if not text.strip():
            return self._say(session, "Sorry, I did not get that. " + self._next_question(session), "empty", False)
        if len(text) > self.max_chars:
            return self._say(session, f"That message is too long for me (over {self.max_chars} characters). "
                             "Could you say it in a sentence?", "too_long", False)
        for guard in self.guards:
            if guard(text):
                return self._say(session, "I'd rather keep this friendly. " + self._next_question(session),
                                 "refuse", False)
        words = self.split(text)
        [pred] = self.nlu([{"tokens": words, "system": session.system, "history": session.history,
                            "system_values": session.offered, "prev_state": session.state}])
        session.history += ([history_entry("system", session.system)] if session.system else []) + \
            [history_entry("user", words)]
        session.turns += 1
        new_state = dict(pred["state"])
        changed = {k for k in set(new_state) | set(session.state) if new_state.get(k) != session.state.get(k)}
        unknown = [s for s in self.domain.checked if s in changed and self._unknown(s, new_state.get(s))]
        lowered = {w.lower() for w in words}
        # a yes / no to the read-back, or to "what should I change?", is on topic
        answers = session.phase in {"confirming", "changing"} and bool(lowered & (AFFIRM | NEGATE))
        if pred.get("off_topic") and (not changed or unknown) and not answers:
            msg = self.domain.redirect.format(name=self.domain.name)
            return self._say(session, f"{msg} {self._next_question(session)}", "redirect", True)
        session.state = new_state
        for slot in self.domain.checked:
            value = session.state.get(slot)
            known = self.domain.catalogue.get(slot, [])
            if self._unknown(slot, value):
                del session.state[slot]
                session.phase = "collecting"
                options = ", ".join(known[:3])
                return self._say(session, f"Sorry, I don't know the {slot.replace('_', ' ')} '{value}'. "
                                 f"Showing now: {options}. Which one?", "unknown_value", True, slot)
        if session.phase == "done":
            return self._say(session, "Your booking is done. Start a new session for another one.", "done", True)
        if session.phase == "changing" and not changed:  # asked what to change, and told no new value
            if lowered & NEGATE:  # nothing to change after all: read the booking back again
                session.phase = "confirming"
                return self._say(session, f"To confirm: {self.domain.summary(session.state)}. Shall I book it?",
                                 "confirm", True)
            return self._say(session, f"Tell me the new value: {self._changeable()}.", "ask_change", True)
        if session.phase == "confirming" and not changed:
            if lowered & NEGATE:
                session.phase = "changing"
                return self._say(session, "What should I change?", "ask_change", True)
            if lowered & AFFIRM:
                session.phase = "done"
                return self._say(session, f"Booked: {self.domain.summary(session.state)}. Enjoy the film!",
                                 "book", True)
        missing = [s for s in self.domain.required if s not in session.state]
        if missing:
            session.phase = "collecting"
            return self._say(session, self.domain.questions.get(missing[0], f"What is the {missing[0]}?"),
                             "request", True, missing[0])
        session.phase = "confirming"
        reply = self._say(session, f"To confirm: {self.domain.summary(session.state)}. Shall I book it?",
                          "confirm", True)
        session.offered = {k: v for k, v in session.state.items() if v != "dontcare"}
        return reply

    def _changeable(self) -> str:
        names = [s.replace("_", " ") for s in self.domain.required]
        return ", ".join(f"the {n}" for n in names[:-1]) + f" or the {names[-1]}" if len(names) > 1 else names[0]

    def _unknown(self, slot: str, value: str | None) -> bool:
        known = {k.lower() for k in self.domain.catalogue.get(slot, [])}
        return bool(value) and value != "dontcare" and value.lower() not in known

    def _next_question(self, session: Session) -> str:
        if session.phase == "changing":
            return f"What should I change: {self._changeable()}?"
        if session.phase == "confirming":
            return f"Shall I book {self.domain.summary(session.state)}?"
        if session.phase == "done":
            return "Your booking is done."
        missing = [s for s in self.domain.required if s not in session.state]
        return self.domain.questions.get(missing[0], "") if missing else "Shall I book it?"

    def _say(self, session: Session, text: str, action: str, heard: bool, slot: str = "") -> Reply:
        """The reply; when the tracker read the message (`heard`), it becomes the context of the next turn."""
        if heard:
            session.system = [w.lower() for w in self.split(text)]
            session.offered = {}
        return Reply(text, action, dict(session.state), slot)


class SessionExpired(KeyError):
    pass


@dataclass
class Catalogue:
    """The values of each slot seen in training (what the bot can offer and check), saved with the model."""

    values: dict[str, list[str]]
    FILE = "catalogue.json"

    @classmethod
    def from_states(cls, states: Sequence[Sequence[dict[str, str]]]) -> Catalogue:
        seen: dict[str, dict[str, None]] = {}
        for state in states:
            for p in state:
                if p["value"] != "dontcare":
                    seen.setdefault(p["slot"], {})[p["value"]] = None
        return cls({k: list(v) for k, v in sorted(seen.items())})

    def save_pretrained(self, path: str | Path) -> None:
        atomic_write_text(Path(path) / self.FILE, json.dumps(self.values, indent=1))

    @classmethod
    def load(cls, path: str | Path) -> Catalogue | None:
        f = Path(path) / cls.FILE
        return cls(json.loads(f.read_text(encoding="utf-8"))) if f.exists() else None
