"""The loss slot: label smoothing, class weights and soft targets change the loss without touching a task."""

import pytest
import torch

from pipelines.errors import ConfigError
from pipelines.models.losses import Criterion, balanced_weights, log_priors


def test_plain_criterion_is_cross_entropy_ignoring_minus_100():
    logits = torch.tensor([[[2.0, 0.0], [0.0, 1.0], [5.0, 5.0]]])  # (B=1, T=3, L=2)
    targets = torch.tensor([[0, 1, -100]])
    expected = torch.nn.functional.cross_entropy(logits[0, :2], targets[0, :2])
    assert torch.allclose(Criterion()(logits, targets), expected)


def test_smoothing_weights_and_soft_targets_each_change_the_loss():
    logits, targets = torch.tensor([[3.0, 0.0, -1.0], [0.0, 2.0, 0.0]]), torch.tensor([0, 1])
    plain = Criterion()(logits, targets)
    assert Criterion(label_smoothing=0.2)(logits, targets) > plain
    weighted = Criterion(class_weights=torch.tensor([0.0, 1.0, 1.0]))(logits, targets)
    only_second = torch.nn.functional.cross_entropy(logits[1:], targets[1:])
    assert torch.allclose(weighted, only_second)
    assert torch.allclose(Criterion(class_weights=torch.tensor([0.0, 1.0, 1.0]))(logits, targets, weighted=False),
                          plain)
    teacher = torch.tensor([[0.1, 0.8, 0.1], [0.1, 0.8, 0.1]])  # disagrees on the first example
    assert Criterion(soft_weight=0.5)(logits, targets, soft=teacher) > plain
    agree = logits.softmax(-1)
    assert torch.allclose(Criterion(soft_weight=1.0)(logits, targets, soft=agree), torch.tensor(0.0), atol=1e-6)


def test_balanced_weights_from_counts():
    assert balanced_weights([0, 0, 0, 1, -100], 3).tolist() == pytest.approx([4 / 9, 4 / 3, 1.0])


def test_class_weights_and_smoothing_reach_a_training_run_and_a_crf_refuses_them(tmp_path):
    from pipelines.config import load_config
    from pipelines.training.train import run

    over = ["model.encoder=tiny", "train.epochs=1", "train.limit_train_batches=2", "train.progress_bar=false",
            f"train.out_dir={tmp_path}", "data.max_length=32"]
    run(load_config(None, [*over, "train.class_weights=balanced", "train.label_smoothing=0.1"], task="intent"),
        tmp_path / "a")
    assert (tmp_path / "a/metrics.json").exists()
    run(load_config(None, [*over, "train.focal_gamma=2", "train.label_smoothing=0", "train.logit_adjustment=1"],
                    task="intent"), tmp_path / "c")
    assert (tmp_path / "c/metrics.json").exists()
    with pytest.raises(ConfigError, match="has a CRF head"):
        run(load_config(None, [*over, "train.label_smoothing=0.1"], task="ner"), tmp_path / "b")


def test_focal_loss_by_hand():
    logits, target = torch.tensor([[float(torch.log(torch.tensor(3.0))), 0.0]]), torch.tensor([0])  # p = 0.75, 0.25
    ce = -torch.log(torch.tensor(0.75))
    assert torch.allclose(Criterion(focal_gamma=2.0)(logits, target), 0.25 ** 2 * ce)
    assert torch.allclose(Criterion(focal_gamma=1e-9)(logits, target), ce, atol=1e-6)  # gamma -> 0: cross-entropy
    alpha = torch.tensor([0.3, 0.7])
    two = torch.tensor([[0.0, 0.0], [0.0, 0.0]]), torch.tensor([0, 1])
    expected = (0.3 + 0.7) * 0.5 ** 2 * -torch.log(torch.tensor(0.5)) / (0.3 + 0.7)
    assert torch.allclose(Criterion(focal_gamma=2.0, class_weights=alpha)(*two), expected)


def test_logit_adjustment_by_hand():
    priors = torch.log(torch.tensor([0.8, 0.2]))
    crit = Criterion(log_priors=priors, adjust_tau=1.0)
    zero = torch.zeros(1, 2)
    assert torch.allclose(crit(zero, torch.tensor([1])), -torch.log(torch.tensor(0.2)))
    assert torch.allclose(crit(zero, torch.tensor([0])), -torch.log(torch.tensor(0.8)))
    assert torch.allclose(crit(zero, torch.tensor([1]), weighted=False), -torch.log(torch.tensor(0.5)))  # intents
    assert torch.allclose(log_priors([0, 0, 0, 1, -100], 3).exp(), torch.tensor([3 / 4.5, 1 / 4.5, 0.5 / 4.5]))


def test_focal_and_smoothing_together_is_an_error():
    from pipelines.config import load_config

    with pytest.raises(ConfigError, match="choose one"):
        load_config(None, ["train.focal_gamma=2", "train.label_smoothing=0.1"], task="intent")
    with pytest.raises(ConfigError, match="needs train.label_smoothing=0"):  # the intent config smooths
        load_config(None, ["train.focal_gamma=2"], task="intent")
    cfg = load_config(None, ["train.focal_gamma=2", "train.label_smoothing=0", "train.logit_adjustment=1"],
                      task="intent")
    assert cfg.train.focal_gamma == 2.0 and cfg.train.logit_adjustment == 1.0
