"""The loss slot: label smoothing, class weights and soft targets change the loss without touching a task."""

import pytest
import torch

from pipelines.errors import ConfigError
from pipelines.models.losses import Criterion, balanced_weights


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
    with pytest.raises(ConfigError, match="has a CRF head"):
        run(load_config(None, [*over, "train.label_smoothing=0.1"], task="ner"), tmp_path / "b")
