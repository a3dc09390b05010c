"""The bot on the real default encoder, trained on the shipped dialogue sample (as `make train TASK=dialogue`
does): scripted conversations with the expected action and state after every turn. Slow (about two minutes):
`make test-all`."""

import pytest

from pipelines.methods.chat import Session

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def engine(tmp_path_factory):
    from pipelines.config import load_config
    from pipelines.inference.chat import build_engine
    from pipelines.inference.predict import Predictor
    from pipelines.training.train import run

    out = tmp_path_factory.mktemp("dialogue_real")
    run(load_config(None, ["train.progress_bar=false", f"train.out_dir={out}"], task="dialogue"), out / "run")
    return build_engine(Predictor.load(out / "run"))


def play(engine, script):
    session = Session.new()
    for text, action, state in script:
        reply = engine.reply(session, text)
        assert (reply.action, reply.state if state is not None else None) == (action, state), (text, reply)
    return session


BOOKED = {"movie": "paper tigers", "num_tickets": "2", "date": "friday", "time": "8 pm", "theatre_name": "the strand"}


def test_happy_path_and_a_correction(engine):
    play(engine, [
        ("i want to buy movie tickets for paper tigers", "request", {"movie": "paper tigers"}),
        ("2 tickets", "request", {"movie": "paper tigers", "num_tickets": "2"}),
        ("friday", "request", {"movie": "paper tigers", "num_tickets": "2", "date": "friday"}),
        ("at 7:30 pm", "request", None),
        ("the theatre is the strand", "confirm", {**BOOKED, "time": "7:30 pm"}),
        ("no , make it 8 pm", "confirm", BOOKED),
        ("yes", "book", BOOKED),
    ])


def test_off_topic_interruption_and_return(engine):
    session = play(engine, [("i need cinema tickets for red canyon", "request", {"movie": "red canyon"}),
                            ("what is the weather like in paris tomorrow ?", "redirect", {"movie": "red canyon"})])
    reply = engine.reply(session, "3 tickets")
    assert reply.state == {"movie": "red canyon", "num_tickets": "3"}


def test_unknown_movie_and_empty_message(engine):
    play(engine, [("book me some movie tickets please", "request", {}),
                  ("", "empty", {}),
                  ("to see the flying submarine", "unknown_value", {})])
