"""Continue from an earlier run: `model.init=runs/X` starts a new model from that run's weights.

The new model is built on the earlier run's own base encoder, then every weight of the earlier model is
copied in by name. Head rows follow their label *names* (Task.head_labels): a label both runs know keeps its
row, a new label starts fresh, a dropped one is left behind. What was kept, new and dropped is reported,
never skipped silently. This is the base for incremental training.
"""

from __future__ import annotations

import dataclasses
import json
import logging
from typing import Any

import torch

from pipelines.config import META, finished_run
from pipelines.errors import ConfigError
from pipelines.registry import get_task, task_class

log = logging.getLogger(__name__)


def _row_index(old: list[str], new: list[str]) -> tuple[torch.Tensor, torch.Tensor]:
    """Positions (in new, in old) of the labels both lists hold."""
    shared = [(i, old.index(x)) for i, x in enumerate(new) if x in old]
    return (torch.tensor([i for i, _ in shared], dtype=torch.long),
            torch.tensor([j for _, j in shared], dtype=torch.long))


def transfer(new: torch.nn.Module, old: torch.nn.Module, new_heads: dict[str, list[str]],
             old_heads: dict[str, list[str]]) -> dict[str, Any]:
    """Copy `old`'s weights into `new` in place: same-shaped tensors as they are; head tensors (under a prefix of
    `new_heads`) along every axis whose sizes are the two label counts, by label name.

    Returns:
        {"copied": n, "head": {prefix: {"kept", "new", "dropped"}}, "skipped": [names], "missing": [names]}.
    """
    new_state, old_state = new.state_dict(), old.state_dict()
    report: dict[str, Any] = {"copied": 0, "head": {}, "skipped": [], "missing": []}
    with torch.no_grad():
        for name, target in new_state.items():
            source = old_state.get(name)
            if source is None:
                report["missing"].append(name)
                continue
            prefix = next((p for p in new_heads if name.startswith(p + ".") or name == p), None)
            if prefix is not None and prefix in old_heads:
                new_labels, old_labels = new_heads[prefix], old_heads[prefix]
                axes = [d for d in range(target.dim()) if target.shape[d] == len(new_labels)
                        and source.shape[d] == len(old_labels)]
                rest_equal = all(target.shape[d] == source.shape[d] for d in range(target.dim()) if d not in axes)
                if axes and rest_equal:
                    to_idx, from_idx = _row_index(old_labels, new_labels)
                    value = source
                    for d in axes:
                        value = value.index_select(d, from_idx)
                    view = target
                    index = [slice(None)] * target.dim()
                    for d in axes:
                        index[d] = to_idx if len(axes) == 1 else to_idx.view([-1 if k == d else 1
                                                                               for k in range(target.dim())])
                    view[tuple(index)] = value.to(target.dtype)
                    report["head"][prefix] = {"kept": len(to_idx),
                                              "new": [x for x in new_labels if x not in old_labels],
                                              "dropped": [x for x in old_labels if x not in new_labels]}
                    report["copied"] += 1
                    continue
            if source.shape == target.shape:
                target.copy_(source)
                report["copied"] += 1
            else:
                report["skipped"].append(f"{name} {tuple(source.shape)} -> {tuple(target.shape)}")
    return report


def warm_start(task: Any, labels: list[str], tokenizer: Any, featurizers: dict[str, Any]) -> torch.nn.Module | None:
    """The new model continued from the earlier run `task.options.init` names, or None when it names none."""
    folder = finished_run(task.options.init)
    if folder is None:
        return None
    meta = json.loads((folder / META).read_text(encoding="utf-8"))
    if meta["task"] != task.name:
        raise ConfigError(f"model.init={task.options.init}: a {meta['task']!r} run cannot start a "
                          f"{task.name!r} model")
    earlier = task_class(task.name).Options.from_saved(meta["options"])
    earlier_task = get_task(task.name, earlier)
    old = earlier_task.load_model(folder)
    base = dataclasses.replace(task.options, init="")  # init set the earlier run's encoder and architecture
    model = get_task(task.name, base).build_model(labels, tokenizer, featurizers)
    report = transfer(model, old, task.head_labels(model), earlier_task.head_labels(old))
    for prefix, rows in report["head"].items():
        log.info("continuing from %s: head %s keeps %d label rows, new %s, dropped %s", folder, prefix or "-",
                 rows["kept"], rows["new"], rows["dropped"])
    if report["skipped"] or report["missing"]:
        log.warning("continuing from %s: %d weights not taken over (shape changed: %s; not in the earlier model: "
                    "%s)", folder, len(report["skipped"]) + len(report["missing"]), report["skipped"][:5],
                    report["missing"][:5])
    model.warm_start_report = report
    return model.train()
