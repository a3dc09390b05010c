"""Word analogy (Q84) and comparing embeddings from different models (Q31).

    .venv/bin/python -m benchmarks.analogy              # -> reports/analogy.{json,md}

- word2vec (gensim, skip-gram with negative sampling, 300 dims, window 5, min_count 5, 5 epochs) trained on the
  project's text: 20 Newsgroups (train + test, raw posts), BBC News (all articles) and CoNLL-2003 train;
  lower-cased, split by gensim's `tokenize`, one sentence per line of text. Two models, seeds 1 and 2.
- the default encoder's static input embeddings (all-MiniLM-L6-v2's word_embeddings rows), restricted to
  whole-word WordPiece entries (no "##", alphabetic): the analogy questions whose four words are each one
  WordPiece are the ones it can answer.
- the Google analogy set (`questions-words.txt` from gensim's test data), 3CosAdd, questions with a word
  outside a model's vocabulary skipped (coverage reported), vocabulary restricted to the 300,000 most
  frequent words.
- comparisons on the words both vocabularies share: orthogonal Procrustes (held-out cosine), linear CKA, RSA
  and 10-NN overlap; word2vec seed 1 vs seed 2 is the sanity bound (same data, same method).
Failures are explained with the training-corpus frequency of the words of failed vs solved questions.
"""

from __future__ import annotations

import argparse
import itertools
import logging
import time
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks import topics_data
from benchmarks.common import SHARED, machine, write_report_md
from pipelines.io import write_json

OUT = Path("runs/bench/analogy")
REPORT = Path("reports/analogy.json")
SEEDS = (1, 2)
W2V = {"vector_size": 300, "window": 5, "min_count": 5, "sg": 1, "negative": 5, "epochs": 5, "sample": 1e-4}
log = logging.getLogger(__name__)


def questions_file() -> Path:
    import gensim

    return Path(gensim.__file__).parent / "test" / "test_data" / "questions-words.txt"


def corpus_sentences() -> list[list[str]]:
    """Lower-cased token lists, one per non-empty line of the project's text."""
    from gensim.utils import tokenize

    from pipelines.data.readers import read_conll

    texts: list[str] = []
    splits, _ = topics_data.load("20ng_raw")
    texts += [t for name in ("train", "validation", "test") for t in splits[name]["text"]]
    bbc, _ = topics_data.bbc()
    texts += [t for name in ("train", "validation", "test") for t in bbc[name]["text"]]
    sentences = [list(tokenize(line, lower=True)) for t in texts for line in t.splitlines()]
    conll = read_conll(SHARED / "conll2003" / "train.txt")
    sentences += [[w.lower() for w in toks] for toks in conll["tokens"]]
    return [s for s in sentences if s]


def train_word2vec(sentences: list[list[str]], seed: int, params: dict[str, Any]) -> Any:
    from gensim.models import KeyedVectors, Word2Vec

    path = OUT / f"word2vec-seed{seed}.kv"
    if path.exists():
        return KeyedVectors.load(str(path))
    start = time.perf_counter()
    model = Word2Vec(sentences, seed=seed, workers=2, **params)
    log.info("word2vec seed %d: %d words, %.0f s", seed, len(model.wv), time.perf_counter() - start)
    OUT.mkdir(parents=True, exist_ok=True)
    model.wv.save(str(path))
    return model.wv


def encoder_embeddings(name: str = "default") -> tuple[list[str], np.ndarray]:
    """Whole-word, alphabetic WordPiece entries of the encoder and their input embedding rows."""
    from transformers import AutoModel

    from pipelines.models import encoders

    tok = encoders.load_tokenizer(name)
    model = encoders.load_model(name, AutoModel, tok)
    matrix = model.get_input_embeddings().weight.detach().numpy()
    vocab = tok.get_vocab()
    words = sorted((w for w in vocab if w.isalpha() and w.isascii() and not w.startswith("##")), key=vocab.get)
    return words, matrix[[vocab[w] for w in words]]


