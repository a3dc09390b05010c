"""Every task in tasks/: train a few steps with the tiny encoder, save, load, and the loaded model predicts
exactly what the trained model in memory predicts."""

import json

import pytest
import torch

from pipelines.config import load_config
from pipelines.inference.predict import Predictor
from pipelines.registry import known_tasks
from pipelines.task import Task
from pipelines.training.module import TaskModule
from pipelines.training.train import run

TASKS = known_tasks()
# variants besides each task's shipped config
VARIANTS = {"ner": [["model.head=softmax"], ["model.head=softmax", "model.decode=argmax"],
                    ["model.architecture=bilstm", "model.head=crf", "model.word_features=none"],
                    ["model.architecture=bilstm", "model.head=crf", "model.word_features=none",
                     "model.word_dropout=0.1", "model.word2vec_text=tests/fixtures/unlabelled.txt"],
                    ["model.word_features=casing+chars+word2vec"],
                    ["model.word_features=casing+chars+word2vec", "model.feature_fusion=head", "model.head=softmax",
                     "train.head_lr=1e-3", "model.word2vec_text=tests/fixtures/unlabelled.txt"]],
            "joint": [["model.head=crf"]], "intent": [["model.pooling=cls", "model.offtopic="], ["model.offtopic="],
                       ["model.architecture=bilstm", "model.pooling=max", "model.offtopic=mahalanobis"],
                       ["model.architecture=scratch", "model.scratch_width=32"],
                       ["train.calibration=temperature", "train.label_smoothing=0.1", "model.offtopic=msp"]],
            "topics": [["train.calibration=temperature"], ["model.sparse=none"],
                       ["model.sparse=svm", "model.sparse_fusion=head"]]}
CASES = [(t, []) for t in TASKS] + [(t, v) for t, vs in VARIANTS.items() for v in vs]
TEXTS = {"joint": ["book a table for two at roma", "weather in oslo", "x " * 300],
         "ner": ["Anna Keller flew to Oslo with Vireo Labs .", "nothing here", "x " * 300],
         "intent": ["book a table for 2 at roma", "what's the weather in oslo", "x " * 300]}


def test_every_task_module_defines_a_task():
    for name in TASKS:
        from pipelines.registry import task_class

        cls = task_class(name)
        assert issubclass(cls, Task) and cls.name == name
        assert cls.gold in cls.columns + cls.optional_columns and cls.monitor.startswith("val/") and cls.sample.exists()


def test_a_task_missing_a_required_hook_cannot_be_made():
    from pipelines.registry import task_class

    ner = task_class("ner")
    broken = type("Broken", (Task,), {k: v for k, v in vars(ner).items() if k != "loss"})
    with pytest.raises(TypeError, match="loss"):
        broken()


@pytest.fixture(scope="module", params=CASES, ids=lambda c: " ".join([c[0], *c[1]]))
def trained(request, tmp_path_factory):
    task, extra = request.param
    out = tmp_path_factory.mktemp(task)
    cfg = load_config(None, ["model.encoder=tiny", "train.limit_train_batches=3", "train.epochs=1",
                             "train.keep_checkpoints=both", "train.progress_bar=false", f"train.out_dir={out}",
                             "train.batch_size=8", "data.max_length=32", *extra], task=task)
    results = run(cfg, out / "run")
    return task, out / "run", results


def test_run_dir_layout(trained):
    task, run_dir, results = trained
    for name in ("config.yaml", "metrics.json", "report.md", "model/config.json", "model/pipeline.json",
                 "checkpoints/last.ckpt"):
        assert (run_dir / name).exists(), name
    assert (run_dir / "model/tokenizer.json").exists() or (run_dir / "model/word_vocab.json").exists()
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert metrics["task"] == task and set(results) == {"validation", "test"}
    assert "commit" in metrics and "dirty" in metrics and not str(metrics["best_checkpoint"]).startswith("/")
    assert json.loads((run_dir / "model/config.json").read_text())["id2label"]["0"]
    meta = json.loads((run_dir / "model/pipeline.json").read_text())
    assert meta["data"]["max_length"] == 32 and "doc_context" in meta["data"] and "commit" in meta
    if task == "intent":
        assert (run_dir / "confusion_test.png").exists()


