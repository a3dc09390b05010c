"""Keep the active intent across the turns of a dialogue and say when a message leaves it (an intent run;
the slot-filling state tracker is the dialogue task, tasks/dialogue.py).

    tracker = IntentTracker(Predictor.load("runs/intent-..."))
    tracker.turn("book a table for two")      # event 'start',     active 'book_table'
    tracker.turn("at 7 pm please")            # event 'continue' (in-scope but unsure: stays on the task)
    tracker.turn("what's the weather today?") # event 'off_topic', active stays 'book_table'
    tracker.turn("play some jazz")            # event 'switch',    active 'play_music'

A bot answers 'off_topic' with "let's finish your booking first" and 'switch' by asking or switching.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass
class Turn:
    text: str
    intent: str
    probability: float
    off_topic: bool
    event: str  # start | continue | switch | off_topic
    active: str | None  # the task the dialogue is on after this turn


@dataclass
class IntentTracker:
    """Turn-by-turn intent tracking over any intent Predictor (with or without an off-topic detector).

    Args:
        predictor: `pipelines.inference.predict.Predictor` of an intent model.
        switch_confidence: a different in-scope intent must reach this probability to switch the active
            task; below it the message is read as continuing the current one (short follow-ups such as
            "at 7 pm" carry little intent of their own).
    """

    predictor: Any
    switch_confidence: float = 0.7
    history: list[Turn] = field(default_factory=list)

    @property
    def active(self) -> str | None:
        return self.history[-1].active if self.history else None

    def turn(self, text: str) -> Turn:
        [pred] = self.predictor.predict([text])
        off = bool(pred.get("off_topic", False))
        active = self.active
        if off:
            event = "off_topic"
        elif active is None:
            event, active = "start", pred["label"]
        elif pred["label"] == active or pred["probability"] < self.switch_confidence:
            event = "continue"
        else:
            event, active = "switch", pred["label"]
        turn = Turn(text, pred["label"], pred["probability"], off, event, active)
        self.history.append(turn)
        return turn

    def reset(self) -> None:
        self.history.clear()
