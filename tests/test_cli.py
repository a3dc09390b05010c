"""The entry points as a user runs them: DDP training with 2 CPU processes (marked `system`: make test-system, CI),
eval, predict. Where the process itself is not under test, `main` runs in-process (the same code, no new
interpreter: a few seconds each)."""

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import train_tiny

ROOT = Path(__file__).resolve().parent.parent
ENV = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT)}


def _run(*args, stdin=None):
    return subprocess.run([sys.executable, "-m", *args], cwd=ROOT, env=ENV, input=stdin, capture_output=True,
                          text=True, timeout=300)


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    return train_tiny(tmp_path_factory.mktemp("cli"), "intent")


def _in_process(main, argv, capsys):
    """`main(argv)` as the command runs it (pipelines.cli.run_cli): (exit code, stdout, stderr)."""
    from pipelines.cli import run_cli

    with pytest.raises(SystemExit) as stop:
        run_cli(lambda: main(argv))
    out = capsys.readouterr()
    return stop.value.code, out.out, out.err


@pytest.fixture(scope="module")
def ddp_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("ddp")
    data = out.parent / "ddp-data"  # the sample with 59 dev rows: the distributed sampler repeats one to even out
    data.mkdir()
    for split in ("train", "dev", "test"):
        rows = (ROOT / "samples" / "intent" / f"{split}.jsonl").read_text().splitlines(keepends=True)
        (data / f"{split}.jsonl").write_text("".join(rows[:59] if split == "dev" else rows))
    proc = _run("pipelines.training.train", "--task", "intent", f"data.path={data}", "model.encoder=tiny",
                "train.strategy=ddp",
                "train.devices=2", "train.accelerator=cpu", "train.epochs=1", "train.limit_train_batches=4",
                "train.batch_size=8", "train.accumulate_grad_batches=2", "train.progress_bar=false",
                f"train.out_dir={out}")
    assert proc.returncode == 0, proc.stderr[-3000:]
    [run_dir] = [p for p in out.iterdir() if p.is_dir()]
    return run_dir, proc


@pytest.mark.system
def test_ddp_two_processes_train_and_export(ddp_run):
    run_dir, proc = ddp_run
    assert "distributed_backend=gloo" in proc.stderr + proc.stdout
    assert "All distributed processes registered. Starting with 2 processes" in proc.stderr + proc.stdout
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert metrics["global_step"] == 2  # 4 batches per process, accumulated by 2 -> 2 optimizer steps
    assert (run_dir / "model" / "pipeline.json").exists() and (run_dir / "model" / "heads.safetensors").exists()


@pytest.mark.system
def test_ddp_validation_scores_every_dev_example_once(ddp_run):
    """Each rank scores half the dev set; the records are gathered, so the logged scores cover all 59 examples,
    none dropped and the one the sampler repeats not counted twice: the same accuracy as one process gets."""
    import csv

    run_dir, _ = ddp_run
    [log] = (run_dir / "logs").rglob("metrics.csv")
    [row] = [r for r in csv.DictReader(log.open()) if r.get("val/examples")]
    assert float(row["val/examples"]) == 59
    metrics = json.loads((run_dir / "metrics.json").read_text())  # the exported model, one process
    assert metrics["validation"]["examples"] == 59
    assert float(row["val/accuracy"]) == pytest.approx(metrics["validation"]["accuracy"], abs=1e-6)


def test_predict_cli_jsonl_empty_and_non_utf8_lines(run_dir, capsys, monkeypatch):
    import io

    from pipelines.inference.predict import main as predict_main

    stdin = b"book a table\n\nweather \xff in oslo\nweather in oslo\n"
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(stdin)))
    code, out, err = _in_process(predict_main, [str(run_dir)], capsys)
    assert code == 0, err[-2000:]
    lines = [json.loads(x) for x in out.splitlines()]
    assert [x["line"] for x in lines] == [1, 2, 3, 4] and lines[1] == {"line": 2, "error": "empty text"}
    assert lines[2] == {"line": 3, "error": "not UTF-8 (byte 0xff at column 9)"}
    assert {"label", "probability", "top_k"} <= set(lines[0]) and lines[3]["text"] == "weather in oslo"
    assert "2 of 4 line(s) not predicted" in err


