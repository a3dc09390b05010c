"""Dialogue data (reader, update gates, SGD conversion), the tracker's encoding and scoring, and the chat
engine on scripted conversations with a rule NLU (the real tracker plays them in a slow test)."""

import json

import pytest
import torch
from conftest import train_tiny
from pipelines.tasks import dialogue

from pipelines.config import DataConfig
from pipelines.data.dialogue import GATES, gate_of, read_dialogues, same_state, sgd_to_dialogues, update, user_spans
from pipelines.data.tags import LabelSets
from pipelines.errors import ReadError
from pipelines.families import dialogue_state as dlg
from pipelines.inference.sessions import SqliteSessionStore
from pipelines.methods.chat import Catalogue, ChatEngine, Domain, Session, SessionExpired
from pipelines.models.outputs import TaskOutput

SAMPLE = dialogue.TASK.sample


def utt(text, slots=()):
    tokens = text.split()
    return {"text": text, "tokens": tokens,
            "slots": [{"slot": s, "start": a, "exclusive_end": b} for s, a, b in slots]}


def dialogue_json(tmp_path, turns, name="d.json"):
    path = tmp_path / name
    path.write_text(json.dumps([{"dialogue_id": "d1", "turns": turns}]))
    return path


TURNS = [
    {"user_utterance": utt("two tickets for paper tigers", [("num_tickets", 0, 1), ("movie", 3, 5)]),
     "user_intents": ["BUY"], "dialogue_state": [{"slot": "num_tickets", "value": "two"},
                                                 {"slot": "movie", "value": "paper tigers"}]},
    {"system_utterance": utt("regal union has seats , ok ?"),
     "system_acts": [{"type": "OFFER", "slot": "theatre", "value": "regal union"}],
     "user_utterance": utt("yes"), "dialogue_state": [{"slot": "num_tickets", "value": "two"},
                                                     {"slot": "movie", "value": "paper tigers"},
                                                     {"slot": "theatre", "value": "regal union"}]},
    {"system_utterance": utt("what time ?"), "system_acts": [{"type": "REQUEST", "slot": "time"}],
     "user_utterance": utt("any time , and not paper tigers"),
     "dialogue_state": [{"slot": "num_tickets", "value": "two"}, {"slot": "theatre", "value": "regal union"},
                        {"slot": "time", "value": "dontcare"}]},
]


def test_reader_turns_gates_history_and_offered_values(tmp_path):
    ds = read_dialogues(dialogue_json(tmp_path, TURNS))
    assert len(ds) == 3 and ds[0]["tags"] == ["B-num_tickets", "O", "O", "B-movie", "I-movie"]
    assert ds[0]["label"] == ds[2]["label"] == "BUY"  # the stated intent stays active
    assert {g["slot"]: g["gate"] for g in ds[0]["gates"]} == {"num_tickets": "copy", "movie": "copy"}
    assert {g["slot"]: g["gate"] for g in ds[1]["gates"]} == {"theatre": "system"}
    assert {g["slot"]: g["gate"] for g in ds[2]["gates"]} == {"time": "dontcare", "movie": "delete"}
    assert ds[1]["system"] == "regal union has seats , ok ?".split()
    assert ds[1]["system_values"] == [{"slot": "theatre", "value": "regal union"}]
    assert ds[2]["history"] == ["user : two tickets for paper tigers", "system : regal union has seats , ok ?",
                                "user : yes"]


def test_reader_errors_name_the_file_the_dialogue_and_the_turn(tmp_path):
    bad = [{"user_utterance": utt("two tickets", [("num_tickets", 1, 5)]), "dialogue_state": []}]
    with pytest.raises(ReadError, match=r"d\.json: dialogue d1 turn 0: slot 'num_tickets' span \[1, 5\) is outside"):
        read_dialogues(dialogue_json(tmp_path, bad))
    (tmp_path / "x.json").write_text('{"a": 1}')
    with pytest.raises(ReadError, match="x.json: expected a JSON list of dialogues"):
        read_dialogues(tmp_path / "x.json")


