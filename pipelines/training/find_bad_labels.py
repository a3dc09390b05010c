"""Rank the training examples whose labels look wrong: `make find-bad-labels TASK=intent DATA=...`.

k-fold cross-training gives every training example a prediction from a model that never saw it
(out-of-fold probabilities); pipelines.methods.badlabels turns them into scores. Classification: one row per
example. Tagging: one row per sentence, scored by its most suspect gold entity (mean of its least confident
word's margin and its type margin: right boundaries, wrong type) or word outside the entities (a missed
entity), with the model's suggested entities and types.
Writes suspects.jsonl, suspects.csv, summary.md and source.json (what `nlp-pipelines review` reads) in the
output folder.
Cheap modes: `--cheap` trains one epoch per fold instead of the config's epochs; `--frozen` fine-tunes
nothing: the pretrained encoder's features (mean-pooled sentence vectors, or first-sub-token word vectors)
feed a k-fold logistic regression (scikit-learn), minutes instead of hours on a CPU.
"""

from __future__ import annotations

import argparse
import csv
import dataclasses
import io
import json
import time
from pathlib import Path
from typing import Any

import numpy as np

from pipelines.cli import parse_args
from pipelines.config import RunConfig, load_config
from pipelines.data.tags import flat_labels, spans
from pipelines.io import atomic_write_text, write_json
from pipelines.methods import badlabels
from pipelines.provenance import portable_path


def out_of_fold(cfg: RunConfig, splits: dict[str, Any], k: int, work: Path, labels: list[str]) -> list[Any]:
    """Per training example: probabilities over `labels` (classification: (K,); tagging: (W, K))."""
    from pipelines.training.train import run

    train = splits["train"]
    order = np.random.default_rng(cfg.train.seed).permutation(len(train))
    folds = np.array_split(order, k)
    out: list[Any] = [None] * len(train)
    for f, held in enumerate(folds):
        keep = np.setdiff1d(order, held)
        fold_dir = work / f"fold{f}"
        if not finished_with(fold_dir, cfg):
            run(cfg, fresh_dir(fold_dir), splits={"train": train.select(keep), "validation": splits["validation"]})
        for i, dist in zip(held, distributions(fold_dir, train.select(held), cfg, labels), strict=True):
            out[i] = dist
    return out


def finished_with(run_dir: Path, cfg: RunConfig) -> bool:
    """True when `run_dir` holds a finished run of the same config (where runs go and the progress bar aside):
    a fold folder left by another config is never reused."""
    from pipelines.config import ConfigError, same_run

    if not ((run_dir / "metrics.json").exists() and (run_dir / "config.yaml").exists()):
        return False
    try:
        return same_run(load_config(run_dir / "config.yaml"), cfg)
    except ConfigError:  # written by another version of the code: not this config
        return False


def fresh_dir(run_dir: Path) -> Path:
    """`run_dir`, after moving an unfinished or other-config run there aside (`<name>.old-<time>`, not deleted)."""
    if run_dir.exists():
        aside = run_dir.with_name(f"{run_dir.name}.old-{time.strftime('%Y%m%d-%H%M%S')}")
        run_dir.rename(aside)
        print(f"{run_dir} holds another or an unfinished run: moved to {aside}", flush=True)
    return run_dir


def distributions(run_dir: Path, ds: Any, cfg: RunConfig, labels: list[str]) -> list[np.ndarray]:
    """A trained run's probabilities for `ds`, its classes placed in the columns of `labels`."""
    from pipelines.inference.predict import Predictor

    p = Predictor.load(run_dir)
    cols = [labels.index(p.model.config.id2label[i]) for i in range(p.model.config.num_labels)]
    out = []
    for dist in p.task.distributions(p.model, p.tokenizer, ds, p.data, featurizers=p.featurizers):
        full = np.zeros(dist.shape[:-1] + (len(labels),), dtype=np.float32)
        full[..., cols] = dist
        out.append(full)
    return out


def trained_predict(cfg: RunConfig, splits: dict[str, Any], target: Any, run_dir: Path,
                    labels: list[str]) -> list[Any]:
    """Probabilities over `labels` for `target` from one model trained on the whole train split."""
    from pipelines.training.train import run

    if not finished_with(run_dir, cfg):
        run(cfg, fresh_dir(run_dir), splits={"train": splits["train"], "validation": splits["validation"]})
    return distributions(run_dir, target, cfg, labels)


