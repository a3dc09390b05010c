"""Offline by default, checked in fresh interpreters (conftest sets the variables for the other tests, which
would hide a default that does not work): importing `pipelines` changes no environment variable; a command
(pipelines.cli.run_cli, behind `nlp-pipelines`) and `pipelines.offline_by_default()` make huggingface_hub and
datasets offline, also after they read their settings; a user's HF_HUB_OFFLINE=0 wins; an encoder that cannot be
loaded is one line at once."""

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
CLEAN = {k: v for k, v in os.environ.items() if not k.startswith(("HF_", "TRANSFORMERS_"))}


def _python(code, **env):
    return subprocess.run([sys.executable, "-c", code], cwd=ROOT, env={**CLEAN, "PYTHONPATH": str(ROOT), **env},
                          capture_output=True, text=True, timeout=120)


def test_importing_pipelines_changes_no_environment_variable():
    code = ("import os; before = dict(os.environ); import pipelines; from pipelines import Predictor; "
            "print(dict(os.environ) == before, 'HF_HUB_OFFLINE' in os.environ)")
    assert _python(code).stdout.split() == ["True", "False"]


def test_a_command_and_the_documented_call_make_the_hub_offline_and_a_user_can_go_online():
    command = ("import huggingface_hub.constants as c, datasets.config as d; from pipelines.cli import run_cli; "
               "run_cli(lambda: print(c.HF_HUB_OFFLINE, d.HF_DATASETS_OFFLINE) or 0)")
    assert _python(command).stdout.split() == ["True", "True"]
    assert _python(command, HF_HUB_OFFLINE="0", HF_DATASETS_OFFLINE="0").stdout.split() == ["False", "False"]
    # a service that imported huggingface_hub before us, then calls the documented function: offline
    library = ("import huggingface_hub.constants as c; import pipelines; pipelines.offline_by_default(); "
               "print(c.HF_HUB_OFFLINE)")
    assert _python(library).stdout.split() == ["True"]
    assert _python(library, HF_HUB_OFFLINE="0").stdout.split() == ["False"]


@pytest.mark.system  # a fresh interpreter, as a user starts it: make test-system (CI)
def test_a_hub_encoder_while_offline_is_one_clear_line_at_once(tmp_path):
    start = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "pipelines.training.train", "--task", "ner",
                           "model.encoder=bert-base-uncased", f"train.out_dir={tmp_path}"], cwd=ROOT,
                          env={**CLEAN, "PYTHONPATH": str(ROOT), "HF_HOME": str(tmp_path / "hf")},
                          capture_output=True, text=True, timeout=120)
    seconds = time.perf_counter() - start
    assert proc.returncode == 2 and "Traceback" not in proc.stderr, proc.stderr[-2000:]
    [line] = [x for x in proc.stderr.splitlines() if x.startswith("error:")]
    assert "bert-base-uncased" in line and "HF_HUB_OFFLINE=0" in line and "directory" in line
    assert seconds < 60  # no retries against an unreachable hub (was 57 s, then a traceback)


def test_wrong_encoder_paths_say_what_is_wrong(tmp_path):

    from pipelines.errors import EncoderError
    from pipelines.models.encoders import resolve

    with pytest.raises(EncoderError, match="no such directory"):
        resolve("./models/my-bert")
    (tmp_path / "empty").mkdir()
    with pytest.raises(EncoderError, match="has no config.json"):
        resolve(str(tmp_path / "empty"))
