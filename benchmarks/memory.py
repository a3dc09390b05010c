"""Peak memory and step time of one training step, per technique, on the default encoder (a mean-pooled
intent classifier, AdamW). Every configuration runs in a fresh process so that one's freed memory cannot hide
another's peak; per step the kernel's high-water mark of resident memory is reset (/proc/self/clear_refs) and
read back (VmHWM) over the measured steps, above the resident size just before the first one, when the weights,
their gradients and the optimizer state are allocated but no activation ever was.

- checkpointing: batches of 8 at max_length 128 and 512, with and without activation checkpointing;
- accumulation: 32 examples per optimizer step as one batch or as 4 micro-batches of 8;
- a long document (a 20 Newsgroups post of about 4,000 sub-tokens, 256-token windows, one label): all windows in
  one graph, against the gradient cache (pipelines/training/long_inputs.py) with micro-batches of 4 and 1
  windows, and 1 window plus checkpointing; each reports how far its gradient is from the one-graph gradient;
- the optimizer state's size (what CPU offload of the optimizer would move off an accelerator).

    .venv/bin/python -m benchmarks.memory [--steps 3]
Writes reports/memory.json / .md.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from benchmarks.common import SHARED, generated_by, machine, write_report_md
from pipelines.io import write_json

CONFIGS: list[dict[str, Any]] = [
    *({"part": "checkpointing", "batch": 8, "max_length": n, "checkpointing": c} for n in (128, 512)
      for c in (False, True)),
    {"part": "accumulation", "batch": 32, "max_length": 128, "accumulate": 1},
    {"part": "accumulation", "batch": 8, "max_length": 128, "accumulate": 4},
    {"part": "long document", "window": 256, "micro_batch": 0},  # 0 = all windows in one graph
    {"part": "long document", "window": 256, "micro_batch": 4},
    {"part": "long document", "window": 256, "micro_batch": 1},
    {"part": "long document", "window": 256, "micro_batch": 1, "checkpointing": True},
]
DOC_TOKENS = 4000
GRADS = Path("runs/bench/memory/full_graph_grads.pt")


def rss_kb(field: str = "VmRSS") -> int:
    for line in open("/proc/self/status"):
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise RuntimeError(f"/proc/self/status has no {field}")


def reset_peak() -> None:
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")


def long_document(tokenizer: Any, target: int = DOC_TOKENS) -> tuple[str, list[int]]:
    """The 20 Newsgroups training post whose length is nearest `target` sub-tokens (ties: the first)."""
    from pipelines.data.readers import read_jsonl

    ds = read_jsonl(SHARED / "20newsgroups" / "train.jsonl.gz")
    best = None
    for i, text in enumerate(ds["text"]):
        if len(text) < target:  # 3-5 characters per sub-token: far too short
            continue
        ids = tokenizer(text, add_special_tokens=False)["input_ids"]
        if best is None or abs(len(ids) - target) < abs(len(best[1]) - target):
            best = (ds["id"][i] if "id" in ds.column_names else str(i), ids)
        if abs(len(ids) - target) < 50:
            break
    if best is None:
        raise ValueError("20 Newsgroups train: no post long enough")
    return best


def measure(config: dict[str, Any], steps: int, encoder: str, doc_tokens: int = DOC_TOKENS) -> dict[str, Any]:
    """One configuration in this process: `steps` optimizer steps from a fresh allocator."""
    import torch

    from pipelines.models import encoders
    from pipelines.registry import get_task, task_class
    from pipelines.training.long_inputs import document_step, encode_windows, windows

    torch.manual_seed(0)
    tok = encoders.load_tokenizer(encoder)
    task = get_task("intent", task_class("intent").Options(encoder=encoder))
    model = task.build_model([f"c{i}" for i in range(20)], tok).train()
    if config.get("checkpointing"):
        assert encoders.enable_checkpointing(model)
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-5)
    extra: dict[str, Any] = {}
    if "window" in config:
        doc_id, ids = long_document(tok, doc_tokens)
        win, mask = windows(ids, config["window"], tok.cls_token_id, tok.sep_token_id)
        extra = {"document": doc_id, "sub_tokens": len(ids), "windows": len(win)}
        label = torch.tensor([3])

        def step() -> None:
            if config["micro_batch"]:
                document_step(model.encoder, model.classifier, win, mask, label, config["micro_batch"])
            else:
                vectors = encode_windows(model.encoder, win, mask)
                torch.nn.functional.cross_entropy(model.classifier(vectors.mean(0, keepdim=True)), label).backward()
    else:
        gen = torch.Generator().manual_seed(0)
        n = config["batch"] * config.get("accumulate", 1)
        ids = torch.randint(min(1000, tok.vocab_size // 2), tok.vocab_size, (n, config["max_length"]), generator=gen)
        labels = torch.randint(0, 20, (n,), generator=gen)
        k, b = config.get("accumulate", 1), config["batch"]

        def step() -> None:
            for j in range(k):
                part = slice(j * b, (j + 1) * b)
                out = model(input_ids=ids[part], attention_mask=torch.ones_like(ids[part]))
                (torch.nn.functional.cross_entropy(out.logits, labels[part]) / k).backward()

    def full_step() -> float:
        optimizer.zero_grad(set_to_none=False)
        t0 = time.perf_counter()
        step()
        optimizer.step()
        return time.perf_counter() - t0

    # dropout off for the gradient comparison of the long document (the same gradient, not the same masks)
    if "window" in config:
        for m in model.modules():
            if isinstance(m, torch.nn.Dropout):
                m.p = 0.0
    # the resident baseline: weights, zero gradients and the optimizer state (a step on zero gradients makes
    # it), but no activation has ever been allocated, so the allocator holds none to hide a peak
    for p in model.parameters():
        p.grad = torch.zeros_like(p)
    optimizer.step()
    before = rss_kb()
    reset_peak()
    times = [full_step() for _ in range(steps)]
    peak = (rss_kb("VmHWM") - before) / 1024
    result = {**config, **extra, "peak_above_resident_mb": round(peak, 1),
              "resident_before_steps_mb": round(before / 1024, 1),
              "step_seconds": round(statistics.median(times[1:] or times), 3),
              "optimizer_state_mb": round(sum(t.numel() * t.element_size() for s in optimizer.state.values()
                                              for t in s.values() if torch.is_tensor(t)) / 2**20, 1),
              "parameters_mb": round(sum(p.numel() * 4 for p in model.parameters()) / 2**20, 1)}
    if "window" in config:  # the gradient of one fresh step, compared with the one-graph gradient
        optimizer.zero_grad(set_to_none=True)
        step()
        grads = torch.cat([p.grad.flatten() for p in model.parameters() if p.grad is not None])
        if not config["micro_batch"]:
            GRADS.parent.mkdir(parents=True, exist_ok=True)
            torch.save(grads, GRADS)
        elif GRADS.exists():
            ref = torch.load(GRADS)
            result["grad_rel_diff_vs_one_graph"] = float((grads - ref).norm() / ref.norm())
    return result


def label(c: dict[str, Any]) -> str:
    if "window" in c:
        how = "one graph" if not c["micro_batch"] else f"gradient cache, {c['micro_batch']} window(s) at a time"
        return how + (" + checkpointing" if c.get("checkpointing") else "")
    if c["part"] == "accumulation":
        return f"{c['batch'] * c['accumulate']} examples as {c['accumulate']} x {c['batch']}"
    return f"batch {c['batch']} x {c['max_length']} tokens" + (" + checkpointing" if c.get("checkpointing") else "")


def render(report: dict[str, Any]) -> str:
    lines = ["# Memory: what each technique costs and saves", "",
             generated_by("benchmarks/memory.py", report["machine"]), "",
             f"Model: the bundled all-MiniLM-L6-v2 with a mean-pooled 20-class head ({report['parameters_mb']} MB of "
             f"fp32 weights), AdamW. Peak = the high-water mark of resident memory over {report['steps']} optimizer "
             f"steps (forward, backward, step) above the resident size before them, when weights, gradients and "
             f"optimizer state exist but no activation was ever allocated; step time = the median of the steps "
             f"after the first. One fresh process per row.", "",
             "| part | configuration | peak above resident, MB | step s | note |", "|---|---|---:|---:|---|"]
    for r in report["results"]:
        note = []
        if "grad_rel_diff_vs_one_graph" in r:
            note.append(f"gradient vs one graph: rel. diff {r['grad_rel_diff_vs_one_graph']:.1e}")
        if "windows" in r:
            note.append(f"{r['sub_tokens']} sub-tokens, {r['windows']} windows")
        lines.append(f"| {r['part']} | {label(r)} | {r['peak_above_resident_mb']:.0f} | {r['step_seconds']:.2f} | "
                     f"{'; '.join(note)} |")
    lines += ["", f"AdamW state: {report['optimizer_state_mb']} MB (two fp32 moments per weight). On this CPU-only "
              "machine it already lives in host memory, so CPU offload of the optimizer (DeepSpeed ZeRO-Offload, "
              "FSDP CPU offload) has nothing to move; on an accelerator it would free this much device memory per "
              "replica, at the price of a host-device copy of the gradients and weights each step."]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--steps", type=int, default=3)
    parser.add_argument("--encoder", default="default", help="'tiny' for a smoke run")
    parser.add_argument("--out-dir", default="reports")
    parser.add_argument("--parts", nargs="+", default=sorted({c["part"] for c in CONFIGS}),
                        help="which parts to measure (checkpointing, accumulation, 'long document')")
    parser.add_argument("--doc-tokens", type=int, default=DOC_TOKENS, help="length of the long document")
    parser.add_argument("--in-process", action="store_true",
                        help="measure every row in this process (quick smoke runs; the peaks are not isolated)")
    parser.add_argument("--one", help=argparse.SUPPRESS)  # a JSON config: measure it here and print the result
    args = parser.parse_args(argv)
    if args.one:
        print(json.dumps(measure(json.loads(args.one), args.steps, args.encoder, args.doc_tokens)))
        return
    root = str(Path(__file__).resolve().parent.parent)  # the project, importable from any working directory
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [root, os.environ.get("PYTHONPATH")]))}
    results = []
    for config in (c for c in CONFIGS if c["part"] in args.parts):
        if args.in_process:
            results.append(measure(config, args.steps, args.encoder, args.doc_tokens))
            continue
        out = subprocess.run([sys.executable, "-m", "benchmarks.memory", "--one", json.dumps(config),
                              "--steps", str(args.steps), "--encoder", args.encoder,
                              "--doc-tokens", str(args.doc_tokens)], env=env,
                             capture_output=True, text=True, check=False)
        if out.returncode:
            raise RuntimeError(f"benchmarks.memory --one {config}: {out.stderr[-2000:]}")
        results.append(json.loads(out.stdout.strip().splitlines()[-1]))
        print(label(results[-1]), results[-1]["peak_above_resident_mb"], results[-1]["step_seconds"], flush=True)
    report = {"encoder": "all-MiniLM-L6-v2 (default)" if args.encoder == "default" else args.encoder,
              "steps": args.steps, "machine": machine(), "parameters_mb": results[0]["parameters_mb"],
              "optimizer_state_mb": results[0]["optimizer_state_mb"], "results": results}
    write_json(Path(args.out_dir) / "memory.json", report)
    write_report_md(Path(args.out_dir) / "memory.md", render(report))


if __name__ == "__main__":
    main()