def frozen_features(encoder: Any, ds: Any, tagging: bool, batch_size: int = 64) -> list[np.ndarray]:
    """Per example of `ds`, from a pipelines.models.pooling.FrozenEncoder: its sentence vector (H,), or (tagging)
    its word vectors (W, H)."""
    if tagging:
        return encoder.words(ds["tokens"], batch_size)
    return list(encoder.sentences(ds["text"], batch_size))


def _stack(feats: list[np.ndarray], given: list[Any], labels: list[str], ids: Any,
           tagging: bool) -> tuple[np.ndarray, np.ndarray]:
    """Rows (sentences, or the words of the sentences) `ids` as one matrix and their label ids."""
    ids = list(ids)
    if tagging:
        rows = [feats[i] for i in ids if len(feats[i])]
        x = np.concatenate(rows) if rows else np.zeros((0, feats[0].shape[-1] if feats else 1))
        return x, np.array([labels.index(t) for i in ids for t in given[i]], dtype=int)
    return np.stack([feats[i] for i in ids]), np.array([labels.index(given[i]) for i in ids], dtype=int)


def _split_rows(probs: np.ndarray, given: list[Any], ids: Any, tagging: bool) -> list[np.ndarray]:
    """Undo `_stack`: per example of `ids`, its (K,) or (W, K) rows of `probs`."""
    out, pos = [], 0
    for i in ids:
        n = len(given[i]) if tagging else 1
        out.append(probs[pos:pos + n] if tagging else probs[pos])
        pos += n
    return out


def logistic_probs(x: np.ndarray, y: np.ndarray, x_new: np.ndarray, n_labels: int) -> np.ndarray:
    from sklearn.linear_model import LogisticRegression
    from sklearn.preprocessing import StandardScaler

    probs = np.zeros((len(x_new), n_labels), dtype=np.float32)
    if len(x_new):
        scaler = StandardScaler().fit(x)
        clf = LogisticRegression(max_iter=300).fit(scaler.transform(x), y)
        probs[:, clf.classes_] = clf.predict_proba(scaler.transform(x_new))
    return probs


def frozen_out_of_fold(feats: list[np.ndarray], given: list[Any], labels: list[str], k: int,
                       seed: int) -> list[np.ndarray]:
    """Out-of-fold probabilities over `labels` from a logistic regression on frozen features; folds split
    examples (sentences, for tagging). `given`: per example a label, or a list of tags."""
    tagging = isinstance(given[0], (list, tuple))
    order = np.random.default_rng(seed).permutation(len(feats))
    out: list[Any] = [None] * len(feats)
    for held in np.array_split(order, k):
        x, y = _stack(feats, given, labels, np.setdiff1d(order, held), tagging)
        hx, _ = _stack(feats, given, labels, held, tagging)
        for i, rows in zip(held, _split_rows(logistic_probs(x, y, hx, len(labels)), given, held, tagging), strict=True):
            out[i] = rows
    return out


def frozen_predict(feats: list[np.ndarray], given: list[Any], labels: list[str], new_feats: list[np.ndarray],
                   new_given: list[Any]) -> list[np.ndarray]:
    """Probabilities for other examples (e.g. the test split) from a logistic regression on all of `feats`."""
    tagging = isinstance(given[0], (list, tuple))
    x, y = _stack(feats, given, labels, range(len(feats)), tagging)
    hx, _ = _stack(new_feats, new_given, labels, range(len(new_feats)), tagging)
    return _split_rows(logistic_probs(x, y, hx, len(labels)), new_given, range(len(new_feats)), tagging)


def classification_suspects(train: Any, dists: list[np.ndarray], labels: list[str]) -> list[dict[str, Any]]:
    probs = np.stack(dists)
    given = np.array([labels.index(x) for x in train["label"]])
    conf, margin = badlabels.self_confidence(probs, given), badlabels.normalized_margin(probs, given)
    flagged = badlabels.prune_by_noise_rate(probs, given)
    rows = [{"id": int(train["id"][i]) if "id" in train.column_names else i, "text": train["text"][i],
             "given": labels[given[i]], "suggested": labels[int(probs[i].argmax())],
             "self_confidence": round(float(conf[i]), 4), "normalized_margin": round(float(margin[i]), 4),
             "score": round(float(margin[i]), 4), "confident_learning_flag": bool(flagged[i])}
            for i in range(len(given))]
    return sorted(rows, key=lambda r: r["score"])


