import itertools

import pytest
import torch

from pipelines.data.tags import is_valid_iob2
from pipelines.models.decoding import NEG, constrained_decode, iob2_constraints, viterbi

LABELS = ["O", "B-PER", "I-PER", "B-LOC", "I-LOC"]


def brute_force(scores, trans, start):
    best, best_path = None, None
    t_len, n = scores.shape
    for path in itertools.product(range(n), repeat=t_len):
        s = start[path[0]] + sum(scores[t, path[t]] for t in range(t_len))
        s += sum(trans[path[t - 1], path[t]] for t in range(1, t_len))
        if best is None or s > best:
            best, best_path = s, list(path)
    return best_path


@pytest.mark.parametrize("seed", range(25))
def test_viterbi_matches_brute_force(seed):
    g = torch.Generator().manual_seed(seed)
    t_len = int(torch.randint(1, 6, (1,), generator=g))
    scores = torch.randn(t_len, 4, generator=g, dtype=torch.float64)
    trans = torch.randn(4, 4, generator=g, dtype=torch.float64)
    start = torch.randn(4, generator=g, dtype=torch.float64)
    assert viterbi(scores, trans, start) == brute_force(scores, trans, start)


def test_constraints_by_hand():
    start, trans = iob2_constraints(LABELS)
    assert start.tolist() == [True, True, False, True, False]
    assert not trans[0, 2] and not trans[3, 2] and trans[1, 2] and trans[2, 2]
    assert trans[0, 1] and trans[4, 0] and not trans[2, 4]


@pytest.mark.parametrize("seed", range(100))
def test_constrained_decoding_never_yields_invalid_iob2(seed):
    g = torch.Generator().manual_seed(seed)
    lp = (torch.randn(int(torch.randint(1, 12, (1,), generator=g)), len(LABELS), generator=g) * 4).log_softmax(-1)
    path = [LABELS[i] for i in constrained_decode(lp, LABELS)]
    assert is_valid_iob2(path)


def test_constrained_decoding_equals_brute_force_over_valid_paths():
    g = torch.Generator().manual_seed(7)
    lp = torch.randn(5, len(LABELS), generator=g, dtype=torch.float64).log_softmax(-1)
    valid = [p for p in itertools.product(range(len(LABELS)), repeat=5) if is_valid_iob2([LABELS[i] for i in p])]
    best = max(valid, key=lambda p: sum(float(lp[t, k]) for t, k in enumerate(p)))
    assert constrained_decode(lp, LABELS) == list(best)


def test_a_forbidden_transition_loses_however_much_its_scores_favour_it():
    lp = torch.full((3, len(LABELS)), -50.0)
    lp[:, 2] = 0.0  # I-PER at every word, far ahead of everything else
    path = [LABELS[i] for i in constrained_decode(lp, LABELS)]
    assert path == ["B-PER", "I-PER", "I-PER"]
    trans = torch.where(iob2_constraints(LABELS)[1], 0.0, NEG)
    assert viterbi(torch.tensor([[0.0, 0, 0, 900, 0], [0, 0, 900, 0, 0]]), trans) != [3, 2]  # B-LOC -> I-PER


def test_window_continuation_may_start_inside_an_entity():
    lp = torch.full((2, len(LABELS)), -10.0)
    lp[0, 2], lp[1, 0] = 0.0, 0.0  # I-PER then O
    assert constrained_decode(lp, LABELS, continues=True) == [2, 0]
    assert constrained_decode(lp, LABELS)[0] != 2