def test_gold_gates_and_spans_rebuild_every_state_of_the_shipped_sample():
    """The update labels are complete on the sample: applying them to the previous state gives the next."""
    ds = read_dialogues(SAMPLE / "train.json")
    state, dialogue = {}, None
    for row in ds:
        if row["dialogue_id"] != dialogue:
            state, dialogue = {}, row["dialogue_id"]
        gates = {g["slot"]: g["gate"] for g in row["gates"]}
        offered = {p["slot"]: p["value"] for p in row["system_values"]}
        state = update(state, gates, user_spans(row["tokens"], row["tags"]), offered)
        assert same_state(state, {p["slot"]: p["value"] for p in row["state"]}), (row["dialogue_id"], row["turn"])
    kinds = {g["gate"] for r in ds["gates"] for g in r}
    assert {"copy", "system", "dontcare"} <= kinds and "other" not in kinds


def test_gate_of_compares_normalised_values():
    assert gate_of("6 pm", "6 PM", None, None) == "carry"
    assert gate_of(None, "6:00 pm", "6:00pm", None) == "copy"
    assert gate_of("5 pm", "6 pm", None, "6 pm") == "system"
    assert gate_of("5 pm", "6 pm", "7 pm", None) == "other"


def test_sgd_dialogue_becomes_word_spans_and_states():
    sgd = {"dialogue_id": "1_0", "services": ["Restaurants_1"], "turns": [
        {"speaker": "USER", "utterance": "Find a place in San Jose.", "frames": [
            {"service": "Restaurants_1", "actions": [], "slots": [{"slot": "city", "start": 16, "exclusive_end": 24}],
             "state": {"active_intent": "FindRestaurants", "slot_values": {"city": ["San Jose"]}}}]},
        {"speaker": "SYSTEM", "utterance": "How about Sushi Bar?", "frames": [
            {"service": "Restaurants_1", "actions": [{"act": "OFFER", "slot": "restaurant_name",
                                                      "values": ["Sushi Bar"]}], "slots": []}]},
        {"speaker": "USER", "utterance": "Sounds good.", "frames": [
            {"service": "Restaurants_1", "actions": [], "slots": [],
             "state": {"active_intent": "FindRestaurants",
                       "slot_values": {"city": ["San Jose"], "restaurant_name": ["Sushi Bar"]}}}]}]}
    [d] = sgd_to_dialogues([sgd])
    first, second = d["turns"]
    assert first["user_utterance"]["slots"] == [{"slot": "city", "start": 4, "exclusive_end": 6}]
    assert first["user_intents"] == ["FindRestaurants"] and "system_utterance" not in first
    assert second["system_acts"] == [{"type": "OFFER", "slot": "restaurant_name", "value": "Sushi Bar"}]
    assert {s["slot"]: s["value"] for s in second["dialogue_state"]} == {"city": "San Jose",
                                                                        "restaurant_name": "Sushi Bar"}


@pytest.fixture(scope="module")
def tokenizer():
    from pipelines.models.encoders import load_tokenizer

    return load_tokenizer("tiny")


def labels_for(ds):
    """The task's label sets in the stored form (one list), as the harness hands them over."""
    sets = dialogue.DialogueTask().label_list({"train": ds})
    assert isinstance(sets, LabelSets) and LabelSets.of(sets.flat()) == sets
    return sets.flat()


@pytest.mark.parametrize("context", dialogue.CONTEXTS)
def test_encode_puts_the_context_after_the_user_turn(tmp_path, tokenizer, context):
    ds = read_dialogues(dialogue_json(tmp_path, TURNS))
    labels = labels_for(ds)
    feats = dlg.encode(ds, tokenizer, {x: i for i, x in enumerate(labels)}, DataConfig(max_length=64), context)
    row = feats.rows[2]
    user_len = len(row["word_starts"])
    assert row["token_type_ids"].count(0) >= user_len + 2  # [CLS] user [SEP]
    context_len = row["token_type_ids"].count(1)
    assert context_len == (1 if context == "user" else context_len)  # 'user': the closing [SEP] only
    lengths = {c: len(dlg.encode(ds, tokenizer, {x: i for i, x in enumerate(labels)}, DataConfig(max_length=64),
                                 c).rows[2]["input_ids"]) for c in dialogue.CONTEXTS}
    assert lengths["user"] < lengths["system"] < lengths["history"]
    short = dlg.encode(ds, tokenizer, {x: i for i, x in enumerate(labels)}, DataConfig(max_length=12), context)
    assert max(short.lengths) <= 12
    slots = LabelSets.of(labels).slots
    assert row["gate_labels"] == [GATES.index({"movie": "delete", "time": "dontcare"}.get(s, "carry"))
                                  for s in slots]


