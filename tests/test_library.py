"""The library as a user imports it: the public API, the README's "Use it in your code" block, the console
command, a missing extra, the model card, and a model shipped as a wheel and loaded by name from another folder."""

import json
import os
import re
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

import pipelines
from pipelines.errors import ConfigError, MissingExtraError, ModelFormatError, missing_extra

ROOT = Path(__file__).resolve().parent.parent
TINY = ["model.encoder=tiny", "train.epochs=1", "train.limit_train_batches=2", "train.progress_bar=false"]


def test_every_public_name_resolves_and_has_a_docstring():
    assert pipelines.__all__ == sorted(pipelines.__all__) and "Predictor" in pipelines.__all__
    for name in pipelines.__all__:
        value = getattr(pipelines, name)
        assert (value.__doc__ or "").strip(), f"pipelines.{name} has no docstring"
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        pipelines.nope  # noqa: B018


@pytest.fixture(scope="module")
def readme_run(tmp_path_factory):
    """The README block, run as written but for the tiny encoder, in a folder with the user's data files."""
    folder = tmp_path_factory.mktemp("library")
    (folder / "data").mkdir()
    for name, split in (("my_intents.jsonl", "train"), ("my_test.jsonl", "test")):
        (folder / "data" / name).write_text((ROOT / "samples" / "intent" / f"{split}.jsonl").read_text())
    readme = (ROOT / "README.md").read_text()
    block = readme[readme.index("## Use it in your code"):]
    code = re.search(r"```python\n(.*?)```", block, re.S).group(1)
    assert 'overrides=["train.epochs=3"]' in code and "pipelines.package(" in code
    code = code.replace('overrides=["train.epochs=3"]', f"overrides={TINY!r}")
    cwd = os.getcwd()
    os.chdir(folder)
    try:
        scope: dict = {}
        exec(compile(code, "README.md", "exec"), scope)  # noqa: S102 - the README's own code
    finally:
        os.chdir(cwd)
    return folder, scope


def test_the_readme_block_trains_predicts_scores_and_packages(readme_run):
    folder, scope = readme_run
    run = Path(folder / scope["run"]) if not Path(scope["run"]).is_absolute() else Path(scope["run"])
    assert (run / "metrics.json").is_file() and (run / "model" / "pipeline.json").is_file()
    assert scope["model"].predict(["book a table for two"])[0]["label"]
    wheel = folder / scope["wheel"]
    assert wheel.name == "my_intent-1.0-py3-none-any.whl" and wheel.is_file()


def test_every_model_folder_has_a_card_with_what_a_user_needs(readme_run):
    folder, scope = readme_run
    card = (folder / scope["run"] / "model" / "README.md").read_text()
    assert card.startswith("---\nlibrary_name: nlp-pipelines\n")
    for heading in ("## Model", "## Training data", "## Evaluation", "## Intended use", "## Limits",
                    "## Training config"):
        assert heading in card
    assert "labels (" in card and "95% bootstrap CI" in card and "train 3" in card  # the 360 - dev rows
    assert "The encoder is uncased" in card  # the tiny tokenizer lower-cases, as MiniLM's does


def test_the_wheel_holds_the_model_and_loads_by_name_from_another_folder(readme_run, tmp_path, monkeypatch):
    """The wheel unpacked as pip installs a pure wheel (make test-system runs pip in a fresh venv): every file
    matches its RECORD hash, and Predictor.load finds the model by name through the entry point."""
    import base64
    import hashlib

    folder, scope = readme_run
    target = tmp_path / "site"
    with zipfile.ZipFile(folder / scope["wheel"]) as zf:
        names = zf.namelist()
        assert "my_intent/model/pipeline.json" in names and "my_intent/model/README.md" in names
        entry = zf.read("my_intent-1.0.dist-info/entry_points.txt").decode()
        assert "[nlp_pipelines.models]\nmy-intent = my_intent" in entry
        rows = [line.split(",") for line in zf.read("my_intent-1.0.dist-info/RECORD").decode().splitlines()]
        assert sorted(path for path, _, _ in rows) == sorted(names)
        for path, digest, size in rows:
            if digest:
                data = zf.read(path)
                assert len(data) == int(size)
                assert digest == "sha256=" + base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(
                    b"=").decode()
        zf.extractall(target)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    monkeypatch.syspath_prepend(str(target))
    loaded = pipelines.Predictor.load("my-intent")
    assert str(loaded.task.options.encoder) == "tiny"
    assert loaded.predict(["book a table for two"]) == scope["model"].predict(["book a table for two"])
    assert "my_intent" not in sys.modules  # found by its entry point, never imported (no code from the wheel)


