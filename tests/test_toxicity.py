"""The toxicity task: records with either or both annotations, char-F1 scoring, the cleaning outputs, and a
planted toxic word that a tiny model learns to find and mask."""

import json

import lightning.pytorch as pl
import numpy as np
import pytest
import torch
from datasets import Dataset
from helpers import make_task

from pipelines.config import DataConfig
from pipelines.data.tags import LabelSets
from pipelines.errors import ConfigError, ReadError
from pipelines.methods import detox
from pipelines.records import PostRecord

LABELS = ["intent:neither", "intent:offensive", "O", "B-SPAN", "I-SPAN"]


def test_mask_remove_and_spacing_repair():
    text = "you absolute idiot, go away moron"
    spans = [(13, 18), (28, 33)]
    assert detox.mask(text, spans) == "you absolute ***, go away ***"
    assert detox.mask(text, spans, "[x]") == "you absolute [x], go away [x]"
    assert detox.remove(text, spans) == "you absolute, go away"
    assert detox.remove("  ", []) == ""


def test_rewriter_uses_non_toxic_neighbours_and_the_judge():
    words = ["idiot", "fool", "friend", "pal"]
    vectors = np.array([[1.0, 0.0], [0.99, 0.1], [0.9, 0.3], [0.8, 0.6]], dtype=np.float32)
    rw = detox.Rewriter(words, vectors, toxic={"idiot", "fool"})
    assert rw.neighbours("Idiot", 2) == ["friend", "pal"]  # fool is toxic itself
    assert rw.neighbours("unknownword") == []
    text = "hello Idiot!"
    assert rw.rewrite([text], [[(6, 11)]]) == [("hello Friend!", True)]  # no judge: first rewrite, case kept
    judged = rw.rewrite([text], [[(6, 11)]], judge=lambda drafts: ["Pal" in d for d in drafts])
    assert judged == [("hello Pal!", True)]
    refused = rw.rewrite([text, "fine"], [[(6, 11)], []], judge=lambda drafts: [False] * len(drafts))
    assert refused == [("hello!", False), ("fine", True)]  # falls back to removal; no spans: unchanged


def test_rewriter_fits_word2vec_and_lexicon_and_saves(tmp_path):
    sents = [["you", "are", "a", "zorbix"], ["you", "are", "a", "friend"]] * 20
    tags = [["O", "O", "O", "B-SPAN"], ["O"] * 4] * 20
    rw = detox.Rewriter.fit(sents, tags, seed=1, dim=8, epochs=2)
    assert rw.toxic == {"zorbix"} and "friend" in rw.words
    rw.save_pretrained(tmp_path)
    back = detox.Rewriter.load(tmp_path)
    assert back.toxic == rw.toxic and back.words == rw.words and np.allclose(back.vectors, rw.vectors)
    assert detox.Rewriter.load(tmp_path / "none") is None


def test_mixed_annotations_read_and_encode(tmp_path, tiny_tok):
    from pipelines.data.splits import read_file

    path = tmp_path / "mixed.jsonl"
    rows = [{"text": "you zorbix go", "label": "offensive", "spans": [4, 5, 6, 7, 8, 9]},
            {"text": "nice day", "label": "neither", "spans": None},     # label only
            {"text": "what a zorbix", "label": None, "spans": [7, 8, 9, 10, 11, 12]}]  # spans only
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    ds = read_file(path, DataConfig())
    assert ds["tags"] == [["O", "B-SPAN", "O"], None, ["O", "O", "B-SPAN"]] and ds["label"][2] is None
    task = make_task("toxicity", encoder="tiny")
    sets = task.label_list({"train": ds})
    assert sets == LabelSets(intents=["neither", "offensive"], tags=["O", "B-SPAN", "I-SPAN"])
    labels = sets.flat()
    assert labels == LABELS and LabelSets.of({x: i for i, x in enumerate(labels)}) == sets
    feats = task.encode(ds, tiny_tok, {x: i for i, x in enumerate(labels)}, DataConfig(max_length=32))
    assert [r["intent_labels"] for r in feats.rows] == [1, 0, -100]
    assert all(x == -100 for x in feats.rows[1]["labels"])  # no span annotation: no span targets
    assert feats.rows[2]["word_spans"] == [[0, 4], [5, 6], [7, 13]]


