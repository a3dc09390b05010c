"""Topics + Transformer on 20 Newsgroups (raw and stripped) and BBC News (issue 17).

    .venv/bin/python -m benchmarks.topics --stage encode      # frozen window embeddings of every corpus, cached
    .venv/bin/python -m benchmarks.topics --stage baselines   # TF-IDF + logistic regression / linear SVM
    .venv/bin/python -m benchmarks.topics --stage lda         # number of topics on dev, coherence
    .venv/bin/python -m benchmarks.topics --stage pooling --seeds 1 2 3    # head | head_tail | chunks
    .venv/bin/python -m benchmarks.topics --stage variants --seeds 1 2 3   # θ | text | concat | gate
    .venv/bin/python -m benchmarks.topics --stage variants --corpora 20ng_stripped --fusions topics  # θ alone
    .venv/bin/python -m benchmarks.topics --stage report      # reports/topics.{json,md} and the plots

Every stage writes its part of reports/topics.json as it goes; runs go to runs/bench/topics/ and are reused
when finished. Choices (window pooling, number of topics, C of the baselines) are made on dev; test is read
once per run. The Transformer is the default encoder (all-MiniLM-L6-v2), frozen: each document is encoded once,
window by window (256 sub-tokens, at most 4 windows: the first three and the last), and only the fusion head
trains (tasks.topics, model.features=frozen). Fine-tuning on 20 Newsgroups does not fit the CPU budget here.
"""

from __future__ import annotations

import argparse
import json
import logging
import time
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks import topics_data
from benchmarks.common import machine, mean_sd
from pipelines.cli import parse_args
from pipelines.io import write_json

OUT = Path("runs/bench/topics")
CACHE = Path("runs/cache")
REPORT = Path("reports/topics.json")
WINDOW, MAX_CHUNKS = 256, 4
# windows per document: 20NG stripped reads its first window only (CPU budget: its posts were encoded last, and
# the window comparison is made on the raw posts)
CHUNKS = {"20ng_raw": MAX_CHUNKS, "20ng_stripped": 1, "bbc": MAX_CHUNKS}
TOPIC_COUNTS = {"20ng_raw": (20, 50, 100), "20ng_stripped": (20, 50, 100), "bbc": (10, 20, 50)}
SOURCES = {"20ng_raw": "20newsgroups", "20ng_stripped": "20newsgroups", "bbc": "bbc_news"}
EPOCHS = {"20ng_raw": 10, "20ng_stripped": 10, "bbc": 30}  # heads on frozen vectors: 20NG has 7x BBC's steps
COHERENCE_DOCS = 2000  # reference documents for NPMI (the first of train)
log = logging.getLogger(__name__)


def read_report() -> dict[str, Any]:
    return json.loads(REPORT.read_text()) if REPORT.exists() else {}


def update_report(corpus: str, key: str, value: Any) -> None:
    report = read_report()
    report.setdefault("corpora", {}).setdefault(corpus, {})[key] = value
    report["machine"] = machine()
    write_json(REPORT, report)


def chunk_encoder(encoder: str = "default", max_chunks: int = MAX_CHUNKS):
    from pipelines.methods.documents import ChunkEncoder

    return ChunkEncoder(encoder, window=WINDOW, max_chunks=max_chunks, cache_dir=CACHE / "documents", batch_size=32)


def encode(corpora: list[str], encoder: str = "default") -> None:
    for corpus in corpora:
        enc = chunk_encoder(encoder, CHUNKS[corpus])
        splits, _ = topics_data.load(corpus)
        texts = [t for name in ("train", "validation", "test") for t in splits[name]["text"]]
        start = time.perf_counter()
        chunks = enc.encode(texts, progress=False)
        windows = [len(c) for c in chunks]
        counts = np.array(windows)
        update_report(corpus, "encoding", {"documents": len(texts), "windows_mean": round(float(counts.mean()), 3),
                                           "share_over_one_window": round(float(np.mean(counts > 1)), 4),
                                           "max_chunks": CHUNKS[corpus],
                                           "share_at_max_chunks": round(float(np.mean(counts == CHUNKS[corpus])), 4),
                                           "seconds_this_call": round(time.perf_counter() - start, 1)})


