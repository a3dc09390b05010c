"""Unseen requests from the product's own domain (issue #16, part 6): CLINC150 with 3 intents per domain held out
(30 of 150, drawn by seed) as the requests no intent covers, against CLINC150's far out-of-scope queries.

    .venv/bin/python -m benchmarks.unseen_intents --seeds 1 2 3 [--contrastive-epochs 1] [--shipped]

Detectors (pipelines.methods.ood) on the 120 known intents: MSP and energy of a logistic head, Mahalanobis,
relative Mahalanobis, kNN (k = 10) on the sentence vectors; on the frozen default encoder, and after contrastive
fine-tuning on the known intents' training data (pipelines.training.contrastive), the "space tuned to the known
intents" that the far case did not need. Threshold: 95% recall of the known intents' validation queries.
Reported on test: AUROC and recall of the unseen (held-out) queries, and of CLINC150's far OOS queries, at that
threshold. `--shipped`: the shipped intent recipe (configs/intent.yaml) fine-tuned on the known intents, seed =
the draw's seed, with the product's detectors (pipelines.methods.offtopic: MSP and energy on its own logits, the
vector detectors on its sentence vectors, `combined` adding the frozen encoder's) and their AUROC on dev (the
held-out intents' validation queries), where the default detector is chosen. Writes
reports/unseen_intents.json / .md.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.common import SHARED, generated_by, machine, mean_sd, write_report_md
from benchmarks.fewshot import embed_cached, read
from pipelines.cli import parse_args
from pipelines.io import write_json
from pipelines.methods import fewshot as fs
from pipelines.methods import ood

PER_DOMAIN = 3
DETECTORS = ("msp", "energy", "mahalanobis", "relative_mahalanobis", "knn")


def held_out(seed: int, per_domain: int = PER_DOMAIN) -> list[str]:
    domains = json.loads((SHARED / "clinc150" / "domains.json").read_text())
    rng = np.random.default_rng(seed)
    picked = [rng.choice(sorted(intents), per_domain, replace=False) for intents in domains.values()]
    return sorted(str(x) for chosen in picked for x in chosen)


def scores(method: str, train: tuple[np.ndarray, np.ndarray], x: np.ndarray, head: fs.SoftmaxHead) -> np.ndarray:
    """Higher = more likely not a known intent."""
    if method in ("msp", "energy"):
        logits = head.logits(x)
        return ood.msp(logits) if method == "msp" else ood.energy(logits)
    if method == "knn":
        return ood.KNN(10).fit(train[0]).score(x)
    return ood.Mahalanobis(relative=method == "relative_mahalanobis").fit(train[0], train[1]).score(x)


def evaluate(x: dict[str, np.ndarray], y: dict[str, np.ndarray], known: np.ndarray) -> dict[str, dict[str, float]]:
    from sklearn.metrics import roc_auc_score

    tr = known[y["train"]]
    train = (x["train"][tr], y["train"][tr])
    remap = {c: i for i, c in enumerate(np.unique(train[1]))}
    head = fs.SoftmaxHead(1e-4).fit(train[0], np.array([remap[c] for c in train[1]]), len(remap))
    val_in = x["validation"][known[y["validation"]]]
    test_in, test_unseen = x["test"][known[y["test"]]], x["test"][~known[y["test"]]]
    out = {}
    for method in DETECTORS:
        s_val, s_in = scores(method, train, val_in, head), scores(method, train, test_in, head)
        s_unseen, s_far = scores(method, train, test_unseen, head), scores(method, train, x["oos_test"], head)
        t = ood.threshold_at_recall(s_val, 0.95)
        res = {"in_scope_recall": 100 * float((s_in <= t).mean())}
        for name, s in (("unseen", s_unseen), ("far_oos", s_far)):
            res[f"{name}_auroc"] = float(roc_auc_score(np.r_[np.zeros(len(s_in)), np.ones(len(s))], np.r_[s_in, s]))
            res[f"{name}_recall"] = 100 * float((s > t).mean())
        out[method] = {k: round(v, 4 if "auroc" in k else 2) for k, v in res.items()}
    known_acc = head.logits(test_in).argmax(1) == np.array([remap[c] for c in y["test"][known[y["test"]]]])
    out["known_intent_accuracy"] = round(100 * float(known_acc.mean()), 2)
    return out


def auroc(in_scope: np.ndarray, out: np.ndarray) -> float:
    from sklearn.metrics import roc_auc_score

    return float(roc_auc_score(np.r_[np.zeros(len(in_scope)), np.ones(len(out))], np.r_[in_scope, out]))


SHIPPED_DETECTORS = ("msp", "energy", "mahalanobis", "relative_mahalanobis", "knn", "combined")


def shipped(seed: int, texts: dict[str, list[str]], y: dict[str, np.ndarray],
            known: np.ndarray, labels: list[str], frozen: dict[str, np.ndarray], overrides: list[str]
            ) -> dict[str, Any]:
    """The shipped intent recipe trained on the known intents (runs/bench/unseen/shipped-seed<seed>), each
    product detector fitted on its known training queries and thresholded at 95% recall of the known
    validation queries: AUROC on dev (held-out intents' validation queries), test as in `evaluate`."""
    from benchmarks.common import INTENT_BEFORE_ECE, find_or_train, write_text_splits
    from pipelines.data.columns import Columns
    from pipelines.families.classify import class_outputs
    from pipelines.inference.predict import Predictor
    from pipelines.methods import offtopic

    folder = Path("runs/bench/unseen")
    keep = {s: known[y[s]] for s in ("train", "validation", "test")}
    data = write_text_splits(folder / f"data-seed{seed}", {
        ("dev" if s == "validation" else s): {"text": [t for t, k in zip(texts[s], keep[s], strict=True) if k],
                                              "label": [labels[i] for i, k in zip(y[s], keep[s], strict=True) if k]}
        for s in keep})
    run = find_or_train("intent", [*INTENT_BEFORE_ECE, f"data.path={data}", f"train.seed={seed}", *overrides],
                        folder / f"shipped-seed{seed}")
    p = Predictor.load(run)
    view = {s: class_outputs(p.model, p.tokenizer, Columns({"text": texts[s]}), p.data, 64, pooled=True)
            for s in texts}
    model_ids = {lab: i for i, lab in p.model.config.id2label.items()}
    ids = {s: np.array([model_ids.get(labels[i], -1) for i in y[s]]) for s in y}
    hidden = view["train"][1].shape[1]

    def part(s: str, rows: np.ndarray, both: bool) -> tuple[np.ndarray, np.ndarray]:
        logits, vecs = view[s]
        feats = np.concatenate([vecs, frozen[s]], axis=1) if both else vecs
        return logits[rows], feats[rows]

    groups = {"dev_in": ("validation", keep["validation"]), "dev_unseen": ("validation", ~keep["validation"]),
              "in": ("test", keep["test"]), "unseen": ("test", ~keep["test"]),
              "far_oos": ("oos_test", np.ones(len(texts["oos_test"]), dtype=bool))}
    out: dict[str, Any] = {"run": str(run), "commit": json.loads((run / "metrics.json").read_text()).get("commit")}
    for method in SHIPPED_DETECTORS:
        both = method == "combined"
        det = offtopic.fit(method, (*part("train", keep["train"], both), ids["train"][keep["train"]]),
                           part("validation", keep["validation"], both), split=hidden if both else 0)
        score = {name: det.score(*part(s, rows, both)) for name, (s, rows) in groups.items()}
        res = {"dev_unseen_auroc": auroc(score["dev_in"], score["dev_unseen"]),
               "in_scope_recall": 100 * float((score["in"] <= det.threshold).mean())}
        for name in ("unseen", "far_oos"):
            res[f"{name}_auroc"] = auroc(score["in"], score[name])
            res[f"{name}_recall"] = 100 * float((score[name] > det.threshold).mean())
        out[method] = {k: round(v, 4 if "auroc" in k else 2) for k, v in res.items()}
    logits = view["test"][0][keep["test"]]
    out["known_intent_accuracy"] = round(100 * float((logits.argmax(1) == ids["test"][keep["test"]]).mean()), 2)
    return out


def main(argv: list[str] | None = None) -> None:
    from pipelines.models.pooling import FrozenEncoder
    from pipelines.training.contrastive import fit_contrastive

    parser = argparse.ArgumentParser()
    parser.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3])
    parser.add_argument("--contrastive-epochs", type=int, default=1, help="0 = frozen encoder only")
    parser.add_argument("--per-domain", type=int, default=PER_DOMAIN)
    parser.add_argument("--encoder", default="default")
    parser.add_argument("--shipped", action="store_true", help="also the shipped intent recipe, fine-tuned")
    parser.add_argument("--out", default="reports/unseen_intents.json")
    parser.add_argument("overrides", nargs="*")
    args = parse_args(parser, argv)
    out = Path(args.out)
    report: dict[str, Any] = json.loads(out.read_text()) if out.exists() else {}
    report.update({"machine": machine(), "held_out_per_domain": args.per_domain,
                   "threshold": "95% recall of the known intents' validation queries"})
    runs = report.setdefault("runs", {})
    splits = read("clinc150")
    labels = sorted(set(splits["train"]["label"]))
    names = ("train", "validation", "test", "oos_test")
    texts = {s: list(splits[s]["text"]) for s in names}
    y = {s: np.array([labels.index(g) for g in splits[s]["label"]]) for s in names if s != "oos_test"}
    frozen = FrozenEncoder(args.encoder)
    x0 = {s: embed_cached(frozen, texts[s], args.encoder) for s in names}
    for seed in args.seeds:
        unseen = held_out(seed, args.per_domain)
        known = np.array([lab not in unseen for lab in labels])
        if f"frozen-seed{seed}" not in runs:
            runs[f"frozen-seed{seed}"] = {"held_out": unseen, **evaluate(x0, y, known)}
            write_json(out, report)
        key = f"contrastive{args.contrastive_epochs}-seed{seed}"
        if args.contrastive_epochs and key not in runs:
            tr = known[y["train"]]
            tuned = fit_contrastive([t for t, k in zip(texts["train"], tr, strict=True) if k], list(y["train"][tr]),
                                    encoder=args.encoder, epochs=args.contrastive_epochs, seed=seed, progress_bar=False)
            xt = {s: tuned.sentences(texts[s], 128) for s in names}
            runs[key] = {"held_out": unseen, **evaluate(xt, y, known)}
            write_json(out, report)
        if args.shipped and f"shipped-seed{seed}" not in runs:
            runs[f"shipped-seed{seed}"] = {"held_out": unseen, **shipped(seed, texts, y, known, labels, x0,
                                                                         args.overrides)}
            write_json(out, report)
        print(seed, {k: v for k, v in runs.items() if k.endswith(f"seed{seed}")}, flush=True)
    summarise(report)
    write_json(out, report)
    write_md(report, out.with_suffix(".md"))


