"""Installed outside the clone, as a user installs it: the wheel built from this tree goes into a fresh venv
(torch 2.13.0 first, as the Makefile does), first without extras, then with [train,serve,onnx]; every command
runs from a folder that is not the clone, on the shipped samples.

Slow (about 6 minutes: it installs torch and the dependencies from the package registries) and marked
`system`: `make test-system` runs it, and `.ci/run` does.
"""

import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

pytestmark = pytest.mark.system
ROOT = Path(__file__).resolve().parent.parent
TINY = ["model.encoder=tiny", "train.epochs=1", "train.limit_train_batches=2", "train.progress_bar=false"]


def _sh(*args, cwd, env=None, stdin=None, timeout=900):
    proc = subprocess.run([str(a) for a in args], cwd=cwd, env=env, input=stdin, capture_output=True, text=True,
                          timeout=timeout)
    return proc


def _ok(proc):
    assert proc.returncode == 0, (proc.args, proc.stdout[-2000:], proc.stderr[-3000:])
    return proc


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _serve(cli, run, cwd, env):
    port = _free_port()
    server = subprocess.Popen([str(cli), "serve", str(run), f"port={port}"], cwd=cwd, env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        deadline = time.time() + 120
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=2) as r:
                    assert r.status == 200
                    break
            except OSError:
                assert server.poll() is None, server.stdout.read()[-3000:]
                assert time.time() < deadline, "the server did not answer /health in 120 s"
                time.sleep(1)
        request = urllib.request.Request(f"http://127.0.0.1:{port}/predict", method="POST",
                                         data=json.dumps({"texts": ["book a table for two"]}).encode(),
                                         headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=30) as r:
            return json.loads(r.read())
    finally:
        server.terminate()
        server.wait(timeout=30)


def test_the_wheel_installs_outside_the_clone_and_every_command_runs(tmp_path):
    dist = tmp_path / "dist"
    _ok(_sh(sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--disable-pip-version-check", "-w", dist,
            ROOT, cwd=tmp_path))
    [wheel] = dist.glob("nlp_pipelines-*.whl")
    venv = tmp_path / "venv"
    _ok(_sh(sys.executable, "-m", "venv", venv, cwd=tmp_path))
    pip = [venv / "bin" / "python", "-m", "pip", "install", "-q", "--disable-pip-version-check"]
    _ok(_sh(*pip, "torch==2.13.0", cwd=tmp_path))
    _ok(_sh(*pip, wheel, cwd=tmp_path))  # the core: predicting only
    cli, python = venv / "bin" / "nlp-pipelines", venv / "bin" / "python"
    home = tmp_path / "elsewhere"
    home.mkdir()
    env = {k: v for k, v in os.environ.items() if k not in {"PYTHONPATH", "VIRTUAL_ENV"}}
    env["PATH"] = f"{venv / 'bin'}{os.pathsep}{env.get('PATH', '')}"

    # a core install: no Lightning, no FastAPI; training and serving say which extra to install
    assert _sh(python, "-c", "import lightning", cwd=home, env=env).returncode != 0
    for args, extra in ((["train", "--task", "intent"], "train"), (["serve", "x"], "serve")):
        proc = _sh(cli, *args, cwd=home, env=env)
        assert proc.returncode == 2 and f"pip install 'nlp-pipelines[{extra}]'" in proc.stderr, proc.stderr[-2000:]

    _ok(_sh(*pip, f"{wheel}[train,serve,onnx]", cwd=tmp_path))
    for command in ("train", "eval", "predict", "serve", "quantize", "distill", "chat", "zero-shot", "few-shot",
                    "find-bad-labels", "package"):
        _ok(_sh(cli, command, "--help", cwd=home, env=env))
    _ok(_sh(cli, "train", "--task", "intent", *TINY, cwd=home, env=env))  # on the sample shipped in the wheel
    [run] = (home / "runs").iterdir()
    assert (run / "model" / "README.md").is_file()
    predicted = _ok(_sh(cli, "predict", run, stdin="book a table for two\n", cwd=home, env=env))
    row = json.loads(predicted.stdout.strip().splitlines()[-1])
    assert row["label"] and row["line"] == 1
    samples = _ok(_sh(python, "-c", "from pipelines.shipped import SAMPLES; print(SAMPLES)", cwd=home, env=env))
    sample = Path(samples.stdout.strip())
    assert str(sample).startswith(str(venv)), sample  # the package data, not the clone
    _ok(_sh(cli, "eval", run, sample / "intent" / "test.jsonl", cwd=home, env=env))
    assert "test" in json.loads((run / "eval.json").read_text())
    served = _serve(cli, run, home, env)
    assert served["predictions"][0]["label"] == row["label"]

    # the other commands, on the shipped samples, with the tiny encoder where they train
    intent = sample / "intent"
    _ok(_sh(cli, "zero-shot", "--data", intent / "test.jsonl", "--adapt", 0, cwd=home, env=env))
    _ok(_sh(cli, "few-shot", "--data", intent / "dev.jsonl", "--encoder", "tiny", "--epochs", 1, "--out",
            home / "fewshot", cwd=home, env=env))
    _ok(_sh(cli, "find-bad-labels", "--task", "intent", "--folds", 2, "--cheap", "--out", home / "suspects", *TINY,
            cwd=home, env=env))
    _ok(_sh(cli, "distill", run, "--out", home / "student", "train.epochs=1", "train.limit_train_batches=2",
            "train.progress_bar=false", cwd=home, env=env))
    _ok(_sh(cli, "quantize", run, cwd=home, env=env))
    _ok(_sh(cli, "train", "--task", "dialogue", *TINY, "train.out_dir=dialogue", cwd=home, env=env))
    [dialogue] = (home / "dialogue").iterdir()
    chat = _ok(_sh(cli, "chat", dialogue, stdin="i want two tickets for a movie tonight\n", cwd=home, env=env))
    assert chat.stdout.strip()

    # a packaged model, installed, loads by name from any folder
    _ok(_sh(cli, "package", run, "--name", "my-intent", "--version", "1.0", "--out", tmp_path / "models",
            cwd=home, env=env))
    _ok(_sh(*pip, "--no-deps", tmp_path / "models" / "my_intent-1.0-py3-none-any.whl", cwd=tmp_path))
    named = _ok(_sh(python, "-c", "import json; from pipelines import Predictor; "
                    "print(json.dumps(Predictor.load('my-intent').predict(['book a table for two'])))",
                    cwd=tmp_path, env=env))
    assert json.loads(named.stdout.strip().splitlines()[-1])[0]["label"] == row["label"]
