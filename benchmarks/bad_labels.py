"""Bad-label detection with a known truth: flip a share of the labels, rank the training examples with
out-of-fold probabilities, and measure how well the flipped ones come out on top; then train on the noisy,
the cleaned (flagged removed, or relabelled) and the clean labels and compare test metrics.

Settings `<dataset>:<noise>`: datasets snips and clinc150 (intent labels), conll2003 (entity types of gold
spans; the span boundaries stay right); noise `uniform` (any other class) or `confusable` (the class whose
mean frozen feature vector is nearest, i.e. the class a model most easily confuses it with).

Mode `frozen` (default): out-of-fold probabilities from a logistic regression on the frozen default encoder's
features (pipelines.training.find_bad_labels --frozen); the metric model (noisy / cleaned / clean) is the same
logistic regression. Mode `finetune`: out-of-fold probabilities from k fine-tuned models (the full mode,
intent or ner task, epochs from the task config or overrides); the metric model stays the frozen one (CPU time).

    .venv/bin/python -m benchmarks.bad_labels --settings snips:uniform clinc150:uniform ... --seeds 1 2 3
Writes reports/bad_labels.json (rewritten after every setting) and reports/bad_labels.md.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.common import INTENT_BEFORE_ECE, NER_BEFORE_CASING, SHARED, machine, mean_sd, write_report_md
from pipelines.cli import parse_args
from pipelines.data.tags import spans
from pipelines.io import write_json
from pipelines.methods import badlabels

TAGGING = {"conll2003"}


def load(name: str, root: Path, limit: int = 0) -> dict[str, Any]:
    """The dataset's splits; `limit` > 0 keeps a random subset of that many examples per split (smoke runs)."""
    from pipelines.config import DataConfig
    from pipelines.data.readers import read_clinc
    from pipelines.data.splits import load_splits

    if name == "clinc150":
        splits = read_clinc(root / "clinc150" / "data_full.json")
    else:
        splits = load_splits(DataConfig(path=str(root / name)), "")
    if limit:
        splits = {k: v.shuffle(seed=0).select(range(min(limit, len(v)))) for k, v in splits.items()}
    return splits


def centroid_partner(feats: np.ndarray, y: np.ndarray, k: int) -> np.ndarray:
    """(K,) for each class the class whose mean feature vector is nearest (cosine)."""
    means = np.stack([feats[y == c].mean(0) if np.any(y == c) else np.zeros(feats.shape[1]) for c in range(k)])
    means /= np.linalg.norm(means, axis=1, keepdims=True) + 1e-12
    sim = means @ means.T
    np.fill_diagonal(sim, -np.inf)
    return sim.argmax(1)


def flip_labels(y: np.ndarray, k: int, rate: float, noise: str, partner: np.ndarray, rng) -> np.ndarray:
    """Indices flipped (a `rate` share) and the noisy labels, in place of a copy of `y`."""
    idx = rng.choice(len(y), int(round(rate * len(y))), replace=False)
    noisy = y.copy()
    for i in idx:
        noisy[i] = partner[y[i]] if noise == "confusable" else (y[i] + rng.integers(1, k)) % k
    return idx, noisy


def detection(scores: np.ndarray, truth: np.ndarray, flagged: np.ndarray) -> dict[str, float]:
    """`scores`: higher = more suspect; k = number of true flips."""
    from sklearn.metrics import average_precision_score

    k = int(truth.sum())
    top = np.argsort(-scores, kind="stable")[:k]
    hits = truth[top].sum()
    return {"auprc": float(average_precision_score(truth, scores)), "precision_at_k": float(hits / k),
            "recall_at_k": float(hits / k), "cl_precision": float(truth[flagged].mean()) if flagged.any() else 0.0,
            "cl_recall": float(flagged[truth].mean()), "cl_flagged": int(flagged.sum())}


def prepared(name: str, args, cache: dict) -> tuple[dict[str, Any], Any, Any]:
    """The dataset's splits and the frozen default encoder's train and test features, read and computed once
    per dataset (every seed and noise type reuses them)."""
    from pipelines.models.pooling import FrozenEncoder
    from pipelines.training.find_bad_labels import frozen_features

    if name not in cache:
        if "encoder" not in cache:
            cache["encoder"] = FrozenEncoder(args.encoder)
        splits, tagging = load(name, args.data_root, args.limit), name in TAGGING
        feats = [frozen_features(cache["encoder"], splits[s], tagging) for s in ("train", "test")]
        cache[name] = (splits, *(f if tagging else np.stack(f) for f in feats))
    return cache[name]