def test_loss_skips_missing_targets_and_keeps_the_graph(tiny_tok):
    from pipelines.data.batching import Collator
    from pipelines.models.losses import Criterion
    from pipelines.models.outputs import model_inputs

    task = make_task("toxicity", encoder="tiny", dropout=0.0, head="crf")
    model = task.build_model(LABELS, tiny_tok)
    ds = Dataset.from_dict({"text": ["you zorbix go", "nice day"], "tokens": [["you", "zorbix", "go"], ["nice", "day"]],
                            "tags": [["O", "B-SPAN", "O"], None], "label": [None, "neither"]})
    feats = task.encode(ds, tiny_tok, {x: i for i, x in enumerate(LABELS)}, DataConfig(max_length=32))
    batch = Collator(tiny_tok.pad_token_id)(feats.rows)
    out = model(**model_inputs(model, batch))
    loss = task.loss(model, out, batch, Criterion())
    post_only = torch.nn.functional.cross_entropy(out.intent_logits[1:], batch["intent_labels"][1:])
    assert loss > post_only  # span loss (the CRF's, of the first post only) is added
    none = {**batch, "intent_labels": torch.full((2,), -100), "labels": torch.full_like(batch["labels"], -100)}
    zero = task.loss(model, out, none, Criterion())
    assert zero.item() == 0.0 and zero.requires_grad


def test_soft_labels_from_votes_and_the_pure_soft_loss_by_hand(tiny_tok):
    from pipelines.models.losses import Criterion

    task = make_task("toxicity", encoder="tiny")
    ds = Dataset.from_dict({"text": ["a b", "c"], "label": ["offensive", "neither"],
                            "label_votes": [{"offensive": 2, "neither": 1}, {"offensive": 0, "neither": 0}]})
    feats = task.encode(ds, tiny_tok, {x: i for i, x in enumerate(LABELS)}, DataConfig(max_length=32))
    assert feats.rows[0]["soft_targets"] == pytest.approx([1 / 3, 2 / 3])
    assert feats.rows[1]["soft_targets"] == [1.0, 0.0]  # no votes: the gold label
    logits, soft = torch.tensor([[0.0, 0.0]]), torch.tensor([[0.25, 0.75]])
    kl = 0.25 * np.log(0.25 / 0.5) + 0.75 * np.log(0.75 / 0.5)
    assert Criterion(soft_weight=1.0)(logits, torch.tensor([1]), soft=soft).item() == pytest.approx(kl, rel=1e-5)


def test_char_f1_scoring_against_raw_offsets():
    task = make_task("toxicity", encoder="tiny")
    id2label = dict(enumerate(LABELS))
    # post 0: "you zorbix go", predicted B-SPAN on "zorbix"; post 1: gold spans empty, nothing predicted;
    # post 2: gold offsets cut inside a word ("lor"), predicted the whole word
    def post(i, tags, spans, probs, gold):
        return PostRecord(i, 0, tags, torch.zeros(len(tags), 3), tags, probs, gold, spans)

    recs = [post(0, [0, 1, 0], [[0, 3], [4, 9], [10, 12]], [0.2, 0.8], 1),
            post(1, [0, 0], [[0, 4], [5, 8]], [0.9, 0.1], 0), post(2, [1], [[0, 5]], [0.4, 0.6], 0)]
    s = task.score(recs, id2label, gold=[[4, 5, 6, 7, 8], [], [1, 2, 3]])
    assert s["char_f1"] == pytest.approx((1 + 1 + 2 * 3 / (3 + 5)) / 3)
    assert s["accuracy"] == pytest.approx(2 / 3) and s["span_posts"] == 3
    assert s["score"] == pytest.approx((s["macro_f1"] + s["char_f1"]) / 2)
    s = task.score(recs, id2label, gold=[[4, 5, 6, 7, 8], None, None])  # only post 0 has span annotation
    assert s["char_f1"] == 1.0 and s["span_posts"] == 1


