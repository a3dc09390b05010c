"""Word-level casing, character and word2vec features for the Transformer tagger."""

import pytest
import torch
from datasets import Dataset
from transformers import AutoModelForTokenClassification

from pipelines.config import ConfigError, DataConfig
from pipelines.data.batching import Collator
from pipelines.data.tagging import encode_tokens
from pipelines.data.words import CASES, WordTable
from pipelines.models import encoders
from pipelines.models.word_features import WordFeatureTagger
from pipelines.registry import get_task, task_class

LABELS = ["O", "B-PER", "I-PER", "B-LOC", "I-LOC"]


def test_case_ids_follow_the_words(tiny_tok):
    ds = Dataset.from_dict({"tokens": [["Anna", "flew", "to", "OSLO", "in", "1999", "x2", "McDo"]],
                            "tags": [["B-PER", "O", "O", "B-LOC", "O", "O", "O", "O"]]})
    row = encode_tokens(ds, tiny_tok, {t: i for i, t in enumerate(LABELS)}, DataConfig(), casing=True).rows[0]
    assert len(row["case_ids"]) == len(row["input_ids"]) and row["case_ids"][0] == row["case_ids"][-1] == 0
    first = [row["case_ids"][p] - 1 for p in row["word_starts"]]
    assert [CASES[c] for c in first] == ["title", "lower", "lower", "upper", "lower", "numeric", "has_digit", "mixed"]
    # every sub-token of a word carries the word's class: "anna" is several character pieces in the tiny vocab
    starts = row["word_starts"] + [len(row["input_ids"]) - 1]
    for k in range(len(starts) - 1):
        assert len(set(row["case_ids"][starts[k]:starts[k + 1]])) == 1
    plain = encode_tokens(ds, tiny_tok, {}, DataConfig())
    assert "case_ids" not in plain.rows[0] and plain.rows[0]["input_ids"] == row["input_ids"]


def test_case_ids_are_cut_with_the_window(tiny_tok):
    ds = Dataset.from_dict({"tokens": [["Word"] * 40], "tags": [["O"] * 40]})
    for row in encode_tokens(ds, tiny_tok, {"O": 0}, DataConfig(max_length=16), casing=True).rows:
        assert len(row["case_ids"]) == len(row["input_ids"]) <= 16