def classification(name: str, noise: str, seed: int, args, cache: dict) -> dict[str, Any]:
    from pipelines.training.find_bad_labels import frozen_out_of_fold, logistic_probs

    splits, x, xt = prepared(name, args, cache)
    labels = sorted(set(splits["train"]["label"]))
    y = np.array([labels.index(v) for v in splits["train"]["label"]])
    yt = np.array([labels.index(v) if v in labels else -1 for v in splits["test"]["label"]])
    rng = np.random.default_rng(seed)
    idx, noisy = flip_labels(y, len(labels), args.rate, noise, centroid_partner(x, y, len(labels)), rng)
    truth = np.zeros(len(y), bool)
    truth[idx] = True
    if args.mode == "frozen":
        probs = np.stack(frozen_out_of_fold(list(x), [labels[i] for i in noisy], labels, args.folds, seed))
    else:
        probs = np.stack(finetuned_oof(name, splits, [labels[i] for i in noisy], labels, seed, args))
    flagged = badlabels.prune_by_noise_rate(probs, noisy)
    out = {"n": len(y), "flipped": len(idx),
           "self_confidence": detection(-badlabels.self_confidence(probs, noisy), truth, flagged),
           "normalized_margin": detection(-badlabels.normalized_margin(probs, noisy), truth, flagged)}
    relabel = noisy.copy()
    relabel[flagged] = probs[flagged].argmax(1)
    acc = {}
    for key, (xx, yy) in {"clean": (x, y), "noisy": (x, noisy), "cleaned": (x[~flagged], noisy[~flagged]),
                          "relabelled": (x, relabel)}.items():
        acc[key] = 100 * float(np.mean(logistic_probs(xx, yy, xt, len(labels)).argmax(1) == yt))
    return {**out, "metric": "test accuracy (frozen features + logistic regression)",
            **{f"{k}_metric": v for k, v in acc.items()}}


def finetuned_oof(name: str, splits: dict, noisy: list, labels: list[str], seed: int, args) -> list[np.ndarray]:
    """Out-of-fold probabilities from k fine-tuned models of the noisy train split (intent or ner task)."""
    from pipelines.config import load_config
    from pipelines.training.find_bad_labels import out_of_fold

    tagging = name in TAGGING
    pinned = NER_BEFORE_CASING if tagging else INTENT_BEFORE_ECE  # the settings the report measured
    cfg = load_config(None, [f"train.seed={seed}", "train.progress_bar=false", *pinned, *args.overrides],
                      task="ner" if tagging else "intent")
    column = "tags" if tagging else "label"
    train = splits["train"].remove_columns(column).add_column(column, noisy)
    work = Path("runs/bench/badlabels") / f"{name}-{args.rate}-seed{seed}-{time.strftime('%Y%m%d-%H%M%S')}"
    return out_of_fold(cfg, {"train": train, "validation": splits["validation"]}, args.folds, work, labels)


