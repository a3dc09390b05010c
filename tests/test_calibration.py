"""Calibration measures, temperature fitting and folding, and train.calibration=temperature on a tiny run."""

import json

import numpy as np
import pytest
import torch

from pipelines.config import ConfigError, load_config
from pipelines.methods import calibration as cal


def test_ece_of_a_hand_made_case():
    # two confident right answers at 0.9, two wrong at 0.6: bins 13 (0.9) and 9 (0.6)
    probs = np.array([[0.9, 0.1], [0.1, 0.9], [0.6, 0.4], [0.4, 0.6]])
    gold = np.array([0, 1, 1, 0])
    # |1.0 - 0.9| * 2/4 + |0.0 - 0.6| * 2/4
    assert cal.ece(probs, gold) == pytest.approx(0.05 + 0.30)
    assert cal.ece(np.array([[1.0, 0.0], [0.0, 1.0]]), np.array([0, 1])) == pytest.approx(0.0)
    bins = cal.reliability(probs, gold)
    assert sum(n for _, _, n in bins) == 4 and bins[13][2] == 2


def test_fit_temperature_recovers_the_temperature_that_made_the_labels():
    rng = np.random.default_rng(0)
    z = rng.normal(0, 3, size=(20000, 5))
    true_t = 2.5
    p = np.exp(cal.log_softmax(z / true_t))
    gold = np.array([rng.choice(5, p=row) for row in p])
    t = cal.fit_temperature(z, gold)
    assert t == pytest.approx(true_t, rel=0.05)
    assert cal.nll(cal.log_softmax(z / t), gold) < cal.nll(cal.log_softmax(z), gold)
    assert cal.fit_temperature(z, gold, bounds=(0.5, 1.5)) == 1.5  # clipped to the bounds


def test_fold_temperature_divides_the_logits():
    torch.manual_seed(0)
    head = torch.nn.Linear(4, 3)
    x = torch.randn(6, 4)
    before = head(x)
    cal.fold_temperature(head, 2.0)
    assert torch.allclose(head(x), before / 2.0, atol=1e-6)
    with pytest.raises(TypeError, match="linear"):
        cal.fold_temperature(torch.nn.ReLU(), 2.0)


def test_smoothing_bounds_the_logit_gap():
    """With label smoothing e over K classes the loss is minimal at gap log((1 - e)(K - 1) / e)."""
    k, e = 5, 0.1
    gap = torch.zeros(1, requires_grad=True)
    opt = torch.optim.LBFGS([gap], max_iter=200, line_search_fn="strong_wolfe")

    def closure():
        opt.zero_grad()
        logits = torch.cat([gap, torch.zeros(k - 1)])[None]
        loss = torch.nn.functional.cross_entropy(logits, torch.tensor([0]), label_smoothing=e * k / (k - 1))
        loss.backward()
        return loss

    opt.step(closure)
    assert float(gap) == pytest.approx(np.log((1 - e) * (k - 1) / e), rel=1e-3)
    assert cal.top2_gap(np.array([[3.0, 1.0, 0.5]]))[0] == pytest.approx(2.0)


def test_train_calibration_fits_and_folds_a_temperature(tmp_path):
    from pipelines.inference.predict import Predictor
    from pipelines.training.calibrate import validation_log_probs
    from pipelines.training.train import run

    cfg = load_config(None, ["model.encoder=tiny", "train.epochs=1", "train.progress_bar=false", "train.lr=1e-3",
                             f"train.out_dir={tmp_path}", "train.calibration=temperature"], task="intent")
    results = run(cfg, tmp_path / "run")
    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert metrics["temperature"] > 0 and "ece" in results["validation"] and "nll" in results["test"]
    pred = Predictor.load(tmp_path / "run")
    log_probs, gold = validation_log_probs(pred.task, pred.model, pred.tokenizer, _validation(cfg), pred.data)
    refit = cal.fit_temperature(log_probs, gold, bounds=(1e-6, 1e6))
    if (log_probs.argmax(1) == gold).all():  # nothing to fit on: left alone
        assert metrics["temperature"] == 1.0
    elif metrics["temperature"] > 0.05:  # inside the bounds: the folded model needs no further scaling
        assert refit == pytest.approx(1.0, abs=0.02)
    else:  # clipped at the lower bound: the rest of the sharpening is still wanted
        assert refit < 1.0


def test_a_validation_split_without_errors_keeps_temperature_one(tmp_path):
    from pipelines.training.calibrate import calibrate

    class Perfect:  # a stand-in task whose every validation example is right
        class_head = "classifier"

    import pipelines.training.calibrate as mod

    head = torch.nn.Linear(2, 2)
    model = torch.nn.Module()
    model.classifier = head
    before = head.weight.clone()
    orig = mod.validation_log_probs
    mod.validation_log_probs = lambda *a, **k: (np.log(np.array([[0.9, 0.1], [0.2, 0.8]])), np.array([0, 1]))
    try:
        assert calibrate(Perfect(), model, None, None, None) == 1.0
    finally:
        mod.validation_log_probs = orig
    assert torch.equal(head.weight, before)


def _validation(cfg):
    from pipelines.data.splits import load_splits
    from pipelines.registry import get_task

    return load_splits(cfg.data, get_task("intent").sample, seed=cfg.train.seed)["validation"]


def test_calibration_of_a_task_without_a_class_head_or_entities_is_a_config_error(tmp_path):
    from pipelines.training.train import run

    cfg = load_config(None, ["model.encoder=tiny", f"train.out_dir={tmp_path}", "train.calibration=temperature"],
                      task="dialogue")
    with pytest.raises(ConfigError, match="neither a class head nor entity scores"):
        run(cfg, tmp_path / "run")


