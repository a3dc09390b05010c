import pytest
import torch

from pipelines.families import tagging
from pipelines.records import TagRecord

ID2LABEL = {0: "O", 1: "B-LOC", 2: "I-LOC"}


def test_score_stitches_windows_and_counts_invalid_sequences():
    records = [  # example 0 arrives as two windows, out of order
        TagRecord(0, 1, [2], torch.zeros(1, 3), [2]),
        TagRecord(0, 0, [0], torch.zeros(1, 3), [1]),
        TagRecord(1, 0, [1, 2], torch.zeros(2, 3), [1, 2]),
    ]
    s = tagging.score(records, ID2LABEL)
    # example 0 predicts O I-LOC: invalid IOB2, so strict mode finds no entity there
    assert s["invalid_rate"] == 0.5
    assert s["precision"] == 1.0 and s["recall"] == 0.5 and s["f1"] == pytest.approx(2 / 3)


def test_gold_strings_keep_types_the_model_never_saw():
    records = [TagRecord(0, 0, [1, 2], torch.zeros(2, 3)), TagRecord(1, 0, [0, 0], torch.zeros(2, 3))]
    s = tagging.score(records, ID2LABEL, gold=[["B-LOC", "I-LOC"], ["B-FOO", "I-FOO"]])
    assert s["recall"] == 0.5 and s["per_type"]["FOO"]["recall"] == 0.0
