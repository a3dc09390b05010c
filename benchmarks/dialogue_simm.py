"""Dialogue state tracking on sim-M: the context ablation (user turn only / + the system turn / + the history)
over seeds, and the off-topic detector of the history model inside real dialogues.

    .venv/bin/python -m benchmarks.dialogue_simm --seeds 1 2 3
    .venv/bin/python -m benchmarks.dialogue_simm --seeds 1 --variants system --extra-variants   (quicker)
    .venv/bin/python -m benchmarks.dialogue_simm --title-folds 3 --variants system_aug2_6ep titles --extra-variants

--title-folds K: selection on titles the model never saw. sim-M's dev has 5 movies, two of them in 107 of its
120 dialogues, so its JGA says little about unseen titles (all 26 test movies are unseen). Fold k of K holds out
every k-th training title (by frequency): the training dialogues that mention one of them go to dev, beside
sim-M's dev; the model trains on the rest (seed k). Only dev is scored; test is not read.

Off-topic: every sim-M test user turn with its context (in scope: how often the bot would wrongly redirect)
and CLINC150's out-of-scope test messages put in place of the user's words of a random sim-M test turn,
keeping that turn's context (how often a real off-topic message is caught mid-booking).
Writes reports/dialogue_simm.json and .md.
"""

from __future__ import annotations

import argparse
import json
import random
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.common import SHARED, find_or_train, generated_by, machine, mean_sd, write_report_md
from pipelines.cli import parse_args
from pipelines.io import write_json

WORDS = ["model.augment_style=words"]  # the made-up values before titles became the default
BEFORE = [*WORDS, "model.augment_copies=1", "train.epochs=3"]  # configs/dialogue.yaml when the context rows were made
VARIANTS = {  # name -> (what the table calls it, overrides)
    "user": ("user turn only", [*BEFORE, "model.context=user"]),
    "system": ("+ previous system turn", [*BEFORE, "model.context=system"]),
    "history": ("+ full history (window 128)", [*BEFORE, "model.context=history"]),
    "history_noaug": ("+ full history, trained without made-up titles", [*BEFORE, "model.context=history",
                                                                       "model.augment_slots="]),
    "system_aug2": ("+ previous system turn, 2 made-up copies", [*BEFORE, "model.context=system",
                                                                  "model.augment_copies=2"]),
    "system_aug2_6ep": ("+ previous system turn, 2 made-up copies, 6 epochs (the default before titles)",
                        [*WORDS, "model.context=system", "model.augment_copies=2", "train.epochs=6"]),
    "titles": ("the default, made-up values shaped like titles", ["model.augment_style=titles"]),
}
CONTEXT_NAMES = {k: v[0] for k, v in VARIANTS.items()}
DEFAULT = "titles"  # configs/dialogue.yaml
ERROR_CLASSES = {"system_aug2_6ep", DEFAULT}  # the variants whose test errors are classified (error_classes)
HEADLINE = ("jga", "slot_acc_mean", "slot_f1", "gate_acc_updates", "jga_oracle")


def offtopic_rates(run_dir: Path, test: Any, oos: list[str], seed: int = 0) -> dict[str, float]:
    from pipelines.families.dialogue_state import predict_turns
    from pipelines.inference.predict import Predictor

    p = Predictor.load(run_dir)
    if "offtopic" not in p.featurizers:
        return {}
    rows = test.to_list()
    turns = [{"tokens": r["tokens"], "system": r["system"], "history": r["history"],
              "system_values": {x["slot"]: x["value"] for x in r["system_values"]}} for r in rows]
    rng = random.Random(seed)
    fake = [{**rng.choice(turns), "tokens": None, "text": text} for text in oos]

    def flag(ts: list[dict[str, Any]]) -> np.ndarray:
        return np.array([bool(x.get("off_topic"))
                         for x in predict_turns(p.model, p.tokenizer, ts, 64, p.data, p.featurizers)])

    in_scope, out_scope = flag(turns), flag(fake)
    return {"in_scope_flagged": float(in_scope.mean()), "oos_caught": float(out_scope.mean()),
            "in_scope_turns": len(turns), "oos_messages": len(oos)}


