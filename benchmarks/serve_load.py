"""The HTTP service under load: the real server (`python -m pipelines.inference.serve`) on a free loopback port,
driven by 1, 8 and 32 concurrent clients for a fixed time each, one text per request.

Reports p50/p99 latency, requests/s and errors per concurrency, with micro-batching on (configs/serve.yaml)
and off (max_batch_size=1, the same server otherwise), and the micro-batching speedup in requests/s. A third
setting mixes `--hostile` (1%) hostile requests (a lone surrogate, NUL, JSON nested 100,000 deep, a 2 MB body,
...) into the valid traffic: `hostile_traffic.valid_request_errors` must be 0, and every hostile request gets a
JSON 4xx (`hostile_responses` counts them by status).

    .venv/bin/python -m benchmarks.serve_load [--run runs/bench/distill/teacher-intent-seed1] [--seconds 10]
Writes reports/serve.json.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import subprocess
import sys
import time
from typing import Any

import numpy as np

from benchmarks.common import SHARED, machine
from pipelines.io import write_json
from pipelines.provenance import portable_path

CONCURRENCY = (1, 8, 32)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(run: str, port: int, overrides: list[str], timeout: float = 120.0) -> subprocess.Popen:
    """The real server in its own process; returns once /health answers (or raises with its output)."""
    import httpx

    proc = subprocess.Popen([sys.executable, "-m", "pipelines.inference.serve", run, f"port={port}", *overrides],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env={**os.environ})
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"the server exited ({proc.returncode}): {proc.stdout.read().decode()[-2000:]}")
        try:
            if httpx.get(f"http://127.0.0.1:{port}/health", timeout=1.0).status_code == 200:
                return proc
        except httpx.HTTPError:
            time.sleep(0.3)
    proc.kill()
    raise RuntimeError(f"the server did not answer /health within {timeout} s")


# requests an attacker or a broken client sends: each must get a JSON 4xx and hurt no other request
HOSTILE = {
    "lone_surrogate": b'{"texts": ["refund \\ud800 please"]}',
    "nul": b'{"texts": ["a\\u0000b"]}',
    "control": b'{"texts": ["bell \\u0007 ring"]}',
    "deep_nesting": b"[" * 100_000,
    "not_json": b"{texts: ",
    "not_utf8": b'{"texts": ["\xff\xfe"]}',
    "not_a_string": b'{"texts": [12345]}',
    "huge_body": b'{"texts": ["' + b"x" * 2_000_000 + b'"]}',
}


async def drive(port: int, texts: list[str], clients: int, seconds: float, hostile: float = 0.0,
                seed: int = 0) -> dict[str, Any]:
    """`clients` concurrent loops posting one text each for `seconds`; latency, rate, errors. With `hostile` >
    0, that share of the requests (seeded) is one of HOSTILE instead, sent into the same micro-batches; valid
    and hostile requests are counted apart."""
    import httpx

    latencies: list[float] = []
    errors = 0
    batched: list[int] = []
    bad: dict[str, dict[str, int]] = {}
    stop = time.perf_counter() + seconds
    kinds = sorted(HOSTILE)

    async def client(k: int, http: httpx.AsyncClient) -> None:
        nonlocal errors
        i = k
        rng = np.random.default_rng([seed, k])
        while time.perf_counter() < stop:
            if hostile and rng.random() < hostile:
                kind = kinds[int(rng.integers(len(kinds)))]
                try:
                    r = await http.post("/predict", content=HOSTILE[kind],
                                        headers={"content-type": "application/json"})
                    json_error = "error" in r.json()
                    status = str(r.status_code) if json_error else f"{r.status_code} (not JSON)"
                except (httpx.HTTPError, ValueError) as err:
                    status = type(err).__name__
                bad.setdefault(kind, {}).setdefault(status, 0)
                bad[kind][status] += 1
                continue
            start = time.perf_counter()
            try:
                r = await http.post("/predict", json={"texts": [texts[i % len(texts)]]})
                if r.status_code != 200:
                    errors += 1
                else:
                    batched.append(r.json()["batched_with"])
            except httpx.HTTPError:
                errors += 1
            latencies.append(1000 * (time.perf_counter() - start))
            i += clients

    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", limits=limits, timeout=60.0) as http:
        begin = time.perf_counter()
        await asyncio.gather(*(client(k, http) for k in range(clients)))
        wall = time.perf_counter() - begin
    return {"clients": clients, "requests": len(latencies), "errors": errors,
            "requests_per_s": round(len(latencies) / wall, 1),
            "p50_ms": round(float(np.percentile(latencies, 50)), 1) if latencies else None,
            "p99_ms": round(float(np.percentile(latencies, 99)), 1) if latencies else None,
            "mean_batch": round(float(np.mean(batched)), 2) if batched else None,
            **({"hostile_share": hostile, "hostile": bad} if hostile else {})}


def texts_of(data: str) -> list[str]:
    from pipelines.config import DataConfig
    from pipelines.data.splits import load_splits

    test = load_splits(DataConfig(path=data), "", seed=0)["test"]
    return list(test["text"]) if "text" in test.column_names else [" ".join(t) for t in test["tokens"]]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--run", default="runs/bench/distill/teacher-intent-seed1")
    parser.add_argument("--data", default=str(SHARED / "clinc150" / "data_full.json"))
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--concurrency", type=int, nargs="+", default=list(CONCURRENCY))
    parser.add_argument("--out", default="reports/serve.json")
    parser.add_argument("--hostile", type=float, default=0.01,
                        help="share of hostile requests mixed into the traffic of a third setting (0 = none)")
    args = parser.parse_args(argv)
    texts = texts_of(args.data)
    report: dict[str, Any] = {"run": args.run, "data": portable_path(args.data), "seconds_per_level": args.seconds,
                              "machine": machine(), "settings": {}}
    settings = [("micro_batching", [], 0.0), ("batch_size_1", ["max_batch_size=1", "max_wait_ms=0"], 0.0)]
    if args.hostile:
        settings.append(("micro_batching_hostile", [], args.hostile))
    for name, overrides, hostile in settings:
        port = free_port()
        server = start_server(args.run, port, overrides)
        try:
            levels = [asyncio.run(drive(port, texts, c, args.seconds, hostile)) for c in args.concurrency]
        finally:
            server.terminate()
            server.wait(timeout=30)
        report["settings"][name] = {"overrides": overrides, "levels": levels, **({"hostile": hostile} if hostile
                                                                                  else {})}
        for level in levels:
            print(f"{name}: {level}", flush=True)
    on, off = report["settings"]["micro_batching"]["levels"], report["settings"]["batch_size_1"]["levels"]
    report["micro_batching_speedup"] = {str(a["clients"]): round(a["requests_per_s"] / b["requests_per_s"], 2)
                                        for a, b in zip(on, off, strict=True) if b["requests_per_s"]}
    report["valid_request_errors"] = sum(level["errors"] for s in report["settings"].values()
                                         for level in s["levels"])
    if args.hostile:
        hostile_levels = report["settings"]["micro_batching_hostile"]["levels"]
        seen: dict[str, int] = {}
        for level in hostile_levels:
            for counts in level["hostile"].values():
                for status, n in counts.items():
                    seen[status] = seen.get(status, 0) + n
        report["hostile_traffic"] = {"share": args.hostile, "valid_requests": sum(x["requests"] for x in
                                                                                 hostile_levels),
                                     "valid_request_errors": sum(x["errors"] for x in hostile_levels),
                                     "hostile_responses": seen}
        print(json.dumps(report["hostile_traffic"]), flush=True)
    write_json(args.out, report)
    print(json.dumps(report["micro_batching_speedup"]), flush=True)


if __name__ == "__main__":
    main()
