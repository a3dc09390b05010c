"""The model card: README.md in every model folder, in the Hugging Face card layout (YAML front matter, then
sections), written from what the run recorded: the task, its labels, the training data and its size, the
scores with their bootstrap CIs, the config, the commit, the intended use and the limits.

`make train` writes it when a run ends; `nlp-pipelines package` puts it in the wheel (and writes one for a run
made before cards existed).
"""

from __future__ import annotations

import inspect
import json
from pathlib import Path
from typing import Any

import yaml

from pipelines.config import META
from pipelines.inference.reports import CALIBRATION, HEADLINE
from pipelines.registry import task_class

CARD = "README.md"
SHOWN_LABELS = 60  # a card lists at most this many labels by name


def _json(path: Path) -> dict[str, Any]:
    return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {}


def _uncased(model: Path) -> bool:
    tokenizer = _json(model / "tokenizer_config.json")
    normalizer = _json(model / "tokenizer.json").get("normalizer") or {}
    return bool(tokenizer.get("do_lower_case") or normalizer.get("lowercase"))


def _about(task: str) -> str:
    """The first paragraph of the task module's docstring: what the model does."""
    doc = inspect.getdoc(inspect.getmodule(task_class(task))) or task
    return " ".join(doc.split("\n\n")[0].split())


def _scores(metrics: dict[str, Any]) -> list[str]:
    rows = []
    for split in ("validation", "test"):
        scores = metrics.get(split) or {}
        for key in (*HEADLINE, *CALIBRATION):
            if key not in scores:
                continue
            ci = scores.get(f"{key}_ci95")
            value = f"{float(scores[key]):.4f}" if key in CALIBRATION else f"{100 * scores[key]:.2f}"
            band = f"{100 * ci[0]:.2f} - {100 * ci[1]:.2f}" if ci else ""
            rows.append(f"| {split} | {key} | {value} | {band} | {scores.get('examples', '')} |")
    if not rows:
        return ["No scores recorded (metrics.json is missing)."]
    return ["| split | metric | value | 95% bootstrap CI | examples |", "|---|---|---:|---|---:|", *rows]


def model_card(model: str | Path, name: str = "", version: str = "") -> str:
    """The card of a model folder; its scores and config come from the run folder around it (metrics.json,
    config.yaml), where there is one. `name` and `version`: a packaged model's."""
    model = Path(model).resolve()
    run_dir = model.parent
    meta, config = _json(model / META), _json(model / "config.json")
    metrics = _json(run_dir / "metrics.json")
    cfg_path = run_dir / "config.yaml"
    cfg = yaml.safe_load(cfg_path.read_text(encoding="utf-8")) if cfg_path.is_file() else {}
    task, options, data = meta["task"], meta.get("options", {}), meta.get("data", {})
    if metrics.get("data") and isinstance(cfg.get("data"), dict):
        cfg["data"]["path"] = metrics["data"]  # as the run recorded it, not this machine's absolute path
    labels = list((config.get("id2label") or {}).values())
    shown = ", ".join(f"`{label}`" for label in labels[:SHOWN_LABELS])
    more = f" and {len(labels) - SHOWN_LABELS} more" if len(labels) > SHOWN_LABELS else ""
    encoder = options.get("encoder", "")
    sizes = {"train": metrics.get("train_examples"), "validation": (metrics.get("validation") or {}).get("examples"),
             "test": (metrics.get("test") or {}).get("examples")}
    limits = [f"Inputs longer than {data.get('max_length', '?')} sub-tokens are read in windows or truncated, as "
              "the task documents.",
              f"It knows only what its training data holds ({metrics.get('data') or data.get('path', '?')}): "
              "expect lower scores on text of another domain, register or period; measure on your own data "
              "(`nlp-pipelines eval`) before you rely on it."]
    if _uncased(model):
        casing = options.get("word_features") == "casing"
        cased = " (the casing word feature gives it back to the head)" if casing else ""
        limits.insert(0, f"The encoder is uncased: capitalisation is lost before the encoder reads the text{cased}.")
    if labels:
        limits.append("It predicts only the labels listed above; anything else comes out as one of them "
                      "(or as off-topic, where the model has a detector).")
    front = {"library_name": "nlp-pipelines", "tags": ["nlp-pipelines", task],
             **({"base_model": encoder} if encoder and encoder not in {"default", "tiny"} else {}),
             **({"model_version": version} if version else {})}
    title = name or f"{meta['task']} model ({run_dir.name})"
    lines = ["---", yaml.safe_dump(front, sort_keys=False).strip(), "---", "", f"# {title}", "",
             f"{_about(task)}", "",
             "## Model", "",
             f"- task: `{task}` ({options.get('architecture', 'transformer')}; encoder `{encoder}`"
             + ("; the bundled all-MiniLM-L6-v2, 22.7M parameters" if encoder == "default" else "") + ")",
             f"- labels ({len(labels)}): {shown}{more}" if labels else "- labels: see config.json",
             f"- code: nlp-pipelines commit `{meta.get('commit', 'unknown')}`"
             + (" (uncommitted changes)" if meta.get("dirty") else "") + f", model folder schema "
             f"{meta.get('schema', 1)}", "",
             "## Training data", "",
             f"- data: `{metrics.get('data') or data.get('path', '?')}` (format `{data.get('format', 'auto')}`)",
             "- examples: " + ", ".join(f"{k} {v}" for k, v in sizes.items() if v is not None), "",
             "## Evaluation", "", *_scores(metrics), "",
             "## Intended use", "",
             f"{_about(task).split(':')[0].split('.')[0]} on text like the training data, through "
             "`Predictor.load(...).predict(texts)`, `nlp-pipelines predict` or `nlp-pipelines serve`.", "",
             "## Limits", "", *[f"- {line}" for line in limits], "",
             "## How to use", "", "```python", "from pipelines import Predictor", "",
             f"model = Predictor.load({(name or str(run_dir))!r})", 'model.predict(["your text here"])', "```", "",
             "## Training config", "", "```yaml", yaml.safe_dump(cfg, sort_keys=False).strip(), "```", ""]
    return "\n".join(lines)
