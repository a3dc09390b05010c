import numpy as np
import pytest

from pipelines.methods.badlabels import (
    calibrate,
    class_thresholds,
    confident_joint,
    normalized_margin,
    prune_by_noise_rate,
    self_confidence,
)

P = np.array([[0.9, 0.1], [0.8, 0.2], [0.3, 0.7], [0.2, 0.8], [0.9, 0.1]])
Y = np.array([0, 0, 1, 1, 1])  # the last example is labelled 1 but looks like 0


def test_scores_by_hand():
    assert self_confidence(P, Y) == pytest.approx([0.9, 0.8, 0.7, 0.8, 0.1])
    assert normalized_margin(P, Y) == pytest.approx([0.8, 0.6, 0.4, 0.6, -0.8])
    assert class_thresholds(P, Y) == pytest.approx([0.85, (0.7 + 0.8 + 0.1) / 3])


def test_confident_joint_and_pruning_by_hand():
    joint, col = confident_joint(P, Y)
    # ex0: p0 .9 >= .85 -> 0; ex1: nothing reaches its threshold; ex2, ex3 -> 1; ex4: p0 .9 >= .85 -> 0
    assert col.tolist() == [0, -1, 1, 1, 0]
    assert joint.tolist() == [[1, 0], [1, 2]]
    assert calibrate(joint, Y).tolist() == [[2, 0], [1, 2]]  # row 0: 1 counted of 2 labelled 0
    assert prune_by_noise_rate(P, Y).tolist() == [False, False, False, False, True]


def test_planted_flips_rank_on_top():
    rng = np.random.default_rng(0)
    n, k = 400, 4
    true = rng.integers(0, k, n)
    probs = rng.dirichlet(np.ones(k) * 0.5, n) * 0.3
    probs[np.arange(n), true] += 0.7  # a decent model: most mass on the true class
    given = true.copy()
    flipped = rng.choice(n, 40, replace=False)
    given[flipped] = (true[flipped] + rng.integers(1, k, 40)) % k
    top = np.argsort(self_confidence(probs, given))[:40]
    assert len(set(top) & set(flipped)) >= 38
    flagged = set(np.flatnonzero(prune_by_noise_rate(probs, given)))
    # confident learning is precise first: what it flags is wrong; it misses flips the model is unsure of
    assert flagged <= set(flipped) and len(flagged) >= 30


def test_span_type_probs_by_hand():
    from pipelines.methods.badlabels import span_type_probs

    labels = ["O", "B-LOC", "I-LOC", "B-PER", "I-PER"]
    words = np.array([[0.1, 0.6, 0.0, 0.3, 0.0],   # LOC 0.6, PER 0.3
                      [0.5, 0.0, 0.1, 0.0, 0.4]])  # LOC 0.1, PER 0.4
    # mean LOC 0.35, PER 0.35 -> 0.5 / 0.5; MISC has no tags among the labels -> 0
    assert np.allclose(span_type_probs(words, labels, ["LOC", "PER"]), [0.5, 0.5])
    assert np.allclose(span_type_probs(words[:1], labels, ["LOC", "MISC", "PER"]), [2 / 3, 0.0, 1 / 3])
    assert np.allclose(span_type_probs(np.array([[1.0, 0, 0, 0, 0]]), labels, ["LOC", "PER"]), [0.5, 0.5])
