import numpy as np
import pytest

from pipelines.config import load_config
from pipelines.inference.predict import Predictor
from pipelines.methods.intent_tracker import IntentTracker
from pipelines.methods.offtopic import METHODS, OffTopic, fit
from pipelines.training.train import run


class ScriptedPredictor:
    """Returns fixed predictions in order: the tracker's logic, isolated from any model."""

    def __init__(self, outputs):
        self.outputs = list(outputs)

    def predict(self, texts):
        return [self.outputs.pop(0)]


def test_scripted_conversation_flags_the_off_topic_turn():
    bot = IntentTracker(ScriptedPredictor([
        {"label": "book_table", "probability": 0.97, "off_topic": False},
        {"label": "set_alarm", "probability": 0.41, "off_topic": False},   # "at 7 pm": unsure, stays
        {"label": "weather", "probability": 0.55, "off_topic": True},      # "what's the weather?"
        {"label": "book_table", "probability": 0.93, "off_topic": False},
        {"label": "play_music", "probability": 0.95, "off_topic": False},
    ]))
    texts = ["book a table for two", "at 7 pm", "what's the weather today?", "yes, for two", "play some jazz"]
    turns = [bot.turn(t) for t in texts]
    assert [t.event for t in turns] == ["start", "continue", "off_topic", "continue", "switch"]
    assert [t.active for t in turns] == ["book_table"] * 4 + ["play_music"]


@pytest.mark.parametrize("method", METHODS)
def test_fit_save_load_keeps_detector_and_threshold(method, tmp_path):
    rng = np.random.default_rng(0)
    # two in-scope clusters and a far cluster, apart in both distance and direction (kNN uses cosine)
    feats = np.concatenate([rng.normal([6, 0, 0, 0], 1, (50, 4)), rng.normal([0, 6, 0, 0], 1, (50, 4))])
    labels = np.array([0] * 50 + [1] * 50)
    logits = np.eye(2)[labels] * 8 + rng.normal(0, 0.5, (100, 2))  # confident on in-scope examples
    far = rng.normal([0, 0, -6, -6], 1, (20, 4))
    far_logits = rng.normal(0, 0.5, (20, 2))  # unsure on the far cluster
    if method == "combined":  # two views: the classifier's features, then the base encoder's (here a copy)
        feats, far = np.concatenate([feats, feats], 1), np.concatenate([far, far], 1)
    det = fit(method, (logits, feats, labels), (logits, feats), (far_logits, far), split=4)
    det.save_pretrained(tmp_path)
    again = OffTopic.load(tmp_path)
    assert again.threshold == det.threshold and again.method == method
    assert np.allclose(again.score(far_logits, far), det.score(far_logits, far))
    assert (det.score(far_logits, far) > det.threshold).mean() > 0.9  # the far cluster is flagged
    assert (det.score(logits, feats) <= det.threshold).mean() > 0.9


def test_trained_classifier_carries_its_detector(tmp_path):
    cfg = load_config(None, ["model.encoder=tiny", "train.limit_train_batches=3", "train.epochs=1",
                             "train.progress_bar=false", f"train.out_dir={tmp_path}", "model.offtopic=mahalanobis",
                             "model.offtopic_recall=0.9"], task="intent")
    run(cfg, tmp_path / "run")
    assert (tmp_path / "run/model/offtopic.json").exists()
    loaded, fresh = Predictor.load(tmp_path / "run"), _refitted(tmp_path / "run", cfg)
    texts = ["book a table for two", "zebra quantum spreadsheet"]
    out = loaded.predict(texts)
    assert out == fresh.predict(texts)  # the saved detector scores as the one fitted in memory
    assert loaded.offtopic.threshold == fresh.offtopic.threshold
    assert {"off_topic", "off_topic_score"} <= set(out[0]) and isinstance(out[1]["off_topic"], bool)
    assert loaded.offtopic.fitted_on.startswith("validation in-scope only")


def _refitted(run_dir, cfg):
    """The run's model with its off-topic detector fitted again in memory, on the same splits."""
    from pipelines.data.splits import load_splits

    loaded = Predictor.load(run_dir)
    splits = load_splits(cfg.data, loaded.task.sample, seed=cfg.train.seed)
    detector = loaded.task.fit_after_training(loaded.model, loaded.tokenizer, splits, loaded.data)
    return Predictor(loaded.task, loaded.model, loaded.tokenizer, loaded.data, featurizers=detector)