def without_span_copy(run_dir: Path, test: Any) -> float:
    """Test JGA of the run's model when only the gates decide (model.span_copy=false), same predictions."""
    from pipelines.families.dialogue_state import score
    from pipelines.inference.evaluate import predict_records
    from pipelines.inference.predict import Predictor

    p = Predictor.load(run_dir)
    id2label = {int(k): v for k, v in p.model.config.id2label.items()}
    return score(predict_records(p, test), id2label, span_copy=False)["jga"]


def error_classes(run_dir: Path, test: Any) -> dict[str, dict[str, int]]:
    """Per slot, the test turns where the tracker's value first goes wrong (not carried over from an earlier
    error), by cause: `gold gate -> predicted gate` (after span_copy), and for a right copy whose value is wrong,
    whether the tagger found no span of the slot (`span missed`), a span overlapping the gold one (`span
    boundary`) or another one (`span elsewhere`). `carried` counts the turns that only keep an earlier error."""
    from collections import Counter

    from pipelines.data.dialogue import GATES, norm, user_spans
    from pipelines.data.tags import LabelSets
    from pipelines.families.dialogue_state import track, turn_update
    from pipelines.inference.evaluate import predict_records
    from pipelines.inference.predict import Predictor

    p = Predictor.load(run_dir)
    _, slots, tags = LabelSets.of(p.model.config.id2label)
    records = sorted(predict_records(p, test), key=lambda r: (r.dialogue, r.turn))
    states = track(records, slots, tags, "pred", p.model.span_copy)
    out: dict[str, Counter] = {s: Counter() for s in slots}
    prev_pred: dict[str, str] = {}
    prev_gold: dict[str, str] = {}
    for i, r in enumerate(records):
        if i == 0 or records[i - 1].dialogue != r.dialogue:
            prev_pred, prev_gold = {}, {}
        gold = {s: v for s, v in zip(slots, r.state, strict=True) if v}
        pred = states[r.example_id]
        gates, said, _ = turn_update(slots, [tags[k] for k in r.pred], r.gate_pred, r.words, r.offered,
                                     p.model.span_copy)
        gold_said = user_spans(r.words, [tags[max(k, 0)] for k in r.gold])
        for k, s in enumerate(slots):
            if norm(pred.get(s, "")) == norm(gold.get(s, "")):
                continue
            g = GATES[r.gate_gold[k]] if r.gate_gold[k] >= 0 else "other"
            wrong_before = norm(prev_pred.get(s, "")) != norm(prev_gold.get(s, ""))
            if g == "carry" and wrong_before and gates.get(s, "carry") == "carry":
                out[s]["carried"] += 1
                continue
            cls = f"{g} -> {gates.get(s, 'carry')}"
            if cls == "copy -> copy":
                if s not in said:
                    cls = "span missed"
                else:
                    a, b = set(said[s].split()), set(gold_said.get(s, "").split())
                    cls = "span boundary" if a & b else "span elsewhere"
            out[s][cls] += 1
        prev_pred, prev_gold = pred, gold
    return {s: dict(c.most_common()) for s, c in out.items()}


def title_folds(data: Path, k: int, out: Path) -> list[tuple[Path, list[str], int]]:
    """`k` data folders (train.json, dev.json): fold i holds out training titles i, i + k, ... (by frequency);
    per fold its folder, the held-out titles and the number of dev dialogues."""
    from collections import Counter

    train = json.loads((data / "train.json").read_text(encoding="utf-8"))
    dev = json.loads((data / "dev.json").read_text(encoding="utf-8"))

    def titles(dialogue: dict[str, Any]) -> set[str]:
        return {x["value"] for t in dialogue["turns"] for x in t["dialogue_state"] if x["slot"] == "movie"}

    counts = Counter(m for d in train for m in titles(d))
    ranked = sorted(counts, key=lambda m: (-counts[m], m))
    folders = []
    for i in range(k):
        held = set(ranked[i::k])
        folder = out / f"fold{i + 1}of{k}"
        folder.mkdir(parents=True, exist_ok=True)
        fold_dev = dev + [d for d in train if titles(d) & held]
        write_json(folder / "train.json", [d for d in train if not titles(d) & held])
        write_json(folder / "dev.json", fold_dev)
        folders.append((folder, sorted(held), len(fold_dev)))
    return folders


