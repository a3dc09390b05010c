"""Continuing from an earlier run: weights come over, head rows follow label names, and the load says so."""

import logging

import torch

from pipelines.config import load_config
from pipelines.inference.predict import Predictor
from pipelines.registry import get_task, task_class
from pipelines.training.train import run
from pipelines.training.warm_start import warm_start

OVER = ["model.encoder=tiny", "train.epochs=1", "train.limit_train_batches=2", "train.progress_bar=false",
        "data.max_length=32"]


def _continue(task_name, run_dir, new_labels, **options):
    task = get_task(task_name, task_class(task_name).Options(init=str(run_dir), **options))
    return warm_start(task, new_labels, task.build_tokenizer({}), {})


def test_intent_head_rows_follow_label_names(tmp_path, caplog):
    run(load_config(None, [*OVER, f"train.out_dir={tmp_path}"], task="intent"), tmp_path / "a")
    old = Predictor.load(tmp_path / "a").model
    labels = [old.config.id2label[i] for i in range(old.config.num_labels)]
    new_labels = ["brand_new", *reversed(labels[1:])]  # one label dropped, one added, the rest reordered
    with caplog.at_level(logging.INFO, logger="pipelines"):
        model = _continue("intent", tmp_path / "a", new_labels)
    for i, name in enumerate(new_labels[1:], start=1):
        assert torch.equal(model.classifier.weight[i], old.classifier.weight[labels.index(name)]), name
    assert not torch.equal(model.classifier.weight[0], old.classifier.weight[0])  # the new label starts fresh
    for name, tensor in old.encoder.state_dict().items():
        assert torch.equal(model.encoder.state_dict()[name], tensor), name
    report = model.warm_start_report["head"]["classifier"]
    assert report["new"] == ["brand_new"] and report["dropped"] == [labels[0]]
    assert "keeps" in caplog.text and "brand_new" in caplog.text


def test_crf_transitions_map_on_both_axes(tmp_path):
    run(load_config(None, [*OVER, f"train.out_dir={tmp_path}"], task="ner"), tmp_path / "a")
    old = Predictor.load(tmp_path / "a").model
    labels = [old.config.id2label[i] for i in range(old.config.num_labels)]
    new_labels = [*labels, "B-NEW", "I-NEW"]
    model = _continue("ner", tmp_path / "a", new_labels, head="crf")
    n = len(labels)
    assert torch.equal(model.crf.transitions[:n, :n], old.crf.transitions)
    assert torch.equal(model.emitter.classifier.weight[:n], old.emitter.classifier.weight)


def test_a_taskmodule_in_code_continues_from_a_run_too(tmp_path):
    from pipelines.training.module import TaskModule

    run(load_config(None, [*OVER, f"train.out_dir={tmp_path}"], task="intent"), tmp_path / "a")
    old = Predictor.load(tmp_path / "a")
    labels = [old.model.config.id2label[i] for i in range(old.model.config.num_labels)]
    module = TaskModule("intent", labels, {"init": str(tmp_path / "a")}, tokenizer=old.tokenizer)
    assert torch.equal(module.model.classifier.weight, old.model.classifier.weight)