def test_combined_detector_embeds_with_its_base_encoder_and_survives_save_load(tmp_path):
    cfg = load_config(None, ["model.encoder=tiny", "train.limit_train_batches=3", "train.epochs=1",
                             "train.progress_bar=false", f"train.out_dir={tmp_path}", "model.offtopic=combined"],
                      task="intent")
    run(cfg, tmp_path / "run")
    p1, p2 = Predictor.load(tmp_path / "run"), _refitted(tmp_path / "run", cfg)
    assert p1.offtopic.base_encoder == "tiny" and p1.offtopic.state["split"][0] == 32
    texts = ["book a table for two", "zebra quantum spreadsheet"]
    out = p1.predict(texts)
    assert out == p2.predict(texts) and isinstance(out[1]["off_topic"], bool)
    feats = p1.offtopic.embed(texts, np.zeros((2, 32), dtype=np.float32))
    assert feats.shape == (2, 64) and np.abs(feats[:, 32:]).sum() > 0


def test_combined_score_is_the_sum_of_the_standardised_views():
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=(80, 3)), rng.normal(size=(80, 5))
    labels, logits = rng.integers(0, 2, 80), rng.normal(size=(80, 2))
    val_a, val_b, q_a, q_b = (rng.normal(size=(30, 3)), rng.normal(size=(30, 5)), rng.normal(size=(4, 3)) * 3,
                              rng.normal(size=(4, 5)) * 3)
    det = fit("combined", (logits, np.c_[a, b], labels), (logits[:30], np.c_[val_a, val_b]), split=3)
    m = fit("mahalanobis", (logits, a, labels), (logits[:30], val_a))
    k = fit("knn", (logits, b, labels), (logits[:30], val_b))

    def z(d, val, q):
        v = d.score(logits[:30], val)
        return (d.score(logits[:4], q) - v.mean()) / v.std()

    assert det.score(logits[:4], np.c_[q_a, q_b]) == pytest.approx(z(m, val_a, q_a) + z(k, val_b, q_b), rel=1e-6)


def test_mean_pooled_classifier_features_are_the_pooled_vectors(tmp_path):
    import torch
    from pipelines.tasks import intent
    from transformers import AutoModelForSequenceClassification

    from pipelines.models.encoders import tiny_tokenizer

    tok = tiny_tokenizer()
    task = intent.TASK(intent.IntentOptions(encoder="tiny", dropout=0.0, pooling="mean"))
    model = task.build_model(["a", "b"], tok).eval()
    ids = torch.tensor([[2, 10, 11, 3, 0, 0]])
    mask = torch.tensor([[1, 1, 1, 1, 0, 0]])
    out = model(ids, mask)
    h = model.encoder(input_ids=ids[:, :4], attention_mask=mask[:, :4]).last_hidden_state
    assert torch.allclose(out.pooled, h.mean(1), atol=1e-5)  # padding ignored
    assert out.hidden_states is None  # the pooled vector is a named output, not a fake layer
    model.save_pretrained(tmp_path)
    again = task.load_model(tmp_path)
    assert torch.allclose(again(ids, mask).logits, out.logits, atol=1e-5)
    with pytest.raises(ValueError, match="nlp_pipelines"):  # the folder says what it is: no random head
        AutoModelForSequenceClassification.from_pretrained(tmp_path)


def test_offtopic_threshold_choice_is_checked():
    from pipelines.config import ConfigError

    cfg = load_config(None, ["model.offtopic=msp", "model.offtopic_threshold=balanced"], task="intent")
    assert cfg.model.offtopic_threshold == "balanced"
    with pytest.raises(ConfigError, match="offtopic_threshold"):
        load_config(None, ["model.offtopic=msp", "model.offtopic_threshold=median"], task="intent")
    with pytest.raises(ConfigError, match="apply only with model.offtopic set"):
        load_config(None, ["model.offtopic=", "model.offtopic_threshold=balanced"], task="intent")