# classical baselines --------------------------------------------------------------------------------------
def baselines(corpus: str) -> dict[str, Any]:
    """TF-IDF of word 1-2-grams (sublinear tf, min_df 2) + logistic regression or a linear SVM; C on dev."""
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.svm import LinearSVC

    from pipelines.inference.metrics import classification_scores

    splits, facts = topics_data.load(corpus)
    vec = TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True, min_df=2)
    x = {name: (vec.fit_transform if name == "train" else vec.transform)(splits[name]["text"])
         for name in ("train", "validation", "test")}
    y = {name: list(splits[name]["label"]) for name in x}
    labels = sorted(set(y["train"]))
    out: dict[str, Any] = {"features": {"ngram_range": [1, 2], "sublinear_tf": True, "min_df": 2,
                                        "vocabulary": len(vec.vocabulary_)}, **facts}
    for name, make, grid in (("tfidf_logreg", lambda c: LogisticRegression(C=c, max_iter=2000), (1.0, 10.0, 100.0)),
                             ("tfidf_linearsvc", lambda c: LinearSVC(C=c), (0.1, 0.5, 1.0))):
        dev = {}
        for c in grid:
            start = time.perf_counter()
            clf = make(c).fit(x["train"], y["train"])
            dev[c] = (float(np.mean(clf.predict(x["validation"]) == np.array(y["validation"]))) * 100, clf,
                      time.perf_counter() - start)
        best = max(grid, key=lambda c: dev[c][0])
        clf = dev[best][1]
        test = classification_scores(y["test"], list(clf.predict(x["test"])), labels)
        out[name] = {"C_grid_dev_accuracy": {str(c): round(dev[c][0], 2) for c in grid}, "C": best,
                     "dev_accuracy": round(dev[best][0], 2), "test_accuracy": round(100 * test["accuracy"], 2),
                     "test_macro_f1": round(100 * test["macro_f1"], 2), "fit_seconds": round(dev[best][2], 1)}
        log.info("%s %s: dev %.2f test %.2f (C=%s)", corpus, name, dev[best][0], 100 * test["accuracy"], best)
    update_report(corpus, "baselines", out)
    return out


# LDA: number of topics, coherence ---------------------------------------------------------------------------
def lda(corpus: str, seed: int = 1, counts: list[int] | None = None) -> dict[str, Any]:
    """Per number of topics K: dev accuracy of logistic regression on θ, NPMI coherence, fit time. K is chosen
    by that dev accuracy (θ's use here is to classify)."""
    from sklearn.linear_model import LogisticRegression

    from pipelines.methods.topics import TopicModel

    splits, _ = topics_data.load(corpus)
    train = list(splits["train"]["text"])
    rows = {}
    for k in counts or TOPIC_COUNTS[corpus]:
        start = time.perf_counter()
        model = TopicModel.fit(train, k, seed=seed, passes=5, cache_dir=CACHE / "lda")
        fit_s = time.perf_counter() - start
        theta = {name: model.transform(list(splits[name]["text"])) for name in ("train", "validation")}
        clf = LogisticRegression(C=10.0, max_iter=3000).fit(np.log(theta["train"] + 1e-4), splits["train"]["label"])
        dev = float(np.mean(clf.predict(np.log(theta["validation"] + 1e-4)) == np.array(splits["validation"]["label"])))
        coh = model.coherence(train[:COHERENCE_DOCS], "c_npmi")
        rows[str(k)] = {"dev_accuracy_logreg_on_log_theta": round(dev * 100, 2), "npmi_mean": round(coh["mean"], 4),
                        "npmi_non_finite_topics": coh["non_finite_topics"],
                        "npmi_per_topic": [None if x is None else round(x, 4) for x in coh["per_topic"]],
                        "fit_seconds": round(fit_s, 1),
                        "top_words": [[w for w, _ in t] for t in model.top_words(10)]}
        log.info("%s K=%d: dev %.2f NPMI %.3f (%.0f s)", corpus, k, dev * 100, coh["mean"], fit_s)
    best = max(rows, key=lambda k: rows[k]["dev_accuracy_logreg_on_log_theta"])
    out = {"seed": seed, "passes": 5, "chosen_num_topics": int(best), "by_num_topics": rows,
           "coherence": f"c_npmi over the first {COHERENCE_DOCS} training documents, top 10 words"}
    update_report(corpus, "lda", out)
    return out