def test_history_context_is_most_recent_first():
    row = {"system": ["what", "time", "?"], "history": ["user : a", "system : b", "user : c"]}
    assert dlg.context_text(row, "history") == "what time ? ; user : c ; system : b ; user : a"
    assert dlg.context_text(row, "system") == "what time ?" and dlg.context_text(row, "user") == ""


def records_for(tmp_path, tokenizer, gate_override=None):
    """Records of the three TURNS with gold predictions (optionally one gate changed)."""
    ds = read_dialogues(dialogue_json(tmp_path, TURNS))
    labels = labels_for(ds)
    label2id = {x: i for i, x in enumerate(labels)}
    feats = dlg.encode(ds, tokenizer, label2id, DataConfig(max_length=64), "history")
    from pipelines.data.batching import Collator

    batch = Collator(tokenizer.pad_token_id)(feats.rows)
    intents, slots, tags = LabelSets.of(labels)
    slot_logits = torch.full((*batch["input_ids"].shape, len(tags)), -5.0)
    slot_logits.scatter_(-1, batch["labels"].clamp(min=0)[..., None], 5.0)
    gate_logits = torch.full((3, len(slots), len(GATES)), -5.0)
    gate_logits.scatter_(-1, batch["gate_labels"].clamp(min=0)[..., None], 5.0)
    if gate_override:
        turn, slot, gate = gate_override
        gate_logits[turn, slots.index(slot)] = -5.0
        gate_logits[turn, slots.index(slot), GATES.index(gate)] = 5.0
    out = TaskOutput(intent_logits=torch.zeros(3, len(intents)), gate_logits=gate_logits, slot_logits=slot_logits,
                     pooled=torch.zeros(3, 4))
    from pipelines.models.decoding import make_decoder

    return dlg.gather(batch, out, make_decoder(tags, "viterbi")), dict(enumerate(labels))


def test_jga_follows_the_trackers_own_state(tmp_path, tokenizer):
    records, id2label = records_for(tmp_path, tokenizer)
    scores = dlg.score(records, id2label)
    assert scores["jga"] == scores["jga_oracle"] == 1.0 and scores["slot_f1"] == 1.0
    # the offer of turn 1 not taken: turns 1 and 2 both miss the theatre (the error carries over)
    records, id2label = records_for(tmp_path, tokenizer, gate_override=(1, "theatre", "carry"))
    scores = dlg.score(records, id2label)
    assert scores["jga"] == pytest.approx(1 / 3) and scores["slot_acc"]["theatre"] == pytest.approx(1 / 3)
    assert scores["slot_acc"]["movie"] == 1.0 and scores["jga_oracle"] == 1.0


# the chat engine -------------------------------------------------------------------------------------------
NUMBERS = {"one": "1", "two": "2", "three": "3", "four": "4", "1": "1", "2": "2", "3": "3", "4": "4"}
CATALOGUE = {"movie": ["paper tigers", "echo valley", "red canyon"], "theatre_name": ["regal union", "the strand"]}
WEATHER = {"weather", "rain", "forecast", "joke"}


def rule_nlu(turns):
    """A keyword tracker with the real one's interface: values it finds in the text are copied, a yes takes
    what the system offered, the weather is off topic."""
    out = []
    for t in turns:
        text = " ".join(t["tokens"]).lower()
        said = {}
        for movie in CATALOGUE["movie"] + ["the matrix"]:
            if movie in text:
                said["movie"] = movie
        for theatre in CATALOGUE["theatre_name"]:
            if theatre in text:
                said["theatre_name"] = theatre
        for w in t["tokens"]:
            if w.lower() in NUMBERS and "ticket" in text:
                said["num_tickets"] = NUMBERS[w.lower()]
            if w.lower() in {"today", "tomorrow", "friday"}:
                said["date"] = w.lower()
        for i, w in enumerate(t["tokens"]):
            if w.lower() == "pm" and i:
                said["time"] = f"{t['tokens'][i - 1]} pm"
        gates = {s: "copy" for s in said}
        if {"yes", "sure"} & set(text.split()):
            gates.update({s: "system" for s in t["system_values"] if s not in said})
        state = update(t["prev_state"], gates, said, t["system_values"])
        out.append({"state": state, "gates": gates, "said": said,
                    "off_topic": bool(WEATHER & set(text.split())) and not said})
    return out