def _entities(words: list[str], tags: list[str]) -> list[dict[str, Any]]:
    return [{"type": kind, "text": " ".join(words[s:e]), "start": s, "end": e} for kind, s, e in spans(tags)]


def tagging_suspects(train: Any, dists: list[np.ndarray], labels: list[str]) -> list[dict[str, Any]]:
    """One row per sentence listing given and suggested entities. Each given entity gets its least confident
    word's margin (`word_margin`), its type margin (`type_margin`, the given type against the best other
    type from pipelines.methods.badlabels.span_type_probs; `suggested_type` when another type wins) and their mean
    (`score`, pipelines.methods.badlabels.entity_score). The sentence's `score`, the ranking, is the lowest of its
    entities' scores and the margins of its words outside them (a low one there: a missed entity)."""
    flat = np.concatenate([d for d in dists if len(d)])
    given_tags = [list(t) for t in train["tags"]]
    given = np.array([labels.index(t) for tags in given_tags for t in tags])
    flagged = badlabels.prune_by_noise_rate(flat, given)
    margins = badlabels.normalized_margin(flat, given)
    kinds = sorted({t[2:] for t in labels if t[:2] in ("B-", "I-")})
    rows, pos = [], 0
    for i, (words, tags, dist) in enumerate(zip(train["tokens"], given_tags, dists, strict=True)):
        n = len(words)
        m, f = margins[pos:pos + n], flagged[pos:pos + n]
        pos += n
        suggested = [labels[j] for j in dist.argmax(-1)] if n else []
        given_ents = _entities(words, tags)
        outside = np.ones(n, dtype=bool)
        for e in given_ents:
            outside[e["start"]:e["end"]] = False
            e["word_margin"] = round(float(m[e["start"]:e["end"]].min()), 4)
            p = badlabels.span_type_probs(dist[e["start"]:e["end"]], labels, kinds)
            k = kinds.index(e["type"])
            type_margin = badlabels.normalized_margin(p[None], np.array([k]))[0] if len(kinds) > 1 else 1.0
            e["type_margin"] = round(float(type_margin), 4)
            e["score"] = round(float(badlabels.entity_score(e["word_margin"], e["type_margin"])), 4)
            if int(p.argmax()) != k:
                e["suggested_type"] = kinds[int(p.argmax())]
        word_margin = round(float(m.min()), 4) if n else 1.0
        rows.append({"id": i, "text": " ".join(words),
                     "score": min([*(e["score"] for e in given_ents), *np.round(m[outside], 4).tolist(), 1.0]),
                     "normalized_margin": word_margin, "worst_word": words[int(m.argmin())] if n else "",
                     "confident_learning_flag": bool(f.any()), "given": given_ents,
                     "suggested": _entities(words, suggested)})
    return sorted(rows, key=lambda r: r["score"])