def entity_types(name: str, noise: str, seed: int, args, cache: dict) -> dict[str, Any]:
    """Flip the type of `rate` of the gold entities; rank entities by their least confident word (token
    level), by their type margin from the words' probabilities (type_margin), by the lower of the two
    (min_word_type), by pipelines.methods.badlabels.entity_score (as find-bad-labels ranks: ranked_score), and,
    frozen mode only, by a span-type classifier on the
    span's mean word vector (span_margin). The out-of-fold word probabilities come from the frozen logistic
    regression or (mode finetune) from k fine-tuned NER models."""
    from pipelines.inference.metrics import entity_scores
    from pipelines.training.find_bad_labels import frozen_out_of_fold, logistic_probs

    splits, feats, test_feats = prepared(name, args, cache)
    train, test = splits["train"], splits["test"]
    tags = [list(t) for t in train["tags"]]
    kinds = sorted({k for t in tags for k, _, _ in spans(t)})
    labels = ["O"] + [f"{p}-{k}" for k in kinds for p in ("B", "I")]
    ents = [(i, kinds.index(k), s, e) for i, t in enumerate(tags) for k, s, e in spans(t)]
    ent_x = np.stack([feats[i][s:e].mean(0) for i, _, s, e in ents])
    ent_y = np.array([k for _, k, _, _ in ents])
    rng = np.random.default_rng(seed)
    idx, noisy_k = flip_labels(ent_y, len(kinds), args.rate, noise, centroid_partner(ent_x, ent_y, len(kinds)), rng)
    noisy = [list(t) for t in tags]
    for j in idx:
        i, _, s, e = ents[j]
        noisy[i][s:e] = [f"B-{kinds[noisy_k[j]]}"] + [f"I-{kinds[noisy_k[j]]}"] * (e - s - 1)
    if args.mode == "frozen":
        dists = frozen_out_of_fold(feats, noisy, labels, args.folds, seed)
    else:
        dists = finetuned_oof(name, splits, noisy, labels, seed, args)
    flat = np.concatenate([d for d in dists if len(d)])
    given = np.array([labels.index(t) for t in sum(noisy, [])])
    margin = badlabels.normalized_margin(flat, given)
    conf = badlabels.self_confidence(flat, given)
    flag = badlabels.prune_by_noise_rate(flat, given)
    offsets = np.cumsum([0] + [len(t) for t in noisy])
    truth = np.zeros(len(ents), bool)
    truth[idx] = True
    def per_entity(values, fn):
        return np.array([fn(values[offsets[i] + s:offsets[i] + e]) for i, _, s, e in ents])
    ent_flag = per_entity(flag, np.any)
    type_probs = np.stack([badlabels.span_type_probs(dists[i][s:e], labels, kinds) for i, _, s, e in ents])
    type_margin = badlabels.normalized_margin(type_probs, noisy_k)
    word_margin = per_entity(margin, np.min)
    out = {"n": len(ents), "flipped": len(idx),
           "self_confidence": detection(-per_entity(conf, np.min), truth, ent_flag),
           "normalized_margin": detection(-word_margin, truth, ent_flag),
           "type_margin": detection(-type_margin, truth, badlabels.prune_by_noise_rate(type_probs, noisy_k)),
           "min_word_type": detection(-np.minimum(word_margin, type_margin), truth, ent_flag),
           "ranked_score": detection(-badlabels.entity_score(word_margin, type_margin), truth, ent_flag)}
    if args.mode == "frozen":
        # span level: the span boundaries are given, so ask only "which type is this span?": a logistic
        # regression over entity types on the span's mean word vector, out of fold
        span_probs = np.stack(frozen_out_of_fold(list(ent_x), [kinds[k] for k in noisy_k], kinds, args.folds,
                                                 seed))
        span_margin = badlabels.normalized_margin(span_probs, noisy_k)
        out["span_margin"] = detection(-span_margin, truth, badlabels.prune_by_noise_rate(span_probs, noisy_k))
    # relabel: the flagged entity gets its most probable type (the type distribution above)
    relabel = [list(t) for t in noisy]
    for j in np.flatnonzero(ent_flag):
        i, _, s, e = ents[j]
        best = int(type_probs[j].argmax())
        relabel[i][s:e] = [f"B-{kinds[best]}"] + [f"I-{kinds[best]}"] * (e - s - 1)
    dropped = {ents[j][0] for j in np.flatnonzero(ent_flag)}
    kept = [i for i in range(len(tags)) if i not in dropped]
    xt = np.concatenate([f for f in test_feats if len(f)])
    f1 = {}
    for key, (ids, tg) in {"clean": (range(len(tags)), tags), "noisy": (range(len(tags)), noisy),
                           "cleaned": (kept, noisy), "relabelled": (range(len(tags)), relabel)}.items():
        x = np.concatenate([feats[i] for i in ids if len(tags[i])])
        y = np.array([labels.index(t) for i in ids for t in tg[i]])
        pred = logistic_probs(x, y, xt, len(labels)).argmax(1)
        pos, seqs = 0, []
        for t in test["tags"]:
            seqs.append([labels[k] for k in pred[pos:pos + len(t)]])
            pos += len(t)
        f1[key] = 100 * entity_scores([list(t) for t in test["tags"]], seqs)["f1"]
    return {**out, "cl_flagged_sentences_dropped": len(dropped),
            "metric": "test entity F1, seqeval strict (frozen word features + logistic regression, argmax)",
            **{f"{k}_metric": v for k, v in f1.items()}}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--settings", nargs="+", default=["snips:uniform", "snips:confusable", "clinc150:uniform",
                                                          "clinc150:confusable", "conll2003:uniform",
                                                          "conll2003:confusable"])
    parser.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3])
    parser.add_argument("--rate", type=float, default=0.1)
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--mode", choices=["frozen", "finetune"], default="frozen")
    parser.add_argument("--data-root", type=Path, default=SHARED)
    parser.add_argument("--limit", type=int, default=0, help="examples per split (smoke runs); 0 = all")
    parser.add_argument("--encoder", default="default", help="the frozen encoder ('tiny' for a smoke run)")
    parser.add_argument("--out", default="reports/bad_labels")
    parser.add_argument("--tag", default="", help="appended to each setting's key in the report, to keep runs "
                        "of one setting and mode apart (e.g. --tag 3ep with train.epochs=3)")
    parser.add_argument("overrides", nargs="*", help="section.key=value for the fine-tuned folds (--mode finetune)")
    args = parse_args(parser, argv)
    path = Path(f"{args.out}.json")
    import json

    report = json.loads(path.read_text()) if path.exists() else {"settings": {}}
    report.update({"machine": machine(), "encoder": "all-MiniLM-L6-v2 (default)", "rate": args.rate,
                   "folds": args.folds, "goals": {"auprc_uniform_intent": 0.90, "auprc_entity_type": 0.80,
                                                  "recovered_share": 0.5}})
    cache: dict = {}
    for setting in args.settings:
        name, noise = setting.split(":")
        rows = []
        for seed in args.seeds:
            t0 = time.time()
            fn = entity_types if name in TAGGING else classification
            rows.append({**fn(name, noise, seed, args, cache), "seconds": round(time.time() - t0, 1)})
            print(setting, seed, {k: v for k, v in rows[-1].items() if "metric" in k or k == "normalized_margin"},
                  flush=True)
        summary: dict[str, Any] = {"mode": args.mode, "seeds": args.seeds, "per_seed": rows}
        for score in ("self_confidence", "normalized_margin", "type_margin", "min_word_type", "ranked_score",
                      "span_margin"):
            if score not in rows[0]:
                continue
            summary[score] = {m: [round(v, 4) for v in mean_sd([r[score][m] for r in rows])] for m in rows[0][score]}
        for m in ("clean_metric", "noisy_metric", "cleaned_metric", "relabelled_metric"):
            summary[m] = [round(v, 2) for v in mean_sd([r[m] for r in rows])]
        lost = summary["clean_metric"][0] - summary["noisy_metric"][0]
        for m in ("cleaned", "relabelled"):
            gain = summary[f"{m}_metric"][0] - summary["noisy_metric"][0]
            summary[f"{m}_recovered_share"] = round(gain / lost, 3) if lost > 0 else None
        summary["auprc"] = summary["normalized_margin"]["auprc"]
        summary["auprc_self_confidence"] = summary["self_confidence"]["auprc"]
        for score, key in (("span_margin", "auprc_span_type"), ("type_margin", "auprc_type_margin"),
                           ("ranked_score", "auprc_ranked")):
            if score in summary:
                summary[key] = summary[score]["auprc"]
        summary["precision_at_k"] = summary["normalized_margin"]["precision_at_k"]
        summary["recall_at_k"] = summary["normalized_margin"]["recall_at_k"]
        summary["metric"] = rows[0]["metric"]
        summary["overrides"] = args.overrides
        report["settings"][f"{setting}:{args.mode}" + (f"-{args.tag}" if args.tag else "")] = summary
        write_json(path, report)
    lines = ["# Bad-label detection with planted flips", "",
             f"{int(args.rate * 100)}% of the labels flipped (entity types for CoNLL-2003); mean ± sd over seeds. "
             "AUPRC by normalised margin (the ranking find-bad-labels writes for classification; CoNLL-2003: "
             "one row per entity score, find-bad-labels ranks by the mean of word and type margin) and by "
             "self-confidence; P@k (k = number of flips, = R@k) by the row's score; CL = confident learning's "
             "prune-by-noise-rate flags. Metric columns: the metric model trained on clean, noisy, cleaned "
             "(CL flags removed) and relabelled (CL flags given the suggested label) training data; recovered = "
             "share of the clean-to-noisy loss won back by removing.", "",
             "| setting | AUPRC | AUPRC self-conf. | P@k | CL precision | CL recall | clean | noisy | cleaned "
             "| relabelled | recovered |", "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for key, s in report["settings"].items():
        for score, name in (("normalized_margin", key), ("type_margin", f"{key} (type margin)"),
                            ("min_word_type", f"{key} (min of word and type margin)"),
                            ("ranked_score", f"{key} (find-bad-labels ranking)"),
                            ("span_margin", f"{key} (span-type classifier)")):
            if score not in s:
                continue
            nm, sc = s[score], s["self_confidence"]
            conf = f"{sc['auprc'][0]:.3f}" if score == "normalized_margin" else ""
            rec = s.get("cleaned_recovered_share")
            lines.append(f"| {name} | {nm['auprc'][0]:.3f} ± {nm['auprc'][1]:.3f} | {conf} | "
                         f"{nm['precision_at_k'][0]:.3f} | {nm['cl_precision'][0]:.3f} | {nm['cl_recall'][0]:.3f} | "
                         f"{s['clean_metric'][0]:.2f} | {s['noisy_metric'][0]:.2f} | {s['cleaned_metric'][0]:.2f} | "
                         f"{s['relabelled_metric'][0]:.2f} | {'' if rec is None else f'{rec:.2f}'} |")
    write_report_md(f"{args.out}.md", "\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
