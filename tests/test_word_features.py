"""Word-level casing and character features for the Transformer tagger."""

import pytest
import torch
from datasets import Dataset
from transformers import AutoModelForTokenClassification

from pipelines.config import ConfigError, DataConfig
from pipelines.data.batching import Collator
from pipelines.data.tagging import encode_tokens
from pipelines.data.words import CASES
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
@pytest.mark.parametrize("features", [("casing",), ("chars",), ("casing", "chars")])
def test_a_fresh_feature_tagger_is_the_plain_tagger(tiny_tok, fusion, features):
    """Zero-initialised, the feature part changes nothing until it is trained."""
    torch.manual_seed(0)
    emitter = encoders.load_model("tiny", AutoModelForTokenClassification, tiny_tok, num_labels=len(LABELS))
    model = WordFeatureTagger(emitter, LABELS, features, fusion).eval()
    ds = Dataset.from_dict({"tokens": [["Anna", "flew", "to", "OSLO"], ["hi"]], "tags": [["O"] * 4, ["O"]]})
    batch = Collator(0)(encode_tokens(ds, tiny_tok, {"O": 0}, DataConfig(), casing=True, chars=True).rows)
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


def test_word_features_options():
    options = task_class("ner").Options
    with pytest.raises(ConfigError, match="word_features"):
        options(word_features="casing+shape")
    with pytest.raises(ConfigError, match="feature_fusion"):
        options(word_features="casing", feature_fusion="sum")
    with pytest.raises(ConfigError, match="BiLSTM"):
        options(encoder="bilstm", head="crf", word_features="casing")
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
