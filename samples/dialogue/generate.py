"""Write the shipped dialogue sample (train/dev/test.json in sim-M's format): movie-ticket bookings made up
for this project from the templates below (invented movies and theatres), so that `make train TASK=dialogue`
runs on a fresh clone. Deterministic: `python samples/dialogue/generate.py` rewrites the same files.

Each dialogue follows one plan: the user states some slots, the system asks for the rest one or two at a
time, confirms, and the user affirms or corrects; sometimes the system offers a theatre the user accepts
("system" updates), or the user says any time is fine ("dontcare").
"""

from __future__ import annotations

import json
import random
from pathlib import Path

MOVIES = ["the silver harbour", "night of lanterns", "paper tigers", "the long winter", "echo valley",
          "a song for mira", "the glass orchard", "red canyon", "moonlight express", "the quiet engine",
          "river of stars", "the last lighthouse"]
THEATRES = ["regal union", "the odeon plaza", "cinema nova", "grand palace", "the strand", "lux theatre",
            "park avenue cinema", "the majestic"]
DATES = ["today", "tomorrow", "friday", "saturday", "sunday", "next monday", "wednesday"]
TIMES = ["6 pm", "7:30 pm", "8 pm", "9:15 pm", "5:45 pm", "10 pm", "4 pm"]
NUMBERS = ["1", "2", "3", "4", "5", "6"]
VALUES = {"movie": MOVIES, "theatre_name": THEATRES, "date": DATES, "time": TIMES, "num_tickets": NUMBERS}
ORDER = ["movie", "num_tickets", "date", "time", "theatre_name"]

OPENERS = ["i want to buy movie tickets", "i would like to book tickets for a movie", "can you get me movie tickets",
           "i need cinema tickets", "book me some movie tickets please"]
PHRASES = {  # how a user states one slot; {} is the value
    "movie": ["for {}", "to see {}", "the movie is {}", "i want to watch {}"],
    "num_tickets": ["{} tickets", "for {} people", "i need {} tickets", "{} seats please"],
    "date": ["on {}", "for {}", "the date is {}", "{} works"],
    "time": ["at {}", "around {}", "the {} show", "make it {}"],
    "theatre_name": ["at {}", "the theatre is {}", "at the cinema {}", "{} please"],
}
ASKS = {"movie": "which movie would you like to see ?", "num_tickets": "how many tickets do you need ?",
        "date": "what date would you like ?", "time": "what time do you prefer ?",
        "theatre_name": "which theatre should i book ?"}
AFFIRM = ["yes", "yes please", "that is right", "correct", "sounds good", "yes that works"]
NEGATE_FIX = {"time": ["no , make it {}", "no , i meant {}", "actually {} please"],
              "date": ["no , {} instead", "no , i said {}"], "num_tickets": ["no , {} tickets", "no , make it {}"]}
DONTCARE = {"time": ["any time is fine", "i do not mind the time"], "theatre_name": ["any theatre is fine"]}
CLOSERS = ["thank you", "thanks , bye", "great , thanks", "that is all , thank you"]


def utterance(parts: list[tuple[str, str | None]]) -> dict:
    """Tokens and token spans from (text, slot or None) pieces."""
    tokens, slots = [], []
    for text, slot in parts:
        words = text.split()
        if slot:
            slots.append({"slot": slot, "start": len(tokens), "exclusive_end": len(tokens) + len(words)})
        tokens += words
    return {"text": " ".join(tokens), "tokens": tokens, "slots": slots}


def stated(rng: random.Random, slot: str, value: str) -> list[tuple[str, str | None]]:
    before, after = rng.choice(PHRASES[slot]).split("{}")
    return [(p, s) for p, s in ((before.strip(), None), (value, slot), (after.strip(), None)) if p]