def test_options_checks():
    with pytest.raises(ConfigError, match="this task builds transformer"):
        make_task("toxicity", architecture="bilstm")
    with pytest.raises(ConfigError, match="argmax with model.head=crf"):
        make_task("toxicity", head="crf", decode="argmax")


def test_bad_offsets_name_file_and_line(tmp_path):
    from pipelines.data.splits import read_file

    path = tmp_path / "bad.jsonl"
    path.write_text('{"text": "fine", "spans": []}\n{"text": "bad one", "spans": [3, 1]}\n')
    with pytest.raises(ReadError, match=r"bad.jsonl:2: spans offsets are unsorted"):
        read_file(path, DataConfig())
    path.write_text('{"text": "fine", "spans": "7"}\n')
    with pytest.raises(ReadError, match=r"bad.jsonl:1: spans must be a list"):
        read_file(path, DataConfig())


def planted(n: int, rng: np.random.Generator) -> dict[str, list]:
    """Posts where the made-up word 'zorbix' is the toxic span (label offensive), others are clean."""
    fill = ["the", "park", "plan", "is", "good", "today", "we", "like", "it", "city", "news", "bus"]
    texts, labels, spans = [], [], []
    for k in range(n):
        words = list(rng.choice(fill, size=5))
        if k % 2 == 0:
            words.insert(int(rng.integers(0, 6)), "zorbix")
        text = " ".join(words)
        start = text.find("zorbix")
        texts.append(text)
        labels.append("offensive" if start >= 0 else "neither")
        spans.append(list(range(start, start + 6)) if start >= 0 else [])
    return {"text": texts, "label": labels, "spans": spans}


def test_a_planted_toxic_word_is_learned_and_masked_exactly(tmp_path):
    from pipelines.config import load_config
    from pipelines.inference.predict import Predictor
    from pipelines.training.train import run

    rng = np.random.default_rng(0)
    for split, n in (("train", 96), ("dev", 16), ("test", 16)):
        rows = planted(n, rng)
        (tmp_path / f"{split}.jsonl").write_text("".join(
            json.dumps(dict(zip(rows, values, strict=True))) + "\n" for values in zip(*rows.values(), strict=True)))
    pl.seed_everything(0, verbose=False)
    cfg = load_config(None, ["model.encoder=tiny", "model.dropout=0", "train.epochs=12", "train.lr=3e-3",
                             "train.warmup_ratio=0", "train.batch_size=16", "train.progress_bar=false",
                             f"train.out_dir={tmp_path}", f"data.path={tmp_path}", "data.max_length=32"],
                      task="toxicity")
    result = run(cfg, tmp_path / "run")
    assert result["test"]["char_f1"] > 0.9 and result["test"]["accuracy"] > 0.9
    pred = Predictor.load(tmp_path / "run").predict(["the park zorbix is good", "we like the bus"])
    assert pred[0]["masked"] == "the park *** is good" and pred[0]["offsets"] == list(range(9, 15))
    assert pred[0]["removed"] == "the park is good" and pred[0]["toxic"] is True
    assert "zorbix" not in pred[0]["rewritten"]
    assert pred[1]["masked"] == "we like the bus" and pred[1]["spans"] == [] and pred[1]["toxic"] is False


def test_inline_annotations_of_any_type_are_toxic_spans(tmp_path, tiny_tok):
    from pipelines.data.inline import read_inline

    path = tmp_path / "posts.md"
    path.write_text("## intent: offensive\n- you are a [moron](insult) and a [big clown](toxic)\n"
                    "## intent: neither\n- thanks for the update\n")
    ds = read_inline(path)
    task = make_task("toxicity", encoder="tiny")
    labels = task.label_list({"train": ds}).flat()
    feats = task.encode(ds, tiny_tok, {x: i for i, x in enumerate(labels)}, DataConfig(max_length=32))
    row = feats.rows[0]
    tags = [["O", "B-SPAN", "I-SPAN"][row["labels"][p]] for p in row["word_starts"]]  # span-head ids
    assert tags == ["O", "O", "O", "B-SPAN", "O", "O", "B-SPAN", "I-SPAN"] and row["intent_labels"] == 1


