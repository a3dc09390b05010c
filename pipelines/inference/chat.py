"""Talk to a dialogue run in the terminal: `make chat RUN=runs/dialogue-... [ARGS="guard=runs/toxicity-..."]`.

The bot is pipelines.methods.chat.ChatEngine over the run's tracker (the dialogue task's `predict_turns`, which
also applies the run's off-topic detector) and, with `guard=`, a toxicity run that refuses toxic messages. The
same engine answers POST /chat of `make serve RUN=<dialogue run>` (pipelines.inference.serve).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from pipelines.methods.chat import Catalogue, ChatEngine, Domain, Session


class TrackerNLU:
    """The engine's `nlu` over a dialogue Predictor (its model, tokenizer, off-topic detector)."""

    def __init__(self, predictor: Any) -> None:
        if predictor.task_name != "dialogue":
            raise ValueError(f"{predictor.task_name!r} run: the chat needs a dialogue run (make train TASK=dialogue)")
        self.predictor = predictor

    def __call__(self, turns: list[dict[str, Any]]) -> list[dict[str, Any]]:
        p = self.predictor
        return p.task.predict_turns(p.model, p.tokenizer, turns, p.batch_size, p.data, p.featurizers)

    def split(self, text: str) -> list[str]:
        """The words of a message, by the run's splitter (the one its training words came from)."""
        from pipelines.data.rawtext import get_splitter

        return [w for w, _, _ in get_splitter(self.predictor.data.splitter)(text)]


def toxicity_guard(run: str | Path, threshold: float = 0.5) -> Any:
    """A guard from a toxicity run: True when its post head says toxic with at least `threshold`."""
    from pipelines.inference.predict import Predictor

    guard = Predictor.load(run)
    if guard.task_name != "toxicity":
        raise ValueError(f"guard={run}: a {guard.task_name!r} run, expected a toxicity run")

    def is_toxic(text: str) -> bool:
        [pred] = guard.predict([text])
        return bool(pred.get("toxic")) and (pred.get("probability") or 0) >= threshold

    return is_toxic


def build_engine(predictor: Any, guard: str = "", max_chars: int = 500) -> ChatEngine:
    """The engine for a dialogue run: the movie domain, its catalogue from the run's training states."""
    catalogue = predictor.featurizers.get("catalogue")
    domain = Domain.movies(catalogue.values if isinstance(catalogue, Catalogue) else None)
    guards = [toxicity_guard(guard)] if guard else []
    nlu = TrackerNLU(predictor)
    return ChatEngine(nlu, domain, guards, max_chars, split=nlu.split)


def _lines():
    """Piped input line by line, or the terminal's until Ctrl-D / Ctrl-C."""
    if not sys.stdin.isatty():
        yield from sys.stdin
        return
    while True:
        try:
            yield input("you> ")
        except (EOFError, KeyboardInterrupt):
            print()
            return


def main(argv: list[str] | None = None) -> int:
    from transformers.utils import logging as hf_logging

    from pipelines.inference.predict import Predictor

    hf_logging.disable_progress_bar()
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("run", help="a dialogue run dir")
    parser.add_argument("options", nargs="*", help="guard=<toxicity run>, state=1 (print the state each turn)")
    args = parser.parse_args(argv)
    opts = dict(o.split("=", 1) for o in args.options if "=" in o)
    engine = build_engine(Predictor.load(args.run), opts.get("guard", ""))
    show_state = opts.get("state", "1") not in {"0", "false", "no"}
    session = Session.new()
    print(f"bot> {engine.greeting()}   (Ctrl-D or 'quit' ends)")
    for line in _lines():
        text = line.rstrip("\n")
        if text.strip().lower() in {"quit", "exit"}:
            break
        if not sys.stdin.isatty():
            print(f"you> {text}")
        reply = engine.reply(session, text)
        print(f"bot> {reply.text}" + (f"   [{reply.action}] {reply.state}" if show_state else ""))
        if reply.action == "book":
            break
    return 0


if __name__ == "__main__":
    from pipelines.cli import run_cli

    run_cli(main)
