"""Applied NLP pipelines: train, score, serve and ship Transformer models for eight practical tasks.

What users import is listed in `__all__` and documented in the README ("Use it in your code"):

    from pipelines import Predictor
    Predictor.load("runs/ner-20261129-101500").predict(["Anna Keller joined Vireo Labs in Oslo."])

Names are imported on first use, so `import pipelines` is cheap and a predict-only install never imports
Lightning. Importing the library changes no environment variable: the `nlp-pipelines` command runs offline by
default; in your own code call `pipelines.offline_by_default()` (before transformers or datasets are used) for
the same. The layers behind these names: ARCHITECTURE.md.
"""

from __future__ import annotations

import importlib
from typing import Any

# public name -> (module, attribute)
_EXPORTS = {
    "Predictor": ("pipelines.inference.predict", "Predictor"),
    "train": ("pipelines.training.train", "train"),
    "evaluate": ("pipelines.inference.evaluate", "evaluate_run"),
    "load_config": ("pipelines.config", "load_config"),
    "RunConfig": ("pipelines.config", "RunConfig"),
    "prepare": ("pipelines.training.train", "prepare"),
    "TaskModule": ("pipelines.training.module", "TaskModule"),
    "TaskDataModule": ("pipelines.training.datamodule", "TaskDataModule"),
    "known_tasks": ("pipelines.registry", "known_tasks"),
    "package": ("pipelines.packaging", "package"),
    "offline_by_default": ("pipelines.env", "offline_by_default"),
    "PipelineError": ("pipelines.errors", "PipelineError"),
    "ConfigError": ("pipelines.errors", "ConfigError"),
    "ReadError": ("pipelines.errors", "ReadError"),
    "ModelFormatError": ("pipelines.errors", "ModelFormatError"),
    "ModelNotFoundError": ("pipelines.errors", "ModelNotFoundError"),
    "UnsafeModelError": ("pipelines.errors", "UnsafeModelError"),
}
__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module 'pipelines' has no attribute {name!r}")
    module, attribute = _EXPORTS[name]
    value = getattr(importlib.import_module(module), attribute)
    globals()[name] = value  # once
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *__all__])