def test_a_task_that_needs_a_field_stops_on_records_without_it(tmp_path, tiny_tok):
    from pipelines.training.datamodule import TaskDataModule

    (tmp_path / "train.jsonl").write_text('{"text": "hi", "label": "greet"}\n{"text": "yo", "label": null}\n')
    (tmp_path / "dev.jsonl").write_text('{"text": "hi", "label": "greet"}\n')
    dm = TaskDataModule("intent", DataConfig(path=str(tmp_path)), tiny_tok)
    with pytest.raises(ReadError, match=r"train.jsonl:2: no 'label' in this record \(split 'train': 1 such"):
        dm.setup("fit")


def test_prior_correction_picks_the_smallest_tau_that_is_best_on_dev(tiny_tok):
    from pipelines.families.post_spans import fit_prior_correction

    task = make_task("toxicity", encoder="tiny", dropout=0.0)
    model = task.build_model(LABELS, tiny_tok).eval()
    train_ids = [0] * 90 + [1] * 10  # neither 90%, offensive 10%
    val_probs = np.array([[0.7, 0.3]] * 5 + [[0.95, 0.05]] * 20)  # the rare class is under-scored
    val_ids = [1] * 5 + [0] * 20
    assert fit_prior_correction(model, train_ids, val_probs, val_ids) == 0.5  # 0.25 is not enough
    assert model.post_bias.tolist() == pytest.approx([-0.5 * np.log(0.9), -0.5 * np.log(0.1)])
    batch = {"input_ids": torch.tensor([[2, 5, 3]]), "attention_mask": torch.ones(1, 3, dtype=torch.long)}
    shifted = model(**batch).intent_logits
    bias = model.post_bias.clone()
    model.post_bias.zero_()
    assert torch.allclose(shifted - model(**batch).intent_logits, bias, atol=1e-5)  # eval mode: shifted
    model.post_bias.copy_(bias)
    torch.manual_seed(0)
    train_out = model.train()(**batch).intent_logits
    torch.manual_seed(0)
    model.post_bias.zero_()
    assert torch.allclose(train_out, model(**batch).intent_logits)  # training: never shifted


def test_post_labels_only_name_their_clean_label_and_give_no_spans(tmp_path, caplog):
    """A corpus of post labels only (NOT / OFF, not Davidson's names): an unknown clean_label stops training
    with the labels listed; with the right one, `toxic` follows the label and the untrained span head returns
    nothing (None), saying so at training and at load."""
    from pipelines.config import load_config
    from pipelines.errors import ConfigError
    from pipelines.inference.predict import Predictor
    from pipelines.training.train import run

    rows = [("you are an idiot and a fool", "OFF"), ("have a nice day friend", "NOT")] * 20
    csv = tmp_path / "posts.csv"
    csv.write_text("text,label\n" + "".join(f"{t},{lab}\n" for t, lab in rows))
    over = ["model.encoder=tiny", "train.epochs=1", "train.progress_bar=false", f"train.out_dir={tmp_path}",
            f"data.path={csv}", "data.max_length=32"]
    with pytest.raises(ConfigError, match=r"model.clean_label='neither' is not one of the post labels \['NOT', "
                                          r"'OFF'\]"):
        run(load_config(None, over, task="toxicity"), tmp_path / "bad")
    with caplog.at_level("WARNING"):
        run(load_config(None, [*over, "model.clean_label=NOT"], task="toxicity"), tmp_path / "run")
        assert "span head is not trained" in caplog.text
        caplog.clear()
        predictor = Predictor.load(tmp_path / "run")
        assert "saw no labels in training" in caplog.text
    out = predictor.predict(["have a nice day friend", "you are an idiot"])
    for res in out:
        assert res["toxic"] == (res["label"] != "NOT")
        assert all(res[k] is None for k in ("spans", "offsets", "masked", "removed", "rewritten"))