# runs in the Lightning harness -----------------------------------------------------------------------------
EXTRA: list[str] = []  # overrides given on the command line, after every variant's own (e.g. model.encoder=tiny)


def train_variant(corpus: str, name: str, overrides: list[str], seed: int, out: Path | None = None,
                  extra: list[str] | None = None) -> dict[str, Any]:
    """tasks.topics on `corpus` with `overrides`, seed `seed`, under `out` (default OUT), `extra` overrides last
    (default EXTRA): its metrics.json (reused when finished). No TF-IDF scores unless `overrides` ask for them
    (the shipped config adds them since the variants stage measured them)."""
    from pipelines.config import load_config
    from pipelines.training.train import run

    run_dir = (out or OUT) / corpus / f"{name}-seed{seed}"
    if not (run_dir / "metrics.json").exists():
        splits, _ = topics_data.load(corpus)
        keep = ["model.empty_documents=keep"] if corpus == "20ng_stripped" else []
        cfg = load_config(None, [f"data.path={topics_data.SHARED / SOURCES[corpus]}", f"train.epochs={EPOCHS[corpus]}",
                                 f"model.max_chunks={CHUNKS[corpus]}", *keep, "model.sparse=none", *overrides,
                                 *(EXTRA if extra is None else extra),
                                 f"train.seed={seed}", "train.progress_bar=false", f"train.out_dir={run_dir.parent}"],
                          task="topics")
        run(cfg, run_dir, splits=splits)
    metrics = json.loads((run_dir / "metrics.json").read_text())
    pct = lambda x: round(100 * x, 2)  # noqa: E731
    return {"seed": seed, "run": str(run_dir), "dev_accuracy": pct(metrics["validation"]["accuracy"]),
            "test_accuracy": pct(metrics["test"]["accuracy"]), "test_macro_f1": pct(metrics["test"]["macro_f1"]),
            "train_seconds": metrics.get("train_seconds"), "commit": metrics.get("commit"),
            "dirty": metrics.get("dirty")}