def test_a_model_folder_of_another_schema_is_refused(readme_run, tmp_path):
    import shutil

    folder, scope = readme_run
    copy = tmp_path / "model"
    shutil.copytree((folder / scope["run"] / "model").resolve(), copy)
    meta = json.loads((copy / "pipeline.json").read_text())
    assert meta["schema"] == 1
    (copy / "pipeline.json").write_text(json.dumps({**meta, "schema": 2}))
    with pytest.raises(ModelFormatError, match="schema 2.*reads schema 1"):
        pipelines.Predictor.load(copy)


def test_package_refuses_a_bad_name_or_version(readme_run, tmp_path):
    folder, scope = readme_run
    run = folder / scope["run"]
    with pytest.raises(ConfigError, match="--name"):
        pipelines.package(run, name="1-bad name", version="1.0", out=tmp_path)
    with pytest.raises(ConfigError, match="--version"):
        pipelines.package(run, name="ok", version="one", out=tmp_path)
    with pytest.raises(FileNotFoundError, match="no trained model here"):
        pipelines.package(tmp_path, name="ok", version="1.0", out=tmp_path)


def _command(*args):
    return subprocess.run([sys.executable, "-m", "pipelines", *args], cwd=ROOT, capture_output=True, text=True,
                          timeout=120, env={**os.environ, "PYTHONPATH": str(ROOT)})


def test_the_console_command_lists_its_commands_and_runs_them():
    listed = _command("--help")
    assert listed.returncode == 0
    for name in ("train", "eval", "predict", "serve", "quantize", "distill", "chat", "zero-shot", "few-shot",
                 "find-bad-labels", "package"):
        assert f"  {name} " in listed.stdout
    assert _command("nope").returncode == 2
    helped = _command("package", "--help")
    assert helped.returncode == 0 and helped.stdout.startswith("usage: nlp-pipelines package")


def test_a_missing_extra_is_one_line_naming_the_install(capsys):
    from pipelines.cli import run_cli

    err = missing_extra(ModuleNotFoundError("No module named 'fastapi'", name="fastapi"))
    assert isinstance(err, MissingExtraError) and "pip install 'nlp-pipelines[serve]'" in str(err)
    assert missing_extra(ModuleNotFoundError("No module named 'numpyy'", name="numpyy")) is None  # a real bug

    def main():
        raise ModuleNotFoundError("No module named 'lightning'", name="lightning")

    with pytest.raises(SystemExit) as stop:
        run_cli(main)
    assert stop.value.code == 2
    assert capsys.readouterr().err.strip() == ("error: this needs lightning, which is in the [train] extra: "
                                               "pip install 'nlp-pipelines[train]'")


def test_every_python_block_of_the_section_runs(tmp_path, monkeypatch):
    """The other code blocks of "Use it in your code", run with tiny runs in place of the example paths (the
    first block and the own-Trainer block have tests of their own above and in test_learning.py)."""
    from conftest import train_tiny

    readme = (ROOT / "README.md").read_text()
    start = readme.index("## Use it in your code")
    section = readme[start:readme.index("\n## ", start)]
    blocks = re.findall(r"```python\n(.*?)```", section, re.S)
    rest = [b for b in blocks if "pipelines.train(" not in b and "prepare(cfg)" not in b]
    assert len(rest) == 2 and len(blocks) == 4
    ner = train_tiny(tmp_path / "ner", "ner")
    intent = train_tiny(tmp_path / "intent", "intent", "model.offtopic=mahalanobis")
    monkeypatch.chdir(tmp_path)
    scope: dict = {}
    for code in rest:
        code = code.replace('"runs/ner-20261129-101500"', repr(str(ner))).replace('"runs/intent-..."',
                                                                                   repr(str(intent)))
        exec(compile(code, "README.md", "exec"), scope)  # noqa: S102 - the README's own code
    assert scope["bot"].turn("book a table for two").event in {"start", "continue", "switch", "off_topic"}