def summarise(report: dict[str, Any]) -> None:
    table: dict[str, Any] = {}
    for key, r in report["runs"].items():
        space = key.rsplit("-seed", 1)[0]
        for method in [m for m in r if isinstance(r[m], dict)]:
            for metric, v in r[method].items():
                table.setdefault(space, {}).setdefault(method, {}).setdefault(metric, []).append(v)
        table[space].setdefault("known_intent_accuracy", []).append(r["known_intent_accuracy"])
    report["summary"] = {space: {m: ({k: [round(x, 4) for x in mean_sd(v)] for k, v in d.items()} if isinstance(d, dict)
                                     else [round(x, 2) for x in mean_sd(d)]) for m, d in t.items()}
                         for space, t in table.items()}


def write_md(report: dict[str, Any], path: Path) -> None:
    m = report["machine"]
    lines = ["# Unseen intents from the same domain vs far out-of-scope (CLINC150)", "",
             generated_by("benchmarks/unseen_intents.py", m) + f" {report['held_out_per_domain']} intents per "
             "domain held out per seed; "
             "detectors fitted on the other 120; threshold at 95% recall of their validation queries. Mean ± sd "
             "over the held-out sets.", "",
             "| space (held-out sets) | detector | unseen AUROC (dev) | unseen AUROC | unseen recall | far-OOS AUROC | "
             "far-OOS recall | in-scope recall |", "|---|---|---|---|---|---|---|---|"]
    for space, t in report["summary"].items():
        n = sum(key.rsplit("-seed", 1)[0] == space for key in report["runs"])
        for method in [m for m in t if m != "known_intent_accuracy"]:
            d = t[method]

            def cell(k: str, p: int = 2, d: dict = d) -> str:
                return f"{d[k][0]:.{p}f} ± {d[k][1]:.{p}f}" if k in d else "-"

            lines.append(f"| {space} (n={n}) | {method} | {cell('dev_unseen_auroc', 3)} | {cell('unseen_auroc', 3)} | "
                         f"{cell('unseen_recall')} | {cell('far_oos_auroc', 3)} | {cell('far_oos_recall')} | "
                         f"{cell('in_scope_recall')} |")
        acc = t["known_intent_accuracy"]
        lines.append(f"| {space} (n={n}) | (known-intent accuracy) | | {acc[0]:.2f} ± {acc[1]:.2f} | | | | |")
    write_report_md(path, "\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