def dialogue(rng: random.Random, index: int) -> dict:
    goal = {s: rng.choice(v) for s, v in VALUES.items()}
    state: dict[str, str] = {}
    turns = []

    def turn(system: str | None, acts: list[dict], parts: list[tuple[str, str | None]], user_acts: list[str],
             intent: bool = False) -> None:
        user = utterance(parts)
        for s in user["slots"]:
            state[s["slot"]] = " ".join(user["tokens"][s["start"]:s["exclusive_end"]])
        t = {"user_utterance": user, "user_acts": [{"type": a} for a in user_acts]}
        if system is not None:
            t["system_utterance"] = {"text": system, "tokens": system.split(), "slots": []}
            t["system_acts"] = acts
        if intent:
            t["user_intents"] = ["BUY_MOVIE_TICKETS"]
        t["dialogue_state"] = [{"slot": k, "value": v} for k, v in state.items()]
        turns.append(t)

    first = rng.sample(ORDER, rng.randint(0, 3))
    parts: list[tuple[str, str | None]] = [(rng.choice(OPENERS), None)]
    for s in first:
        parts += stated(rng, s, goal[s])
    turn(None, [], parts, ["INFORM"], intent=True)
    missing = [s for s in ORDER if s not in state]
    offer_theatre = "theatre_name" in missing and rng.random() < 0.3
    if offer_theatre:
        missing.remove("theatre_name")
    while missing:
        ask = missing[:rng.choice([1, 2])]
        missing = missing[len(ask):]
        system = " and ".join(ASKS[s].rstrip(" ?") for s in ask) + " ?"
        if len(ask) == 1 and ask[0] in DONTCARE and rng.random() < 0.25:
            state[ask[0]] = "dontcare"
            turn(system, [{"type": "REQUEST", "slot": s} for s in ask], [(rng.choice(DONTCARE[ask[0]]), None)],
                 ["INFORM"])
            continue
        parts = []
        for s in ask:
            parts += stated(rng, s, goal[s]) if len(ask) > 1 or rng.random() < 0.5 else [(goal[s], s)]
        turn(system, [{"type": "REQUEST", "slot": s} for s in ask], parts, ["INFORM"])
    if offer_theatre:
        theatre = rng.choice(THEATRES)
        system = f"{theatre} has seats , shall i book there ?"
        acts = [{"type": "OFFER", "slot": "theatre_name", "value": theatre}]
        state["theatre_name"] = theatre
        turn(system, acts, [(rng.choice(AFFIRM), None)], ["AFFIRM"])
    fix = [s for s in NEGATE_FIX if state.get(s) not in (None, "dontcare")]
    if fix and rng.random() < 0.35:  # the user changes their mind when the system confirms a value
        slot = rng.choice(fix)
        new = rng.choice([v for v in VALUES[slot] if v != state[slot]])
        system = f"please confirm : {state[slot]} for the {slot.replace('_', ' ')} ?"
        before, after = rng.choice(NEGATE_FIX[slot]).split("{}")
        turn(system, [{"type": "CONFIRM", "slot": slot, "value": state[slot]}],
             [(p, s) for p, s in ((before.strip(), None), (new, slot), (after.strip(), None)) if p], ["NEGATE"])
    summary = " , ".join(f"{state[s]}" for s in ORDER if state.get(s) not in (None, "dontcare"))
    system = f"to confirm : {summary} . shall i book it ?"
    acts = [{"type": "CONFIRM", "slot": s, "value": state[s]} for s in ORDER if state.get(s) not in (None, "dontcare")]
    turn(system, acts, [(rng.choice(AFFIRM), None)], ["AFFIRM"])
    turn("your tickets are booked . anything else ?", [{"type": "NOTIFY_SUCCESS"}],
         [(rng.choice(CLOSERS), None)], ["THANK_YOU"])
    return {"dialogue_id": f"sample_{index:04d}", "turns": turns}


def main() -> None:
    rng = random.Random(7)
    here = Path(__file__).parent
    start = 0
    for split, n in (("train", 60), ("dev", 15), ("test", 15)):
        data = [dialogue(rng, start + i) for i in range(n)]
        start += n
        text = "[\n" + ",\n".join(json.dumps(d, separators=(",", ":")) for d in data) + "\n]\n"  # a dialogue a line
        (here / f"{split}.json").write_text(text, encoding="utf-8")


if __name__ == "__main__":
    main()