def test_loaded_model_predicts_what_the_trained_model_predicts(trained):
    """The model in memory is rebuilt from the best checkpoint (the training state, not the export); the
    exported and reloaded Predictor must give the same predictions and hold the same weights."""
    task_name, run_dir, _ = trained
    loaded = Predictor.load(run_dir)
    best = run_dir / json.loads((run_dir / "metrics.json").read_text())["best_checkpoint"]
    ckpt = torch.load(best, map_location="cpu", weights_only=True)
    hp = ckpt["hyper_parameters"]
    module = TaskModule(hp["task"], hp["labels"], hp["options"], tokenizer=loaded.tokenizer,
                        model=loaded.task.build_model(hp["labels"], loaded.tokenizer, loaded.featurizers))
    module.load_state_dict(ckpt["state_dict"])
    temperature = json.loads((run_dir / "metrics.json").read_text()).get("temperature")
    if temperature is not None and module.task.class_head:  # train.calibration=temperature folds it into the head
        from pipelines.methods.calibration import fold_temperature

        fold_temperature(module.model.get_submodule(module.task.class_head), temperature)
    elif temperature is not None:  # a tagger keeps it in its config, for the entity scores
        module.model.config.entity_temperature = temperature
    if getattr(loaded.model, "sparse_weight", 0):  # topics, model.sparse late: the weight is chosen on dev after
        module.model.sparse_weight = loaded.model.sparse_weight  # training, like the temperature
    in_memory = Predictor(module.task, module.model.eval(), loaded.tokenizer, loaded.data,
                          featurizers=loaded.featurizers)
    texts = TEXTS.get(task_name, ["a short example text"])
    assert in_memory.predict(texts) == loaded.predict(texts)
    for name, tensor in module.model.state_dict().items():
        assert torch.equal(tensor, loaded.model.state_dict()[name]), name


def test_predict_errors_are_per_item_or_raised(trained):
    _, run_dir, _ = trained
    predictor = Predictor.load(run_dir, max_chars=100)
    assert predictor.predict([]) == []
    with pytest.raises(ValueError, match=r"positions \[1, 2\]"):
        predictor.predict(["fine", "   ", "y" * 101])
    out = predictor.predict(["fine", "   ", "y" * 101], errors="return")
    assert out[1] == {"error": "empty text"} and "max_chars=100" in out[2]["error"] and "error" not in out[0]
    assert out[0] == predictor.predict(["fine"])[0]


def test_predictions_follow_the_schema(trained):
    """Every field predict returns is in the task's prediction schema, and every field that is not optional is
    there (pipelines.predictions)."""
    from pipelines.predictions import fields_of

    task_name, run_dir, _ = trained
    schema = fields_of(task_name)
    required = {k for k, t in schema.items() if not t.endswith("?")}
    for pred in Predictor.load(run_dir).predict(["book a table for two in oslo", "is it going to rain"]):
        assert required <= set(pred) <= set(schema), (task_name, sorted(pred))


def test_the_light_encode_route_predicts_what_a_datasets_route_predicts(trained, monkeypatch):
    """Predictor.predict encodes its texts from plain columns (pipelines.data.columns.Columns), not a
    datasets.Dataset per call; put the Dataset back and every task predicts the same, and one text at a time
    predicts what the batch does."""
    from datasets import Dataset

    from pipelines.families import classify, post_spans, tagging

    task_name, run_dir, _ = trained
    texts = TEXTS.get(task_name, ["a short example text", "and another, longer one with more words in it"])
    light = Predictor.load(run_dir).predict(texts)
    for module in (classify, post_spans, tagging):
        monkeypatch.setattr(module, "Columns", Dataset.from_dict)
    assert Predictor.load(run_dir).predict(texts) == light
    monkeypatch.undo()
    alone = [Predictor.load(run_dir).predict([t])[0] for t in texts]
    assert json.dumps(alone, sort_keys=True) == json.dumps(light, sort_keys=True) or _close(alone, light)


def _close(a, b, tol=1e-4):
    """Equal labels and strings, numbers within `tol` relative (padding a batch changes float sums in the last
    digits; a Mahalanobis distance of a random tiny model runs to 1e9)."""
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(_close(a[k], b[k], tol) for k in a)
    if isinstance(a, list):
        return len(a) == len(b) and all(_close(x, y, tol) for x, y in zip(a, b, strict=True))
    if isinstance(a, float) and isinstance(b, float):
        return abs(a - b) <= tol * max(1.0, abs(a), abs(b))
    return a == b