def test_an_overconfident_tagger_gets_an_entity_temperature_above_one():
    """Entities scored near 1 of which half are wrong: the fitted T softens them and the ECE of the entity
    scores falls; the predicted tags are the same at any T."""
    from pipelines.families.tagging import entity_probs
    from pipelines.training.calibrate import entity_confidences, fit_entity_temperature

    labels = ["O", "B-X", "I-X"]
    rng = np.random.default_rng(0)
    outcomes = []
    for k in range(200):
        scores = torch.tensor(rng.normal(0, 0.3, (3, 3)), dtype=torch.float32)
        scores[0, 1] += 4.0  # a confident one-word entity at word 0, then O O
        scores[1:, 0] += 4.0
        outcomes.append((scores, [1, 0, 0], [k % 2 == 0]))
    before, right = entity_confidences(outcomes, labels, None, 1.0)
    t = fit_entity_temperature(outcomes, labels, None)
    after, _ = entity_confidences(outcomes, labels, None, t)
    assert before.mean() > 0.9 and t > 1.5
    assert cal.ece_of(after, right) < 0.1 < cal.ece_of(before, right)
    assert entity_probs(outcomes[0][0], [1, 0, 0], labels, None, t)[0] == pytest.approx(after[0])


def test_train_calibration_of_a_tagger_saves_the_entity_temperature(tmp_path):
    """train.calibration=temperature on NER: the fitted T is in metrics.json and in the saved model's config,
    where predict reads it, and it is the one that minimises the dev NLL of the saved model's entities."""
    from pipelines.data.splits import load_splits
    from pipelines.inference.predict import Predictor
    from pipelines.training.calibrate import entity_outcomes, fit_entity_temperature
    from pipelines.training.train import run

    cfg = load_config(None, ["model.encoder=tiny", "train.epochs=2", "train.progress_bar=false", "train.lr=3e-3",
                             f"train.out_dir={tmp_path}", "train.calibration=temperature"], task="ner")
    run(cfg, tmp_path / "run")
    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())
    pred = Predictor.load(tmp_path / "run")
    assert pred.model.config.entity_temperature == metrics["temperature"]
    dev = load_splits(cfg.data, pred.task.sample, seed=cfg.train.seed)["validation"]
    outcomes = entity_outcomes(pred.task, pred.model, pred.tokenizer, dev, pred.data)
    right = [r for _, _, rs in outcomes for r in rs]
    assert any(right) and not all(right)  # the sample's dev has right and wrong entities to fit on
    refit = fit_entity_temperature(outcomes, pred.task.entity_tags(pred.model), pred.model)
    assert refit == pytest.approx(metrics["temperature"], rel=0.01)


def test_refine_by_ece_moves_the_temperature_to_the_lowest_ece():
    """The chosen factor gives the lowest ECE of the grid on the data it was chosen on, never a higher one than
    the NLL temperature (factor 1 is on the grid); the first of ties is kept."""
    rng = np.random.default_rng(0)
    logits = rng.normal(size=(3000, 12)) * 4
    gold = logits.argmax(1)
    noisy = rng.random(3000) < 0.3
    gold[noisy] = rng.integers(0, 12, noisy.sum())
    lp = cal.log_softmax(logits)
    t = cal.fit_temperature(lp, gold)
    refined = cal.refine_by_ece(lp, gold, t)
    factors = np.round(np.arange(0.5, 2.0001, 0.01), 2)
    eces = [cal.ece(np.exp(cal.log_softmax(lp / (t * f))), gold) for f in factors]
    assert refined == pytest.approx(t * factors[int(np.argmin(eces))])
    assert cal.ece(np.exp(cal.log_softmax(lp / refined)), gold) <= cal.ece(np.exp(cal.log_softmax(lp / t)), gold)
    assert cal.refine_by_ece(lp, gold, t, factors=[1.0, 1.0]) == pytest.approx(t)


def test_temperature_ece_is_for_class_heads(tmp_path):
    from pipelines.training.train import run

    cfg = load_config(None, ["model.encoder=tiny", f"train.out_dir={tmp_path}", "train.calibration=temperature_ece"],
                      task="ner")
    with pytest.raises(ConfigError, match="no class head"):
        run(cfg, tmp_path / "run")
    with pytest.raises(ConfigError, match="temperature_ece"):
        load_config(None, ["train.calibration=ece"], task="intent")


def test_train_calibration_temperature_ece_folds_the_lowest_ece_temperature(tmp_path):
    """The saved model's validation scores are already at the ECE-best point of the grid: refining them
    again keeps factor 1 (within one grid step)."""
    from pipelines.inference.predict import Predictor
    from pipelines.training.calibrate import validation_log_probs
    from pipelines.training.train import run

    cfg = load_config(None, ["model.encoder=tiny", "train.epochs=1", "train.progress_bar=false", "train.lr=1e-3",
                             f"train.out_dir={tmp_path}", "train.calibration=temperature_ece"], task="intent")
    run(cfg, tmp_path / "run")
    assert json.loads((tmp_path / "run" / "metrics.json").read_text())["temperature"] > 0
    pred = Predictor.load(tmp_path / "run")
    log_probs, gold = validation_log_probs(pred.task, pred.model, pred.tokenizer, _validation(cfg), pred.data)
    best = cal.ece(np.exp(cal.log_softmax(log_probs)), gold)
    assert best <= min(cal.ece(np.exp(cal.log_softmax(log_probs / f)), gold) for f in (0.8, 0.9, 1.1, 1.25)) + 1e-9
