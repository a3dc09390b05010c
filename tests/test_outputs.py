"""Output shapes of the Predictor on a model whose predictions are set by hand."""

import torch
from helpers import make_task
from pipelines.tasks import ner

from pipelines.families import classify
from pipelines.models.encoders import tiny_tokenizer

PLAIN_NER = {"head": "softmax", "word_features": "none"}  # a bare token classifier, whose bias is set by hand


def _rigged(name, labels, bias, **options):
    tok = tiny_tokenizer()
    task = make_task(name, encoder="tiny", **{**(PLAIN_NER if name == "ner" else {}), **options})
    model = task.build_model(labels, tok).eval()
    with torch.no_grad():
        model.classifier.weight.zero_()
        model.classifier.bias.copy_(torch.tensor(bias))
    return model, tok


def test_ner_entities_have_character_offsets():
    model, tok = _rigged("ner", ["O", "B-LOC", "I-LOC"], [0.0, 0.0, 5.0], decode="argmax")  # every word I-LOC
    text = "Hi  New York!"
    [out] = make_task("ner", encoder="tiny", decode="argmax", **PLAIN_NER).predict(model, tok, [text])
    # all words I-LOC -> read leniently as one LOC entity spanning the whole text
    assert out["entities"] == [{"type": "LOC", "text": "Hi  New York!", "start": 0, "end": 13,
                                "score": out["entities"][0]["score"]}]
    assert 0.9 < out["entities"][0]["score"] <= 1.0


def test_intent_top_k_sorted():
    model, tok = _rigged("intent", ["a", "b", "c", "d"], [0.0, 3.0, 1.0, 2.0], pooling="cls")
    [out] = make_task("intent").predict(model, tok, ["whatever"])
    assert out["label"] == "b" and [r["label"] for r in out["top_k"]] == ["b", "d", "c"]
    assert abs(sum(torch.tensor([0.0, 3.0, 1.0, 2.0]).softmax(0).tolist()[1:2]) - out["probability"]) < 1e-3


def test_intent_truncates_long_texts_and_says_so(caplog):
    from datasets import Dataset

    from pipelines.config import DataConfig

    tok = tiny_tokenizer()
    ds = Dataset.from_dict({"text": ["a b", "x " * 50], "label": ["p", "q"]})
    with caplog.at_level("WARNING"):
        feats = classify.encode(ds, tok, {"p": 0, "q": 1}, DataConfig(max_length=10))
    assert "1 of 2 texts are longer than data.max_length=10" in caplog.text
    assert len(feats[1]["input_ids"]) == 10 and feats[1]["input_ids"][-1] == tok.sep_token_id
    assert feats[0]["input_ids"] == tok("a b")["input_ids"]


def test_viterbi_decoding_turns_a_run_of_inside_tags_into_a_valid_entity():
    from datasets import Dataset

    from pipelines.config import DataConfig
    from pipelines.data.batching import Collator
    from pipelines.models.outputs import infer

    labels = ["O", "B-LOC", "I-LOC"]
    model, tok = _rigged("ner", labels, [0.0, 4.0, 5.0])  # argmax: I-LOC everywhere (invalid start)
    task = make_task("ner", encoder="tiny", **PLAIN_NER)
    feats = ner.encode(Dataset.from_dict({"tokens": [["new", "york", "city"]]}), tok, {}, DataConfig())
    [(batch, out)] = list(infer(model, feats, Collator(tok.pad_token_id), 8))
    assert task.gather(batch, out, task.decoder(model, "argmax"))[0].pred == [2, 2, 2]
    assert task.gather(batch, out, task.decoder(model))[0].pred == [1, 2, 2]  # the default: viterbi


def test_a_taskmodule_built_in_code_gets_the_measured_defaults():
    """Mean pooling for intents, constrained Viterbi for NER, consistent decoding for joint: not only in YAML."""
    from pipelines.models.pooling import MeanPoolClassifier
    from pipelines.training.module import TaskModule

    tok = tiny_tokenizer()
    module = TaskModule("intent", ["a", "b"], {"encoder": "tiny"}, tokenizer=tok)
    assert isinstance(module.model, MeanPoolClassifier)
    assert make_task("ner").options.decode == "viterbi" and make_task("joint").options.decode == "consistent"


def test_regenerated_report_keeps_the_hand_written_notes(tmp_path):
    from benchmarks.common import NOTES_MARKER, write_report_md

    path = tmp_path / "r.md"
    write_report_md(path, "# R\n\n| a |\n")
    assert path.read_text() == "# R\n\n| a |\n"
    path.write_text(path.read_text() + f"\n{NOTES_MARKER}\n\nThe joint model loses 1 point.\n")
    write_report_md(path, "# R\n\n| b |\n")
    text = path.read_text()
    assert "| b |" in text and "| a |" not in text and text.endswith("The joint model loses 1 point.\n")