def write(out_dir: Path, rows: list[dict[str, Any]], title: str, top: int = 50) -> None:
    atomic_write_text(out_dir / "suspects.jsonl", "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows))
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=list(rows[0]))
    writer.writeheader()
    writer.writerows({k: json.dumps(v) if isinstance(v, list) else v for k, v in r.items()} for r in rows)
    atomic_write_text(out_dir / "suspects.csv", buf.getvalue())
    flagged = sum(r["confident_learning_flag"] for r in rows)
    what = ("normalised margin" if isinstance(rows[0]["given"], str) else
            "the lowest of its entities' scores (mean of word and type margin) and its other words' margins")
    lines = [f"# {title}", "", f"{len(rows)} examples ranked by {what} (lowest first); confident "
             f"learning flags {flagged}.", "", f"## Top {min(top, len(rows))}", ""]
    for r in rows[:top]:
        given = r["given"] if isinstance(r["given"], str) else ", ".join(f"{e['text']}/{e['type']}" for e in r["given"])
        sugg = r["suggested"] if isinstance(r["suggested"], str) else ", ".join(
            f"{e['text']}/{e['type']}" for e in r["suggested"])
        lines.append(f"- `{r['score']:+.3f}` {r['text'][:160]!r}: given **{given or '-'}**, "
                     f"suggested **{sugg or '-'}**")
    atomic_write_text(out_dir / "summary.md", "\n".join(lines) + "\n")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--task", required=True)
    parser.add_argument("--data", default="")
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--cheap", action="store_true", help="one epoch per fold")
    parser.add_argument("--frozen", action="store_true",
                        help="no fine-tuning: logistic regression on the frozen encoder's features")
    parser.add_argument("--split", default="train",
                        help="split to check: train (k-fold, out-of-fold) or another (a model of train scores it)")
    parser.add_argument("--model", default="", help="with --split other than train: a finished run (trained on "
                        "the train split) to score it with, instead of training one")
    parser.add_argument("--out", default="", help="output folder (default runs/badlabels-<task>-<time>)")
    parser.add_argument("overrides", nargs="*")
    args = parse_args(parser, argv)
    from pipelines.data.splits import load_splits
    from pipelines.registry import get_task, task_class

    extra = ["train.epochs=1"] if args.cheap else []
    # suspects are read from per-word probabilities: a softmax head's, unless the user names another head
    head = ["model.head=softmax"] if ("tags" in task_class(args.task).columns
                                      and not any(o.startswith("model.head=") for o in args.overrides)) else []
    # the fold models only score the held-out examples: no off-topic detector fitted after each
    fields = {f.name for f in dataclasses.fields(task_class(args.task).Options)}
    quiet = ["model.offtopic="] if "offtopic" in fields and not any(o.startswith("model.offtopic=")
                                                                    for o in args.overrides) else []
    data = str(Path(args.data).resolve()) if args.data and Path(args.data).exists() else args.data
    settings = [*head, *quiet, *args.overrides, *extra, *([f"data.path={data}"] if data else [])]
    cfg = load_config(None, settings, task=args.task)
    task = get_task(cfg.task, cfg.model)
    splits = load_splits(cfg.data, task.sample, seed=cfg.train.seed)
    out = Path(args.out or f"{cfg.train.out_dir}/badlabels-{cfg.task}-{time.strftime('%Y%m%d-%H%M%S')}")
    tagging = "tags" in task.columns
    column = "tags" if tagging else "label"
    if args.split not in splits:
        raise ValueError(f"--split {args.split}: the data has splits {sorted(splits)}")
    target = splits[args.split]
    labels = flat_labels(task.label_list(splits))
    # labels only the checked split uses get probability 0: such examples rank first, as they should
    seen = {t for row in target[column] for t in (row if tagging else [row])}
    labels += sorted(seen - set(labels))
    train_given = list(splits["train"][column])
    if args.frozen:
        from pipelines.models.pooling import FrozenEncoder

        encoder, batch = FrozenEncoder(cfg.model.encoder), cfg.train.eval_batch_size
        feats = frozen_features(encoder, splits["train"], tagging, batch)
        if args.split == "train":
            dists = frozen_out_of_fold(feats, train_given, labels, args.folds, cfg.train.seed)
        else:
            dists = frozen_predict(feats, train_given, labels, frozen_features(encoder, target, tagging, batch),
                                   list(target[column]))
    elif args.split == "train":
        if args.model:
            raise ValueError("--model scores another split; the train split needs out-of-fold models (no --model)")
        dists = out_of_fold(cfg, splits, args.folds, out, labels)
    else:
        dists = (distributions(Path(args.model), target, cfg, labels) if args.model
                 else trained_predict(cfg, splits, target, out / "model-on-train", labels))
    rows = (tagging_suspects if tagging else classification_suspects)(target, dists, labels)
    # a finished run (--model) was trained with its own config's epochs
    mode = ("frozen encoder + logistic regression" if args.frozen else "fine-tuned" if args.model
            else f"fine-tuned, {cfg.train.epochs} epoch{'s' * (cfg.train.epochs != 1)} per model")
    how = f"{args.folds}-fold" if args.split == "train" else "a model of the train split " + (args.model or "")
    write(out, rows, f"Suspect labels: {cfg.task}, {args.split} split of {portable_path(cfg.data.path or task.sample)} "
                     f"({how}, {mode})")
    # what `nlp-pipelines review` needs to find the examples again: the same config reads the same splits
    write_json(out / "source.json", {"task": cfg.task, "split": args.split, "overrides": settings})
    print(f"{len(rows)} examples ranked; top suspects in {out / 'summary.md'}; "
          f"review them: nlp-pipelines review {out}")
    return 0


if __name__ == "__main__":
    from pipelines.cli import run_cli

    run_cli(main)
