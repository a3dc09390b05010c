"""Score a trained model on labelled data without Lightning: `make eval RUN=runs/X DATA=...`."""

from __future__ import annotations

import argparse
import dataclasses
from collections import Counter
from pathlib import Path
from typing import Any

from datasets import Dataset

from pipelines.config import DataConfig
from pipelines.data.batching import Collator
from pipelines.data.splits import read_file
from pipelines.inference import reports
from pipelines.models.outputs import infer
from pipelines.provenance import code_version, portable_path


def predict_records(predictor: Any, ds: Dataset, data: DataConfig | None = None,
                    decode: str | None = None) -> list[dict[str, Any]]:
    """The task's per-window records (predictions, gold ids) for labelled `ds`, encoded with `data` (default:
    the data config the model was trained with); `decode` overrides the run's decoding."""
    task, model, tok = predictor.task, predictor.model, predictor.tokenizer
    label2id = {v: int(k) for k, v in model.config.id2label.items()}
    feats = task.encode(ds, tok, label2id, data or predictor.data, predictor.featurizers)
    device = next(model.parameters()).device
    dec = task.decoder(model, decode)
    records = [r for batch, out in infer(model, feats, Collator(tok.pad_token_id), predictor.batch_size, device)
               for r in task.gather(batch, out, dec)]
    return task.join_windows(records, dec)


def evaluate(predictor: Any, ds: Dataset, data: DataConfig | None = None) -> dict[str, Any]:
    """Scores of `predictor` (a pipelines.inference.predict.Predictor) on `ds` (encoded as in training unless
    `data` says otherwise); gold labels the model never saw are kept (they count as errors) and counted in
    `unseen_gold_labels`."""
    task, model = predictor.task, predictor.model
    id2label = {int(k): v for k, v in model.config.id2label.items()}
    label2id = {v: k for k, v in id2label.items()}
    records = predict_records(predictor, ds, data)
    gold = ds[task.gold] if task.gold in ds.column_names else None  # a task may score without it (toxicity)
    scores = task.score(records, id2label, gold=gold)
    flat = [t for g in gold or [] for t in (g if isinstance(g, list) else [g])]
    unseen = Counter(t for t in flat if isinstance(t, str) and t not in label2id)  # labels, not offsets
    scores["unseen_gold_labels"] = dict(unseen)
    scores["examples"] = len(ds)
    return scores


def labelled_splits(run: str | Path, data: str | Path, predictor: Any) -> tuple[DataConfig, dict[str, Dataset]]:
    """`data` read with the run's own data settings: a file (or a folder of seq.in / seq.out) whole as "test"
    (or its own splits), a folder of splits as split (with the dev set the run held out, if it is its data)."""
    from pipelines.inference.predict import run_splits

    settings = dataclasses.replace(predictor.data, path=str(data), train="", dev="", test="")
    path = Path(data)
    if path.is_file() or (path / "seq.in").exists():  # one file or folder: score all of it
        read = read_file(path, settings)
        return settings, read if isinstance(read, dict) else {"test": read}
    return settings, run_splits(run, settings)


def evaluate_run(run: str | Path, data: str | Path, splits: list[str] | None = None,
                 predictor: Any = None) -> dict[str, dict[str, Any]]:
    """Scores of a run folder on labelled `data` (see labelled_splits), per split: validation and test, or the
    ones named in `splits`. `predictor`: the run's, when it is loaded already."""
    from pipelines.inference.predict import Predictor

    predictor = predictor or Predictor.load(run)
    return score_splits(predictor, *labelled_splits(run, data, predictor), splits)


def score_splits(predictor: Any, settings: DataConfig, found: dict[str, Dataset],
                 names: list[str] | None = None) -> dict[str, dict[str, Any]]:
    """Scores per split of `found`: `names`, or validation and test (train when there is neither)."""
    names = names or [s for s in ("validation", "test") if s in found] or ["train"]
    return {name: evaluate(predictor, found[name], settings) for name in names}


def main(argv: list[str] | None = None) -> int:
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()  # no "Loading weights" bar in CLI output
    from pipelines.inference.predict import Predictor

    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("run", help="run dir")
    parser.add_argument("data", help="dir, file or hub:name")
    parser.add_argument("--split", action="append", help="splits to score (default: validation and test)")
    parser.add_argument("--name", default="eval", help="output files: <run>/<name>.json and .md")
    parser.add_argument("--from-text", action="store_true",
                        help="token tasks: also score the served path, Predictor.predict on raw text made from each "
                             "sentence's tokens, against gold character spans (pipelines.inference.served)")
    args = parser.parse_args(argv)
    predictor = Predictor.load(args.run)
    settings, splits = labelled_splits(args.run, args.data, predictor)  # read once, for both passes
    results = score_splits(predictor, settings, splits, args.split)
    if args.from_text:
        from pipelines.inference.served import served_scores

        for name in list(results):
            if "tokens" not in splits[name].column_names or "tags" not in splits[name].column_names:
                raise SystemExit(f"--from-text: split {name!r} has no tokens and tags to make raw text from")
            results[f"{name} (raw text)"] = served_scores(predictor, splits[name])
    reports.write(Path(args.run), args.name, f"{predictor.task_name} on {args.data}", results,
                  extra={"data": portable_path(args.data), **code_version()})
    for name, scores in results.items():
        head = reports.headline(scores)
        print(f"{name}: {head}  (unseen gold labels: {scores.get('unseen_gold_labels') or 'none'})")
    print(f"wrote {Path(args.run) / args.name}.md")
    return 0


if __name__ == "__main__":
    from pipelines.cli import run_cli

    run_cli(main)
