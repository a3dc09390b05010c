"""Every task in tasks/: train a few steps with the tiny encoder, save, load, identical predictions."""

import json
import pkgutil

import pytest
import torch

import tasks
from pipelines.config import load_config
from pipelines.inference.predict import Predictor
from pipelines.training.train import run

TASKS = sorted(m.name for m in pkgutil.iter_modules(tasks.__path__))
# variants besides each task's defaults
VARIANTS = {"ner": [["model.head=crf"], ["model.decode=viterbi"], ["model.encoder=bilstm"],
                    ["model.encoder=bilstm", "model.word_dropout=0.1",
                     "model.word2vec_text=tests/fixtures/unlabelled.txt"]],
            "joint": [["model.head=crf"]], "intent": [["model.pooling=mean"]]}
CASES = [(t, []) for t in TASKS] + [(t, v) for t, vs in VARIANTS.items() for v in vs]
TEXTS = {"joint": ["book a table for two at roma", "weather in oslo", "x " * 300],
         "ner": ["Anna Keller flew to Oslo with Vireo Labs .", "nothing here", "x " * 300],
         "intent": ["book a table for 2 at roma", "what's the weather in oslo", "x " * 300]}


@pytest.fixture(scope="module", params=CASES, ids=lambda c: " ".join([c[0], *c[1]]))
def trained(request, tmp_path_factory):
    task, extra = request.param
    out = tmp_path_factory.mktemp(task)
    cfg = load_config(None, ["model.encoder=tiny", "train.limit_train_batches=3", "train.epochs=1",
                             "train.progress_bar=false", f"train.out_dir={out}", "train.batch_size=8",
                             "data.max_length=32", *extra], task=task)
    results = run(cfg, out / "run")
    return task, out / "run", results


def test_run_dir_layout(trained):
    task, run_dir, results = trained
    for name in ("config.yaml", "metrics.json", "report.md", "model/model.safetensors", "model/config.json",
                 "model/pipeline.json", "checkpoints/last.ckpt"):
        assert (run_dir / name).exists(), name
    assert (run_dir / "model/tokenizer.json").exists() or (run_dir / "model/word_vocab.json").exists()
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert metrics["task"] == task and set(results) == {"validation", "test"}
    assert json.loads((run_dir / "model/config.json").read_text())["id2label"]["0"]
    if task == "intent":
        assert (run_dir / "confusion_test.png").exists()


def test_save_load_identical_predictions(trained):
    task, run_dir, _ = trained
    p1, p2 = Predictor.load(run_dir), Predictor.load(run_dir / "model")
    texts = TEXTS.get(task, ["a short example text"])
    out1, out2 = p1.predict(texts), p2.predict(texts)
    assert out1 == out2 and len(out1) == len(texts)
    # the exported model equals the best checkpoint's weights
    best = json.loads((run_dir / "metrics.json").read_text())["best_checkpoint"]
    ckpt = torch.load(best, map_location="cpu", weights_only=False)
    state = {k.removeprefix("model."): v for k, v in ckpt["state_dict"].items()}
    for name, tensor in p1.model.state_dict().items():
        assert torch.equal(tensor, state[name]), name


def test_predict_rejects_empty_text(trained):
    _, run_dir, _ = trained
    with pytest.raises(ValueError, match=r"positions \[1\]"):
        Predictor.load(run_dir).predict(["fine", "   "])
