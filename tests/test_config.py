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
