import numpy as np
import pytest

from pipelines.methods.ood import KNN, Mahalanobis, energy, msp, threshold_at_recall, threshold_with_oos


def test_msp_and_energy_by_hand():
    logits = np.array([[0.0, 0.0], [np.log(3.0), 0.0]])
    assert msp(logits) == pytest.approx([0.5, 0.25])
    assert energy(logits) == pytest.approx([-np.log(2.0), -np.log(4.0)])
    assert energy(logits, temperature=2.0) == pytest.approx(-2 * np.log(np.exp(logits / 2).sum(1)))


def test_mahalanobis_on_tiny_gaussian_data():
    # two classes, means (0,0) and (4,0); within-class deviations (+-1, 0) and (0, +-2)
    dev = np.array([[1.0, 0], [-1, 0], [0, 2], [0, -2]])
    x = np.concatenate([dev, dev + [4.0, 0]])
    y = np.array([0] * 4 + [1] * 4)
    m = Mahalanobis(ridge=0.0).fit(x, y)
    assert m.means == pytest.approx(np.array([[0.0, 0], [4, 0]]))
    # shared covariance diag(0.5, 2) -> precision diag(2, 0.5)
    assert m.precision == pytest.approx(np.diag([2.0, 0.5]))
    assert m.score(np.array([[0.0, 2.0], [1.0, 0.0], [2.0, 0.0]])) == pytest.approx([2.0, 2.0, 8.0])



def test_mahalanobis_matches_the_definition_on_random_data():
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(60, 5)), rng.integers(0, 3, 60)
    m = Mahalanobis().fit(x, y)
    q = rng.normal(size=(7, 5)) * 3
    direct = [min((v - mu) @ m.precision @ (v - mu) for mu in m.means) for v in q]
    assert m.score(q) == pytest.approx(direct, rel=1e-9)

def test_relative_mahalanobis_subtracts_the_background_distance():
    dev = np.array([[1.0, 0], [-1, 0], [0, 2], [0, -2]])
    x = np.concatenate([dev, dev + [4.0, 0]])
    y = np.array([0] * 4 + [1] * 4)
    m = Mahalanobis(ridge=0.0, relative=True).fit(x, y)
    # background: mean (2, 0); covariance diag(4 + 0.5, 2) -> precision diag(1/4.5, 0.5)
    assert m.bg_mean == pytest.approx(np.array([[2.0, 0]]))
    assert m.bg_precision == pytest.approx(np.diag([1 / 4.5, 0.5]))
    q = np.array([[0.0, 2.0], [2.0, 0.0]])
    # class distances as in the test above: 2 and 8; background: 4/4.5 + 2 and 0
    assert m.score(q) == pytest.approx([2.0 - (4 / 4.5 + 2.0), 8.0])


def test_knn_kth_neighbour_distance():
    bank = np.array([[1.0, 0], [0, 1], [-1, 0]])
    knn = KNN(k=2).fit(bank * 3)  # scale does not matter: cosine
    s = knn.score(np.array([[1.0, 1.0], [1.0, 0.0]]))
    assert s == pytest.approx([1 - np.sqrt(0.5), 1.0])


def test_thresholds_reach_their_targets_on_synthetic_scores():
    rng = np.random.default_rng(0)
    in_scope, oos = rng.normal(0, 1, 2000), rng.normal(3, 1, 500)
    t = threshold_at_recall(in_scope, 0.95)
    assert (in_scope <= t).mean() == pytest.approx(0.95, abs=0.002)
    t2 = threshold_with_oos(in_scope, oos)
    acc = ((in_scope <= t2).sum() + (oos > t2).sum()) / 2500
    grid = np.linspace(-3, 6, 500)
    best = max(((in_scope <= g).sum() + (oos > g).sum()) / 2500 for g in grid)
    assert acc >= best - 1e-9


def test_balanced_threshold_maximises_the_mean_recall():
    rng = np.random.default_rng(1)
    in_scope, oos = rng.normal(0, 1, 3000), rng.normal(2.5, 1, 100)
    t_acc, t_bal = threshold_with_oos(in_scope, oos), threshold_with_oos(in_scope, oos, balanced=True)

    def mean_recall(g):
        return (in_scope <= g).mean() / 2 + (oos > g).mean() / 2

    grid = np.linspace(-3, 6, 900)
    assert mean_recall(t_bal) >= max(mean_recall(g) for g in grid) - 1e-9
    # with 30x more in-scope examples, max accuracy sits further out: fewer off-topic messages caught
    assert t_bal < t_acc and (oos > t_bal).mean() > (oos > t_acc).mean()
