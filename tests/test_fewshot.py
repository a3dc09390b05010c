"""Zero- and few-shot heads on embeddings, label files, the contrastive loss and sampler, the zero-shot CLI."""

import json

import numpy as np
import pytest
import torch

from pipelines.errors import ReadError
from pipelines.methods import fewshot as fs
from pipelines.training.contrastive import ClassBatches, supcon_loss


def test_label_words_and_texts(tmp_path):
    assert fs.label_words("book_flight") == "book flight" and fs.label_words("AddToPlaylist") == "add to playlist"
    f = tmp_path / "labels.yaml"
    f.write_text('a_b: {phrase: do a b, description: the a b thing}\nc: just c\n"no": say no\n')
    written = fs.read_labels(f)
    assert written["c"] == {"description": "just c"} and "no" in written
    texts = fs.label_texts(["a_b", "c", "d_e"], "phrase+description", written)
    assert texts == {"a_b": ["do a b", "the a b thing"], "c": ["just c"], "d_e": ["d e"]}
    with pytest.raises(ValueError, match="label texts"):
        fs.label_texts(["a"], "poem")


@pytest.mark.parametrize("text, problem", [("no: say no\n", "quote it"), ("a: {phrase: ''}\n", "non-empty"),
                                           ("- a\n- b\n", "mapping"), ("a: {title: x}\n", "phrase")])
def test_bad_label_files_name_the_file_and_entry(tmp_path, text, problem):
    f = tmp_path / "labels.yaml"
    f.write_text(text)
    with pytest.raises(ReadError, match=problem) as err:
        fs.read_labels(f)
    assert str(f) in str(err.value)


def toy(seed=0, n=30, classes=3, dim=8, spread=0.3):
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(classes, dim)) * 2
    y = np.repeat(np.arange(classes), n)
    return centres[y] + rng.normal(scale=spread, size=(len(y), dim)), y, centres


def test_zero_shot_picks_the_nearest_label_vector_and_centring_removes_a_shared_direction():
    x, y, centres = toy()
    shared = np.full(8, 5.0)  # every message also points this way
    texts = {"a": ["ta"], "b": ["tb"], "c": ["tc"]}
    table = {"ta": centres[0] + shared, "tb": centres[1] + shared, "tc": centres[2] + shared}

    def embed(ts):
        return np.stack([table[t] for t in ts])

    z = fs.ZeroShot.build(embed, texts, unlabelled=x + shared)
    assert (z.predict(x + shared)[0] == y).mean() > 0.95
    plain = fs.ZeroShot.build(embed, texts)
    assert plain.similarities(x + shared).min() > z.similarities(x + shared).min()  # all alike without centring
    adapted = z.adapt(x + shared)
    assert (adapted.predict(x + shared)[0] == y).mean() >= (z.predict(x + shared)[0] == y).mean()


def test_prototypes_heads_and_the_label_prior():
    x, y, centres = toy()
    protos = fs.prototypes(x, y, 3)
    assert ((fs.unit(x) @ protos.T).argmax(1) == y).mean() > 0.95
    head = fs.SoftmaxHead(l2=1e-3).fit(x, y, 3)
    assert (head.logits(x).argmax(1) == y).mean() > 0.95
    # with a huge penalty the weights stay at the prior: the zero-shot classifier
    prior = fs.unit(centres) * 5
    pinned = fs.SoftmaxHead(l2=1e4, prior=prior).fit(x[:3], y[:3], 3)
    assert np.allclose(pinned.weight, prior, atol=1e-2)
    idx = fs.k_shot(y, 4, seed=1)
    assert len(idx) == 12 and set(np.bincount(y[idx])) == {4} and (idx == fs.k_shot(y, 4, seed=1)).all()


def test_supcon_loss_prefers_grouped_embeddings_and_batches_hold_positives():
    labels = torch.tensor([0, 0, 1, 1])
    grouped = torch.nn.functional.normalize(torch.tensor([[1.0, 0.1], [1.0, -0.1], [-1.0, 0.1], [-1.0, -0.1]]), dim=1)
    mixed = grouped[[0, 2, 1, 3]]
    assert supcon_loss(grouped, labels) < supcon_loss(mixed, labels)
    sampler = ClassBatches([0] * 5 + [1] * 5 + [2] * 5, batch_size=4, per_class=2, seed=0)
    for batch in sampler:
        counts = np.bincount(np.array([0] * 5 + [1] * 5 + [2] * 5)[batch])
        assert len(batch) == 4 and set(counts[counts > 0]) == {2}


def test_zero_shot_cli_on_the_sample(tmp_path, capsys):
    from pipelines.inference import zeroshot

    out = tmp_path / "preds.jsonl"
    assert zeroshot.main(["--data", "samples/intent", "--labels", "samples/intent/labels.yaml", "--encoder", "tiny",
                          "--out", str(out)]) == 0
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert rows and {"text", "label", "similarity", "off_topic"} <= set(rows[0])
    assert "accuracy" in capsys.readouterr().out


def test_few_shot_run_loads_predicts_and_continues(tmp_path):
    """make few-shot writes a run dir that Predictor loads, with the cosine head it fitted."""
    from pipelines.inference.predict import Predictor
    from pipelines.training import fewshot as fewshot_run

    out = tmp_path / "run"
    assert fewshot_run.main(["--data", "samples/intent", "--labels", "samples/intent/labels.yaml", "--encoder",
                             "tiny", "--epochs", "1", "--out", str(out)]) == 0
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["method"] == "fewshot" and metrics["contrastive_epochs"] == 1 and "accuracy" in metrics["test"]
    pred = Predictor.load(out)
    assert pred.model.normalize and len(pred.predict(["book a table for two"])[0]["top_k"]) == 3
    assert (out / "config.yaml").exists()  # so --init can continue it and replay its data