def play(engine, session, script):
    """Each step: (user text, expected action, expected state subset or None)."""
    for text, action, state in script:
        reply = engine.reply(session, text)
        assert reply.action == action, (text, reply)
        if state is not None:
            assert reply.state == state, (text, reply.state)
    return reply


FULL = {"movie": "paper tigers", "num_tickets": "2", "date": "tomorrow", "time": "7 pm", "theatre_name": "the strand"}


@pytest.fixture
def engine():
    return ChatEngine(rule_nlu, Domain.movies(CATALOGUE))


def test_happy_path_asks_for_what_is_missing_confirms_and_books(engine):
    session = Session.new()
    reply = play(engine, session, [
        ("two tickets for paper tigers", "request", {"movie": "paper tigers", "num_tickets": "2"}),
        ("tomorrow", "request", {"movie": "paper tigers", "num_tickets": "2", "date": "tomorrow"}),
        ("7 pm", "request", None),
        ("the strand", "confirm", FULL),
        ("yes", "book", FULL),
    ])
    assert "paper tigers" in reply.text and session.phase == "done"


def test_a_correction_changes_the_value_and_confirms_again(engine):
    session = Session.new()
    play(engine, session, [
        ("two tickets for paper tigers tomorrow at the strand", "request", None),
        ("7 pm", "confirm", FULL),
        ("no , make it 8 pm", "confirm", {**FULL, "time": "8 pm"}),
        ("no", "ask_change", {**FULL, "time": "8 pm"}),
        ("three tickets", "confirm", {**FULL, "time": "8 pm", "num_tickets": "3"}),
        ("sure", "book", None),
    ])


def test_an_off_topic_message_is_redirected_and_the_state_kept(engine):
    session = Session.new()
    play(engine, session, [("two tickets for echo valley", "request", None)])
    kept = dict(session.state)
    reply = play(engine, session, [("what is the weather like", "redirect", kept)])
    assert "movie tickets" in reply.text and "date" in reply.text  # and the pending question again
    play(engine, session, [("friday", "request", {**kept, "date": "friday"})])


def test_an_unknown_movie_is_refused_with_what_is_showing(engine):
    session = Session.new()
    reply = play(engine, session, [("two tickets for the matrix", "unknown_value", {"num_tickets": "2"})])
    assert "the matrix" in reply.text and "paper tigers" in reply.text
    play(engine, session, [("red canyon", "request", {"num_tickets": "2", "movie": "red canyon"})])


def test_empty_and_very_long_messages_change_nothing(engine):
    session = Session.new()
    play(engine, session, [("two tickets for red canyon", "request", None)])
    kept = dict(session.state)
    play(engine, session, [("   ", "empty", kept), ("tickets " * 200, "too_long", kept)])
    assert session.turns == 1


def test_a_guard_refuses_and_keeps_the_state():
    engine = ChatEngine(rule_nlu, Domain.movies(CATALOGUE), guards=[lambda text: "idiot" in text])
    session = Session.new()
    play(engine, session, [("two tickets for red canyon", "request", None)])
    kept = dict(session.state)
    play(engine, session, [("you idiot", "refuse", kept)])


def test_sessions_expire_survive_a_restart_and_stay_apart(tmp_path, engine, monkeypatch):
    store = SqliteSessionStore(tmp_path / "s.db", ttl_s=60)
    a, b = store.new(), store.new()
    engine.reply(a, "two tickets for paper tigers")
    engine.reply(b, "one ticket for red canyon")
    store.save(a)
    store.save(b)
    restarted = SqliteSessionStore(tmp_path / "s.db", ttl_s=60)  # a new process reads the saved sessions
    assert restarted.get(a.id).state == {"movie": "paper tigers", "num_tickets": "2"}
    assert restarted.get(b.id).state == {"movie": "red canyon", "num_tickets": "1"}
    for bad in ("../" + a.id, a.id.upper(), "", "0" * 31):
        with pytest.raises(KeyError):
            restarted.get(bad)
    import time

    later = time.time() + 61
    monkeypatch.setattr(time, "time", lambda: later)
    with pytest.raises(SessionExpired):
        restarted.get(a.id)
    with pytest.raises(KeyError):  # deleted once it expired
        restarted.get(a.id)


def test_catalogue_round_trip(tmp_path):
    cat = Catalogue.from_states([[{"slot": "movie", "value": "x"}, {"slot": "time", "value": "dontcare"}],
                                 [{"slot": "movie", "value": "y"}, {"slot": "movie", "value": "x"}]])
    assert cat.values == {"movie": ["x", "y"]}
    cat.save_pretrained(tmp_path)
    assert Catalogue.load(tmp_path).values == cat.values and Catalogue.load(tmp_path / "none") is None


