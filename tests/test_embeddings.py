"""Embedding comparison measures against oracles (a rotated, scaled copy is identical; noise is not), and the
analogy evaluator on a hand-made question set."""

import numpy as np
import pytest

from pipelines.methods import embeddings as emb


def space(n=300, d=16, seed=0):
    return np.random.default_rng(seed).standard_normal((n, d))


def rotation(d, seed=1):
    q, _ = np.linalg.qr(np.random.default_rng(seed).standard_normal((d, d)))
    return q


def test_a_rotated_and_scaled_copy_scores_as_identical():
    x = space()
    y = 3.7 * x @ rotation(16)
    res = emb.compare(x, y, k=5)
    assert res["procrustes"]["held_out_cosine"] == pytest.approx(1.0, abs=1e-6)
    assert res["procrustes"]["random_rotation_cosine"] < 0.5
    assert res["linear_cka"] == pytest.approx(1.0, abs=1e-9)
    assert res["rsa_spearman"] == pytest.approx(1.0, abs=1e-9)
    assert res["knn_overlap@5"] == pytest.approx(1.0)


def test_procrustes_recovers_the_rotation():
    x, r = space(d=8), rotation(8)
    np.testing.assert_allclose(emb.procrustes(x, x @ r), r, atol=1e-8)  # rows of x@r have x's norms


def test_unrelated_spaces_score_low_and_noise_in_between():
    x, z = space(seed=0), space(seed=5)
    noisy = x @ rotation(16) + 0.5 * space(seed=9)
    far, mid = emb.compare(x, z, k=5), emb.compare(x, noisy, k=5)
    for key in ("linear_cka", "rsa_spearman", "knn_overlap@5"):
        assert far[key] < mid[key] < 1.0 - 1e-3
    assert far["procrustes"]["held_out_cosine"] < mid["procrustes"]["held_out_cosine"] < 1.0
    assert far["linear_cka"] < 0.2


def test_widths_may_differ():
    x = space(d=16)
    y = x @ rotation(16)[:, :12]  # a projection onto 12 dims
    res = emb.compare(x, y, k=5)
    assert res["dims"] == [16, 12] and 0.5 < res["linear_cka"] < 1.0


def test_analogies_on_a_hand_made_set(tmp_path):
    # vectors where king - man + woman = queen holds exactly and paris - france + italy lands on rome
    base = {"man": [1, 0, 0, 0], "woman": [1, 1, 0, 0], "king": [1, 0, 5, 0], "queen": [1, 1, 5, 0],
            "france": [0, 0, 0, 3], "paris": [0, 0, 2, 3], "italy": [0, 2, 0, 3], "rome": [0, 2, 2, 3],
            "apple": [5, -3, -2, 1]}
    kv = emb.keyed_vectors(list(base), np.array(list(base.values()), dtype=np.float32))
    q = tmp_path / "q.txt"
    q.write_text(": family\nMan Woman King Queen\nman king woman apple\n"
                 ": capitals\nFrance Paris Italy Rome\nFrance Paris Spain Madrid\n")
    res = emb.analogies(kv, q)
    assert res["questions"] == 4 and res["evaluated"] == 3 and res["coverage"] == 75.0
    assert res["sections"]["family"] == {"accuracy": 50.0, "evaluated": 2, "questions": 2}
    assert res["sections"]["capitals"]["accuracy"] == 100.0 and res["sections"]["capitals"]["evaluated"] == 1
    assert res["accuracy"] == pytest.approx(66.67, abs=0.01)