def failure_frequencies(kv: Any, counts: Counter, questions: Path) -> dict[str, Any]:
    """Median corpus count of the least frequent word of solved vs failed questions (those the model covers)."""
    solved, failed = [], []
    if not kv.key_to_index or emb_analogies_covered(kv, questions) == 0:
        return {"solved_median_min_count": None, "failed_median_min_count": None,
                "accuracy_by_min_count": by_frequency([], [])}
    _, sections = kv.evaluate_word_analogies(str(questions), restrict_vocab=300_000, case_insensitive=True)
    total = next(s for s in sections if s["section"] == "Total accuracy")
    for bucket, rows in ((solved, total["correct"]), (failed, total["incorrect"])):
        bucket.extend(min(counts.get(w.lower(), 0) for w in q) for q in rows)
    med = lambda v: float(np.median(v)) if v else None  # noqa: E731
    return {"solved_median_min_count": med(solved), "failed_median_min_count": med(failed),
            "accuracy_by_min_count": by_frequency(solved, failed)}


def emb_analogies_covered(kv: Any, questions: Path) -> int:
    known = {w.lower() for w in kv.key_to_index}
    return sum(all(w.lower() in known for w in line.split()) for line in questions.read_text().splitlines()
               if line.strip() and not line.startswith(":"))


def num(x: float | None, digits: int = 2) -> str:
    return "-" if x is None else f"{x:.{digits}f}"


def by_frequency(solved: list[int], failed: list[int]) -> dict[str, Any]:
    edges = [0, 100, 1000, 10000, float("inf")]
    out = {}
    for lo, hi in itertools.pairwise(edges):
        s = sum(lo <= c < hi for c in solved)
        f = sum(lo <= c < hi for c in failed)
        out[f"{lo}-{hi}"] = {"questions": s + f, "accuracy": round(100 * s / (s + f), 2) if s + f else None}
    return out


def main(argv: list[str] | None = None) -> int:
    from pipelines.methods import embeddings as emb
    from pipelines.training.train import setup_logging

    setup_logging()
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--encoder", default="default")
    parser.add_argument("--epochs", type=int, default=W2V["epochs"])
    parser.add_argument("--min-count", type=int, default=W2V["min_count"])
    args = parser.parse_args(argv)
    params = {**W2V, "epochs": args.epochs, "min_count": args.min_count}
    questions = questions_file()
    sentences = corpus_sentences()
    counts = Counter(w for s in sentences for w in s)
    sources = "20 Newsgroups raw (train+test), BBC News (deduplicated), CoNLL-2003 train"
    report: dict[str, Any] = {"corpus": {"sentences": len(sentences), "tokens": sum(counts.values()),
                                         "types": len(counts), "sources": sources},
                              "word2vec": params, "encoder": args.encoder,
                              "questions": "gensim test_data/questions-words.txt (Mikolov et al.)"}
    models = {f"word2vec_seed{s}": train_word2vec(sentences, s, params) for s in SEEDS}
    words, matrix = encoder_embeddings(args.encoder)
    models["encoder_input_embeddings"] = emb.keyed_vectors(words, matrix)
    report["analogies"] = {}
    for name, kv in models.items():
        report["analogies"][name] = emb.analogies(kv, questions)
        report["analogies"][name]["vocabulary"] = len(kv)
        if name.startswith("word2vec"):
            report["analogies"][name]["frequency"] = failure_frequencies(kv, counts, questions)
        log.info("%s: %.2f%% of %d questions (coverage %.1f%%)", name, report["analogies"][name]["accuracy"],
                 report["analogies"][name]["evaluated"], report["analogies"][name]["coverage"])
    # the encoder on the questions word2vec also covers, and word2vec on the encoder-covered ones: same questions
    report["analogies_same_questions"] = same_questions(models["word2vec_seed1"], models["encoder_input_embeddings"],
                                                        questions, emb)
    shared = [w for w in words if w in models["word2vec_seed1"].key_to_index
              and w in models["word2vec_seed2"].key_to_index]
    w1 = np.stack([models["word2vec_seed1"][w] for w in shared])
    w2 = np.stack([models["word2vec_seed2"][w] for w in shared])
    enc = np.stack([models["encoder_input_embeddings"][w] for w in shared])
    report["compare"] = {"shared_words": len(shared),
                         "word2vec_seed1_vs_seed2": emb.compare(w1, w2),
                         "word2vec_seed1_vs_encoder": emb.compare(w1, enc),
                         "word2vec_seed1_vs_shuffled_encoder": emb.compare(
                             w1, enc[np.random.default_rng(0).permutation(len(enc))])}
    report["machine"] = machine()
    write_json(REPORT, report)
    write_report_md(REPORT.with_suffix(".md"), render(report))
    return 0