@pytest.mark.parametrize("fusion", ["input", "head"])
@pytest.mark.parametrize("features", [("casing",), ("chars",), ("casing", "chars"), ("casing", "word2vec")])
def test_a_fresh_feature_tagger_is_the_plain_tagger(tiny_tok, fusion, features):
    """Zero-initialised, the feature part changes nothing until it is trained."""
    torch.manual_seed(0)
    emitter = encoders.load_model("tiny", AutoModelForTokenClassification, tiny_tok, num_labels=len(LABELS))
    model = WordFeatureTagger(emitter, LABELS, features, fusion, word_vectors=torch.randn(6, 4).numpy()).eval()
    ds = Dataset.from_dict({"tokens": [["Anna", "flew", "to", "OSLO"], ["hi"]], "tags": [["O"] * 4, ["O"]]})
    words = {"anna": 2, "oslo": 3}
    batch = Collator(0)(encode_tokens(ds, tiny_tok, {"O": 0}, DataConfig(), casing=True, chars=True,
                                      word_rows=words).rows)
    assert batch["char_ids"].shape[:2] == batch["input_ids"].shape
    with torch.no_grad():
        cased = model(batch["input_ids"], batch["attention_mask"],
                      **{k: batch[k] for k in model.extra_inputs}).logits
        plain = emitter(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits
    torch.testing.assert_close(cased, plain)
    assert encoders.pretrained_part(model) is emitter.base_model


def test_casing_reaches_the_logits_once_trained(tiny_tok):
    torch.manual_seed(0)
    emitter = encoders.load_model("tiny", AutoModelForTokenClassification, tiny_tok, num_labels=len(LABELS))
    model = WordFeatureTagger(emitter, LABELS, ("casing",), "input").eval()
    ids = torch.tensor([[2, 20, 3]])
    with torch.no_grad():
        model.case_embed.weight.normal_()
        lower = model(ids, torch.ones_like(ids), torch.tensor([[0, 1 + CASES.index("lower"), 0]])).logits
        title = model(ids, torch.ones_like(ids), torch.tensor([[0, 1 + CASES.index("title"), 0]])).logits
    assert not torch.allclose(lower, title)


def test_batches_without_the_features_get_a_clear_error(tiny_tok):
    """A model built with casing fed batches encoded without it (a TaskDataModule from the task's plain
    defaults) names what is missing instead of failing deep in an embedding lookup."""
    emitter = encoders.load_model("tiny", AutoModelForTokenClassification, tiny_tok, num_labels=len(LABELS))
    model = WordFeatureTagger(emitter, LABELS, ("casing", "chars"), "input").eval()
    ids = torch.tensor([[2, 20, 3]])
    with pytest.raises(ValueError, match="got no case_ids, char_ids: the batches were encoded without"):
        model(ids, torch.ones_like(ids))


def test_word_features_options():
    options = task_class("ner").Options
    with pytest.raises(ConfigError, match="word_features"):
        options(word_features="casing+shape")
    with pytest.raises(ConfigError, match="feature_fusion"):
        options(word_features="casing", feature_fusion="sum")
    with pytest.raises(ConfigError, match="BiLSTM"):
        options(architecture="bilstm", head="crf", word_features="casing+chars")
    task = get_task("ner", options(encoder="tiny", word_features="casing"))
    assert task.encode(Dataset.from_dict({"tokens": [["A"]]}), encoders.tiny_tokenizer(), {},
                       DataConfig()).rows[0]["case_ids"]


def test_char_ids_are_the_words_bytes(tiny_tok):
    ds = Dataset.from_dict({"tokens": [["Zoë", "x" * 30]], "tags": [["O", "O"]]})
    row = encode_tokens(ds, tiny_tok, {"O": 0}, DataConfig(), chars=True).rows[0]
    assert row["char_ids"][0] == [] == row["char_ids"][-1]
    assert row["char_ids"][row["word_starts"][0]] == [b + 1 for b in "Zoë".encode()]
    assert len(row["char_ids"][row["word_starts"][1]]) == 20  # MAX_CHARS
    assert len(row["char_ids"]) == len(row["input_ids"])


def test_chars_reach_the_logits_once_trained(tiny_tok):
    torch.manual_seed(0)
    emitter = encoders.load_model("tiny", AutoModelForTokenClassification, tiny_tok, num_labels=len(LABELS))
    model = WordFeatureTagger(emitter, LABELS, ("chars",), "input").eval()
    ids = torch.tensor([[2, 20, 3]])
    with torch.no_grad():
        model.char_proj[1].weight.fill_(1.0)
        a = model(ids, torch.ones_like(ids), char_ids=torch.tensor([[[0, 0], [66, 67], [0, 0]]])).logits
        b = model(ids, torch.ones_like(ids), char_ids=torch.tensor([[[0, 0], [98, 99], [0, 0]]])).logits
    assert not torch.allclose(a, b)


def test_word_ids_are_the_lowercased_words_rows(tiny_tok):
    ds = Dataset.from_dict({"tokens": [["Anna", "flew", "to", "OSLO"]], "tags": [["O"] * 4]})
    row = encode_tokens(ds, tiny_tok, {"O": 0}, DataConfig(), word_rows={"anna": 2, "oslo": 3}).rows[0]
    assert row["word_ids"][0] == row["word_ids"][-1] == 0 and len(row["word_ids"]) == len(row["input_ids"])
    assert [row["word_ids"][p] for p in row["word_starts"]] == [2, 1, 1, 3]  # flew, to: unknown (1)
    starts = row["word_starts"] + [len(row["input_ids"]) - 1]
    assert all(len(set(row["word_ids"][starts[k]:starts[k + 1]])) == 1 for k in range(len(starts) - 1))


def test_word2vec_vectors_reach_the_logits_and_stay_frozen(tiny_tok):
    torch.manual_seed(0)
    emitter = encoders.load_model("tiny", AutoModelForTokenClassification, tiny_tok, num_labels=len(LABELS))
    table = WordTable.fit([["anna", "flew", "to", "oslo"], ["anna", "went", "to", "bergen"]] * 5, seed=1, dim=8)
    assert table.vectors.shape == (2 + len(table.words), 8) and table.index["anna"] >= 2
    model = WordFeatureTagger(emitter, LABELS, ("word2vec",), "input", word_vectors=table.vectors).eval()
    assert not model.word_table.weight.requires_grad
    torch.testing.assert_close(model.word_table.weight[table.index["oslo"]], torch.as_tensor(table.vectors[
        table.index["oslo"]]))
    ids = torch.tensor([[2, 20, 3]])
    with torch.no_grad():
        model.word_proj[1].weight.fill_(1.0)
        a = model(ids, torch.ones_like(ids), word_ids=torch.tensor([[0, table.index["oslo"], 0]])).logits
        b = model(ids, torch.ones_like(ids), word_ids=torch.tensor([[0, table.index["bergen"], 0]])).logits
    assert not torch.allclose(a, b)


def test_word2vec_feature_needs_its_vocabulary(tiny_tok, tmp_path):
    task = get_task("ner", task_class("ner").Options(encoder="tiny", word_features="word2vec"))
    ds = Dataset.from_dict({"tokens": [["Anna", "flew"]], "tags": [["B-PER", "O"]]})
    with pytest.raises(ConfigError, match="fit_featurizers"):
        task.encode(ds, tiny_tok, {}, DataConfig())
    fitted = task.fit_featurizers({"train": ds}, tiny_tok, seed=1)
    row = task.encode(ds, tiny_tok, {}, DataConfig(), fitted).rows[0]
    assert row["word_ids"][1] == fitted["word_table"].index["anna"]
    assert not hasattr(task, "word_table")  # the fitted vocabulary is a value passed around, not task state
    fitted["word_table"].save_pretrained(tmp_path)
    loaded = get_task("ner", task.options).load_featurizers(tmp_path)
    assert loaded["word_table"].index == fitted["word_table"].index
