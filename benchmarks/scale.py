"""Batch prediction at scale: texts/s with 1 and 2 processes, peak memory on 1,000,000 lines, and a killed job
resumed (`nlp-pipelines predict RUN --input F --output DIR --devices N`, pipelines.training.bulk_predict).

    .venv/bin/python -m benchmarks.scale [--lines 20000] [--big 1000000]   # -> reports/scale.{json,md}

Texts: CLINC150's test utterances (../shared/data/clinc150), cycled to the length wanted (short lines, 8 words
on average). Models, both trained here on the shipped intent sample (speed and memory do not depend on how
well a model learned): the default encoder (all-MiniLM-L6-v2, the shipped intent config) for throughput, and the
tiny random 2-layer encoder for the 1,000,000-line runs (the streaming machinery, at a speed this machine can
run a million lines). Each command runs in its own process tree; peak RSS is the largest process's.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import time
from itertools import cycle, islice
from pathlib import Path

from benchmarks.common import INTENT_BEFORE_ECE, SHARED, find_or_train, generated_by, machine, write_report_md
from pipelines.io import write_json

OUT = Path("runs/bench/scale")
PEAK = ("import resource, subprocess, sys; code = subprocess.run(sys.argv[1:]).returncode; "
        "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, file=sys.stderr); sys.exit(code)")


def write_texts(path: Path, n: int, data: Path) -> Path:
    if path.exists() and sum(1 for _ in open(path, "rb")) == n:
        return path
    utterances = [text for text, _ in json.loads(data.read_text())["test"]]
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", encoding="utf-8") as fh:
        for text in islice(cycle(utterances), n):
            fh.write(json.dumps({"text": text}) + "\n")
    return path


def cli(*args: object) -> list[str]:
    return [sys.executable, "-m", "pipelines", *map(str, args)]


def measured(command: list[str]) -> dict[str, float]:
    """Seconds and the peak RSS (MB) of the largest process `command` started."""
    start = time.perf_counter()
    proc = subprocess.run([sys.executable, "-c", PEAK, *command], capture_output=True, text=True)
    seconds = time.perf_counter() - start
    if proc.returncode:
        raise SystemExit(f"{' '.join(command)} failed:\n{proc.stderr[-3000:]}")
    return {"seconds": round(seconds, 1), "peak_rss_mb": round(int(proc.stderr.strip().splitlines()[-1]) / 1024)}


def fresh(folder: Path) -> Path:
    import shutil

    shutil.rmtree(folder, ignore_errors=True)
    return folder


def covered(out: Path, n: int) -> bool:
    """Every input line exactly once over the shard files."""
    seen = bytearray(n + 1)
    for shard in sorted(out.glob("shard-*.jsonl")):
        with open(shard, encoding="utf-8") as fh:
            for line in fh:
                number = json.loads(line)["line"]
                if seen[number]:
                    return False
                seen[number] = 1
    return sum(seen) == n


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--lines", type=int, default=20_000, help="texts for the throughput runs")
    parser.add_argument("--big", type=int, default=1_000_000, help="texts for the memory and resume runs")
    parser.add_argument("--kill-after", type=float, default=60.0, help="seconds before the resume run is killed")
    parser.add_argument("--data", default=str(SHARED / "clinc150" / "data_full.json"))
    parser.add_argument("--out", default="reports/scale.json")
    parser.add_argument("overrides", nargs="*", help="extra section.key=value for the two trainings")
    args = parser.parse_args(argv)
    minilm = find_or_train("intent", [*INTENT_BEFORE_ECE, "train.progress_bar=false", *args.overrides],
                           OUT / "intent-minilm")
    tiny = find_or_train("intent", [*INTENT_BEFORE_ECE, "model.encoder=tiny", "train.epochs=1",
                                    "train.progress_bar=false", *args.overrides], OUT / "intent-tiny")
    small, big = write_texts(OUT / f"texts-{args.lines}.jsonl", args.lines, Path(args.data)), \
        write_texts(OUT / f"texts-{args.big}.jsonl", args.big, Path(args.data))
    report: dict = {"texts": f"CLINC150 test utterances cycled to {args.lines:,} / {args.big:,} lines",
                    "models": {"minilm": str(minilm), "tiny": str(tiny)}, "machine": machine()}
    rows = []
    for name, command in (("predict --out (1 process, no Lightning)", cli("predict", minilm, "--input", small,
                                                                           "--out", fresh(OUT / "plain.jsonl"))),
                          *((f"predict --output --devices {n}", cli("predict", minilm, "--input", small, "--output",
                                                                    fresh(OUT / f"shards-{n}"), "--devices", n))
                            for n in (1, 2))):
        got = measured(command)
        rows.append({"how": name, "model": "MiniLM", "texts": args.lines, **got,
                     "texts_per_s": round(args.lines / got["seconds"], 1)})
        print(rows[-1], flush=True)
    for n in (1, 2):
        assert covered(OUT / f"shards-{n}", args.lines), f"shards-{n} do not cover the input once"
    got = measured(cli("predict", tiny, "--input", big, "--output", fresh(OUT / "big"), "--devices", 1))
    rows.append({"how": "predict --output --devices 1", "model": "tiny", "texts": args.big, **got,
                 "texts_per_s": round(args.big / got["seconds"], 1), "covered_once": covered(OUT / "big", args.big)})
    print(rows[-1], flush=True)
    report["runs"] = rows

    # resume: a 2-process job killed after --kill-after seconds, then the same command again
    out = fresh(OUT / "resume")
    start = time.perf_counter()
    job = subprocess.Popen(cli("predict", tiny, "--input", big, "--output", out, "--devices", 2),
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    time.sleep(args.kill_after)
    os.killpg(job.pid, signal.SIGKILL)
    job.wait()
    before = len(list(out.glob("shard-*.jsonl")))
    again = measured(cli("predict", tiny, "--input", big, "--output", out, "--devices", 2))
    manifest = json.loads((out / "manifest.json").read_text())
    report["resume"] = {"killed_after_s": args.kill_after, "shards_done_at_kill": before,
                        "shards": manifest["shards"], "resumed_shards": manifest["resumed_shards"],
                        "rerun_seconds": again["seconds"], "first_try_seconds": round(time.perf_counter() - start
                                                                                      - again["seconds"], 1),
                        "records": manifest["records"], "covered_once": covered(out, args.big)}
    print(report["resume"], flush=True)
    write_json(args.out, report)
    write_report_md(Path(args.out).with_suffix(".md"), markdown(report))


def markdown(report: dict) -> str:
    lines = ["# Batch prediction at scale", "", generated_by("benchmarks/scale.py", report["machine"]), "",
             f"Texts: {report['texts']}. Models: {report['models']['minilm']} (all-MiniLM-L6-v2) and "
             f"{report['models']['tiny']} (the tiny random encoder), both trained on the shipped intent sample.", "",
             "| how | model | texts | seconds | texts/s | peak RSS (MB) |", "|---|---|---:|---:|---:|---:|"]
    lines += [f"| {r['how']} | {r['model']} | {r['texts']:,} | {r['seconds']} | {r['texts_per_s']} | "
              f"{r['peak_rss_mb']} |" for r in report["runs"]]
    r = report["resume"]
    lines += ["", f"Killed after {r['killed_after_s']} s with {r['shards_done_at_kill']} of {r['shards']} shards "
              f"written; the rerun skipped {r['resumed_shards']} shards, took {r['rerun_seconds']} s, and the "
              f"shards hold all {r['records']:,} records exactly once: {r['covered_once']}.", ""]
    return "\n".join(lines)


if __name__ == "__main__":
    main()
