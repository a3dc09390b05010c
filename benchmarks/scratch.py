"""A hand-written Transformer trained from scratch vs the BiLSTM vs the pretrained encoder (issue #16, part 5).

    .venv/bin/python -m benchmarks.scratch --datasets snips clinc150 --seeds 1 2 3 --fractions 0.1 0.25 0.5 1.0

Every model goes through the intent task (`model.architecture=scratch | bilstm | default`), on a stratified share of
the training split drawn by seed (dev and test whole), best epoch on dev. `--curve-seeds` limits the seeds of
the fractions below 1.0 (CPU). Writes reports/scratch.json after every run, reports/scratch.md and scratch.png.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from benchmarks.common import (
    INTENT_BEFORE_ECE,
    INTENT_BEFORE_SEARCH,
    SHARED,
    find_or_train,
    generated_by,
    machine,
    mean_sd,
    write_report_md,
    write_text_splits,
)
from pipelines.cli import parse_args
from pipelines.io import write_json

MODELS = {  # per encoder: overrides for every run (the pretrained recipe is configs/intent.yaml's)
    "scratch": ["model.architecture=scratch", "train.epochs=6", "train.lr=1e-3", "model.dropout=0.1"],
    "bilstm": ["model.architecture=bilstm", "model.pooling=max", "train.epochs=6", "train.lr=2e-3",
               "model.dropout=0.5"],
    "default": INTENT_BEFORE_SEARCH,  # the recipe behind PRETRAINED
}
DATA = {"snips": SHARED / "snips", "clinc150": SHARED / "clinc150" / "data_full.json"}
# the fine-tuned default encoder on all of train, 3 seeds (reports/joint_snips.json intent accuracy,
# reports/intent_clinc150.json): drawn as a reference line, not rerun here
PRETRAINED = {"snips": 98.52, "clinc150": 95.71}


def subset(name: str, fraction: float, seed: int) -> Path:
    """A folder with train (a stratified `fraction` of it, by seed), dev and test as JSONL."""
    from pipelines.config import DataConfig
    from pipelines.data.splits import load_splits, stratified_split

    folder = Path("runs/cache/scratch") / f"{name}-f{fraction}-seed{seed}"
    if (folder / "test.jsonl").exists():
        return folder
    splits = load_splits(DataConfig(path=str(DATA[name])), DATA[name])
    train = splits["train"]
    if fraction < 1.0:
        _, train = stratified_split(train, fraction, seed)
    return write_text_splits(folder, {"train": train, "dev": splits["validation"], "test": splits["test"]})


def parameters(run_dir: Path) -> int:
    from safetensors import safe_open

    files = sorted((run_dir / "model").glob("**/*.safetensors"))
    total = 0
    for f in files:
        with safe_open(str(f), "pt") as st:
            total += sum(_numel(st.get_slice(k).get_shape()) for k in st.keys())
    return total


def _numel(shape: list[int]) -> int:
    n = 1
    for d in shape:
        n *= d
    return n


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--datasets", nargs="+", default=["snips", "clinc150"], choices=list(DATA))
    parser.add_argument("--models", nargs="+", default=list(MODELS), choices=list(MODELS))
    parser.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3])
    parser.add_argument("--curve-seeds", type=int, nargs="*", default=[1])
    parser.add_argument("--fractions", type=float, nargs="+", default=[0.1, 0.25, 0.5, 1.0])
    parser.add_argument("--skip", nargs="*", default=[], help="model:dataset:fraction runs to leave out (CPU)")
    parser.add_argument("--out", default="reports/scratch.json")
    parser.add_argument("overrides", nargs="*")
    args = parse_args(parser, argv)
    out = Path(args.out)
    report: dict[str, Any] = json.loads(out.read_text()) if out.exists() else {}
    recipes = {k: " ".join(v) or "configs/intent.yaml" for k, v in MODELS.items()}
    report.update({"machine": machine(), "models": recipes})
    runs = report.setdefault("runs", {})
    for name in args.datasets:
        for fraction in sorted(args.fractions):
            for model in args.models:
                if f"{model}:{name}:{fraction}" in args.skip:
                    continue
                for seed in args.seeds if fraction == 1.0 else [s for s in args.seeds if s in args.curve_seeds]:
                    key = f"{name}-{model}-f{fraction}-seed{seed}"
                    if key in runs:
                        continue
                    data = subset(name, fraction, seed)
                    run_dir = find_or_train("intent", [*INTENT_BEFORE_ECE, f"data.path={data}", f"train.seed={seed}",
                                                            *MODELS[model],
                                                       *args.overrides],
                                            Path("runs/bench/scratch") / key)
                    m = json.loads((run_dir / "metrics.json").read_text())
                    runs[key] = {"dataset": name, "model": model, "fraction": fraction, "seed": seed,
                                 "dev": round(100 * m["validation"]["accuracy"], 2),
                                 "test": round(100 * m["test"]["accuracy"], 2),
                                 "train_seconds": round(m["train_seconds"], 1), "parameters": parameters(run_dir),
                                 "train_examples": sum(1 for _ in open(data / "train.jsonl")),
                                 "run": str(run_dir), "commit": m.get("commit")}
                    write_json(out, report)
                    print(key, runs[key]["dev"], runs[key]["test"], flush=True)
    summarise(report)
    write_json(out, report)
    write_md(report, out.with_suffix(".md"))
    plot(report, out.with_name(out.stem + ".png"))


def summarise(report: dict[str, Any]) -> None:
    table: dict[str, Any] = {}
    for r in report["runs"].values():
        table.setdefault(r["dataset"], {}).setdefault(r["model"], {}).setdefault(str(r["fraction"]), []).append(r)
    summary = {}
    for name, by_model in table.items():
        for model, by_frac in by_model.items():
            for frac, rs in by_frac.items():
                (tm, ts), (dm, _) = mean_sd([r["test"] for r in rs]), mean_sd([r["dev"] for r in rs])
                summary.setdefault(name, {}).setdefault(model, {})[frac] = {
                    "test_mean": round(tm, 2), "test_sd": round(ts, 2), "dev_mean": round(dm, 2), "seeds": len(rs),
                    "train_seconds": round(mean_sd([r["train_seconds"] for r in rs])[0], 1),
                    "parameters": rs[0]["parameters"], "train_examples": rs[0]["train_examples"]}
    report["summary"] = summary


def write_md(report: dict[str, Any], path: Path) -> None:
    m = report["machine"]
    lines = ["# A hand-written Transformer from scratch vs BiLSTM vs pretrained MiniLM (intents)", "",
             generated_by("benchmarks/scratch.py", m) + " Test accuracy, mean ± sd over seeds (n), dev mean in "
             "brackets.",
             ""]
    for name, by_model in report["summary"].items():
        fracs = sorted({f for v in by_model.values() for f in v}, key=float)
        head = " | ".join(f"{float(f):.0%} of train" for f in fracs)
        lines += [f"## {name}", "", f"| model | parameters (largest share) | {head} | train s (100%) |",
                  "|---|---|" + "---|" * (len(fracs) + 1)]
        for model, by_frac in by_model.items():
            cells = [f"{c['test_mean']:.2f} ± {c['test_sd']:.2f} ({c['dev_mean']:.2f}, n={c['seeds']})"
                     if (c := by_frac.get(f)) else "" for f in fracs]
            full = by_frac.get("1.0", {})
            params = by_frac[max(by_frac, key=float)]["parameters"]  # the largest share's vocabulary
            seconds = full.get("train_seconds", "")
            lines.append(f"| {model} | {params / 1e6:.2f}M | " + " | ".join(cells) + f" | {seconds} |")
        lines.append("")
    lines += ["![learning curves](scratch.png)", ""]
    write_report_md(path, "\n".join(lines))


def plot(report: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = list(report["summary"])
    fig, axes = plt.subplots(1, len(names), figsize=(5.5 * len(names), 3.8), squeeze=False)
    for ax, name in zip(axes[0], names, strict=True):
        for model, by_frac in report["summary"][name].items():
            fr = sorted(by_frac, key=float)
            ax.errorbar([by_frac[f]["train_examples"] for f in fr], [by_frac[f]["test_mean"] for f in fr],
                        [by_frac[f]["test_sd"] for f in fr], marker="o", capsize=3, label=model)
        if name in PRETRAINED:
            ax.axhline(PRETRAINED[name], color="grey", ls=":", label="fine-tuned MiniLM, all of train")
        ax.set(title=name, xlabel="training examples", ylabel="test accuracy", xscale="log")
        ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


if __name__ == "__main__":
    main()
