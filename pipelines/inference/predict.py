"""Production inference without Lightning: `Predictor.load(run_dir).predict(texts)`.

CLI (`make predict RUN=runs/X`): one text per stdin line, one JSON object per output line; an empty
line yields {"line": N, "error": "empty line"} and is counted on stderr.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Any

import torch

import tasks
from pipelines.io import atomic_write_text
from pipelines.methods.offtopic import OffTopic
from pipelines.models.encoders import load_saved_tokenizer

META = "pipeline.json"


def model_dir(run_or_model_dir: str | Path) -> Path:
    """A run dir's `model/` folder, or the folder itself when it holds the model."""
    path = Path(run_or_model_dir)
    if (path / "model" / META).exists():
        return path / "model"
    if (path / META).exists():
        return path
    raise FileNotFoundError(f"{path}: no trained model here (expected {path}/model/{META}); "
                            "a run writes it when training ends")


def export(model: torch.nn.Module, tokenizer: Any, out_dir: str | Path, meta: dict[str, Any]) -> Path:
    """Save model (safetensors, id2label in config), tokenizer and pipeline.json (`meta`: task, max_length,
    decode); the folder appears whole."""
    out_dir = Path(out_dir)
    tmp = Path(tempfile.mkdtemp(dir=out_dir.parent, prefix=f".{out_dir.name}."))
    model.save_pretrained(tmp)
    tokenizer.save_pretrained(tmp)
    atomic_write_text(tmp / META, json.dumps(meta, indent=2) + "\n")
    if out_dir.exists():
        old = out_dir.with_name(f".{out_dir.name}.old")
        shutil.rmtree(old, ignore_errors=True)
        os.replace(out_dir, old)
        os.replace(tmp, out_dir)
        shutil.rmtree(old, ignore_errors=True)
    else:
        os.replace(tmp, out_dir)
    return out_dir


class Predictor:
    """A trained model, its tokenizer and its task's decoding, for batched inference."""

    def __init__(self, task: str, model: torch.nn.Module, tokenizer: Any, max_length: int = 128,
                 batch_size: int = 64, decode: str = "argmax") -> None:
        self.task_name, self.task = task, tasks.get(task)
        self.model, self.tokenizer = model.eval(), tokenizer
        self.max_length, self.batch_size, self.decode = max_length, batch_size, decode
        self.offtopic: OffTopic | None = None  # an off-topic detector saved with a classifier

    @classmethod
    def load(cls, run_dir: str | Path, device: str = "cpu", batch_size: int = 64) -> Predictor:
        path = model_dir(run_dir)
        meta = json.loads((path / META).read_text(encoding="utf-8"))
        task = tasks.get(meta["task"])
        model = task.load_model(path).to(device)
        tokenizer = load_saved_tokenizer(path)
        predictor = cls(meta["task"], model, tokenizer, meta.get("max_length", 128), batch_size,
                        meta.get("decode", "argmax"))
        predictor.offtopic = OffTopic.load(path)
        return predictor

    def predict(self, texts: str | list[str]) -> list[dict[str, Any]]:
        """Predictions for each text (a single string is taken as a list of one).

        Raises:
            ValueError: naming the positions of empty or whitespace-only texts.
        """
        texts = [texts] if isinstance(texts, str) else list(texts)
        empty = [i for i, t in enumerate(texts) if not isinstance(t, str) or not t.strip()]
        if empty:
            raise ValueError(f"texts at positions {empty[:10]} are empty or not strings; "
                             "remove them or check the input")
        extra = {"offtopic": self.offtopic} if self.offtopic is not None else {}
        return self.task.predict(self.model, self.tokenizer, texts, self.batch_size, self.max_length, self.decode,
                                 **extra)


def main(argv: list[str] | None = None) -> int:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()  # no "Loading weights" bar in CLI output
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("run", help="run dir (or its model/ folder)")
    parser.add_argument("--batch-size", type=int, default=64)
    args = parser.parse_args(argv)
    predictor = Predictor.load(args.run, batch_size=args.batch_size)
    lines = [line.rstrip("\n") for line in sys.stdin]
    keep = [i for i, t in enumerate(lines) if t.strip()]
    results = dict(zip(keep, predictor.predict([lines[i] for i in keep]))) if keep else {}
    for i, text in enumerate(lines):
        out = {"line": i + 1, "text": text, **results[i]} if i in results else {"line": i + 1, "error": "empty line"}
        print(json.dumps(out, ensure_ascii=False))
    if len(keep) < len(lines):
        print(f"skipped {len(lines) - len(keep)} empty line(s)", file=sys.stderr)
    return 0


if __name__ == "__main__":
    from pipelines.cli import run_cli

    run_cli(main)
