"""Which word splitter finds the training data's words in raw text?

The served path gets raw strings; the models were trained on the datasets' own tokens. Raw text is made from
each sentence's tokens with the Moses detokenizer (pipelines.data.rawtext.detokenize: "Keller 's" ->
"Keller's", "( Reuters )" -> "(Reuters)"), then split again by each candidate splitter; a sentence counts as
agreeing when the splitter gives back exactly its tokens. Reported per dataset and split: sentences that agree
and the F1 of word boundaries (character spans). Selection reads the train splits only.

    .venv/bin/python -m benchmarks.splitters   # -> reports/splitters.json, reports/splitters.md
"""

from __future__ import annotations

import argparse
import time
from collections import Counter
from pathlib import Path
from typing import Any

from benchmarks.common import SHARED, machine, write_report_md
from pipelines.data.rawtext import SPLITTERS, detokenize
from pipelines.data.readers import read_conll, read_seq_dir
from pipelines.io import write_json
from pipelines.provenance import portable_path

DATASETS = {"conll2003": ("conll2003/{split}.txt", ("train", "test")),
            "atis": ("atis/{split}", ("train", "test")), "snips": ("snips/{split}", ("train", "test")),
            "sim_m": ("sim_m/{split}.json", ("train", "test"))}  # the user turns of the dialogues


def sentences(root: Path, name: str, split: str) -> list[list[str]]:
    pattern, _ = DATASETS[name]
    path = root / pattern.format(split=split)
    if name == "sim_m":
        from pipelines.data.dialogue import read_dialogues

        return list(read_dialogues(path)["tokens"])
    ds = read_conll(path) if name == "conll2003" else read_seq_dir(path)
    return list(ds["tokens"])


def agreement(sents: list[list[str]], detokenized: list[tuple[str, list[tuple[int, int]]]], split) -> dict[str, Any]:
    same, tp, n_gold, n_pred = 0, 0, 0, 0
    misses: Counter = Counter()
    for tokens, (text, gold) in zip(sents, detokenized, strict=True):
        words = split(text)
        pred = [(a, b) for _, a, b in words]
        same += pred == gold
        hit = set(pred) & set(gold)
        tp, n_gold, n_pred = tp + len(hit), n_gold + len(gold), n_pred + len(pred)
        for (a, b), tok in zip(gold, tokens, strict=True):
            if (a, b) not in hit:
                misses[tok] += 1
    f1 = 2 * tp / (n_gold + n_pred) if n_gold + n_pred else 0.0
    return {"sentences": len(sents), "sentences_agree": round(100 * same / len(sents), 2),
            "boundary_f1": round(100 * f1, 2), "most_missed": misses.most_common(8)}


def render(report: dict[str, Any]) -> str:
    names = list(report["splitters"])
    lines = ["# Word splitters: which one finds the training data's words in raw text", "",
             "Raw text from each sentence's tokens by the Moses detokenizer; a sentence agrees when the splitter "
             "gives back exactly its tokens. Per cell: sentences that agree (%) / word-boundary F1. Best over the "
             f"train splits together: **{report['chosen']}**. `data.splitter=auto` (the default) makes this choice "
             "per run, on up to 2,000 of its own training sentences, and records it in pipeline.json: "
             + ", ".join(f"{d} -> {max(r['train'], key=lambda n: r['train'][n]['sentences_agree'])}"
                         for d, r in report["results"].items()) + ".", "",
             "| data | split | " + " | ".join(names) + " |", "|---|---|" + "---:|" * len(names)]
    for data, splits in report["results"].items():
        for split, per in splits.items():
            lines.append(f"| {data} | {split} | " + " | ".join(
                f"{per[n]['sentences_agree']:.2f} / {per[n]['boundary_f1']:.2f}" for n in names) + " |")
    for data, splits in report["results"].items():
        if "test" not in splits:
            continue
        lines += ["", f"Tokens most often missed ({data} test):", ""]
        for n in names:
            missed = ", ".join(f"`{t}` {c}" for t, c in splits["test"][n]["most_missed"])
            lines.append(f"- {n}: {missed}")
    lines += ["", f"Machine: {report['machine']['cpu']}, commit {report['machine']['code']['commit'][:10]}; "
              f"{report['seconds']} s. Script: `benchmarks/splitters.py`."]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data-root", default=str(SHARED))
    parser.add_argument("--datasets", nargs="+", default=list(DATASETS))
    parser.add_argument("--out-dir", default="reports")
    args = parser.parse_args(argv)
    start = time.perf_counter()
    results: dict[str, Any] = {}
    for name in args.datasets:
        for split in DATASETS[name][1]:
            sents = sentences(Path(args.data_root), name, split)
            detokenized = [detokenize(tokens) for tokens in sents]  # once, for every splitter
            results.setdefault(name, {})[split] = {s: agreement(sents, detokenized, fn) for s, fn in SPLITTERS.items()}
            print(name, split, {s: r["sentences_agree"] for s, r in results[name][split].items()}, flush=True)
    train_agree = {s: sum(results[d]["train"][s]["sentences_agree"] for d in results) for s in SPLITTERS}
    report = {"data": {d: portable_path(Path(args.data_root) / d) for d in results}, "detokenizer": "sacremoses "
              "MosesDetokenizer(lang='en')", "splitters": {s: SPLITTERS[s].__module__ + "." + SPLITTERS[s].__name__
                                                            for s in SPLITTERS},
              "results": results, "chosen": max(train_agree, key=train_agree.get), "machine": machine(),
              "seconds": round(time.perf_counter() - start, 1)}
    out = Path(args.out_dir) / "splitters.json"
    write_json(out, report)
    write_report_md(out.with_suffix(".md"), render(report))
    print(f"chosen: {report['chosen']}")


if __name__ == "__main__":
    main()
