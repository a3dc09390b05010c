"""The one link from the shared machinery to the tasks: `pipelines.tasks.<name>` (the repository's tasks/
folder) found by name with importlib.

A task module defines `TASK`, a subclass of `pipelines.task.Task`. Nothing in `pipelines/` imports a
task module any other way.
"""

from __future__ import annotations

import importlib
import pkgutil
from typing import Any

from pipelines.errors import ConfigError

PACKAGE = "pipelines.tasks"  # the repository's tasks/ folder (pyproject.toml maps it)


def known_tasks() -> list[str]:
    """The names of the tasks this install has (one module each in pipelines.tasks, the repository's tasks/)."""
    return sorted(m.name for m in pkgutil.iter_modules(importlib.import_module(PACKAGE).__path__))


def task_class(name: str) -> Any:
    """The Task subclass of `tasks.<name>`; a ConfigError lists the tasks that exist."""
    try:
        module = importlib.import_module(f"{PACKAGE}.{name}")
    except ModuleNotFoundError as err:
        if err.name != f"{PACKAGE}.{name}":
            raise
        raise ConfigError(f"unknown task {name!r}; known tasks: {known_tasks()}") from None
    if not hasattr(module, "TASK"):
        raise ConfigError(f"tasks/{name}.py defines no TASK (a pipelines.task.Task subclass)")
    return module.TASK


def get_task(name: str, options: Any = None) -> Any:
    """An instance of task `name` with its model options (None = the task's defaults)."""
    return task_class(name)(options)
