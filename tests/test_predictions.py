"""The prediction schema (pipelines.predictions): what to_dict() gives, and that every task's predict follows it."""

from pipelines.predictions import PREDICTIONS, Classification, Entities, Entity, Ranked, Turn, fields_of


def test_to_dict_nests_and_leaves_out_only_empty_optional_fields():
    plain = Classification("a", 0.9, [Ranked("a", 0.9), Ranked("b", 0.1)])
    assert plain.to_dict() == {"label": "a", "probability": 0.9, "top_k": [{"label": "a", "probability": 0.9},
                                                                           {"label": "b", "probability": 0.1}]}
    flagged = Classification("a", 0.9, [], off_topic=False, off_topic_score=0.2).to_dict()
    assert flagged["off_topic"] is False and flagged["off_topic_score"] == 0.2 and "topics" not in flagged
    ents = Entities([Entity("LOC", "Oslo", 9, 13, 0.97)]).to_dict()
    assert ents == {"entities": [{"type": "LOC", "text": "Oslo", "start": 9, "end": 13, "score": 0.97}]}
    turn = Turn("find_movie", 0.8, {}, {"movie": "alien"}, {"movie": "alien"}).to_dict()
    assert set(turn) == {"intent", "probability", "gates", "said", "state"}


def test_every_task_has_a_schema_and_optional_fields_are_marked():
    from pipelines.registry import known_tasks

    assert set(known_tasks()) == set(PREDICTIONS)
    assert fields_of("intent")["off_topic"].endswith("?") and not fields_of("intent")["label"].endswith("?")
    assert fields_of("nope") == {}
