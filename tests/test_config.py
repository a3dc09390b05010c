import re

import pytest

from pipelines.config import ConfigError, load_config, replace


def test_yaml_and_overrides(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("task: ner\ntrain:\n  lr: 1.0e-4\n  epochs: 2\n")
    cfg = load_config(path, ["train.lr=3e-5", "data.doc_context=true", "model.encoder=tiny", "train.lr=2"])
    assert cfg.task == "ner" and cfg.train.epochs == 2
    assert cfg.train.lr == 2.0 and isinstance(cfg.train.lr, float)  # int accepted for a float field
    assert cfg.data.doc_context is True and cfg.model.encoder == "tiny"
    assert replace(cfg, train={"seed": 7}).train.seed == 7
    assert load_config(None, ["train.lr=1e-4"], task="ner").train.lr == 1e-4  # YAML's '1e-4' is a string


def test_shipped_configs_load():
    for task in ("ner", "intent"):
        assert load_config(task=task).task == task


@pytest.mark.parametrize("override, message", [
    ("train.lrr=1", "unknown config key 'train.lrr'"),
    ("trian.lr=1", "unknown config key 'trian'"),
    ("train.epochs=three", "train.epochs='three': expected int"),
    ("train.lr=fast", "train.lr='fast': expected float"),
    ("train.bucketing=5", "expected bool"),
    ("data.format=xml", "data.format='xml'"),
    ("model.head=lstm", "model.head='lstm'"),
    ("model.decode=beam", "model.decode='beam'"),
    ("model.word_dropout=1.0", "model.word_dropout=1.0: expected in [0, 1)"),
    ("train.epochs", "expected section.key=value"),
])
def test_bad_overrides_name_the_key(override, message):
    with pytest.raises(ConfigError, match=re.escape(message)):
        load_config(None, [override], task="ner")


def test_unknown_key_in_yaml(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("task: ner\nmodel:\n  heads: crf\n")
    with pytest.raises(ConfigError, match="unknown config key 'model.heads'"):
        load_config(path)


@pytest.mark.parametrize("task, override, message", [
    ("ner", "model.pooling=mean", "unknown config key 'model.pooling' for task 'ner'"),
    ("intent", "model.head=crf", "unknown config key 'model.head' for task 'intent'"),
    ("ner", "model.encoder=bilstm model.head=softmax model.word_features=none",
     "model.encoder=bilstm always has a CRF head"),
    ("ner", "model.encoder=bilstm model.word_features=casing+chars",
     "configs/ner_bilstm.yaml or set model.word_features=none"),
    ("ner", "model.word_dropout=0.1", "model.word_dropout applies to model.encoder=bilstm only"),
    ("ner", "model.decode=consistent", "model.decode='consistent': expected viterbi|argmax"),
    ("joint", "model.slot_weight=0", "model.slot_weight=0.0: expected > 0"),
    ("intent", "model.offtopic_recall=0.9", "apply only with model.offtopic set"),
])
def test_options_a_task_does_not_have_or_cannot_use_are_errors(task, override, message):
    with pytest.raises(ConfigError, match=re.escape(message)):
        load_config(None, override.split(), task=task)


def test_head_argmax_with_a_crf_is_an_error_and_the_yaml_carries_the_measured_best():
    with pytest.raises(ConfigError, match="decodes with its own Viterbi"):
        load_config(None, ["model.head=crf", "model.decode=argmax"], task="ner")
    ner = load_config(task="ner").model
    assert ner.head == "crf" and ner.decode == "viterbi"  # reports/ner_compare.md: CRF best on dev and test
    assert load_config(task="joint").model.decode == "consistent" and load_config(task="intent").model.pooling == "mean"


def test_missing_config_file_and_unknown_task_are_errors(tmp_path, monkeypatch):
    import pipelines.config as config

    with pytest.raises(ConfigError, match="no such file"):
        load_config(tmp_path / "nope.yaml")
    known = r"\['dialogue', 'intent', 'joint', 'ner', 'topics', 'toxicity'\]"
    with pytest.raises(ConfigError, match=r"unknown task 'nre'; known tasks: " + known):
        load_config(None, [], task="nre")
    monkeypatch.setattr(config, "CONFIG_DIR", tmp_path)  # as after `pip install .` outside the repository
    with pytest.raises(ConfigError, match="no config for task 'ner'.*pass a config file"):
        load_config(None, [], task="ner")


def test_each_task_options_defaults_are_its_shipped_config():
    """One source of model defaults: a task's Options() (what TaskModule("ner", labels, {...}) starts from) is
    the model section of configs/<task>.yaml (what make train trains)."""
    import dataclasses

    from pipelines.config import load_config
    from pipelines.registry import known_tasks, task_class

    for name in known_tasks():
        shipped, code = load_config(task=name).model, task_class(name).Options()
        differ = {f.name: (getattr(code, f.name), getattr(shipped, f.name)) for f in dataclasses.fields(code)
                  if getattr(code, f.name) != getattr(shipped, f.name)}
        assert not differ, f"{name}: Options() defaults differ from configs/{name}.yaml: {differ}"
