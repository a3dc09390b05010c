"""ONNX export and INT8: the graph answers like the PyTorch model (padding included), a quantised folder loads
and predicts through Predictor, and the accuracy gate refuses a model that loses too much."""

import json

import pytest
import torch

from pipelines.config import load_config
from pipelines.data.batching import Collator, Features
from pipelines.inference import quantize as q
from pipelines.inference.onnx import OnnxModel, export_onnx
from pipelines.inference.predict import Predictor
from pipelines.training.train import run

TEXTS = ["book a table for two at roma", "what is the weather in oslo tomorrow", "wake me up at 7"]


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """A BiLSTM intent model that fits the sample (so a broken graph shows as lost accuracy) and a tiny
    MiniLM-shaped NER model with a CRF, and one that also reads casing, characters and word2vec rows (extra
    graph inputs)."""
    out = tmp_path_factory.mktemp("onnx")
    common = ["train.progress_bar=false", "train.threads=1", f"train.out_dir={out}"]
    run(load_config(None, [*common, "model.architecture=bilstm", "model.pooling=max", "model.dropout=0.3",
                           "train.lr=5e-3", "train.epochs=3"], task="intent"), out / "intent")
    run(load_config(None, [*common, "model.encoder=tiny", "train.epochs=1", "train.limit_train_batches=2",
                           "data.max_length=32"], task="ner"), out / "ner")
    run(load_config(None, [*common, "model.encoder=tiny", "train.epochs=1", "train.limit_train_batches=2",
                           "data.max_length=32", "model.word_features=casing+chars+word2vec"], task="ner"),
        out / "ner_cased")
    return out


def padded_batch(predictor, texts):
    from datasets import Dataset

    column = {"text": texts} if "text" in predictor.task.columns else {"tokens": [t.split() for t in texts]}
    feats = predictor.task.encode(Dataset.from_dict(column), predictor.tokenizer, {}, predictor.data,
                                  predictor.featurizers)
    return Collator(predictor.tokenizer.pad_token_id)(feats.rows)


@pytest.mark.parametrize("task", ["intent", "ner", "ner_cased"])
def test_the_graph_answers_like_pytorch_on_other_shapes(runs, task, tmp_path):
    p = Predictor.load(runs / task)
    spec = export_onnx(p.model, padded_batch(p, TEXTS[:2]), tmp_path / "m.onnx")
    onnx_model = OnnxModel(tmp_path / "m.onnx", p.model.config, spec, getattr(p.model, "crf", None), threads=1)
    other = padded_batch(p, [TEXTS[2], TEXTS[0] + " and a pizza please", "hi"])  # other batch and length
    assert other["attention_mask"].min() == 0  # padding inside
    with torch.no_grad():
        ref = p.model(**{k: other[k] for k in spec["inputs"]})
    got = onnx_model(**{k: other[k] for k in spec["inputs"]})
    for name in spec["outputs"]:
        assert torch.allclose(ref[name], got[name], atol=1e-4), name


@pytest.mark.parametrize("method", ["dynamic", "static"])
def test_a_quantised_folder_predicts_through_predictor(runs, method, tmp_path):
    report = q.quantize(runs / "intent", q.QuantizeConfig(method=method, calibration_size=32, max_drop=5.0),
                        tmp_path / "int8", log=lambda _: None)
    assert report["drop"] <= 5.0 and report["graph_mb"] > 0
    saved = json.loads((tmp_path / "int8" / "quantize.json").read_text())
    assert saved["settings"]["method"] == method and saved["pytorch_fp32"] == report["pytorch_fp32"]
    fp32, int8 = Predictor.load(runs / "intent"), Predictor.load(tmp_path / "int8", threads=1)
    assert isinstance(int8.model, OnnxModel)
    a, b = fp32.predict(TEXTS), int8.predict(TEXTS)
    assert [x["label"] for x in a] == [x["label"] for x in b]
    assert int8.predict(["", "hi"], errors="return")[0] == {"error": "empty text"}
    assert not list(tmp_path.glob(".int8-*"))  # no staging folder left


def test_a_crf_model_quantises_and_decodes_valid_iob2(runs, tmp_path):
    from pipelines.data.splits import load_splits
    from pipelines.data.tags import is_valid_iob2
    from pipelines.families.tagging import stitch
    from pipelines.inference.evaluate import predict_records

    q.quantize(runs / "ner", q.QuantizeConfig(method="dynamic", max_drop=100.0), tmp_path / "int8", log=lambda _: None)
    p = Predictor.load(tmp_path / "int8", threads=1)
    torch_crf = Predictor.load(runs / "ner").model.crf
    assert torch.equal(p.model.crf.transitions, torch_crf.transitions)
    dev = load_splits(p.data, p.task.sample)["validation"]
    sentences = stitch(predict_records(p, dev), "pred")  # windows joined: a window alone may start inside
    labels = p.model.config.id2label
    assert len(sentences) == len(dev)
    assert all(is_valid_iob2([labels[k] for k in tags]) for tags in sentences.values())


