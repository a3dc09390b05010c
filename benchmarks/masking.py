"""What the attention mask is for: the same model and texts, batched with padding, with and without the mask.

The CLINC150 intent model of benchmarks.distill (the teacher, seed 1; reused when it exists, else trained) reads
the 4,500 in-scope test queries: each alone (no padding at all: the reference), in batches of `--batch` in input
order padded to the batch's longest text with the mask (what any batched inference does), the same batches with
the mask replaced by ones (padding attended to and pooled: a forgotten mask), and through `Predictor.predict`
(length-sorted batches, masked). Reports accuracy, the share of predictions that differ from the reference, the
largest change of a class probability, and the share of padding in the batches.

    .venv/bin/python -m benchmarks.masking        # -> reports/masking.{json,md}
"""

import argparse
import json
from pathlib import Path
from typing import Any

import numpy as np
import torch

from benchmarks.common import SHARED, generated_by, machine, write_report_md
from pipelines.cli import parse_args
from pipelines.io import write_json


def probabilities(model: Any, rows: list[dict], pad_id: int, batch: int, mask: bool) -> tuple[np.ndarray, float]:
    """(N, K) class probabilities of the encoded rows in input order, and the share of padded positions."""
    from pipelines.data.batching import Collator
    from pipelines.models.outputs import model_inputs

    collate, out, padded, total = Collator(pad_id), [], 0, 0
    with torch.inference_mode():
        for s in range(0, len(rows), batch):
            b = collate(rows[s:s + batch])
            padded += int((b["attention_mask"] == 0).sum())
            total += b["attention_mask"].numel()
            if not mask:
                b["attention_mask"] = torch.ones_like(b["attention_mask"])
            out.append(model(**model_inputs(model, b)).logits.float().softmax(-1).numpy())
    return np.concatenate(out), padded / total


def main(argv: list[str] | None = None) -> None:
    from benchmarks.distill import teacher
    from pipelines.data.columns import Columns
    from pipelines.families.classify import encode
    from pipelines.inference.predict import Predictor

    parser = argparse.ArgumentParser()
    parser.add_argument("--data", default=str(SHARED / "clinc150" / "data_full.json"))
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--out", default="reports/masking")
    parser.add_argument("overrides", nargs="*", help="for the teacher when it is trained here (smoke runs)")
    args = parse_args(parser, argv)
    torch.manual_seed(0)
    run = teacher("intent", args.data, args.overrides)
    predictor = Predictor.load(run)
    model, tok = predictor.model.eval(), predictor.tokenizer
    test = json.loads(Path(args.data).read_text())["test"]
    texts, gold = [t for t, _ in test], [g for _, g in test]
    labels = [model.config.id2label[i] for i in range(model.config.num_labels)]
    rows = encode(Columns({"text": texts}), tok, {}, predictor.data).rows
    alone, _ = probabilities(model, rows, tok.pad_token_id, 1, True)
    ref = alone.argmax(1)

    def accuracy(pred: np.ndarray) -> float:
        return round(100 * float(np.mean([labels[i] == g for i, g in zip(pred, gold, strict=True)])), 2)

    def scores(pred: np.ndarray, probs: np.ndarray | None, pad_share: float | None) -> dict[str, Any]:
        return {"accuracy": accuracy(pred), "changed_vs_alone": round(100 * float(np.mean(pred != ref)), 2),
                "max_probability_change": None if probs is None else round(float(np.abs(probs - alone).max()), 4),
                "padding_share": None if pad_share is None else round(pad_share, 4)}

    result: dict[str, Any] = {"run": str(run), "machine": machine(), "batch": args.batch, "texts": len(texts),
                              "each alone": {"accuracy": accuracy(ref)}}
    for name, mask in (("batched, masked", True), ("batched, no mask", False)):
        probs, pad_share = probabilities(model, rows, tok.pad_token_id, args.batch, mask)
        result[name] = scores(probs.argmax(1), probs, pad_share)
    served = np.array([labels.index(p["label"]) for p in predictor.predict(texts)])  # the served path: its labels
    result["Predictor.predict"] = scores(served, None, None)
    write_json(f"{args.out}.json", result)
    write_report_md(f"{args.out}.md", render(result))


def render(r: dict[str, Any]) -> str:
    lines = ["# What the attention mask is for", "", generated_by("benchmarks/masking.py", r["machine"]), "",
             f"The CLINC150 intent model `{r['run']}` on the {r['texts']:,} in-scope test queries; batches of "
             f"{r['batch']} in input order unless stated.", "",
             "| how | accuracy | predictions changed vs each alone (%) | largest probability change | padding share |",
             "|---|---:|---:|---:|---:|", f"| each alone | {r['each alone']['accuracy']:.2f} | 0 | 0 | 0 |"]
    for name in ("batched, masked", "batched, no mask", "Predictor.predict"):
        x = r[name]
        lines.append(f"| {name} | {x['accuracy']:.2f} | {x['changed_vs_alone']:.2f} | "
                     f"{'' if x['max_probability_change'] is None else format(x['max_probability_change'], '.4f')} | "
                     f"{'' if x['padding_share'] is None else format(100 * x['padding_share'], '.1f') + '%'} |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
