"""Zero-shot and few-shot intents on the default encoder (issue #16, parts 1 and 2).

    .venv/bin/python -m benchmarks.fewshot --parts zero few --seeds 1 2 3 --shots 5 10 20

zero: CLINC150 (150 intents) and SNIPS (7): label texts (name as written, name read as words, phrase,
description, both, all three; benchmarks/labels/*.yaml, written for the project), centring on the unlabelled
train messages, 0-2 self-training steps on them. Every variant on dev and test; the one best on dev is the pick.
CLINC150's off-topic threshold keeps 95% of the unlabelled in-scope *validation* messages (no out-of-scope data).
few: CLINC150 with k examples per intent drawn by seed: (a) plain fine-tuning of the intent task, (b) nearest
class mean on frozen embeddings, a logistic head, the logistic head pulled toward the zero-shot label vectors,
(c) the same three after contrastive fine-tuning on the k-shot set (pipelines.training.contrastive), (d) = (c)
with the label-vector prior. Writes reports/fewshot.json (after every result; a rerun skips what is there) and
reports/fewshot.md + fewshot.png.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import time
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.common import (
    INTENT_BEFORE_ECE,
    INTENT_BEFORE_SEARCH,
    SHARED,
    generated_by,
    machine,
    mean_sd,
    write_report_md,
    write_text_splits,
)
from pipelines.cli import parse_args
from pipelines.io import write_json
from pipelines.methods import fewshot as fs
from pipelines.methods import ood

CACHE = Path("runs/cache/fewshot")
LABEL_FILES = Path(__file__).resolve().parent / "labels"
TEXTS = ("name", "words", "phrase", "description", "phrase+description", "all")
L2, PRIOR_SCALE = fs.L2, fs.PRIOR_SCALE
# the published `contrastive` rows (the product's anchor visits before the k = 10 epoch sweep; the rows at
# today's fs.ANCHOR_PASSES are the `contrastive-eN` ones: k = 10 e16, k = 5 e32, k = 20 e8)
ANCHOR_PASSES = 6000


def read(name: str) -> dict[str, Any]:
    from pipelines.config import DataConfig
    from pipelines.data.splits import load_splits

    path = {"clinc150": SHARED / "clinc150" / "data_full.json", "snips": SHARED / "snips"}[name]
    return load_splits(DataConfig(path=str(path)), path)


def embed_cached(enc: Any, texts: list[str], tag: str) -> np.ndarray:
    """Sentence embeddings of `texts`, cached under runs/cache/fewshot by encoder tag and a hash of the texts."""
    key = hashlib.sha1("\n".join(texts).encode()).hexdigest()[:16]
    path = CACHE / f"{tag}-{key}.npy"
    if path.exists():
        return np.load(path)
    x = enc.sentences(texts, 128)
    CACHE.mkdir(parents=True, exist_ok=True)
    np.save(path, x)
    return x


def zero_part(report: dict[str, Any], save: Any, encoder: str = "default") -> None:
    from pipelines.models.pooling import FrozenEncoder

    enc = FrozenEncoder(encoder)
    for name in ("clinc150", "snips"):
        splits = read(name)
        labels = sorted(set(splits["train"]["label"]))
        written = fs.read_labels(LABEL_FILES / f"{name}.yaml")
        x = {s: embed_cached(enc, list(ds["text"]), encoder) for s, ds in splits.items()}
        y = {s: np.array([labels.index(g) for g in ds["label"]]) for s, ds in splits.items() if s in
             ("train", "validation", "test")}
        rows = []
        for how in TEXTS:
            for centre in (False, True):
                model = fs.ZeroShot.build(lambda t: enc.sentences(t, 128), fs.label_texts(labels, how, written),
                                          x["train"] if centre else None)
                for adapt in range(3):
                    row = {"texts": how, "centre": centre, "adapt": adapt,
                           "dev": round(100 * float((model.predict(x["validation"])[0] == y["validation"]).mean()), 2),
                           "test": round(100 * float((model.predict(x["test"])[0] == y["test"]).mean()), 2)}
                    if "oos_test" in x:
                        row.update(offtopic(model, x))
                    rows.append(row)
                    model = model.adapt(x["train"])
        best = max(rows, key=lambda r: r["dev"])
        report["zero_shot"][name] = {"variants": rows, "best_on_dev": best, "intents": len(labels),
                                     "baseline_words": next(r for r in rows if r["texts"] == "words"
                                                            and not r["centre"] and r["adapt"] == 0)}
        save()
        print(name, "best on dev", best, flush=True)


def offtopic(model: fs.ZeroShot, x: dict[str, np.ndarray]) -> dict[str, float]:
    """Threshold = 95% in-scope recall on the unlabelled in-scope validation messages; test OOS recall, in-scope
    recall and AUROC of 1 - best similarity."""
    from sklearn.metrics import roc_auc_score

    score = {s: 1.0 - model.predict(x[s])[1] for s in ("validation", "test", "oos_test")}
    t = ood.threshold_at_recall(score["validation"], 0.95)
    auroc = roc_auc_score(np.r_[np.zeros(len(score["test"])), np.ones(len(score["oos_test"]))],
                          np.r_[score["test"], score["oos_test"]])
    return {"oos_recall": round(100 * float((score["oos_test"] > t).mean()), 2),
            "in_scope_recall": round(100 * float((score["test"] <= t).mean()), 2), "auroc": round(float(auroc), 4)}


def heads(x_shot: np.ndarray, y_shot: np.ndarray, prior: np.ndarray, evals: dict[str, tuple[np.ndarray, np.ndarray]]
          ) -> dict[str, dict[str, float]]:
    """Prototype, logistic and logistic-with-label-prior heads fitted on the shots; accuracy per eval split."""
    n = prior.shape[0]
    protos = fs.prototypes(x_shot, y_shot, n)
    scorers = {"prototype": lambda x: fs.unit(x) @ protos.T,
               "logistic": fs.SoftmaxHead(L2).fit(x_shot, y_shot, n).logits,
               "logistic+label_prior": fs.SoftmaxHead(L2, PRIOR_SCALE * prior).fit(x_shot, y_shot, n).logits}
    return {name: {split: round(100 * float((f(x).argmax(1) == y).mean()), 2) for split, (x, y) in evals.items()}
            for name, f in scorers.items()}


def few_part(report: dict[str, Any], save: Any, shots: list[int], seeds: list[int], finetune_seeds: list[int],
             encoder: str = "default", epochs: int = 0, overrides: list[str] | None = None) -> None:
    from pipelines.models.pooling import FrozenEncoder
    from pipelines.training.contrastive import fit_contrastive

    splits = read("clinc150")
    labels = sorted(set(splits["train"]["label"]))
    written = fs.read_labels(LABEL_FILES / "clinc150.yaml")
    texts = {s: list(splits[s]["text"]) for s in ("train", "validation", "test")}
    y = {s: np.array([labels.index(g) for g in splits[s]["label"]]) for s in texts}
    frozen = FrozenEncoder(encoder)
    x = {s: embed_cached(frozen, texts[s], encoder) for s in texts}
    label_text = fs.label_texts(labels, "phrase+description", written)
    prior = fs.ZeroShot.build(lambda t: frozen.sentences(t, 128), label_text).vectors
    done = report["few_shot"]["runs"]
    for k in shots:
        for seed in seeds:
            key = f"k{k}-seed{seed}"
            idx = fs.k_shot(y["train"], k, seed)
            if key + "-frozen" not in done:
                evals = {"dev": (x["validation"], y["validation"]), "test": (x["test"], y["test"])}
                done[key + "-frozen"] = heads(x["train"][idx], y["train"][idx], prior, evals)
                save()
            # an explicit epoch count is a variant of its own (a dev sweep): `-contrastive-e8`
            tuned_key = key + ("-contrastive" + (f"-e{epochs}" if epochs else ""))
            if tuned_key not in done:
                t0 = time.time()
                n_epochs = epochs or max(2, round(ANCHOR_PASSES / (k * len(labels))))
                tuned = fit_contrastive([texts["train"][i] for i in idx], list(y["train"][idx]), encoder=encoder,
                                        epochs=n_epochs, seed=seed, progress_bar=False)
                seconds = time.time() - t0
                tx = {s: tuned.sentences(texts[s], 128) for s in ("validation", "test")}
                tprior = fs.ZeroShot.build(lambda t, enc=tuned: enc.sentences(t, 128), label_text).vectors
                res = heads(tuned.sentences([texts["train"][i] for i in idx], 128), y["train"][idx], tprior,
                            {"dev": (tx["validation"], y["validation"]), "test": (tx["test"], y["test"])})
                done[tuned_key] = {**res, "epochs": n_epochs, "train_seconds": round(seconds, 1)}
                save()
            if seed in finetune_seeds and key + "-finetune" not in done:
                done[key + "-finetune"] = finetune(splits, idx, k, seed, overrides or [])
                save()
            print(key, {m: v for m, v in done.items() if m.startswith(key)}, flush=True)
    summarise(report, sorted({int(key.split('-')[0][1:]) for key in done}))  # every k measured, not only these


def finetune(splits: dict[str, Any], idx: np.ndarray, k: int, seed: int, overrides: list[str]) -> dict[str, Any]:
    """(a) the intent task fine-tuned on the k-shot set (full dev for the best epoch), as a user would run it."""
    from pipelines.config import load_config
    from pipelines.training.train import run

    folder = write_text_splits(CACHE / f"clinc150-k{k}-seed{seed}", {
        "train": splits["train"].select(idx), "dev": splits["validation"], "test": splits["test"]})
    epochs = max(3, round(15000 / (k * 150)))  # ~15,000 sentence passes at every k
    run_dir = Path("runs/bench/fewshot") / f"finetune-k{k}-seed{seed}"
    if not (run_dir / "metrics.json").exists():
        cfg = load_config(None, [*INTENT_BEFORE_ECE, *INTENT_BEFORE_SEARCH, f"data.path={folder}", f"train.seed={seed}",
                                 f"train.epochs={epochs}",
                                 "train.progress_bar=false", f"train.out_dir={run_dir.parent}", *overrides],
                          task="intent")
        run(cfg, run_dir)
    m = json.loads((run_dir / "metrics.json").read_text())
    scores = {"dev": round(100 * m["validation"]["accuracy"], 2), "test": round(100 * m["test"]["accuracy"], 2)}
    return {"finetune": scores, "epochs": epochs, "train_seconds": round(m["train_seconds"], 1), "run": str(run_dir),
            "commit": m.get("commit")}


def summarise(report: dict[str, Any], shots: list[int]) -> None:
    runs, table = report["few_shot"]["runs"], {}
    rank = {"frozen": 0, "finetune": 2}  # contrastive variants (1) between them
    kinds = sorted({key.split("-", 2)[2] for key in runs}, key=lambda x: (rank.get(x, 1), len(x), x))
    for kind in kinds:  # frozen, contrastive, contrastive-e8 ..., finetune: the table's row order
        for k in shots:
            got = [v for key, v in runs.items() if key.startswith(f"k{k}-") and key.split("-", 2)[2] == kind]
            for method in ("prototype", "logistic", "logistic+label_prior", "finetune"):
                vals = [g[method] for g in got if method in g]
                if vals:
                    (tm, ts), (dm, _) = mean_sd([v["test"] for v in vals]), mean_sd([v["dev"] for v in vals])
                    name = method if kind == "finetune" else f"{kind} {method}"
                    table.setdefault(name, {})[str(k)] = {"test_mean": round(tm, 2), "test_sd": round(ts, 2),
                                                          "dev_mean": round(dm, 2), "seeds": len(vals)}
    report["few_shot"]["table"] = table


def write_md(report: dict[str, Any], path: Path) -> None:
    lines = ["# Zero-shot and few-shot intents (default encoder)", "",
             generated_by("benchmarks/fewshot.py", report["machine"]), ""]
    for name, z in report.get("zero_shot", {}).items():
        lines += [f"## Zero-shot, {name} ({z['intents']} intents), test accuracy (dev)", "",
                  "| label texts | centred | self-training steps | dev | test |" +
                  (" OOS recall | in-scope recall | AUROC |" if "oos_recall" in z["variants"][0] else ""),
                  "|---|---|---|---|---|" + ("---|---|---|" if "oos_recall" in z["variants"][0] else "")]
        for r in z["variants"]:
            extra = f" {r['oos_recall']} | {r['in_scope_recall']} | {r['auroc']} |" if "oos_recall" in r else ""
            mark = " **(dev pick)**" if r == z["best_on_dev"] else ""
            lines.append(f"| {r['texts']}{mark} | {r['centre']} | {r['adapt']} | {r['dev']} | {r['test']} |{extra}")
        lines.append("")
    table = report.get("few_shot", {}).get("table", {})
    if table:
        ks = sorted({k for v in table.values() for k in v}, key=int)
        lines += ["## Few-shot, CLINC150 test accuracy, mean ± sd over seeds (dev mean)", "",
                  "| method | " + " | ".join(f"k = {k}" for k in ks) + " |", "|---|" + "---|" * len(ks)]
        for method, by_k in table.items():
            cells = [f"{by_k[k]['test_mean']:.2f} ± {by_k[k]['test_sd']:.2f} ({by_k[k]['dev_mean']:.2f}, "
                     f"n={by_k[k]['seeds']})" if k in by_k else "" for k in ks]
            lines.append(f"| {method} | " + " | ".join(cells) + " |")
        lines += ["", "![accuracy against k](fewshot.png)", ""]
    write_report_md(path, "\n".join(lines) + "\n")


def plot(report: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    table = report.get("few_shot", {}).get("table", {})
    if not table:
        return
    fig, ax = plt.subplots(figsize=(6.5, 4))
    for method, by_k in table.items():
        ks = sorted(by_k, key=int)
        ax.errorbar([int(k) for k in ks], [by_k[k]["test_mean"] for k in ks], [by_k[k]["test_sd"] for k in ks],
                    marker="o", capsize=3, label=method)
    zs = report.get("zero_shot", {}).get("clinc150")
    if zs:
        ax.axhline(zs["best_on_dev"]["test"], color="grey", ls=":", label="zero-shot (dev pick)")
    ax.set(xlabel="examples per intent (k)", ylabel="CLINC150 test accuracy", xscale="log")
    ax.set_xticks([int(k) for k in sorted(next(iter(table.values())), key=int)])
    ax.get_xaxis().set_major_formatter(matplotlib.ticker.ScalarFormatter())
    ax.get_xaxis().set_minor_formatter(matplotlib.ticker.NullFormatter())
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--parts", nargs="+", default=["zero", "few"], choices=["zero", "few"])
    parser.add_argument("--shots", type=int, nargs="+", default=[5, 10, 20])
    parser.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3])
    parser.add_argument("--finetune-seeds", type=int, nargs="*", default=[1], help="seeds of (a) plain fine-tuning")
    parser.add_argument("--encoder", default="default")
    parser.add_argument("--contrastive-epochs", type=int, default=0, help="0 = ANCHOR_PASSES / (k * intents)")
    parser.add_argument("--out", default="reports/fewshot.json")
    parser.add_argument("overrides", nargs="*", help="section.key=value for the plain fine-tuning runs")
    args = parse_args(parser, argv)
    out = Path(args.out)
    report = json.loads(out.read_text()) if out.exists() else {}
    report.update({"encoder": "all-MiniLM-L6-v2 (bundled), mean pooling", "machine": machine(),
                   "settings": {"prior_scale": PRIOR_SCALE, "l2": L2, "anchor_passes": ANCHOR_PASSES,
                                "label_texts_few_shot": "phrase+description"}})
    report.setdefault("zero_shot", {})
    report.setdefault("few_shot", {"runs": {}})

    def save() -> None:
        write_json(out, report)

    if "zero" in args.parts:
        zero_part(report, save, args.encoder)
    if "few" in args.parts:
        few_part(report, save, args.shots, args.seeds, args.finetune_seeds, args.encoder, args.contrastive_epochs,
                 args.overrides)
    save()
    write_md(report, out.with_suffix(".md"))
    plot(report, out.with_name(out.stem + ".png"))


if __name__ == "__main__":
    main()
