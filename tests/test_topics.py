"""Topics task: LDA reproducibility, long-document windows, fusion shapes, the folder reader, and a train /
save / load / predict round trip on the shipped sample with the tiny encoder."""

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from pipelines.data.readers import ReadError, read_label_folders
from pipelines.data.splits import drop_duplicates, stratified_split
from pipelines.methods.documents import ChunkEncoder, pool, windows
from pipelines.methods.topics import TopicModel
from pipelines.models.fusion import TopicFusionClassifier

DOCS = ["the striker scored a goal in the match", "the team won the league match with a late goal",
        "the chef cooked soup with garlic and beans", "bake the bread with butter and flour",
        "parliament voted on the tax law", "the minister announced a budget for schools"] * 4


def test_lda_same_seed_same_theta_and_other_seed_differs():
    a = TopicModel.fit(DOCS, 3, seed=1, passes=2)
    b = TopicModel.fit(DOCS, 3, seed=1, passes=2)
    c = TopicModel.fit(DOCS, 3, seed=2, passes=2)
    ta, tb, tc = a.transform(DOCS[:6]), b.transform(DOCS[:6]), c.transform(DOCS[:6])
    np.testing.assert_array_equal(ta, tb)
    np.testing.assert_allclose(ta.sum(1), 1.0, atol=1e-5)
    assert not np.allclose(ta, tc)
    # θ of a text does not depend on the batch it comes in
    np.testing.assert_array_equal(a.transform([DOCS[3]])[0], ta[3])


def test_lda_save_load_and_cache(tmp_path):
    model = TopicModel.fit(DOCS, 3, seed=1, passes=2, cache_dir=tmp_path / "lda")
    assert len(list((tmp_path / "lda").iterdir())) == 1
    again = TopicModel.fit(DOCS, 3, seed=1, passes=2, cache_dir=tmp_path / "lda")
    np.testing.assert_array_equal(model.transform(DOCS[:4]), again.transform(DOCS[:4]))
    model.save_pretrained(tmp_path / "model")
    loaded = TopicModel.load(tmp_path / "model")
    assert loaded.fingerprint == model.fingerprint
    np.testing.assert_array_equal(loaded.transform(DOCS[:4]), model.transform(DOCS[:4]))
    assert TopicModel.load(tmp_path / "nothing") is None
    # an empty text (no word LDA knows) gets the prior, not an error
    assert model.transform([""])[0].sum() == pytest.approx(1.0)


def test_windows_keep_the_head_and_the_real_tail():
    ids = list(range(100))
    pieces = windows(ids, window=12, max_chunks=3)  # 10 ids per piece
    assert pieces == [list(range(10)), list(range(10, 20)), list(range(90, 100))]
    assert windows(ids, window=12, max_chunks=1) == [list(range(10))]
    assert windows([], 12, 3) == [[]]
    assert windows(list(range(5)), 12, 3) == [list(range(5))]
    chunks = np.array([[1.0, 0.0], [0.0, 1.0], [3.0, 3.0]])
    np.testing.assert_allclose(pool(chunks, "head"), [1, 0])
    np.testing.assert_allclose(pool(chunks, "head_tail"), [2, 1.5])
    np.testing.assert_allclose(pool(chunks, "chunks"), [4 / 3, 4 / 3])


def test_chunk_encoder_cache_gives_the_same_vectors(tmp_path):
    texts = ["word " * 40, "a short text", "the team won " * 30]
    enc = ChunkEncoder("tiny", window=16, max_chunks=3, cache_dir=tmp_path, cache_block=2)
    first = enc.encode(texts)
    assert [len(c) for c in first] == [3, 1, 3]
    assert len(list(tmp_path.glob("vectors-*.npz"))) == 2  # written block by block
    again = ChunkEncoder(enc.encoder, window=16, max_chunks=3, cache_dir=tmp_path, name="tiny")
    again._encode = None  # would fail if called: everything must come from the cache
    for a, b in zip(first, again.encode(texts), strict=True):
        np.testing.assert_array_equal(a, b)
    # a window of the same text encoded alone equals its vector inside a batch (padding is masked)
    alone = ChunkEncoder(enc.encoder, window=16, max_chunks=3).encode([texts[1]])[0]
    np.testing.assert_allclose(alone, first[1], atol=1e-5)