def same_questions(w2v: Any, enc: Any, questions: Path, emb: Any) -> dict[str, Any]:
    """Both models on the questions whose four words both vocabularies hold."""
    import tempfile

    keep, section = [], None
    for line in questions.read_text().splitlines():
        if line.startswith(":"):
            section = line
            keep.append(line)
        elif all(w.lower() in w2v.key_to_index and w.lower() in enc.key_to_index for w in line.split()):
            keep.append(line)
    del section
    with tempfile.NamedTemporaryFile("w", suffix=".txt", delete=False) as fh:
        fh.write("\n".join(keep) + "\n")
    try:
        return {"word2vec_seed1": emb.analogies(w2v, fh.name), "encoder_input_embeddings": emb.analogies(enc, fh.name)}
    finally:
        Path(fh.name).unlink()


def render(r: dict[str, Any]) -> str:
    a = r["analogies"]
    lines = ["# Word analogy and embedding comparison", "",
             "Generated by `benchmarks/analogy.py` (`make bench-analogy`); numbers from `reports/analogy.json`.", "",
             f"Corpus: {r['corpus']['sources']}: {r['corpus']['tokens']:,} tokens, {r['corpus']['types']:,} types, "
             f"{r['corpus']['sentences']:,} lines. word2vec: {r['word2vec']}.", "",
             "## Analogies (Google set, 3CosAdd)", "",
             "| model | vocabulary | evaluated / questions | coverage | accuracy | semantic sections | syntactic |",
             "|---|---|---|---|---|---|---|"]
    for name, res in a.items():
        sem = [s for k, s in res["sections"].items() if not k.startswith("gram")]
        syn = [s for k, s in res["sections"].items() if k.startswith("gram")]
        acc = lambda ss: (100 * sum(s["accuracy"] * s["evaluated"] / 100 for s in ss if s["evaluated"])  # noqa: E731
                          / max(1, sum(s["evaluated"] for s in ss)))
        lines.append(f"| {name} | {res['vocabulary']:,} | {res['evaluated']:,} / {res['questions']:,} | "
                     f"{res['coverage']:.1f}% | {num(res['accuracy'])} | {acc(sem):.2f} | {acc(syn):.2f} |")
    lines += ["", "Per section (accuracy, evaluated):", "", "| section | " + " | ".join(a) + " |",
              "|---|" + "---|" * len(a)]
    for sec in next(iter(a.values()))["sections"]:
        cells = []
        for res in a.values():
            s = res["sections"].get(sec)
            cells.append(f"{s['accuracy']:.1f} ({s['evaluated']})" if s and s["evaluated"] else "- (0)")
        lines.append(f"| {sec} | " + " | ".join(cells) + " |")
    same = r["analogies_same_questions"]
    lines += ["", f"On the {same['word2vec_seed1']['evaluated']:,} questions both vocabularies cover: word2vec "
              f"{num(same['word2vec_seed1']['accuracy'])}, encoder input embeddings "
              f"{num(same['encoder_input_embeddings']['accuracy'])}.", "",
              "Word frequency (training-corpus count of the rarest word of a question) vs accuracy, word2vec seed 1:",
              "", "| rarest word's count | questions | accuracy |", "|---|---|---|"]
    for band, row in a["word2vec_seed1"]["frequency"]["accuracy_by_min_count"].items():
        lines.append(f"| {band} | {row['questions']} | {row['accuracy']} |")
    c = r["compare"]
    lines += ["", f"## Comparing the spaces ({c['shared_words']:,} shared words)", "",
              "| pair | Procrustes held-out cosine | (random rotation) | linear CKA | RSA (Spearman) | 10-NN overlap |",
              "|---|---|---|---|---|---|"]
    for name in ("word2vec_seed1_vs_seed2", "word2vec_seed1_vs_encoder", "word2vec_seed1_vs_shuffled_encoder"):
        m = c[name]
        lines.append(f"| {name} | {m['procrustes']['held_out_cosine']:.3f} | "
                     f"{m['procrustes']['random_rotation_cosine']:.3f} | {m['linear_cka']:.3f} | "
                     f"{m['rsa_spearman']:.3f} | {m['knn_overlap@10']:.3f} |")
    mach = r["machine"]
    lines += ["", f"Machine: {mach['cpu']}, {mach['cores']} cores, torch {mach['torch']}; code "
              f"{mach['code'].get('commit', '?')[:10]}{' (dirty)' if mach['code'].get('dirty') else ''}.", ""]
    return "\n".join(lines)


if __name__ == "__main__":
    raise SystemExit(main())
