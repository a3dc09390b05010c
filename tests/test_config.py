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
    ("data.format=x/ml", "data.format='x/ml'"),
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
    ("ner", "model.architecture=bilstm model.head=softmax model.word_features=none",
     "model.architecture=bilstm always has a CRF head"),
    ("ner", "model.architecture=bilstm model.word_features=casing+chars",
     "configs/ner_bilstm.yaml or set model.word_features=none"),
    ("ner", "model.word_dropout=0.1", "model.word_dropout applies to model.architecture=bilstm only"),
    ("ner", "model.decode=consistent", "model.decode='consistent': expected viterbi|argmax"),
    ("joint", "model.slot_weight=0", "model.slot_weight=0.0: expected > 0"),
    ("intent", "model.offtopic= model.offtopic_recall=0.9", "apply only with model.offtopic set"),
    ("ner", "model.encoder=bilstm", "write model.architecture=bilstm"),
    ("intent", "model.encoder=scratch", "write model.architecture=scratch"),
    ("joint", "model.architecture=bilstm", "model.architecture='bilstm': this task builds transformer"),
    ("intent", "model.init=no/such/run", "model.init=no/such/run: not a finished run"),
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


def test_a_run_in_model_encoder_names_model_init_and_old_saved_options_are_upgraded(tmp_path):
    """An old config's `model.encoder=<run>` says to write model.init; options saved in the old layout (encoder:
    bilstm, encoder: <run>) load with the architecture and the parent's encoder."""
    import json

    from pipelines.tasks.intent import IntentOptions

    parent = tmp_path / "parent" / "model"
    parent.mkdir(parents=True)
    (parent / "pipeline.json").write_text(json.dumps({"task": "intent", "options": {"encoder": "tiny"}}))
    with pytest.raises(ConfigError, match=re.escape(f"write model.init={parent}")):
        load_config(None, [f"model.encoder={parent}"], task="intent")
    assert IntentOptions.from_saved({"encoder": "bilstm", "pooling": "max"}).architecture == "bilstm"
    child = IntentOptions.from_saved({"encoder": str(parent)})
    assert (child.encoder, child.architecture, child.init) == ("tiny", "transformer", str(parent))
    continued = load_config(None, [f"model.init={parent.parent}"], task="intent").model
    assert continued.encoder == "tiny"  # the run it continues decides the encoder
    (parent / "pipeline.json").unlink()  # the parent is gone: a saved child still loads, on its recorded encoder
    gone = IntentOptions.from_saved({"encoder": "tiny", "init": str(parent)})
    assert (gone.encoder, gone.init) == ("tiny", "")