@pytest.mark.parametrize("fusion", ["text", "topics", "concat", "gate"])
def test_fusion_shapes_and_save_load(tmp_path, fusion):
    labels = ["a", "b", "c"]
    model = TopicFusionClassifier(labels, fusion, num_topics=5, text_dim=8).eval()
    batch = {"doc_vectors": torch.randn(4, 8), "topics": torch.softmax(torch.randn(4, 5), -1)}
    inputs = {k: batch[k] for k in model.extra_inputs}
    out = model(**inputs)
    assert out.logits.shape == (4, 3)
    assert out.pooled.shape[0] == 4
    assert set(model.extra_inputs) == {"text": {"doc_vectors"}, "topics": {"topics"}}.get(fusion,
                                                                                          {"doc_vectors", "topics"})
    model.save_pretrained(tmp_path)
    loaded = TopicFusionClassifier.from_pretrained(tmp_path)
    torch.testing.assert_close(loaded(**inputs).logits, out.logits)


def test_gate_starts_near_the_text_model_and_topics_change_it():
    torch.manual_seed(0)
    model = TopicFusionClassifier(["a", "b"], "gate", num_topics=4, text_dim=6).eval()
    h = torch.randn(3, 6)
    t1, t2 = torch.softmax(torch.randn(3, 4), -1), torch.softmax(5 * torch.randn(3, 4), -1)
    assert not torch.allclose(model(doc_vectors=h, topics=t1).logits, model(doc_vectors=h, topics=t2).logits)
    with torch.no_grad():
        model.gate.bias.fill_(-50.0)  # a closed gate is the text model
    u = model.text_norm(h)
    torch.testing.assert_close(model(doc_vectors=h, topics=t1).logits, model.classifier(u))


def test_fusion_rejects_missing_parts():
    with pytest.raises(ValueError, match="num_topics"):
        TopicFusionClassifier(["a"], "gate", num_topics=0, text_dim=4)
    with pytest.raises(ValueError, match="text vector"):
        TopicFusionClassifier(["a"], "concat", num_topics=3)
    with pytest.raises(ValueError, match="fusion"):
        TopicFusionClassifier(["a"], "sum", num_topics=3, text_dim=4)


def write(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)


def test_label_folders_reader_and_its_errors(tmp_path):
    write(tmp_path / "ok" / "sport" / "001.txt", b"The match.\n")
    write(tmp_path / "ok" / "food" / "001.txt", "Caf\u00e9 soup \u00a35.\n".encode())
    ds = read_label_folders(tmp_path / "ok")
    assert sorted(ds["label"]) == ["food", "sport"] and "file" in ds.column_names
    write(tmp_path / "latin" / "sport" / "001.txt", b"Cost \xa35.\n")
    with pytest.raises(ReadError, match=r"latin/sport/001.txt.*not UTF-8.*encoding_fallback"):
        read_label_folders(tmp_path / "latin")
    assert read_label_folders(tmp_path / "latin", encoding_fallback="latin-1")["text"] == ["Cost \u00a35.\n"]
    write(tmp_path / "empty" / "sport" / "001.txt", b"  \n")
    with pytest.raises(ReadError, match=r"empty/sport/001.txt.*empty document"):
        read_label_folders(tmp_path / "empty")
    write(tmp_path / "nofiles" / "sport" / "001.txt", b"The match.\n")
    (tmp_path / "nofiles" / "food").mkdir()
    with pytest.raises(ReadError, match=r"nofiles/food.*no .txt files"):
        read_label_folders(tmp_path / "nofiles")


def test_load_splits_reads_label_folders_with_train_and_test(tmp_path):
    from pipelines.config import DataConfig
    from pipelines.data.splits import load_splits

    for split in ("train", "test"):
        for label in ("a", "b"):
            for i in range(10):
                write(tmp_path / split / label / f"{i:03d}.txt", f"{label} document {i} {split}".encode())
    splits = load_splits(DataConfig(path=str(tmp_path)), tmp_path)
    assert len(splits["test"]) == 20 and len(splits["train"]) + len(splits["validation"]) == 20


def test_duplicates_are_dropped_before_the_split():
    from datasets import Dataset

    texts = [f"doc {i}" for i in range(40)] + ["doc 3", "doc 7", "doc 7"]
    ds = Dataset.from_dict({"text": texts, "label": [str(i % 2) for i in range(40)] + ["1", "1", "1"]})
    unique, dropped = drop_duplicates(ds)
    assert dropped == 3 and len(unique) == 40 and len(set(unique["text"])) == 40
    rest, held = stratified_split(unique, 0.25, seed=0)
    assert not set(rest["text"]) & set(held["text"])
    assert sorted(held["label"]).count("0") == 5 and len(held) == 10


def test_benchmark_bbc_split_has_no_duplicate_across_splits(tmp_path, monkeypatch):
    from benchmarks import topics_data

    for label in ("tech", "sport"):
        for i in range(20):
            write(tmp_path / "bbc_news" / label / f"{i:03d}.txt", f"{label} story {i % 15}\n".encode())
    monkeypatch.setattr(topics_data, "SHARED", tmp_path)
    splits, facts = topics_data.bbc()
    assert facts["duplicates_dropped"] == 10
    seen = [t for name in ("train", "validation", "test") for t in splits[name]["text"]]
    assert len(seen) == len(set(seen)) == 30