# the tracker end to end (tiny encoder) and the HTTP chat route ---------------------------------------------
@pytest.fixture(scope="module")
def dialogue_run(tmp_path_factory):
    return train_tiny(tmp_path_factory.mktemp("dialogue"), "dialogue", "data.max_length=48")


def test_a_dialogue_run_saves_its_catalogue_and_detector_and_predicts_turns(dialogue_run):
    from pipelines.inference.chat import build_engine
    from pipelines.inference.predict import Predictor

    predictor = Predictor.load(dialogue_run)
    assert set(predictor.featurizers) == {"offtopic", "catalogue"}
    assert "paper tigers" in predictor.featurizers["catalogue"].values["movie"]
    [first] = predictor.predict(["two tickets for paper tigers"])
    assert {"intent", "probability", "gates", "said", "state", "off_topic"} <= set(first)
    turns = [{"text": "two tickets", "system": ["which", "movie", "?"], "history": ["user : hi"],
              "system_values": {"movie": "red canyon"}, "prev_state": {"date": "friday"}}]
    [pred] = dlg.predict_turns(predictor.model, predictor.tokenizer, turns, featurizers=predictor.featurizers)
    assert set(pred["gates"]) <= set(predictor.model.slots) and set(pred["gates"].values()) <= set(GATES)
    engine = build_engine(predictor)
    session = Session.new()
    reply = engine.reply(session, "two tickets for paper tigers")
    assert reply.action in {"request", "confirm", "redirect", "unknown_value"} and session.turns == 1


@pytest.fixture
def chat_client(dialogue_run, tmp_path):
    from fastapi.testclient import TestClient

    from pipelines.inference.predict import Predictor
    from pipelines.inference.serve import ServeConfig, create_app

    def make(ttl=60.0, max_sessions=10_000):
        engine = ChatEngine(rule_nlu, Domain.movies(CATALOGUE))
        app = create_app(Predictor.load(dialogue_run), ServeConfig(max_wait_ms=1), "run",
                         chat=(engine, SqliteSessionStore(tmp_path / "sessions.db", ttl, max_sessions)))
        return TestClient(app)

    return make


def test_chat_route_sessions_restart_and_expiry(chat_client, monkeypatch):
    with chat_client() as client:
        hello = client.post("/chat", json={}).json()
        assert hello["action"] == "greet" and len(hello["session_id"]) == 32
        sid = hello["session_id"]
        r = client.post("/chat", json={"session_id": sid, "text": "two tickets for paper tigers"}).json()
        assert r["action"] == "request" and r["state"] == {"movie": "paper tigers", "num_tickets": "2"}
        other = client.post("/chat", json={"text": "one ticket for red canyon"}).json()
        assert other["session_id"] != sid and other["state"] == {"movie": "red canyon", "num_tickets": "1"}
        assert client.post("/chat", json={"session_id": "f" * 32, "text": "hi"}).status_code == 404
        assert client.post("/chat", json={"session_id": sid, "text": 3}).status_code == 422
        assert client.post("/predict", json={"texts": ["two tickets"]}).status_code == 200  # one server, both
    with chat_client() as client:  # a restarted server
        r = client.post("/chat", json={"session_id": sid, "text": "tomorrow"}).json()
        assert r["state"] == {"movie": "paper tigers", "num_tickets": "2", "date": "tomorrow"}
    import time

    later = time.time() + 90  # expired (ttl 60), not yet swept (2 x ttl)
    monkeypatch.setattr(time, "time", lambda: later)
    with chat_client() as client:
        r = client.post("/chat", json={"session_id": sid, "text": "7 pm"}).json()
        assert r["action"] == "expired" and r["state"] == {} and r["session_id"] != sid
        forgotten = r["session_id"]
    much_later = later + 121
    monkeypatch.setattr(time, "time", lambda: much_later)
    with chat_client() as client:  # swept when the store opens: an id like any unknown one
        assert client.post("/chat", json={"session_id": forgotten, "text": "hi"}).status_code == 404