def select_on_title_folds(variants: list[str], k: int, data: Path, overrides: list[str]) -> dict[str, Any]:
    """Dev JGA of each variant on each title fold (fold i trained with seed i)."""
    out = Path("runs/bench/dialogue_simm/title_folds")
    folds = title_folds(data, k, out)
    result: dict[str, Any] = {"folds": [held for _, held, _ in folds], "dev_dialogues": [n for _, _, n in folds],
                              "runs": {}}
    for v in variants:
        for i, (folder, _, _) in enumerate(folds, 1):
            run_dir = find_or_train("dialogue", [f"data.path={folder}", *VARIANTS[v][1], f"train.seed={i}",
                                                 *overrides], out / f"{v}-{folder.name}")
            m = json.loads((run_dir / "metrics.json").read_text())
            result["runs"].setdefault(v, []).append({
                "fold": i, "seed": i, "run": str(run_dir), "commit": m.get("commit"),
                "train_seconds": m["train_seconds"], "dev_jga": m["validation"]["jga"],
                "dev_slot_acc": m["validation"]["slot_acc"]})
    result["summary"] = {v: {"dev_jga": mean_sd([100 * r["dev_jga"] for r in runs]),
                             "movie": mean_sd([100 * r["dev_slot_acc"]["movie"] for r in runs])}
                         for v, runs in result["runs"].items()}
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3])
    parser.add_argument("--variants", nargs="+", default=["history", "system", "user"], choices=list(VARIANTS),
                        help="each trained with every --seeds")
    parser.add_argument("--extra-variants", nargs="*", default=["history_noaug"], choices=list(VARIANTS),
                        help="each trained with every --extra-seeds")
    parser.add_argument("--extra-seeds", type=int, nargs="*", default=[1])
    parser.add_argument("--title-folds", type=int, default=0, metavar="K",
                        help="instead: dev JGA of --variants on K folds of held-out training titles (no test)")
    parser.add_argument("--out-dir", default="reports")
    parser.add_argument("overrides", nargs="*")
    args = parse_args(parser, argv)
    from pipelines.data.dialogue import read_dialogues

    data = SHARED / "sim_m"
    out_json = Path(args.out_dir) / "dialogue_simm.json"
    if args.title_folds:
        if not out_json.exists():
            raise SystemExit(f"{out_json}: run the variants first (the fold table is added to their report)")
        result = json.loads(out_json.read_text())
        result["title_folds"] = select_on_title_folds(args.variants, args.title_folds, data, args.overrides)
        result["title_folds"]["machine"] = machine()
        write_json(out_json, result)
        write_report_md(Path(args.out_dir) / "dialogue_simm.md", report(result))
        print(json.dumps(result["title_folds"]["summary"]))
        return 0
    test = read_dialogues(data / "test.json")
    clinc = json.loads((SHARED / "clinc150" / "data_full.json").read_text(encoding="utf-8"))
    oos = [t for t, _ in clinc["oos_test"]]
    result: dict[str, Any] = {"data": "sim-M (../shared/data/sim_m: 384 / 120 / 264 dialogues), test split",
                              "encoder": "all-MiniLM-L6-v2 (default)", "overrides": args.overrides, "runs": {}}
    plan = [(v, s) for v in args.variants for s in args.seeds] + \
        [(v, s) for v in args.extra_variants for s in args.extra_seeds]
    if out_json.exists():  # the variants this call does not run keep their published runs
        old = json.loads(out_json.read_text())
        result["runs"] = {v: runs for v, runs in old.get("runs", {}).items() if v not in {v for v, _ in plan}}
        if "title_folds" in old:
            result["title_folds"] = old["title_folds"]
    for context, seed in plan:
        run_dir = find_or_train("dialogue", [f"data.path={data}", *VARIANTS[context][1], f"train.seed={seed}",
                                             *args.overrides],
                                Path("runs/bench/dialogue_simm") / f"{context}-seed{seed}")
        m = json.loads((run_dir / "metrics.json").read_text())
        entry = {"seed": seed, "run": str(run_dir), "commit": m.get("commit"), "train_seconds": m["train_seconds"],
                 "epochs": m["epochs_run"], "dev_jga": m["validation"]["jga"],
                 **{k: m["test"][k] for k in (*HEADLINE, "slot_acc", "jga_ci95", "intent_acc")}}
        if context in ("system", "history"):  # the default and the longest context
            entry["offtopic"] = offtopic_rates(run_dir, test, oos, seed)
            entry["jga_without_span_copy"] = without_span_copy(run_dir, test)
        if context in ERROR_CLASSES:
            entry["errors"] = error_classes(run_dir, test)
        result["runs"].setdefault(context, []).append(entry)
        result["machine"] = machine()
        write_json(out_json, result)
    summary = {}
    for context in [c for c in CONTEXT_NAMES if c in result["runs"]]:  # the table's order
        runs = result["runs"][context]
        summary[context] = {k: mean_sd([100 * r[k] for r in runs]) for k in (*HEADLINE, "dev_jga")}
        summary[context]["slot_acc"] = {s: mean_sd([100 * r["slot_acc"][s] for r in runs])
                                        for s in runs[0]["slot_acc"]}
        if all("jga_without_span_copy" in r for r in runs):
            summary[context]["jga_without_span_copy"] = mean_sd([100 * r["jga_without_span_copy"] for r in runs])
        off = [r["offtopic"] for r in runs if r.get("offtopic")]
        if off:
            summary[context]["offtopic"] = {k: mean_sd([100 * o[k] for o in off])
                                            for k in ("in_scope_flagged", "oos_caught")}
    result["summary"] = summary
    by_seed = {c: {r["seed"]: r for r in runs} for c, runs in result["runs"].items()}
    result["differences"] = {}
    for a, b in (("system", "user"), ("history", "system"), ("history", "user"), ("history", "history_noaug"),
                 ("system_aug2", "system"), ("system_aug2_6ep", "system_aug2"), (DEFAULT, "system_aug2_6ep")):
        seeds = sorted(set(by_seed.get(a, {})) & set(by_seed.get(b, {})))
        if seeds:
            result["differences"][f"{a} - {b}"] = {
                "seeds": seeds, **{k: mean_sd([100 * (by_seed[a][x][k] - by_seed[b][x][k]) for x in seeds])
                                   for k in ("jga", "dev_jga")}}
    result["machine"] = machine()
    write_json(out_json, result)
    write_report_md(Path(args.out_dir) / "dialogue_simm.md", report(result))
    print(f"wrote {out_json}")
    return 0


