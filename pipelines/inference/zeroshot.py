"""Zero-shot intents: classify messages by their similarity to the labels' own text, with no training examples.

    python -m pipelines.inference.zeroshot --data my_intents/ --labels labels.yaml [--out predictions.jsonl]
    make zero-shot DATA=my_intents/ LABELS=labels.yaml

`--labels`: YAML, label -> description, or label -> {phrase, description} (pipelines.methods.fewshot.read_labels);
without it the label names found in the data are read as words ("book_flight" -> "book flight"). The messages of
the train split are used without their labels: their mean embedding centres both sides, `--adapt` self-trains
the label vectors on them, and the off-topic threshold keeps `--offtopic-recall` of them in scope. Predictions
(label, similarity, off_topic) go to `--out` for the test split (or the only split); with gold labels the
accuracy is printed. Measured on CLINC150 and SNIPS: reports/fewshot.md.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import numpy as np

from pipelines.config import DataConfig
from pipelines.data.splits import load_splits
from pipelines.io import atomic_write_text
from pipelines.methods import fewshot
from pipelines.methods.ood import threshold_at_recall


def zero_shot(texts: list[str], unlabelled: list[str], labels: list[str], written: dict[str, dict[str, str]],
              how: str = "phrase+description", adapt: int = 2, recall: float = 0.95, encoder: str = "default",
              batch_size: int = 64) -> list[dict[str, Any]]:
    """Per text: {"label", "similarity", "off_topic"}; `unlabelled` in-domain messages centre, adapt and set the
    threshold (1 - similarity above the `recall` quantile of theirs is off topic)."""
    from pipelines.models.pooling import FrozenEncoder

    enc = FrozenEncoder(encoder)
    pool = enc.sentences(unlabelled, batch_size)
    model = fewshot.ZeroShot.build(lambda t: enc.sentences(t, batch_size), fewshot.label_texts(labels, how, written),
                                   pool)
    for _ in range(adapt):
        model = model.adapt(pool)
    threshold = threshold_at_recall(1.0 - model.predict(pool)[1], recall)
    ids, best = model.predict(enc.sentences(texts, batch_size))
    return [{"label": labels[i], "similarity": round(float(s), 4), "off_topic": bool(1.0 - s > threshold)}
            for i, s in zip(ids, best, strict=True)]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", required=True, help="intent data (any format the intent task reads)")
    parser.add_argument("--labels", default="", help="YAML labels file (default: the data's label names)")
    parser.add_argument("--texts", default="phrase+description",
                        help="which label texts: name|words|phrase|description|phrase+description|all")
    parser.add_argument("--adapt", type=int, default=2,
                        help="self-training steps on the unlabelled messages (2: best on dev on CLINC150 and SNIPS)")
    parser.add_argument("--offtopic-recall", type=float, default=0.95)
    parser.add_argument("--encoder", default="default")
    parser.add_argument("--out", default="", help="JSONL predictions (default: print a summary only)")
    args = parser.parse_args(argv)
    splits = load_splits(DataConfig(path=args.data), args.data)
    written = fewshot.read_labels(args.labels) if args.labels else {}
    labels = list(written) or sorted(set(splits["train"]["label"]))
    target = splits.get("test", splits["train"])
    preds = zero_shot(list(target["text"]), list(splits["train"]["text"]), labels, written, args.texts,
                      args.adapt, args.offtopic_recall, args.encoder)
    if "label" in target.column_names:
        gold = list(target["label"])
        known = [i for i, g in enumerate(gold) if g in labels]
        acc = np.mean([preds[i]["label"] == gold[i] for i in known]) if known else float("nan")
        print(f"accuracy {100 * acc:.2f} on {len(known)} messages with a known label "
              f"({len(gold) - len(known)} with another label left out)")
    print(f"off topic: {sum(p['off_topic'] for p in preds)} of {len(preds)}")
    if args.out:
        rows = [{"text": t, **p} for t, p in zip(target["text"], preds, strict=True)]
        atomic_write_text(Path(args.out), "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows))
        print(f"predictions: {args.out}")
    return 0


if __name__ == "__main__":
    from pipelines.cli import run_cli

    run_cli(main)
