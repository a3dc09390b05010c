"""Word-level features for the Transformer tagger on CoNLL-2003: an ablation over seeds (Q15).

Variants (each the shipped NER config plus its overrides):
    plain          the shipped recipe (CRF head)
    casing_input   + a zero-initialised casing embedding added to the sub-token embeddings
    casing_head    + the casing concatenated before the classifier
    chars_input, casing_chars_input   + a character CNN over the word's bytes (and the casing), added at the input
    casing_word2vec_input   + the casing and a gensim word2vec vector (trained on the training text), projected
                   through a zero-gain LayerNorm and added at the input
    plain_headlr / casing_input_headlr   the same with train.head_lr=1e-3 (heads and the casing table)
    casing_input_doc   casing_input with document context: words of the neighbouring sentences fill 64-sub-token
                   windows (benchmarks.ner_conll2003's document setting)

    .venv/bin/python -m benchmarks.ner_features --variants plain casing_input --seeds 1 2 3 train.epochs=1
Writes reports/ner_features.json / .md (rows from earlier calls are kept; a row is one variant under one set of
extra overrides, re-summarised from all its seeds).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from benchmarks.common import SHARED, find_or_train, generated_by, machine, mean_sd, write_report_md
from pipelines.cli import parse_args
from pipelines.io import write_json
from pipelines.provenance import portable_path

VARIANTS = {
    "plain": ["model.word_features=none"],
    "casing_input": ["model.word_features=casing"],
    "casing_head": ["model.word_features=casing", "model.feature_fusion=head"],
    "chars_input": ["model.word_features=chars"],
    "casing_chars_input": ["model.word_features=casing+chars"],
    "casing_word2vec_input": ["model.word_features=casing+word2vec"],
    "plain_headlr": ["train.head_lr=1e-3"],
    "casing_input_headlr": ["model.word_features=casing", "train.head_lr=1e-3"],
    "casing_input_doc": ["model.word_features=casing", "data.doc_context=true", "data.max_length=64"],
}
ANCHORS = {"Lample et al. 2016, BiLSTM-CRF + pretrained vectors": 90.94, "BERT-base, sentence level": 91.5}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--variants", nargs="+", default=["plain", "casing_input"], choices=list(VARIANTS))
    parser.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3])
    parser.add_argument("--data-root", default=str(SHARED))
    parser.add_argument("--out-dir", default="reports")
    parser.add_argument("overrides", nargs="*", help="added to every run, e.g. train.epochs=1")
    args = parse_args(parser, argv)
    data = str(Path(args.data_root) / "conll2003")
    out = Path(args.out_dir) / "ner_features.json"
    report: dict[str, Any] = json.loads(out.read_text()) if out.exists() else {"variants": {}}
    report.update({"data": portable_path(data), "machine": machine()})
    extra = [o for o in args.overrides if not o.startswith("train.progress_bar=")]  # settings that change results
    tag = "_".join(o.replace("train.", "").replace("=", "") for o in extra) or "shipped"
    for seed in args.seeds:
        for name in args.variants:
            run = find_or_train("ner", [f"data.path={data}", f"train.seed={seed}", *VARIANTS[name], *args.overrides],
                                Path("runs/bench/ner_features") / tag / f"{name}-seed{seed}")
            m = json.loads((run / "metrics.json").read_text())
            entry = report["variants"].setdefault(" ".join([name, *extra]), {
                "variant": name, "overrides": VARIANTS[name], "extra": extra, "runs": {}})
            entry["overrides"] = VARIANTS[name]
            row = entry["runs"].setdefault(str(seed), {})
            row.update({"dev_f1": round(100 * m["validation"]["f1"], 2), "test_f1": round(100 * m["test"]["f1"], 2),
                        "train_seconds": m["train_seconds"], "commit": m.get("commit")})
            if "data.doc_context=true" in VARIANTS[name] and "dev_f1_sentence" not in row:
                row.update(sentence_level(run, data))
            for key in ("dev_f1", "test_f1", "train_seconds", "dev_f1_sentence", "test_f1_sentence"):
                values = [r[key] for r in entry["runs"].values() if key in r]
                if values:
                    mu, sd = mean_sd(values)
                    entry.update({f"{key}_mean": round(mu, 2), f"{key}_sd": round(sd, 2), f"{key}_n": len(values)})
            entry["n_seeds"] = len(entry["runs"])
            write_json(out, report)
    write_report_md(out.with_suffix(".md"), render(report))


def sentence_level(run: Path, data: str) -> dict[str, float]:
    """Dev and test F1 of a document-context model scored one sentence at a time, as `Predictor.predict(texts)`
    serves it (texts carry no document)."""
    import dataclasses

    from pipelines.data.splits import load_splits
    from pipelines.inference.evaluate import evaluate
    from pipelines.inference.predict import Predictor

    predictor = Predictor.load(run)
    sentence = dataclasses.replace(predictor.data, doc_context=False)
    splits = load_splits(dataclasses.replace(predictor.data, path=data), data)
    return {f"{key}_f1_sentence": round(100 * evaluate(predictor, splits[split], sentence)["f1"], 2)
            for key, split in (("dev", "validation"), ("test", "test"))}


def cell(e: dict[str, Any], key: str, n: int) -> str:
    """`mean ± sd`, or the one value where a single seed ran (an sd of 0.00 would read as a measured spread)."""
    return f"{e[key + '_mean']:.2f} ± {e[key + '_sd']:.2f}" if n > 1 else f"{e[key + '_mean']:.2f}"


def render(r: dict[str, Any]) -> str:
    lines = ["# NER with word-level features (CoNLL-2003)", "", generated_by("benchmarks/ner_features.py",
                                                                             r["machine"]), "",
             f"Data `{r['data']}`; the bundled all-MiniLM-L6-v2 (uncased); the shipped NER config (CRF head, casing, "
             f"heads at lr 1e-3, token-budget batches, 3 epochs) plus the row's settings and the variant's overrides "
             f"(`train.head_lr=0`: one learning rate for everything, the NER default until `casing_input_headlr` "
             f"won on dev; `train.batch_tokens=0`: 32 sentences per batch, the default before token budgets). Best "
             f"epoch on dev; mean ± sd over the seeds (n).", "",
             "| settings | variant | overrides | n | dev F1 | test F1 | train s |", "|---|---|---|---:|---:|---:|---:|"]
    for e in sorted(r["variants"].values(), key=lambda e: (e["extra"], list(VARIANTS).index(e["variant"]))):
        settings, overrides = " ".join(e["extra"]) or "shipped", " ".join(e["overrides"]) or "-"
        lines.append(f"| `{settings}` | {e['variant']} | `{overrides}` | "
                     f"{e['n_seeds']} | {cell(e, 'dev_f1', e['n_seeds'])} | {cell(e, 'test_f1', e['n_seeds'])} | "
                     f"{e['train_seconds_mean']:.0f} |")
    doc = [e for e in r["variants"].values() if "dev_f1_sentence_mean" in e]
    if doc:
        lines += ["", "Document-context models scored one sentence at a time (no neighbouring sentences), as "
                      "`Predictor.predict(texts)` serves them:", "",
                  "| settings | variant | n | dev F1 | test F1 |", "|---|---|---:|---:|---:|"]
        lines += [f"| `{' '.join(e['extra']) or 'shipped'}` | {e['variant']} | {e['dev_f1_sentence_n']} | "
                  f"{cell(e, 'dev_f1_sentence', e['dev_f1_sentence_n'])} | "
                  f"{cell(e, 'test_f1_sentence', e['test_f1_sentence_n'])} |" for e in doc]
    lines += ["", "Published anchors (test F1): " + "; ".join(f"{k} {v}" for k, v in ANCHORS.items()) + ".", "",
              "## Adding embeddings from two spaces", "",
              "The encoder's input for sub-token t of word w is x_t = E_tok[t] + E_pos[t] (+ E_type), then a "
              "LayerNorm. `casing_input` adds E_case[case(w)], a table of 8 rows (7 casing classes and one for "
              "special tokens) that starts at zero, so step 0 is the pretrained model exactly. Adding two tables "
              "is the same as concatenating them and projecting back with [I I]: [E_tok; E_case] times a (2H, H) "
              "map spans what the sum spans, so 'sum or concatenate' is only a real choice where a non-linearity "
              "sits between them. The LayerNorm that follows the sum is what aligns the spaces: whatever scale "
              "E_case learns, the encoder sees a normalised vector. `casing_head` concatenates a 16-d casing "
              "vector to the last hidden state h before the linear classifier; W [h; e] = W_h h + W_e e, so it "
              "can only shift each sub-token's tag scores by its own casing, while `casing_input` lets every layer "
              "attend to the casing of the neighbours (a capitalised word after 'in' is a location)."]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