def test_topics_task_trains_saves_and_predicts_topics(tmp_path):
    from pipelines.config import load_config
    from pipelines.inference.predict import Predictor
    from pipelines.training.train import run

    cfg = load_config(None, ["model.encoder=tiny", "model.num_topics=4", "model.lda_passes=2", "train.epochs=2",
                             f"model.cache={tmp_path / 'cache'}", "train.progress_bar=false",
                             f"train.out_dir={tmp_path}"], task="topics")
    results = run(cfg, tmp_path / "run")
    assert set(results) == {"validation", "test"} and 0 <= results["test"]["accuracy"] <= 100
    pred = Predictor.load(tmp_path / "run").predict(["The chef cooked the soup with garlic.", "Parliament voted."])
    assert pred[0]["label"] in {"food", "politics", "sport", "technology"}
    assert len(pred[0]["topics"]) == 3 and all(len(t["words"]) == 8 for t in pred[0]["topics"])
    assert sum(t["weight"] for t in pred[0]["topics"]) <= 1.0 + 1e-6
    meta = json.loads((tmp_path / "run" / "model" / "pipeline.json").read_text())
    assert meta["options"]["fusion"] == "gate"


def test_topics_task_stops_on_an_empty_document(tmp_path):
    import csv

    from pipelines.config import load_config
    from pipelines.training.train import run

    with open(tmp_path / "docs.csv", "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["text", "label"])
        w.writerows([[f"doc {i} words", "a" if i % 2 else "b"] for i in range(12)] + [["   ", "a"]])
    cfg = load_config(None, ["model.encoder=tiny", "model.num_topics=2", "train.epochs=1", "model.cache=",
                             f"data.path={tmp_path / 'docs.csv'}", f"train.out_dir={tmp_path}"], task="topics")
    with pytest.raises(ReadError, match=r"docs.csv.*1 empty documents.*record 13"):
        run(cfg, tmp_path / "run")


def test_options_are_checked():
    from pipelines.tasks.topics import TopicsOptions

    from pipelines.errors import ConfigError

    with pytest.raises(ConfigError, match="pooling=chunks needs model.features=frozen"):
        TopicsOptions(features="finetune", pooling="chunks")
    with pytest.raises(ConfigError, match="fusion"):
        TopicsOptions(fusion="sum")


def test_head_tail_truncation():
    from pipelines.families.documents import head_tail

    assert head_tail(list(range(10)), 4) == [0, 1, 8, 9]
    assert head_tail([1, 2], 4) == [1, 2]


def test_lda_is_not_fooled_by_label_sorted_data():
    """Online LDA learns chunk by chunk with a falling step size; on documents sorted by class (a folder per
    label) it must still find every class's topic, since it trains on a seeded shuffle (without it, seed 1
    puts all four classes in one topic)."""
    import random

    rng = random.Random(0)
    vocab = ["goal match striker league team coach referee stadium".split(),
             "budget minister vote election party law senate tax".split(),
             "chip software code network laptop server browser app".split(),
             "soup bread garlic butter oven sauce flour cheese".split()]
    everything = sum(vocab, [])
    docs = [" ".join(rng.choices(v, k=10) + rng.choices(everything, k=4)) for v in vocab for _ in range(50)]
    for seed in (1, 2):
        theta = TopicModel.fit(docs, 4, seed=seed, passes=2, chunksize=20).transform(docs)
        counts = [np.bincount(theta[c * 50:(c + 1) * 50].argmax(1), minlength=4) for c in range(4)]
        assert min(c.max() for c in counts) >= 45  # each class has one dominant topic
        assert len({c.argmax() for c in counts}) == 4  # and no two classes share it


def test_topics_task_fine_tunes_one_window(tmp_path):
    from pipelines.config import load_config
    from pipelines.inference.predict import Predictor
    from pipelines.training.train import run

    cfg = load_config(None, ["model.encoder=tiny", "model.features=finetune", "model.pooling=head_tail",
                             "model.fusion=concat", "model.num_topics=3", "model.lda_passes=1", "train.epochs=1",
                             "data.max_length=32", "model.cache=", "train.progress_bar=false",
                             f"train.out_dir={tmp_path}"], task="topics")
    run(cfg, tmp_path / "run")
    assert (tmp_path / "run" / "model" / "encoder").is_dir()  # the fine-tuned encoder is saved with the head
    pred = Predictor.load(tmp_path / "run").predict(["The minister announced a budget. " * 20])
    assert pred[0]["label"] in {"food", "politics", "sport", "technology"} and len(pred[0]["topics"]) == 3
