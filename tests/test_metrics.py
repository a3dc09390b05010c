import numpy as np
import pytest

from pipelines.inference.metrics import (
    bootstrap_ci,
    classification_scores,
    entity_counts,
    entity_scores,
    f1_from_counts,
)


def test_entity_scores_hand_computed():
    gold = [["B-PER", "I-PER", "O", "B-LOC"], ["B-ORG", "O"]]
    pred = [["B-PER", "I-PER", "O", "B-ORG"], ["B-ORG", "O"]]
    s = entity_scores(gold, pred)  # tp = 2 (PER, ORG); 3 predicted; 3 gold
    assert s["precision"] == pytest.approx(2 / 3) and s["recall"] == pytest.approx(2 / 3)
    assert s["f1"] == pytest.approx(2 / 3)
    assert s["per_type"]["LOC"]["f1"] == 0.0 and s["per_type"]["PER"]["f1"] == 1.0
    assert s["per_type"]["ORG"]["precision"] == 0.5 and s["per_type"]["ORG"]["recall"] == 1.0
    assert s["macro_f1"] == pytest.approx((1.0 + 0.0 + 2 / 3) / 3)


def test_strict_mode_rejects_invalid_iob2():
    # the lenient default would count I-PER I-PER as one PER entity and score 1.0
    assert entity_scores([["B-PER", "I-PER"]], [["I-PER", "I-PER"]])["f1"] == 0.0


def test_counts_agree_with_seqeval():
    rng = np.random.default_rng(0)
    tags = ["O", "B-A", "I-A", "B-B", "I-B"]
    gold = [[tags[i] for i in rng.integers(0, 5, 8)] for _ in range(50)]
    pred = [[tags[i] if rng.random() < 0.7 else "O" for i in rng.integers(0, 5, 8)] for _ in range(50)]
    gold = [["O" if t.startswith("I") and (j == 0 or s[j - 1] == "O") else t for j, t in enumerate(s)]
            for s in gold]
    assert f1_from_counts(entity_counts(gold, pred)) == pytest.approx(entity_scores(gold, pred)["f1"])


def test_classification_scores_hand_computed():
    s = classification_scores(["a", "a", "b", "c"], ["a", "b", "b", "c"], ["a", "b", "c"])
    assert s["accuracy"] == 0.75
    assert s["per_class"]["a"] == {"precision": 1.0, "recall": 0.5, "f1": pytest.approx(2 / 3), "support": 2}
    assert s["per_class"]["b"]["precision"] == 0.5
    assert s["macro_f1"] == pytest.approx((2 / 3 + 2 / 3 + 1) / 3)
    assert s["confusion"]["matrix"] == [[1, 1, 0], [0, 1, 0], [0, 0, 1]]


def test_bootstrap_interval_brackets_the_estimate():
    values = np.array([1.0] * 80 + [0.0] * 20)
    lo, hi = bootstrap_ci(lambda v: float(v.mean()), values, resamples=500)
    assert lo < 0.8 < hi and hi - lo < 0.2
