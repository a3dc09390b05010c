"""Planted label flips in a tiny corpus must rank on top of the out-of-fold suspects."""

import json

import numpy as np
import pytest

from pipelines.data.readers import read_jsonl
from pipelines.training.find_bad_labels import main

SAMPLE = "samples/intent"


def _planted(tmp_path, n_flips: int):
    ds = read_jsonl(f"{SAMPLE}/train.jsonl")
    rng = np.random.default_rng(0)
    labels = sorted(set(ds["label"]))
    planted = set(rng.choice(len(ds), n_flips, replace=False).tolist())
    rows = []
    for i, (text, label) in enumerate(zip(ds["text"], ds["label"], strict=True)):
        if i in planted:
            label = labels[(labels.index(label) + 1 + int(rng.integers(0, len(labels) - 1))) % len(labels)]
        rows.append({"text": text, "label": label})
    data = tmp_path / "data"
    data.mkdir()
    (data / "train.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    (data / "dev.jsonl").write_text(open(f"{SAMPLE}/dev.jsonl").read())
    return data, planted, rows


def test_planted_intent_flips_rank_on_top(tmp_path):
    data, planted, rows = _planted(tmp_path, 18)
    out = tmp_path / "out"
    main(["--task", "intent", "--data", str(data), "--folds", "3", "--out", str(out), "model.encoder=tiny",
          "train.epochs=20", "train.batch_size=16", "train.lr=3e-3", "train.warmup_ratio=0",
          "train.progress_bar=false"])
    suspects = [json.loads(x) for x in (out / "suspects.jsonl").read_text().splitlines()]
    assert len(suspects) == len(rows) and (out / "summary.md").exists() and (out / "suspects.csv").exists()
    top = {s["id"] for s in suspects[:18]}
    # a random ranking would put about 1 of the 18 planted flips among the 18 lowest margins
    assert len(top & planted) >= 10
    ranks = [k for k, s in enumerate(suspects) if s["id"] in planted]
    assert np.median(ranks) < 0.1 * len(suspects)


def test_tagging_suspects_rank_a_flipped_entity_type_first():
    from datasets import Dataset

    from pipelines.training.find_bad_labels import tagging_suspects

    labels = ["O", "B-PER", "I-PER", "B-LOC", "I-LOC"]
    ds = Dataset.from_dict({"tokens": [["Anna", "Keller", "left"], ["Oslo", "is", "cold"], ["Paris", "too"]],
                            "tags": [["B-PER", "I-PER", "O"], ["B-PER", "O", "O"], ["B-LOC", "O"]]})

    def dist(rows):
        return np.array([[0.9 if labels[j] == t else 0.025 for j in range(5)] for t in rows])

    # the model reads 'Oslo' as a location: the given B-PER has low confidence
    dists = [dist(["B-PER", "I-PER", "O"]), dist(["B-LOC", "O", "O"]), dist(["B-LOC", "O"])]
    rows = tagging_suspects(ds, dists, labels)
    assert rows[0]["id"] == 1 and rows[0]["worst_word"] == "Oslo"
    assert rows[0]["given"][0]["type"] == "PER" and rows[0]["suggested"] == [
        {"type": "LOC", "text": "Oslo", "start": 0, "end": 1}]
    assert rows[0]["normalized_margin"] == pytest.approx(0.025 - 0.9)
    # PER mass 0.025 + 0.025, LOC 0.9 + 0.025, renormalised over the two types
    assert rows[0]["given"][0]["type_margin"] == pytest.approx((0.05 - 0.925) / 0.975, abs=1e-4)
    ent = rows[0]["given"][0]
    assert ent["suggested_type"] == "LOC" and ent["word_margin"] == pytest.approx(0.025 - 0.9)
    assert rows[0]["score"] == ent["score"] == pytest.approx((ent["word_margin"] + ent["type_margin"]) / 2, abs=1e-4)
    assert "suggested_type" not in rows[1]["given"][0]


def test_tagging_rank_catches_a_type_flip_the_word_margins_hide():
    """The model is sure 'New York' is a location but splits it between B-LOC and I-LOC: the given PER tags
    still win word by word (margins +0.05), the span's type margin is negative."""
    from datasets import Dataset

    from pipelines.training.find_bad_labels import tagging_suspects

    labels = ["O", "B-LOC", "I-LOC", "B-PER", "I-PER"]
    ds = Dataset.from_dict({"tokens": [["Anna", "Keller"], ["New", "York"]],
                            "tags": [["B-PER", "I-PER"], ["B-PER", "I-PER"]]})
    anna = np.array([[0.0, 0.0, 0.0, 1.0, 0.0], [0.0, 0.0, 0.0, 0.0, 1.0]])
    york = np.array([[0.0, 0.35, 0.25, 0.40, 0.0], [0.0, 0.25, 0.35, 0.0, 0.40]])  # LOC 0.6, PER 0.4 per word
    rows = tagging_suspects(ds, [anna, york], labels)
    assert rows[0]["id"] == 1 and rows[0]["given"][0]["suggested_type"] == "LOC"
    assert rows[0]["normalized_margin"] == pytest.approx(0.05)
    assert rows[0]["given"][0]["type_margin"] == pytest.approx(0.4 - 0.6)
    assert rows[0]["score"] == pytest.approx((0.05 + 0.4 - 0.6) / 2) and rows[0]["score"] < 0 < rows[1]["score"]


def test_tagging_rank_catches_a_missed_entity_outside_the_given_ones():
    from datasets import Dataset

    from pipelines.training.find_bad_labels import tagging_suspects

    labels = ["O", "B-LOC", "I-LOC", "B-PER", "I-PER"]
    ds = Dataset.from_dict({"tokens": [["Anna", "left"], ["she", "left", "Oslo"]],
                            "tags": [["B-PER", "O"], ["O", "O", "O"]]})
    sure = {"O": [1.0, 0, 0, 0, 0], "B-PER": [0, 0, 0, 1.0, 0], "LOC?": [0.2, 0.8, 0, 0, 0]}
    rows = tagging_suspects(ds, [np.array([sure["B-PER"], sure["O"]]),
                                 np.array([sure["O"], sure["O"], sure["LOC?"]])], labels)
    assert rows[0]["id"] == 1 and rows[0]["score"] == pytest.approx(0.2 - 0.8) and rows[0]["given"] == []
    assert rows[0]["suggested"] == [{"type": "LOC", "text": "Oslo", "start": 2, "end": 3}]
    assert rows[1]["score"] == 1.0


def test_frozen_mode_ranks_planted_flips_high(tmp_path):
    data, planted, rows = _planted(tmp_path, 18)
    out = tmp_path / "out"
    main(["--task", "intent", "--data", str(data), "--folds", "3", "--frozen", "--out", str(out),
          "model.encoder=tiny"])
    suspects = [json.loads(x) for x in (out / "suspects.jsonl").read_text().splitlines()]
    assert len(suspects) == len(rows) and "frozen encoder" in (out / "summary.md").read_text()
    ranks = [k for k, s in enumerate(suspects) if s["id"] in planted]
    # random features of a random tiny BERT still carry the words; a random ranking has median ~ len/2
    assert np.median(ranks) < 0.25 * len(suspects)


def test_frozen_out_of_fold_for_tags_keeps_one_row_per_word():
    from pipelines.training.find_bad_labels import frozen_out_of_fold

    rng = np.random.default_rng(0)
    labels = ["O", "B-PER", "I-PER"]
    given = [["O", "B-PER", "I-PER"], [], ["B-PER", "O"]] * 10
    feats = [rng.normal(size=(len(t), 4)) + np.array([[labels.index(x), 0, 0, 0] for x in t]).reshape(-1, 4) * 8
             for t in given]
    dists = frozen_out_of_fold(feats, given, labels, k=3, seed=0)
    assert [d.shape for d in dists] == [(len(t), 3) for t in given]
    hits = [labels[j] == t for d, tags in zip(dists, given, strict=True)
            for j, t in zip(d.argmax(-1), tags, strict=True)]
    assert np.mean(hits) > 0.9


def test_frozen_check_of_another_split_scores_an_unseen_label_zero(tmp_path):
    """--split validation: a model of the train split scores the dev split; a label train never uses gets
    probability 0 (no error), so its margin is minus the top probability."""
    data = tmp_path / "data"
    data.mkdir()
    (data / "train.jsonl").write_text(open(f"{SAMPLE}/train.jsonl").read())
    dev = [json.loads(x) for x in open(f"{SAMPLE}/dev.jsonl").read().splitlines()]
    dev[3]["label"] = "no_such_intent"
    (data / "dev.jsonl").write_text("".join(json.dumps(r) + "\n" for r in dev))
    out = tmp_path / "out"
    main(["--task", "intent", "--data", str(data), "--split", "validation", "--frozen", "--out", str(out),
          "model.encoder=tiny"])
    suspects = [json.loads(x) for x in (out / "suspects.jsonl").read_text().splitlines()]
    assert len(suspects) == len(dev)
    unseen = next(r for r in suspects if r["given"] == "no_such_intent")
    assert unseen["self_confidence"] == 0.0 and unseen["normalized_margin"] < 0
    assert unseen["suggested"] != "no_such_intent"
    assert "validation split" in (out / "summary.md").read_text()


def test_frozen_tagging_check_writes_one_row_per_sentence(tmp_path):
    out = tmp_path / "out"
    main(["--task", "ner", "--frozen", "--folds", "2", "--out", str(out), "model.encoder=tiny"])
    rows = [json.loads(x) for x in (out / "suspects.jsonl").read_text().splitlines()]
    from pipelines.data.readers import read_conll

    assert len(rows) == len(read_conll("samples/ner/train.conll")) and all("given" in r for r in rows)


def test_another_split_can_be_scored_with_a_finished_run(tmp_path):
    from pipelines.config import load_config
    from pipelines.training.train import run

    cfg = load_config(None, ["model.encoder=tiny", "train.epochs=1", "train.progress_bar=false",
                             f"train.out_dir={tmp_path}"], task="intent")
    run(cfg, tmp_path / "run")
    out = tmp_path / "out"
    main(["--task", "intent", "--split", "test", "--model", str(tmp_path / "run"), "--out", str(out),
          "model.encoder=tiny"])
    assert str(tmp_path / "run") in (out / "summary.md").read_text()
    assert not (out / "model-on-train").exists()  # nothing trained
    with pytest.raises(ValueError, match="out-of-fold"):
        main(["--task", "intent", "--model", str(tmp_path / "run"), "--out", str(out), "model.encoder=tiny"])


def test_a_fold_folder_of_another_config_is_moved_aside_not_reused(tmp_path):
    import yaml

    from pipelines.config import load_config, to_dict
    from pipelines.training.find_bad_labels import finished_with, fresh_dir

    cfg = load_config(None, ["model.encoder=tiny", "train.epochs=1"], task="intent")
    fold = tmp_path / "fold0"
    fold.mkdir()
    (fold / "config.yaml").write_text(yaml.safe_dump(to_dict(cfg)))
    assert not finished_with(fold, cfg)  # no metrics.json: unfinished
    (fold / "metrics.json").write_text("{}")
    assert finished_with(fold, cfg)
    other = load_config(None, ["model.encoder=tiny", "train.epochs=2"], task="intent")
    assert not finished_with(fold, other)
    assert fresh_dir(fold) == fold and not fold.exists()
    [aside] = list(tmp_path.glob("fold0.old-*"))
    assert (aside / "metrics.json").exists()  # nothing a user trained is deleted
