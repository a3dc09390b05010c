"""Served = scored: what a service calling `Predictor.predict` on raw text gets, next to the gold-token score.

NER on CoNLL-2003 test, the shipped default recipe (configs/ner.yaml), one seed: the same model scored on the
dataset's tokens (`evaluate`, what the reports publish) and on raw text (`pipelines.inference.served`): each
sentence detokenized with Moses rules (what a person would have written) or joined with single spaces (the
kindest case), split by the run's recorded splitter and by the others, entities matched on (type, start, end).
Also the time the splitter takes against the whole `predict` call (goal: at most 10%).

    .venv/bin/python -m benchmarks.served_vs_scored [--run RUN] [--seed 1]
Writes reports/served_vs_scored.json and .md (key `tasks.ner.conll2003.{gold_tokens, raw_text, gap}`).
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.common import SHARED, find_or_train, machine, write_report_md
from pipelines.data.rawtext import SPLITTERS
from pipelines.io import write_json
from pipelines.provenance import portable_path

GOAL_GAP = 0.3
GOAL_ECE = 0.03
GOAL_JOINT_GAP = 0.5


def entity_ece(predictor: Any, dev: Any, test: Any, texts: list[str], gold_spans: list[set]) -> dict[str, Any]:
    """ECE of the NER entity scores on test: the old score (mean of the words' emission softmax), the span
    probability before and after a temperature fitted on dev (`pipelines.training.calibrate`), and, with that
    temperature, on the served path (`Predictor.predict` on raw text, right = type and character span exact)."""
    import torch

    from pipelines.methods.calibration import binary_nll, ece_of, reliability_of
    from pipelines.training.calibrate import entity_confidences, entity_outcomes, fit_entity_temperature

    task, model, tok = predictor.task, predictor.model, predictor.tokenizer
    labels = task.entity_tags(model)
    saved = getattr(model.config, "entity_temperature", None)
    dev_out = entity_outcomes(task, model, tok, dev, predictor.data, predictor.batch_size)
    test_out = entity_outcomes(task, model, tok, test, predictor.data, predictor.batch_size)
    temperature = fit_entity_temperature(dev_out, labels, model)
    from pipelines.data.tags import spans

    old = np.array([float(scores[s:e].softmax(-1).gather(-1, torch.tensor(ids[s:e])[:, None]).mean())
                    for scores, ids, _ in test_out for _, s, e in spans([labels[k] for k in ids])])
    rows: dict[str, Any] = {}
    for name, conf, right in (("mean word softmax (the score before)", old, entity_confidences(test_out, labels,
                                                                                                model, 1.0)[1]),
                              ("span probability", *entity_confidences(test_out, labels, model, 1.0)),
                              ("span probability, temperature", *entity_confidences(test_out, labels, model,
                                                                                   temperature))):
        rows[name] = {"ece": round(ece_of(conf, right), 4), "nll": round(binary_nll(conf, right), 4),
                      "mean_score": round(float(conf.mean()), 4), "precision": round(float(right.mean()), 4),
                      "reliability": [b for b in reliability_of(conf, right) if b[2]]}
    model.config.entity_temperature = temperature  # what a run trained with train.calibration=temperature serves
    try:
        preds = predictor.predict(texts)
    finally:
        model.config.entity_temperature = saved
    conf = np.array([e["score"] for p in preds for e in p["entities"]])
    right = np.array([(e["type"], e["start"], e["end"]) in g for p, g in zip(preds, gold_spans, strict=True)
                      for e in p["entities"]])
    rows["served: raw text, span probability, temperature"] = {
        "ece": round(ece_of(conf, right), 4), "nll": round(binary_nll(conf, right), 4),
        "mean_score": round(float(conf.mean()), 4), "precision": round(float(right.mean()), 4),
        "reliability": [b for b in reliability_of(conf, right) if b[2]]}
    return {"temperature": round(temperature, 4), "entities_test": int(len(old)), "rows": rows,
            "before": rows["span probability"]["ece"], "after": rows["span probability, temperature"]["ece"],
            "served": rows["served: raw text, span probability, temperature"]["ece"], "goal": GOAL_ECE}


def plot_reliability(ece: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5, 4.4))
    ax.plot([0, 1], [0, 1], color="grey", ls=":")
    for name, row in ece["rows"].items():
        conf, acc, _ = zip(*row["reliability"], strict=True)
        ax.plot(conf, acc, marker="o", ms=3, label=f"{name}: ECE {row['ece']:.3f}")
    ax.set(title="NER entity scores, CoNLL-2003 test", xlabel="entity score", ylabel="share of entities right",
           xlim=(0, 1), ylim=(0, 1))
    ax.legend(fontsize=6, loc="upper left")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def split_cost(predictor: Any, texts: list[str]) -> dict[str, float]:
    """Seconds to split `texts` with the run's splitter, and to predict them (the splitter inside)."""
    from pipelines.data.rawtext import get_splitter

    split = get_splitter(predictor.data.splitter)
    start = time.perf_counter()
    for t in texts:
        split(t)
    splitting = time.perf_counter() - start
    start = time.perf_counter()
    predictor.predict(texts)
    total = time.perf_counter() - start
    return {"split_s": round(splitting, 3), "predict_s": round(total, 2), "split_share": round(splitting / total, 4)}


def intent_paths(run: Path, root: Path, limit: int = 0) -> dict[str, Any]:
    """CLINC150 in-scope test accuracy of one intent run, scored by `evaluate` and by `Predictor.predict` on the
    same strings (the texts are raw already; the two paths must agree)."""
    from pipelines.config import DataConfig
    from pipelines.data.splits import load_splits
    from pipelines.inference.evaluate import evaluate
    from pipelines.inference.predict import Predictor

    predictor = Predictor.load(run)
    test = load_splits(DataConfig(path=str(root / "clinc150" / "data_full.json")), "")["test"]
    if limit:
        test = test.select(range(min(limit, len(test))))
    scored = round(100 * evaluate(predictor, test)["accuracy"], 2)
    preds = predictor.predict(list(test["text"]))
    served = round(100 * sum(p["label"] == g for p, g in zip(preds, test["label"], strict=True)) / len(test), 2)
    return {"run": portable_path(str(run)), "gold_tokens": scored, "raw_text": served,
            "gap": round(served - scored, 2), "examples": len(test)}


def ner_paths(run: Path, data: Path, limit: int = 0) -> dict[str, Any]:
    """CoNLL-2003 test entity F1 through `evaluate` (gold tokens) and through `Predictor.predict` on raw text
    (Moses or plain text, each splitter), the splitter's share of `predict` time, and the entity-score ECE."""
    from pipelines.config import DataConfig
    from pipelines.data.splits import load_splits
    from pipelines.inference.evaluate import evaluate
    from pipelines.inference.predict import Predictor
    from pipelines.inference.served import raw_examples, served_scores

    predictor = Predictor.load(run)
    splits = load_splits(DataConfig(path=str(data)), "")
    test, dev = splits["test"], splits["validation"]
    if limit:
        test, dev = test.select(range(min(limit, len(test)))), dev.select(range(min(limit, len(dev))))
    pct = lambda s: {k: round(100 * s[k], 2) for k in ("f1", "precision", "recall")}  # noqa: E731
    gold = pct(evaluate(predictor, test))
    variants = {}
    for detok in ("moses", "plain"):
        for splitter in SPLITTERS:
            scores = served_scores(predictor.with_data(splitter=splitter), test, detok)
            variants[f"{detok} text, {splitter} splitter"] = {**pct(scores), "failed": scores["failed"]}
            print(detok, splitter, variants[f"{detok} text, {splitter} splitter"], flush=True)
    served = variants[f"moses text, {predictor.data.splitter} splitter"]
    texts, spans = raw_examples(test)
    return {"run": portable_path(str(run)), "data": portable_path(str(data)), "gold_tokens": gold,
            "raw_text": served, "gap": round(served["f1"] - gold["f1"], 2), "splitter": predictor.data.splitter,
            "variants": variants, "split_cost": {**split_cost(predictor, texts), "texts": len(texts)},
            "goal_gap": GOAL_GAP, "entity_ece": entity_ece(predictor, dev, test, texts, spans)}


def ner_doc_paths(run: Path, data: Path, limit: int = 0, baseline: Path | None = None) -> dict[str, Any]:
    """A model trained with document context, on CoNLL-2003 dev and test: gold tokens with their documents
    (`evaluate`), served as documents (one text per document, a sentence per line), and served one sentence
    at a time (what it gets from a caller who sends sentences); `baseline` (the sentence-level default) on raw
    text, one sentence per text, for the comparison on dev."""
    from pipelines.config import DataConfig
    from pipelines.data.splits import load_splits
    from pipelines.inference.evaluate import evaluate
    from pipelines.inference.predict import Predictor
    from pipelines.inference.served import served_scores

    predictor = Predictor.load(run)
    sentence_model = Predictor.load(baseline) if baseline is not None else None
    splits = load_splits(DataConfig(path=str(data)), "")
    out: dict[str, Any] = {"run": portable_path(str(run)), "splitter": predictor.data.splitter,
                           "baseline": portable_path(str(baseline)) if baseline else None}
    for name, key in (("validation", "dev"), ("test", "test")):
        ds = splits[name].select(range(min(limit, len(splits[name])))) if limit else splits[name]
        out[key] = {"gold_tokens": round(100 * evaluate(predictor, ds)["f1"], 2),
                    "raw_documents": round(100 * served_scores(predictor, ds, documents=True)["f1"], 2),
                    "raw_sentences": round(100 * served_scores(predictor, ds)["f1"], 2)}
        if baseline is not None:
            out[key]["baseline_raw_sentences"] = round(100 * served_scores(sentence_model, ds)["f1"], 2)
        print("ner_doc", key, out[key], flush=True)
    return out


def joint_paths(run: Path, data: Path, limit: int = 0) -> dict[str, Any]:
    """Joint intent + slots on ATIS/SNIPS test: `evaluate` on the dataset's tokens against `Predictor.predict` on
    the Moses-detokenized text (slots matched on type and character span; a sentence is right when its
    intent and every slot are)."""
    from pipelines.config import DataConfig
    from pipelines.data.splits import load_splits
    from pipelines.inference.evaluate import evaluate
    from pipelines.inference.predict import Predictor
    from pipelines.inference.served import served_scores

    predictor = Predictor.load(run)
    test = load_splits(DataConfig(path=str(data)), "")["test"]
    if limit:
        test = test.select(range(min(limit, len(test))))
    gold = evaluate(predictor, test)
    raw = served_scores(predictor, test, "moses")
    pick = lambda d, f1: {"slot_f1": round(100 * d[f1], 2), "sentence_acc": round(100 * d["sentence_acc"], 2),  # noqa: E731
                          "intent_acc": round(100 * d["intent_acc"], 2)}
    g, r = pick(gold, "slot_f1"), pick(raw, "f1")
    return {"run": portable_path(str(run)), "splitter": predictor.data.splitter, "examples": len(test),
            "gold_tokens": g, "raw_text": {**r, "failed": raw["failed"]},
            "gap": {k: round(r[k] - g[k], 2) for k in g}, "goal_gap": GOAL_JOINT_GAP}


def toxicity_paths(run: Path, limit: int = 0) -> dict[str, Any]:
    """Davidson post labels on the report's test split: the evaluation path of `benchmarks/toxicity.py`
    (post probabilities from the task's records, argmax) against `Predictor.predict(texts)["label"]`."""
    from benchmarks.toxicity import CLASSES, detection_metrics
    from benchmarks.toxicity_data import davidson_splits
    from pipelines.inference.evaluate import predict_records
    from pipelines.inference.predict import Predictor

    predictor = Predictor.load(run, batch_size=128)
    test = davidson_splits()["test"]
    if limit:
        test = test.select(range(min(limit, len(test))))
    records = predict_records(predictor, test)
    first = {r.example_id: r for r in sorted(records, key=lambda r: -r.core_start)}
    scored = [CLASSES[int(np.argmax(first[i].intent_probs))] for i in range(len(test))]
    served = [p["label"] for p in predictor.predict(list(test["text"]))]
    gold = list(test["label"])
    r2 = lambda d: {k: round(v, 2) for k, v in d.items()}  # noqa: E731
    g, r = r2(detection_metrics(gold, scored)), r2(detection_metrics(gold, served))
    return {"run": portable_path(str(run)), "examples": len(test), "gold_tokens": g, "raw_text": r,
            "gap": {k: round(r[k] - g[k], 2) for k in g},
            "labels_differ": sum(a != b for a, b in zip(scored, served, strict=True))}


def dialogue_paths(run: Path, data: Path, limit: int = 0) -> dict[str, Any]:
    """sim-M test JGA: `evaluate` on the dataset's tokens (each state built on the tracker's own earlier ones)
    against the served path: every dialogue replayed turn by turn through `predict_turns` with raw text (the
    user's and the system's turns Moses-detokenized, split by the run's splitter), each turn starting from
    the state the previous served turn returned."""
    from pipelines.config import DataConfig
    from pipelines.data.dialogue import as_dict, same_state
    from pipelines.data.rawtext import detokenize
    from pipelines.data.splits import load_splits
    from pipelines.inference.evaluate import evaluate
    from pipelines.inference.predict import Predictor

    predictor = Predictor.load(run)
    test = load_splits(DataConfig(path=str(data)), "")["test"]
    rows = test.to_list()
    dialogues: dict[str, list[dict[str, Any]]] = {}
    for r in rows:
        dialogues.setdefault(r["dialogue_id"], []).append(r)
    if limit:
        keep = sorted(dialogues)[:limit]
        dialogues = {k: dialogues[k] for k in keep}
        test = test.filter(lambda r: r["dialogue_id"] in set(keep))
    gold = evaluate(predictor, test)
    states = {k: {} for k in dialogues}
    right = []
    for step in range(max(len(v) for v in dialogues.values())):
        now = [(k, sorted(v, key=lambda r: r["turn"])[step]) for k, v in dialogues.items() if step < len(v)]
        turns = [{"text": detokenize(r["tokens"])[0], "system_text": detokenize(r["system"] or [])[0],
                  "history": r["history"], "system_values": as_dict(r["system_values"] or []),
                  "prev_state": states[k]} for k, r in now]
        preds = predictor.task.predict_turns(predictor.model, predictor.tokenizer, turns, predictor.batch_size,
                                             predictor.data, predictor.featurizers)
        for (k, r), pred in zip(now, preds, strict=True):
            states[k] = pred["state"]
            right.append(same_state(pred["state"], as_dict(r["state"])))
    g, served = round(100 * gold["jga"], 2), round(100 * float(np.mean(right)), 2)
    return {"run": portable_path(str(run)), "splitter": predictor.data.splitter, "turns": len(right),
            "gold_tokens": {"jga": g}, "raw_text": {"jga": served}, "gap": {"jga": round(served - g, 2)}}


def render(report: dict[str, Any]) -> str:
    tasks = report["tasks"]
    lines = ["# Served = scored: Predictor.predict on raw text vs the gold-token score", "",
             f"Each task's shipped default recipe on its benchmark data, seed {report['seed']}: the same model "
             "scored by `evaluate` on the dataset's own tokens (what the other reports publish) and through "
             "`Predictor.predict` on raw text (what a service gets). Raw text is the tokens Moses-detokenized "
             "(`pipelines/data/rawtext.py`); gold entities and slots are matched on type and character span.", ""]
    if "ner" in tasks:
        ner = tasks["ner"]["conll2003"]
        lines += ["## NER, CoNLL-2003 test", "", f"Run `{ner.get('run', report.get('run'))}` (recorded splitter: "
                  f"`{ner['splitter']}`). Entity F1, exact type and span.", "",
                  "| path | F1 | precision | recall |", "|---|---:|---:|---:|",
                  f"| gold tokens (`evaluate`, as the reports publish) | {ner['gold_tokens']['f1']:.2f} | "
                  f"{ner['gold_tokens']['precision']:.2f} | {ner['gold_tokens']['recall']:.2f} |"]
        for key, row in ner["variants"].items():
            lines.append(f"| raw text, {key} | {row['f1']:.2f} | {row['precision']:.2f} | {row['recall']:.2f} |")
        cost = ner["split_cost"]
        lines += ["", f"Served path (Moses text, the recorded splitter): **{ner['raw_text']['f1']:.2f}**, gap "
                  f"**{ner['gap']:+.2f}** points (goal: at most {GOAL_GAP}: "
                  f"{'met' if abs(ner['gap']) <= GOAL_GAP else 'missed'}).",
                  f"Splitting the {cost['texts']} test texts takes {cost['split_s']} s of {cost['predict_s']} s of "
                  f"`predict` ({100 * cost['split_share']:.1f}%; goal at most 10%).", ""]
    if "ner_entity_ece" in report:
        ece = report["ner_entity_ece"]
        lines += ["### Entity scores", "",
                  "An entity's score is the probability, under the model's CRF, that exactly these words form an "
                  "entity of this type (`pipelines.models.crf.segment_log_probs`: forward-backward, summed over "
                  "every labelling of the other words). Right = the entity is a gold one (type and span). "
                  f"Temperature fitted on dev: T = {ece['temperature']}. {ece['entities_test']} predicted test "
                  "entities.", "",
                  "| score | ECE | NLL | mean score | share right |", "|---|---:|---:|---:|---:|"]
        for name, row in ece["rows"].items():
            lines.append(f"| {name} | {row['ece']:.4f} | {row['nll']:.4f} | {row['mean_score']:.4f} | "
                         f"{row['precision']:.4f} |")
        lines += ["", f"Goal ECE at most {ece['goal']} after calibration: "
                  f"{'met' if ece['served'] <= ece['goal'] else 'missed'} ({ece['served']:.4f} on the served path).",
                  "", "![reliability of the entity scores](served_entity_reliability.png)", ""]
    if "ner_doc_context" in report:
        doc = report["ner_doc_context"]
        lines += ["### Document context, served as documents", "",
                  f"The default recipe with `{' '.join(DOC)}`, run `{doc['run']}`. Entity F1:", "",
                  "| split | gold tokens, with documents | raw text, one text per document | raw text, one text per "
                  f"sentence | the sentence-level default (`{doc.get('baseline')}`), raw text |",
                  "|---|---:|---:|---:|---:|"]
        for key in ("dev", "test"):
            r = doc[key]
            lines.append(f"| {key} | {r['gold_tokens']:.2f} | {r['raw_documents']:.2f} | {r['raw_sentences']:.2f} | "
                         f"{r.get('baseline_raw_sentences', float('nan')):.2f} |")
        lines.append("")
    if "joint" in tasks:
        lines += ["## Joint intent + slots", "", "| data | run | splitter | path | intent acc | slot F1 | "
                  "sentence acc |", "|---|---|---|---|---:|---:|---:|"]
        for name, row in tasks["joint"].items():
            for path in ("gold_tokens", "raw_text"):
                r = row[path]
                lines.append(f"| {name} | `{row['run']}` | {row['splitter']} | {path.replace('_', ' ')} | "
                             f"{r['intent_acc']:.2f} | {r['slot_f1']:.2f} | {r['sentence_acc']:.2f} |")
        lines.append("")
        for name, row in tasks["joint"].items():
            gap = row["gap"]
            ok = max(abs(gap["slot_f1"]), abs(gap["sentence_acc"])) <= row["goal_gap"]
            lines.append(f"- {name}: gap slot F1 {gap['slot_f1']:+.2f}, sentence acc {gap['sentence_acc']:+.2f} "
                         f"(goal: at most {row['goal_gap']}: {'met' if ok else 'missed'}).")
        lines.append("")
    if "intent" in tasks:
        it = tasks["intent"]["clinc150"]
        lines += ["## Intent, toxicity, dialogue", "",
                  f"- Intent, CLINC150 in-scope test ({it['examples']} texts), run `{it['run']}`: accuracy "
                  f"{it['gold_tokens']:.2f} through `evaluate`, {it['raw_text']:.2f} through `Predictor.predict` "
                  f"(gap {it['gap']:+.2f}; the texts are raw already, so the two paths must agree)."]
    if "toxicity" in tasks:
        tx = tasks["toxicity"]["davidson"]
        g, r = tx["gold_tokens"], tx["raw_text"]
        lines.append(f"- Toxicity, Davidson test ({tx['examples']} tweets), run `{tx['run']}`: hate F1 "
                     f"{g['hate_f1']:.2f} / macro-F1 {g['macro_f1']:.2f} / weighted F1 {g['weighted_f1']:.2f} "
                     f"through the evaluation path, {r['hate_f1']:.2f} / {r['macro_f1']:.2f} / "
                     f"{r['weighted_f1']:.2f} through `Predictor.predict`; {tx['labels_differ']} labels differ.")
    if "dialogue" in tasks:
        dl = tasks["dialogue"]["sim_m"]
        lines.append(f"- Dialogue, sim-M test ({dl['turns']} turns), run `{dl['run']}` (splitter "
                     f"`{dl['splitter']}`): JGA {dl['gold_tokens']['jga']:.2f} through `evaluate`, "
                     f"{dl['raw_text']['jga']:.2f} replayed turn by turn on raw text (gap {dl['gap']['jga']:+.2f}).")
    commits = report.get("run_commits", {})
    lines += ["", "Runs and the commits that trained them: " + ", ".join(
        f"{k} `{v['run']}` at {str(v['commit'])[:10]}{' (dirty)' if v.get('dirty') else ''}"
        for k, v in commits.items()) + ".", "",
        f"Machine: {report['machine']['cpu']}, {report['machine']['cores']} cores, commit "
        f"{report['machine']['code']['commit'][:10]}. Script: `benchmarks/served_vs_scored.py`."]
    return "\n".join(lines) + "\n"


PARTS = ("ner", "intent", "atis", "snips", "davidson", "simm", "ner_doc")
# document context on the default NER recipe, as `casing_input_doc` of reports/ner_features.md had it (windows of 64
# sub-tokens filled with the neighbouring sentences, 32 windows per batch)
DOC = ["data.doc_context=true", "data.max_length=64", "train.batch_tokens=0"]


def default_run(part: str, seed: int, root: Path) -> Path:
    """The shipped default recipe of `part` on its benchmark data, seed `seed`: found, or trained here."""
    out = Path("runs/bench/served")
    if part == "intent":  # the CLINC150 teacher of reports/distill.md (the recipe before the search)
        return Path("runs/bench/distill") / f"teacher-intent-seed{seed}"
    if part == "davidson":  # the published detection recipe (benchmarks/toxicity.py: plain, 1 epoch)
        from benchmarks import toxicity as tox

        splits = tox.davidson_splits()
        return tox.train_variant("davidson-plain", [*tox.DETECT, *tox.RECIPES["plain"]], seed,
                                 tox.davidson_for("plain", splits), "../shared/data/toxicity_davidson/labeled_data.csv")
    if part == "ner_doc":
        return find_or_train("ner", [f"data.path={root / 'conll2003'}", f"train.seed={seed}", *DOC],
                             out / f"ner-doc-seed{seed}")
    task, data, name = {"ner": ("ner", "conll2003", "ner"), "atis": ("joint", "atis", "joint-atis"),
                        "snips": ("joint", "snips", "joint-snips"),
                        "simm": ("dialogue", "sim_m", "dialogue-simm")}[part]
    return find_or_train(task, [f"data.path={root / data}", f"train.seed={seed}"], out / f"{name}-seed{seed}")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--parts", nargs="+", default=list(PARTS), choices=PARTS,
                        help="what to measure (default: all; a part's default run is trained here if missing)")
    parser.add_argument("--run", action="append", default=[], metavar="PART=RUN",
                        help="a finished run to use for a part instead of its default, e.g. ner=runs/ner-x")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--data-root", default=str(SHARED))
    parser.add_argument("--out-dir", default="reports")
    parser.add_argument("--limit", type=int, default=0, help="score the first N test examples only (smoke runs)")
    args = parser.parse_args(argv)
    root = Path(args.data_root)
    given = dict(r.split("=", 1) for r in args.run)
    runs = {part: Path(given[part]) if part in given else default_run(part, args.seed, root) for part in args.parts}
    out = Path(args.out_dir) / "served_vs_scored.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    report = json.loads(out.read_text()) if out.exists() else {}  # parts not measured now are kept
    report.update({"seed": args.seed, "machine": machine()})
    tasks = report.setdefault("tasks", {})
    if "ner" in runs:
        tasks["ner"] = {"conll2003": ner_paths(runs["ner"], root / "conll2003", args.limit)}
        report["ner_entity_ece"] = tasks["ner"]["conll2003"].pop("entity_ece")
        plot_reliability(report["ner_entity_ece"], out.with_name("served_entity_reliability.png"))
    if "ner_doc" in runs:
        baseline = runs.get("ner") or default_run("ner", args.seed, root)  # found, or trained, once
        report["ner_doc_context"] = ner_doc_paths(runs["ner_doc"], root / "conll2003", args.limit, baseline)
    if "intent" in runs:
        tasks["intent"] = {"clinc150": intent_paths(runs["intent"], root, args.limit)}
    for part in ("atis", "snips"):
        if part in runs:
            tasks.setdefault("joint", {})[part] = joint_paths(runs[part], root / part, args.limit)
            print(part, tasks["joint"][part], flush=True)
    if "davidson" in runs:
        tasks["toxicity"] = {"davidson": toxicity_paths(runs["davidson"], args.limit)}
        print(tasks["toxicity"], flush=True)
    if "simm" in runs:
        tasks["dialogue"] = {"sim_m": dialogue_paths(runs["simm"], root / "sim_m", args.limit)}
        print(tasks["dialogue"], flush=True)
    for part, run in runs.items():  # the commit each run was trained at
        m = json.loads((run / "metrics.json").read_text())
        report.setdefault("run_commits", {})[part] = {"run": portable_path(str(run)), "commit": m.get("commit"),
                                                      "dirty": m.get("dirty")}
    write_json(out, report)
    write_report_md(out.with_suffix(".md"), render(report))
    print(render(report))


if __name__ == "__main__":
    main()