def test_the_gate_refuses_a_model_that_loses_too_much_and_saves_nothing(runs, tmp_path, monkeypatch):
    """A graph of the untrained model stands in for a quantisation that went wrong."""
    from pipelines.models.bilstm import BiLstmClassifier

    p = Predictor.load(runs / "intent")
    untrained = BiLstmClassifier(p.model.config).eval()

    def broken(fp32, out, qcfg, calib, inputs):
        export_onnx(untrained, calib[0], out)

    monkeypatch.setattr(q, "quantize_graph", broken)
    with pytest.raises(q.QuantizationRefused, match=r"loses \d+\.\d\d points of validation accuracy .*max_drop=1.0"):
        q.quantize(runs / "intent", q.QuantizeConfig(method="dynamic"), tmp_path / "int8", log=lambda _: None)
    assert not (tmp_path / "int8").exists() and not list(tmp_path.iterdir())


def test_quantize_options_are_checked_and_the_cli_reads_the_yaml(runs, tmp_path, capsys):
    from pipelines.errors import ConfigError

    with pytest.raises(ConfigError, match="method"):
        q.QuantizeConfig(method="int4")
    with pytest.raises(ConfigError, match="quantize.bogus"):
        q.main([str(runs / "intent"), "bogus=1"])
    assert q.main([str(runs / "intent"), "method=fp32", "--out", str(tmp_path / "fp32")]) == 0
    assert "drop 0.0 points" in capsys.readouterr().out


def test_an_export_that_does_not_hold_for_other_inputs_is_caught(runs, tmp_path):
    class Shape(torch.nn.Module):  # traces a constant: right on the traced batch only
        extra_inputs = ()
        config = None

        def forward(self, input_ids, attention_mask):
            from pipelines.models.outputs import TaskOutput

            return TaskOutput(logits=torch.ones(input_ids.shape[0], 2) * float(input_ids.shape[1]))

    a = Collator(0)(Features([{"input_ids": [1, 2, 3]}]).rows)
    b = Collator(0)(Features([{"input_ids": [1, 2, 3, 4, 5]}]).rows)
    with pytest.raises(ValueError, match="differ from PyTorch"):
        export_onnx(Shape(), a, tmp_path / "s.onnx", check=b)


def test_the_gate_scores_exactly_the_dev_rows_training_held_out(tmp_path, monkeypatch):
    """One CSV without a dev split, held out with train.seed=13: quantize, eval and distill must take those rows
    (the gate once re-split with its own seed 0 and scored rows the model had trained on)."""
    from pipelines.config import DataConfig
    from pipelines.data.splits import load_splits
    from pipelines.inference.predict import run_splits

    labels = ["book", "weather", "alarm"]
    words = {"book": "table restaurant seats", "weather": "rain sun forecast", "alarm": "wake alarm clock"}
    rows = [f"{words[lab].split()[i % 3]} {lab} request number {i}" for i in range(60) for lab in [labels[i % 3]]]
    csv = tmp_path / "mine.csv"
    csv.write_text("text,label\n" + "".join(f"{t},{labels[i % 3]}\n" for i, t in enumerate(rows)))
    run(load_config(None, ["model.encoder=tiny", "train.epochs=1", "train.progress_bar=false", "train.threads=1",
                           f"train.out_dir={tmp_path}", f"data.path={csv}", "train.seed=13"], task="intent"),
        tmp_path / "run")
    held_out = sorted(load_splits(DataConfig(path=str(csv)), "", seed=13)["validation"]["text"])
    assert held_out != sorted(load_splits(DataConfig(path=str(csv)), "", seed=0)["validation"]["text"])
    seen = []
    import pipelines.inference.evaluate as ev

    original = ev.evaluate

    def spy(predictor, ds, *args, **kwargs):
        seen.append(sorted(ds["text"]))
        return original(predictor, ds, *args, **kwargs)

    monkeypatch.setattr(ev, "evaluate", spy)
    q.quantize(tmp_path / "run", q.QuantizeConfig(method="dynamic", max_drop=100.0), tmp_path / "int8",
               log=lambda _: None)
    assert len(seen) == 2 and all(texts == held_out for texts in seen)  # the FP32 and the INT8 score
    assert sorted(run_splits(tmp_path / "run")["validation"]["text"]) == held_out
    csv.write_text(csv.read_text() + "one more alarm row,alarm\n")  # the data changed since training
    with pytest.raises(ValueError, match="not the one"):
        run_splits(tmp_path / "run")