@pytest.mark.system  # a real process reading a pipe: make test-system (CI)
def test_predict_cli_answers_each_line_before_the_input_ends(run_dir):
    proc = subprocess.Popen([sys.executable, "-m", "pipelines.inference.predict", str(run_dir)], cwd=ROOT, env=ENV,
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        proc.stdin.write("book a table\n")
        proc.stdin.flush()
        first = json.loads(proc.stdout.readline())  # stdin is still open: a CLI that read it all would hang here
        assert first["line"] == 1 and first["text"] == "book a table"
        proc.stdin.close()
        assert proc.wait(timeout=60) == 0
    finally:
        proc.kill()


def test_eval_counts_labels_the_model_never_saw(run_dir, tmp_path):
    data = tmp_path / "new.jsonl"
    data.write_text('{"text": "book a table", "label": "book_table"}\n{"text": "sing", "label": "karaoke"}\n')
    from pipelines.inference.evaluate import main as evaluate_main  # in-process: the same main as the command

    evaluate_main([str(run_dir), str(data), "--name", "eval_new"])
    scores = json.loads((run_dir / "eval_new.json").read_text())["test"]
    assert scores["unseen_gold_labels"] == {"karaoke": 1} and scores["examples"] == 2
    assert scores["accuracy"] <= 0.5


def test_bad_data_is_one_clear_line(tmp_path, capsys):
    from pipelines.training.train import main as train_main

    bad = tmp_path / "train.conll"
    bad.write_text("EU B-ORG\nrejects\n")
    code, _, err = _in_process(train_main, ["--task", "ner", "--data", str(bad), "model.encoder=tiny"], capsys)
    assert code == 2 and err.strip() == f"error: {bad}:2: expected at least 2 columns (word ... tag), got 1: 'rejects'"


@pytest.mark.system  # two training processes, one of them killed: make test-system (CI)
def test_killed_run_resumes_from_its_last_checkpoint(tmp_path):
    args = ["pipelines.training.train", "--task", "intent", "model.encoder=tiny", "train.epochs=12",
            "train.limit_train_batches=2", "train.batch_size=8", "train.progress_bar=false",
            f"train.out_dir={tmp_path}"]
    proc = subprocess.Popen([sys.executable, "-m", *args], cwd=ROOT, env=ENV, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    try:
        for _ in range(1200):
            found = list(tmp_path.glob("*/checkpoints/last.ckpt"))
            if found or proc.poll() is not None:
                break
            time.sleep(0.1)
        proc.kill()  # SIGKILL: no clean-up, as when a machine goes away
    finally:
        proc.wait()
    assert found, "no checkpoint appeared"
    run_dir = found[0].parent.parent
    assert not (run_dir / "metrics.json").exists()  # it was killed before it finished
    resumed = _run("pipelines.training.train", "--resume", str(run_dir))
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert metrics["global_step"] == 24 and metrics["epochs_run"] == 12


def test_config_file_data_and_overrides_in_any_order(tmp_path, capsys):
    from pipelines.training.train import main as train_main

    code, _, err = _in_process(train_main, ["configs/ner.yaml", "--data", str(tmp_path), "train.lrr=1"], capsys)
    assert code == 2 and "error: unknown config key 'train.lrr'" in err and "Traceback" not in err


def test_overrides_after_a_list_option_stay_overrides():
    import argparse

    from pipelines.cli import parse_args

    parser = argparse.ArgumentParser()
    parser.add_argument("--seeds", type=int, nargs="+", default=[1])
    parser.add_argument("--sweep", type=float, nargs="*", default=[])
    parser.add_argument("overrides", nargs="*")
    args = parse_args(parser, ["--seeds", "1", "2", "train.epochs=5", "--sweep", "0.5", "model.head=crf"])
    assert args.seeds == [1, 2] and args.sweep == [0.5]
    assert args.overrides == ["train.epochs=5", "model.head=crf"]
    assert parse_args(parser, ["--sweep"]).sweep == []


def test_predict_cli_reads_records_writes_a_file_and_resumes(run_dir, tmp_path, capsys):
    """JSONL records keep a text with a newline whole; --out + --resume skips what a stopped run wrote (a torn
    last line is cut off and redone)."""
    from pipelines.inference.predict import main as predict_main

    src = tmp_path / "in.jsonl"
    texts = ["book a table\nfor two", "weather in oslo", "wake me up", "play jazz", "book a taxi"]
    src.write_text("".join(json.dumps({"id": i, "body": t}) + "\n" for i, t in enumerate(texts)))
    out = tmp_path / "out.jsonl"
    args = ["pipelines.inference.predict", str(run_dir), "--input", str(src), "--text-field", "body", "--out",
            str(out), "--batch-size", "2"]
    assert predict_main(args[1:]) == 0
    first = [json.loads(x) for x in out.read_text().splitlines()]
    assert [r["line"] for r in first] == [1, 2, 3, 4, 5] and first[0]["text"] == texts[0]
    out.write_text("".join(json.dumps(r) + "\n" for r in first[:2]) + '{"line": 3, "te')  # stopped mid-write
    assert predict_main([*args[1:], "--resume"]) == 0 and "resumed: 2 records" in capsys.readouterr().err
    assert [json.loads(x) for x in out.read_text().splitlines()] == first
    csv = tmp_path / "in.csv"
    csv.write_text('text,id\n"two lines\nof text",1\n')
    assert predict_main([str(run_dir), "--input", str(csv)]) == 0
    [rec] = [json.loads(x) for x in capsys.readouterr().out.splitlines()]
    assert rec["text"] == "two lines\nof text" and rec["line"] == 3
    with pytest.raises(SystemExit):
        predict_main(["--help"])
    assert "--resume" in capsys.readouterr().out
