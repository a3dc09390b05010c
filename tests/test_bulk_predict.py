"""Sharded batch prediction (`nlp-pipelines predict RUN --input F --output DIR --devices N`): every record exactly
once with its line number, bad records as errors in place, a rerun predicts only the missing shards."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import train_tiny

from pipelines.errors import ConfigError
from pipelines.training.bulk_predict import ShardStream, predict_to_shards, shard_file

ROOT = Path(__file__).resolve().parent.parent
TEXTS = ["book a table for two", "what's the weather in oslo", "play some jazz", "set an alarm for 7"]
BAD = {11: b'{"text": broken', 21: json.dumps({"text": ""}).encode(), 31: b'{"text": "caf\xff"}',
       41: json.dumps({"label": "no text"}).encode()}
N = 53


def _input(path: Path) -> Path:
    lines = [BAD.get(i, json.dumps({"text": f"{TEXTS[i % 4]} {i}"}).encode()) for i in range(1, N + 1)]
    path.write_bytes(b"\n".join(lines) + b"\n")
    return path


def _rows(out: Path) -> list[dict]:
    return [json.loads(line) for f in sorted(out.glob("shard-*.jsonl")) for line in f.read_text().splitlines()]


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    return train_tiny(tmp_path_factory.mktemp("bulk"), "intent")


def test_each_rank_streams_its_own_shards_and_no_batch_spans_two(tmp_path):
    path = tmp_path / "in.txt"
    path.write_text("".join(f"text {i}\n" for i in range(1, 24)))  # 23 lines: shards of 5 -> 5 shards, the last of 3
    seen = []
    for rank in (0, 1):
        stream = ShardStream(path, "lines", "text", shard_size=5, batch_size=2, rank=rank, world=2, total=23)
        batches = list(stream)
        assert len(batches) == len(stream)
        for batch in batches:
            assert batch["shard"] % 2 == rank
            assert {(line - 1) // 5 for line, _ in batch["records"]} == {batch["shard"]}
        assert [b["shard"] for b in batches if b["last"]] == sorted({b["shard"] for b in batches})
        seen += [line for b in batches for line, _ in b["records"]]
    assert sorted(seen) == list(range(1, 24))
    skipping = ShardStream(path, "lines", "text", 5, 2, rank=0, world=2, done=frozenset({2}), total=23)
    assert {b["shard"] for b in skipping} == {0, 4}
    idle = ShardStream(path, "lines", "text", 5, 2, rank=1, world=2, done=frozenset({1, 3}), total=23)
    assert list(idle) == [] and len(idle) == 0


def test_every_record_once_bad_ones_in_place_and_a_rerun_redoes_only_missing_shards(run_dir, tmp_path):
    source, out = _input(tmp_path / "in.jsonl"), tmp_path / "out"
    manifest = predict_to_shards(run_dir, source, out, shard_size=10, batch_size=4, progress=False)
    assert manifest == {"records": N, "errors": len(BAD), "shards": 6, "resumed_shards": 0, "devices": 1,
                        "accelerator": "cpu"}
    rows = _rows(out)
    assert [r["line"] for r in rows] == list(range(1, N + 1))
    errors = {r["line"]: r["error"] for r in rows if "error" in r}
    assert errors == {11: "not valid JSON: Expecting value", 21: "empty text",
                      31: "not UTF-8 (byte 0xff at column 14)", 41: "no string field 'text'"}
    assert rows[0]["text"] == f"{TEXTS[1]} 1" and rows[0]["label"]

    # a killed job: shard 3 never renamed (its .part half written), the others whole
    kept = {k: shard_file(out, k).stat().st_mtime_ns for k in range(6) if k != 3}
    shard_file(out, 3).rename(out / ".shard-00003.part")
    resumed = predict_to_shards(run_dir, source, out, shard_size=10, batch_size=4, progress=False)
    assert resumed["resumed_shards"] == 5 and resumed["records"] == N
    assert {k: shard_file(out, k).stat().st_mtime_ns for k in kept} == kept
    assert _rows(out) == rows and not list(out.glob(".*.part"))

    with pytest.raises(ConfigError, match="shard_size"):
        predict_to_shards(run_dir, source, out, shard_size=7, progress=False)


@pytest.mark.system
def test_two_processes_write_every_record_exactly_once(run_dir, tmp_path):
    """`nlp-pipelines predict ... --output DIR --devices 2`: two CPU processes (DDP over gloo), rank r taking
    shards r, r+2, ...; the shards together hold each input record once."""
    source, out = _input(tmp_path / "in.jsonl"), tmp_path / "out"
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT)}
    proc = subprocess.run([sys.executable, "-m", "pipelines", "predict", str(run_dir), "--input", str(source),
                           "--output", str(out), "--devices", "2", "--shard-size", "10", "--batch-size", "4"],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "Starting with 2 processes" in proc.stdout + proc.stderr
    rows = _rows(out)
    assert sorted(r["line"] for r in rows) == list(range(1, N + 1))
    assert sum("error" in r for r in rows) == len(BAD)
    assert json.loads((out / "manifest.json").read_text())["devices"] == 2
