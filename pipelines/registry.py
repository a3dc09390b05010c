"""The one link from the shared machinery to the tasks: `tasks.<name>` found by name with importlib.

A task module defines `TASK`, a subclass of `pipelines.task.Task`. Nothing in `pipelines/` imports a
task module any other way.
"""

from __future__ import annotations

import importlib
import pkgutil
from typing import Any

from pipelines.errors import ConfigError


def known_tasks() -> list[str]:
    import tasks

    return sorted(m.name for m in pkgutil.iter_modules(tasks.__path__))


def task_class(name: str) -> Any:
    """The Task subclass of `tasks.<name>`; a ConfigError lists the tasks that exist."""
    try:
        module = importlib.import_module(f"tasks.{name}")
    except ModuleNotFoundError as err:
        if err.name != f"tasks.{name}":
            raise
        raise ConfigError(f"unknown task {name!r}; known tasks: {known_tasks()}") from None
    if not hasattr(module, "TASK"):
        raise ConfigError(f"tasks/{name}.py defines no TASK (a pipelines.task.Task subclass)")
    return module.TASK


def get_task(name: str, options: Any = None) -> Any:
    """An instance of task `name` with its model options (None = the task's defaults)."""
    return task_class(name)(options)
