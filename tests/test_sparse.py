"""The TF-IDF featurizer (pipelines.methods.sparse): out-of-fold scores on the training texts, the full model
elsewhere, C chosen on dev, saved and loaded as data files only."""

import json

import numpy as np
import pytest

from pipelines.errors import ModelFormatError
from pipelines.methods.sparse import FOLDER, SparseModel, required

WORDS = {"sport": ["match goal team coach league", "striker scored penalty keeper"],
         "tech": ["software chip server cloud code", "laptop battery screen update"],
         "food": ["recipe oven bake flour sugar", "pasta sauce garlic tomato basil"]}


def corpus(n: int, seed: int) -> tuple[list[str], list[str]]:
    rng = np.random.default_rng(seed)
    texts, labels = [], []
    for i in range(n):
        label = sorted(WORDS)[i % 3]
        words = " ".join(WORDS[label]).split() + " ".join(w for v in WORDS.values() for w in v).split()[:8]
        texts.append(" ".join(rng.choice(words, size=12)))
        labels.append(label)
    return texts, labels


@pytest.fixture(scope="module")
def fitted():
    return SparseModel.fit(corpus(60, 1), corpus(15, 2), sorted(WORDS), kind="svm", seed=1)


def test_training_texts_get_out_of_fold_scores_and_others_the_full_model(fitted):
    texts, labels = corpus(60, 1)
    full = np.asarray(fitted.vec.transform(texts) @ fitted.coef.T) + fitted.intercept
    oof = fitted.scores(texts)
    assert oof.shape == (60, 3) and not np.allclose(oof, full)  # each text scored by a model that never saw it
    assert np.allclose(oof, np.stack([fitted.oof[t] for t in texts]))
    new, _ = corpus(10, 3)
    assert np.allclose(fitted.scores(new), np.asarray(fitted.vec.transform(new) @ fitted.coef.T) + fitted.intercept)
    assert fitted.c in (0.1, 0.5, 1.0) and set(fitted.facts["dev_accuracy_by_C"]) == {"0.1", "0.5", "1.0"}
    assert fitted.facts["folds"] == 5
    test, gold = corpus(30, 4)
    assert np.mean(np.array(sorted(WORDS))[fitted.scores(test).argmax(1)] == np.array(gold)) > 0.8


def test_saved_as_data_and_loaded_scores_equal(fitted, tmp_path):
    fitted.save_pretrained(tmp_path)
    assert sorted(p.name for p in (tmp_path / FOLDER).iterdir()) == ["sparse.json", "sparse.safetensors",
                                                                      "vocabulary.jsonl"]
    loaded = SparseModel.load(tmp_path)
    assert loaded.oof == {} and loaded.labels == sorted(WORDS) and loaded.c == fitted.c
    texts, _ = corpus(60, 1)  # training texts too: a loaded model has no out-of-fold rows
    want = np.asarray(fitted.vec.transform(texts) @ fitted.coef.T) + fitted.intercept
    assert np.allclose(loaded.scores(texts), want, atol=1e-5)
    assert SparseModel.load(tmp_path / "nothing") is None


def test_a_wrong_format_or_mismatched_arrays_are_refused(fitted, tmp_path):
    fitted.save_pretrained(tmp_path)
    meta = tmp_path / FOLDER / "sparse.json"
    meta.write_text(json.dumps({**json.loads(meta.read_text()), "format": "pickle"}))
    with pytest.raises(ModelFormatError, match="format"):
        SparseModel.load(tmp_path)
    fitted.save_pretrained(tmp_path)
    vocab = tmp_path / FOLDER / "vocabulary.jsonl"
    vocab.write_text(vocab.read_text() + json.dumps("an extra term") + "\n")
    with pytest.raises(ModelFormatError, match="idf"):
        SparseModel.load(tmp_path)


def test_two_labels_give_a_score_per_label():
    texts, labels = corpus(40, 5)
    keep = [i for i, label in enumerate(labels) if label != "food"]
    model = SparseModel.fit(([texts[i] for i in keep], [labels[i] for i in keep]), None, ["sport", "tech"], "logreg")
    scores = model.scores(["goal team striker", "server cloud chip"])
    assert scores.shape == (2, 2) and list(scores.argmax(1)) == [0, 1]
    assert np.allclose(scores[:, 0], -scores[:, 1])


def test_labels_without_training_examples_and_missing_featurizers_are_named(fitted):
    texts, labels = corpus(30, 6)
    with pytest.raises(ValueError, match="without a training example"):
        SparseModel.fit((texts, labels), None, [*sorted(WORDS), "weather"])
    assert required("none", {}) is None
    with pytest.raises(ModelFormatError, match="no sparse model"):
        required("svm", {})
    with pytest.raises(ModelFormatError, match="not the head's"):
        required("svm", {"sparse": fitted}, ["food", "sport"])


def test_the_late_weight_is_chosen_on_dev_and_ties_go_to_the_smaller():
    from pipelines.methods.sparse import choose_weight

    gold = np.array([0, 1, 2, 0])
    dense = np.log(np.full((4, 3), 1 / 3)) + np.eye(3)[[1, 1, 2, 2]] * 0.1  # right on 2 of 4
    sparse = np.eye(3)[gold] * 1.0  # right on all
    weight, by_weight = choose_weight(dense, sparse, gold)
    assert weight == 0.25 and by_weight["0.0"] == 50.0 and by_weight["0.25"] == 100.0
    weight, _ = choose_weight(dense, np.zeros((4, 3)), gold)  # scores that never help: no weight
    assert weight == 0.0


def test_late_fusion_adds_weighted_scores_to_the_log_probabilities():
    import torch

    from pipelines.models.fusion import TopicFusionClassifier

    model = TopicFusionClassifier(["a", "b", "c"], "text", text_dim=4, sparse=3, sparse_fusion="late").eval()
    h, s = torch.randn(2, 4), torch.randn(2, 3)
    plain = model(doc_vectors=h, sparse=s).logits
    assert torch.allclose(plain, model.classifier(model.text_norm(h)).log_softmax(-1))  # w = 0: the dense head
    model.sparse_weight = 2.0
    assert torch.allclose(model(doc_vectors=h, sparse=s).logits, plain + 2.0 * s)
    head = TopicFusionClassifier(["a", "b", "c"], "text", text_dim=4, sparse=3, sparse_fusion="head")
    assert head.classifier.in_features == 7 and model.classifier.in_features == 4
