"""One JSON and one Markdown writer for every task's scores, plus a confusion-matrix image."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pipelines.io import atomic_write_bytes, atomic_write_text, write_json

HEADLINE = ("f1", "accuracy", "jga", "sentence_acc", "intent_acc", "slot_f1", "precision", "recall", "macro_f1",
            "weighted_f1", "char_f1", "invalid_rate")
CALIBRATION = ("ece", "nll")  # a classifier's confidence (pipelines.methods.calibration): shown as they are


def headline(scores: dict[str, Any]) -> dict[str, float]:
    """The console line of a split: headline metrics in percent, calibration metrics as they are."""
    return {**{k: round(100 * scores[k], 2) for k in HEADLINE if k in scores},
            **{k: round(float(scores[k]), 4) for k in CALIBRATION if k in scores}}


def _pct(x: float) -> str:
    return f"{100 * x:.2f}"


def markdown(title: str, results: dict[str, dict[str, Any]], notes: list[str] | None = None) -> str:
    """Headline metrics per split, then per-label precision/recall/F1 per split."""
    lines = [f"# {title}", ""]
    notes = [n for n in notes or [] if n]
    if notes:
        lines += [*notes, ""]
    for split, scores in results.items():
        lines += [f"## {split}", ""]
        for key in HEADLINE:
            if key in scores:
                ci = scores.get(f"{key}_ci95")
                extra = f" (95% bootstrap CI {_pct(ci[0])}-{_pct(ci[1])})" if ci else ""
                lines.append(f"- {key}: **{_pct(scores[key])}**{extra}")
        for key in CALIBRATION:
            if key in scores:
                lines.append(f"- {key}: {float(scores[key]):.4f}")
        if scores.get("unseen_gold_labels"):
            lines.append(f"- gold labels the model never saw (counted as errors): {scores['unseen_gold_labels']}")
        per = scores.get("per_type") or scores.get("per_class") or {}
        if per:
            lines += ["", "| label | precision | recall | F1 | support |", "|---|---:|---:|---:|---:|"]
            lines += [f"| {k} | {_pct(v['precision'])} | {_pct(v['recall'])} | {_pct(v['f1'])} | {v['support']} |"
                      for k, v in per.items()]
        if "confusion" in scores:
            lines += ["", f"![confusion matrix](confusion_{split}.png)"]
        lines.append("")
    return "\n".join(lines)


def confusion_png(path: str | Path, labels: list[str], matrix: list[list[int]], title: str) -> None:
    """Row-normalised confusion matrix (rows = gold) as a PNG; label names shown up to 40 classes."""
    import io

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    m = np.asarray(matrix, dtype=float)
    m = m / np.maximum(m.sum(axis=1, keepdims=True), 1)
    size = min(4 + 0.25 * len(labels), 24)
    fig, ax = plt.subplots(figsize=(size, size))
    im = ax.imshow(m, cmap="Blues", vmin=0, vmax=1)
    if len(labels) <= 40:
        ax.set_xticks(range(len(labels)), labels, rotation=90, fontsize=8)
        ax.set_yticks(range(len(labels)), labels, fontsize=8)
    ax.set_xlabel("predicted")
    ax.set_ylabel("gold")
    ax.set_title(title)
    fig.colorbar(im, ax=ax, fraction=0.04)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100)
    plt.close(fig)
    atomic_write_bytes(path, buf.getvalue())


def write(out_dir: str | Path, name: str, title: str, results: dict[str, dict[str, Any]],
          extra: dict[str, Any] | None = None, notes: list[str] | None = None, md_name: str | None = None) -> None:
    """Write `<name>.json` (scores per split + extra) and `<md_name or name>.md` (+ confusion PNGs)."""
    out_dir = Path(out_dir)
    write_json(out_dir / f"{name}.json", {**(extra or {}), **results})
    for split, scores in results.items():
        if "confusion" in scores:
            conf = scores["confusion"]
            confusion_png(out_dir / f"confusion_{split}.png", conf["labels"], conf["matrix"], f"{title}: {split}")
    atomic_write_text(out_dir / f"{md_name or name}.md", markdown(title, results, notes))
