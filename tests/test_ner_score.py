import pytest

from pipelines.families import tagging

ID2LABEL = {0: "O", 1: "B-LOC", 2: "I-LOC"}


def test_score_stitches_windows_and_counts_invalid_sequences():
    records = [  # example 0 arrives as two windows, out of order
        {"example_id": 0, "core_start": 1, "pred": [2], "gold": [2]},
        {"example_id": 0, "core_start": 0, "pred": [0], "gold": [1]},
        {"example_id": 1, "core_start": 0, "pred": [1, 2], "gold": [1, 2]},
    ]
    s = tagging.score(records, ID2LABEL)
    # example 0 predicts O I-LOC: invalid IOB2, so strict mode finds no entity there
    assert s["invalid_rate"] == 0.5
    assert s["precision"] == 1.0 and s["recall"] == 0.5 and s["f1"] == pytest.approx(2 / 3)


def test_gold_strings_keep_types_the_model_never_saw():
    records = [{"example_id": 0, "core_start": 0, "pred": [1, 2], "prob": [0.9, 0.9]},
               {"example_id": 1, "core_start": 0, "pred": [0, 0], "prob": [0.9, 0.9]}]
    s = tagging.score(records, ID2LABEL, gold=[["B-LOC", "I-LOC"], ["B-FOO", "I-FOO"]])
    assert s["recall"] == 0.5 and s["per_type"]["FOO"]["recall"] == 0.0