def summarise(runs: list[dict[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {"runs": runs}
    for key in ("dev_accuracy", "test_accuracy", "test_macro_f1"):
        m, s = mean_sd([r[key] for r in runs])
        out[key] = {"mean": round(m, 2), "sd": round(s, 2)}
    return out


def pooling(corpus: str, seeds: list[int]) -> dict[str, Any]:
    """The frozen Transformer alone (fusion=text) with each window pooling (head only where one window is read)."""
    poolings = ("head", "head_tail", "chunks") if CHUNKS[corpus] > 1 else ("head",)
    rows = {how: summarise([train_variant(corpus, f"text-{how}", ["model.fusion=text", f"model.pooling={how}"], s)
                            for s in seeds]) for how in poolings}
    best = max(rows, key=lambda h: rows[h]["dev_accuracy"]["mean"])
    update_report(corpus, "pooling", {"chosen": best, "by_pooling": rows})
    return rows


# _sparse: + a TF-IDF SVM's class scores read by the head (model.sparse_fusion=head); _late: added to the log
# probabilities with a weight chosen on dev (model.sparse_fusion=late)
FUSIONS = ("topics", "text", "concat", "gate", "text_sparse", "gate_sparse", "text_late", "gate_late")
SPARSE = {"sparse": ["model.sparse=svm", "model.sparse_fusion=head"],
          "late": ["model.sparse=svm", "model.sparse_fusion=late"]}
PAIRS = (("concat", "text"), ("gate", "text"), ("text_sparse", "text"), ("gate_sparse", "gate"),
         ("gate_sparse", "text_sparse"), ("text_late", "text"), ("gate_late", "gate"), ("text_late", "text_sparse"))


def variants(corpus: str, seeds: list[int], fusions: tuple[str, ...] = FUSIONS) -> dict[str, Any]:
    """θ alone, the Transformer alone, concat and gate, with the dev-chosen pooling and number of topics
    (`fusions=("topics",)` needs no pooling stage: θ alone reads no text vector); `_sparse`: the same head also
    reading a TF-IDF linear SVM's class scores, `_late`: those scores added with a dev-chosen weight. Rows of
    earlier calls are kept."""
    report = read_report()["corpora"][corpus]
    how, k = report["pooling"]["chosen"] if "pooling" in report else "head", report["lda"]["chosen_num_topics"]
    rows = dict(report.get("variants", {}).get("by_fusion", {}))
    for fusion in fusions:
        base, _, how_sparse = fusion.partition("_")
        sparse = SPARSE[how_sparse] if how_sparse else []
        if base == "text":  # reads no topics: the pooling stage's run of the same pooling and seed
            text = ["model.fusion=text", f"model.pooling={how}", *sparse]
            rows[fusion] = summarise([train_variant(corpus, f"{fusion}-{how}", text, s) for s in seeds])
            continue
        rows[fusion] = summarise([train_variant(corpus, f"{fusion}-{how}-k{k}", [
            f"model.fusion={base}", f"model.pooling={how}", f"model.num_topics={k}", *sparse], s) for s in seeds])
    paired = {}
    for a_name, b_name in [(a, b) for a, b in PAIRS if a in rows and b in rows]:
        diffs = [a["test_accuracy"] - b["test_accuracy"]
                 for a, b in zip(rows[a_name]["runs"], rows[b_name]["runs"], strict=True)]
        m, s = mean_sd(diffs)
        paired[f"{a_name}_minus_{b_name}"] = {"test_accuracy_diffs": [round(d, 2) for d in diffs],
                                              "mean": round(m, 2), "sd": round(s, 2)}
    update_report(corpus, "variants", {"pooling": how, "num_topics": k, "by_fusion": rows, "paired": paired})
    return rows


def main(argv: list[str] | None = None) -> int:
    from pipelines.training.train import setup_logging

    setup_logging()
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--stage", choices=["encode", "baselines", "lda", "pooling", "variants", "report"],
                        required=True)
    parser.add_argument("--corpora", nargs="+", default=list(topics_data.CORPORA))
    parser.add_argument("--seeds", nargs="+", type=int, default=[1, 2, 3])
    parser.add_argument("--encoder", default="default", help="encode stage: the frozen encoder (runs take "
                                                              "model.encoder=... among the overrides)")
    parser.add_argument("--topic-counts", nargs="+", type=int, help="lda stage: numbers of topics to try "
                                                                    "(default: per corpus, TOPIC_COUNTS)")
    parser.add_argument("--fusions", nargs="+", choices=FUSIONS, default=list(FUSIONS), help="variants stage")
    parser.add_argument("overrides", nargs="*", help="section.key=value for every run, e.g. train.epochs=10")
    args = parse_args(parser, argv)
    EXTRA[:] = args.overrides
    if args.stage == "encode":
        encode(args.corpora, args.encoder)
    for corpus in args.corpora if args.stage not in {"encode", "report"} else ():
        {"baselines": lambda c: baselines(c), "lda": lambda c: lda(c, counts=args.topic_counts),
         "pooling": lambda c: pooling(c, args.seeds),
         "variants": lambda c: variants(c, args.seeds, tuple(args.fusions))}[args.stage](corpus)
    if args.stage == "report":
        from benchmarks.topics_report import write

        write(REPORT)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