def fmt(ms: tuple[float, float]) -> str:
    return f"{ms[0]:.2f} ± {ms[1]:.2f}"


def report(result: dict[str, Any]) -> str:
    m = result["machine"]
    seeds = sorted({r["seed"] for runs in result["runs"].values() for r in runs})
    lines = ["# Dialogue state tracking on sim-M: what each piece of context is worth", "",
             generated_by("benchmarks/dialogue_simm.py", m), "",
             f"Data: {result['data']}. Model: {result['encoder']}, tasks/dialogue.py (gates carry / copy / system / "
             f"dontcare / delete on [CLS], slot tags on the user's words), configs/dialogue.yaml"
             + (f" with {' '.join(result['overrides'])}" if result["overrides"] else "")
             + f". Seeds {seeds}; mean ± sd over seeds, test split; checkpoint picked on dev JGA.", "",
             "JGA: the whole state right after a turn, each state built on the tracker's own earlier ones. "
             "Slot F1: the user's slot spans, turn by turn (seqeval strict). Update accuracy: the gates of the "
             "slots that change, right. Oracle: gold gates and spans through the same update (what the gates "
             "can reach).", "",
             "| context | test JGA | dev JGA | slot acc (mean) | slot F1 | update acc | oracle JGA |",
             "|---|---|---|---|---|---|---|"]
    for context, s in result["summary"].items():
        cells = [fmt(s[k]) for k in ("jga", "dev_jga", "slot_acc_mean", "slot_f1", "gate_acc_updates", "jga_oracle")]
        lines.append(f"| {CONTEXT_NAMES[context]} | " + " | ".join(cells) + " |")
    if result.get("differences"):
        lines += ["", "What a piece of context is worth (paired by seed; JGA points):", "",
                  "| difference | seeds | test JGA | dev JGA |", "|---|---|---|---|"]
        for name, d in result["differences"].items():
            lines.append(f"| {name} | {d['seeds']} | {fmt(d['jga'])} | {fmt(d['dev_jga'])} |")
    for context in ("system", "history"):
        s = result["summary"].get(context, {})
        if "jga_without_span_copy" in s:
            lines += ["", f"{CONTEXT_NAMES[context]}: test JGA when only the gates decide (model.span_copy=false, "
                          f"the same predictions): {fmt(s['jga_without_span_copy'])} vs {fmt(s['jga'])} with "
                          "span_copy."]
    slots = list(next(iter(result["summary"].values()))["slot_acc"])
    lines += ["", "Per-slot accuracy (test):", "", "| context | " + " | ".join(slots) + " |",
              "|---|" + "---|" * len(slots)]
    for context, s in result["summary"].items():
        lines.append(f"| {CONTEXT_NAMES[context]} | " + " | ".join(fmt(s["slot_acc"][k]) for k in slots) + " |")
    for context, runs in result["runs"].items():
        if context not in ERROR_CLASSES or not all("errors" in r for r in runs):
            continue
        classes = sorted({c for r in runs for by in r["errors"].values() for c in by},
                         key=lambda c: -sum(by.get(c, 0) for r in runs for by in r["errors"].values()))
        lines += ["", f"Where the state first goes wrong, {CONTEXT_NAMES[context]} (test turns per seed, mean of "
                      f"{len(runs)}; `gold gate -> predicted gate`; a right copy gate with a wrong value: the "
                      "tagger's span missed, off at the boundary, or elsewhere; `carried`: an earlier error kept):",
                  "", "| cause | " + " | ".join(slots) + " |", "|---|" + "---:|" * len(slots)]
        for c in classes:
            cells = [f"{sum(r['errors'].get(s, {}).get(c, 0) for r in runs) / len(runs):.1f}" for s in slots]
            lines.append(f"| {c} | " + " | ".join(cells) + " |")
    if folds := result.get("title_folds"):
        held = "; ".join(f"fold {i}: " + ", ".join(f) for i, f in enumerate(folds["folds"], 1))
        lines += ["", f"Selection on titles never seen in training ({len(folds['folds'])} folds; fold k holds out "
                      "every k-th training title by frequency, its training dialogues go to dev beside sim-M's dev, "
                      f"trained with seed k; dev dialogues {folds['dev_dialogues']}; test not read). Held out: "
                      f"{held}.", "", "| variant | dev JGA (mean over folds) | dev movie acc | per fold |",
                  "|---|---|---|---|"]
        for v, s in folds["summary"].items():
            per = " / ".join(f"{100 * r['dev_jga']:.2f}" for r in folds["runs"][v])
            lines.append(f"| {CONTEXT_NAMES[v]} | {fmt(s['dev_jga'])} | {fmt(s['movie'])} | {per} |")
    lines += ["", "Anchors (sim-M test JGA): BERT-DST 80.1 (Chao & Lane 2019); TripPy about 88 (its README). "
              "Goal: JGA >= 85.0, moonshot >= 88.", ""]
    off = {c: s["offtopic"] for c, s in result["summary"].items() if "offtopic" in s}
    if off:
        lines += ["Off-topic detector (Mahalanobis on [CLS], threshold at 95% of the dev turns), inside dialogues:",
                  "", "| | sim-M test turns flagged (false alarms) | CLINC150 "
                  "out-of-scope messages caught |", "|---|---|---|"]
        for c, o in off.items():
            lines.append(f"| {CONTEXT_NAMES[c]} | {fmt(o['in_scope_flagged'])} | {fmt(o['oos_caught'])} |")
        lines.append("")
    lines += ["Runs: " + ", ".join(f"{c} seed {r['seed']}: {r['epochs']} epochs, {r['train_seconds'] / 60:.1f} min"
                                  for c, runs in result["runs"].items() for r in runs) + ".", ""]
    return "\n".join(lines)


if __name__ == "__main__":
    raise SystemExit(main())