def test_chat_route_caps_sessions_and_never_echoes_a_long_id(chat_client):
    with chat_client(max_sessions=2) as client:
        assert client.post("/chat", json={}).status_code == 200
        assert client.post("/chat", json={"text": "two tickets"}).status_code == 200
        full = client.post("/chat", json={})
        assert full.status_code == 503 and "max_sessions" in full.json()["error"]
        long_id = client.post("/chat", json={"session_id": "a" * 1_000_000, "text": "hi"})
        assert long_id.status_code == 422 and len(long_id.text) < 200
        unknown = client.post("/chat", json={"session_id": "f" * 32, "text": "hi"})
        assert unknown.status_code == 404 and "f" * 32 not in unknown.text
        bad = client.post("/chat", content=b'{"text": "two \\ud800 tickets"}',
                          headers={"content-type": "application/json"})
        assert bad.status_code == 422 and "surrogate" in bad.json()["error"]


def test_a_yes_to_what_should_i_change_is_asked_again_not_redirected():
    """The real tracker flags a bare "yes" as off topic; after "What should I change?" it is an answer."""
    def flags_yes(turns):
        out = rule_nlu(turns)
        for t, o in zip(turns, out, strict=True):
            o["off_topic"] = o["off_topic"] or " ".join(t["tokens"]).lower() in {"yes", "no"}
        return out

    session = Session.new()
    play(ChatEngine(flags_yes, Domain.movies(CATALOGUE)), session, [
        ("two tickets for paper tigers tomorrow at the strand", "request", None),
        ("7 pm", "confirm", FULL),
        ("no", "ask_change", FULL),
        ("yes", "ask_change", FULL),
        ("no", "confirm", FULL),
        ("no", "ask_change", FULL),
        ("8 pm", "confirm", {**FULL, "time": "8 pm"}),
        ("yes", "book", None),
    ])


def test_augmentation_copies_only_dialogues_with_a_slot_it_can_replace(tokenizer, caplog):
    """The default augments `movie` values; data without that slot is not copied for nothing (a warning)."""
    from helpers import make_task

    ds = read_dialogues(SAMPLE / "train.json")
    assert "movie" in {p["slot"] for st in ds["state"] for p in st}
    assert len(make_task("dialogue").augment(ds, tokenizer, 0)) == 3 * len(ds)  # the default: 2 copies
    other = make_task("dialogue", augment_slots="song")
    assert other.augment(ds, tokenizer, 0) is ds and "no such slot" in caplog.text


def test_made_up_values_keep_the_measured_draws_and_titles_look_like_titles():
    """`words` style draws exactly what the published runs drew (1-4 words); `titles` gives 1-7 words, never a
    bare number, the same values for the same seed; a copy's tags still follow its words."""
    import random

    from pipelines.data.dialogue import FUNCTION_WORDS, made_up_value, replace_values

    words = [f"w{i}" for i in range(50)]
    old, new = random.Random(3), random.Random(3)
    assert [" ".join(old.choice(words) for _ in range(old.randint(1, 4))) for _ in range(200)] == \
        [made_up_value(new, words) for _ in range(200)]
    rng = random.Random(5)
    titles = [made_up_value(rng, words, "titles") for _ in range(2000)]
    assert titles == [made_up_value(r, words, "titles") for r in [random.Random(5)] for _ in range(2000)]
    lengths = {len(t.split()) for t in titles}
    assert lengths == set(range(1, 8))
    assert not any(t.isdigit() for t in titles)
    assert any(t.endswith("!") for t in titles) and any(" the " in f" {t} " for t in titles)
    ds = read_dialogues(SAMPLE / "train.json")
    copy = replace_values(ds, ["movie"], words, seed=0, copies=1, style="titles")
    assert all(len(r["tokens"]) == len(r["tags"]) for r in copy)
    said = [v for r in copy for k, v in user_spans(r["tokens"], r["tags"]).items() if k == "movie"]
    pieces = {x for v in said for w in v.split() for x in w.rstrip("!?").split("-")}
    made = {x for x in pieces if x not in words and x not in FUNCTION_WORDS and not x.isdigit()}
    # a made-up word is the start of a known word and the end of another ("w1" + "2" = "w12" is also a word)
    assert said and all(any(x.startswith(w[:2]) for w in words) and x.isalnum() for x in made)
    blends = {x for t in titles for w in t.split() for x in w.rstrip("!?").split("-")} - set(words)
    assert {x for x in blends if not x.isdigit()} - set(FUNCTION_WORDS)
    with pytest.raises(ValueError, match="titles"):
        replace_values(ds, ["movie"], words, seed=0, style="names")
