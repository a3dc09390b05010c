"""The errors a user's input or action raises, under one base class, `PipelineError`: entry points print
them as one line (pipelines.cli), a service can catch them apart from its own bugs.

    PipelineError
      ConfigError        a config or override that does not fit, a task that does not exist
      ReadError          malformed data: file, line and problem
      TagError           a tag that fits no scheme
      EncoderError       an encoder that cannot be loaded
      ModelFormatError   a folder that is not a model this version loads (another format, an older layout)
      UnsafeModelError   a model folder whose loading could run code (pickles): refused
      ModelNotFoundError no model or checkpoint where one was named (also a FileNotFoundError)
      MissingExtraError  an optional dependency that is not installed: names the extra to install (an ImportError)

All but `ModelNotFoundError` and `MissingExtraError` are also `ValueError`s, as they were before the base class existed.
"""

from __future__ import annotations

from pathlib import Path


class PipelineError(Exception):
    """Base of every error a user's mistake raises here (not of this project's own bugs)."""


class ConfigError(PipelineError, ValueError):
    """A config file or override that does not fit the run config, or a task that does not exist."""


class ReadError(PipelineError, ValueError):
    """Malformed input: the message names the file, the line and the problem."""

    def __init__(self, path: str | Path, line: int | None, problem: str) -> None:
        where = f"{path}:{line}" if line is not None else str(path)
        super().__init__(f"{where}: {problem}")


class TagError(PipelineError, ValueError):
    """A tag that fits no supported scheme."""


class EncoderError(PipelineError, ValueError):
    """An encoder that cannot be loaded: a hub id while offline, a wrong path, a missing package."""


class ModelFormatError(PipelineError, ValueError):
    """A folder that is not a model this version can load: not one of ours, or written by an older version in
    a layout it no longer reads (the message says what to do)."""


class UnsafeModelError(PipelineError, ValueError):
    """A saved model holds a file whose loading could run code (a Python pickle): it is refused, not loaded."""


class ModelNotFoundError(PipelineError, FileNotFoundError):
    """No trained model, or no checkpoint, where one was named."""


# the optional dependencies (pyproject.toml's extras) by top-level module; the core install predicts
EXTRAS = {"lightning": "train", "matplotlib": "train", "sacremoses": "train", "gensim": "topics",
          "fastapi": "serve", "uvicorn": "serve", "onnx": "onnx", "onnxruntime": "onnx", "redis": "redis",
          "accelerate": "bench"}


class MissingExtraError(PipelineError, ImportError):
    """An optional dependency that is not installed; the message names the pip install that adds it."""


def missing_extra(err: ImportError) -> MissingExtraError | None:
    """The one-line error for an ImportError of an optional dependency, else None (a real bug stays one)."""
    top = (getattr(err, "name", None) or "").split(".")[0]
    if top not in EXTRAS:
        return None
    extra = EXTRAS[top]
    return MissingExtraError(f"this needs {top}, which is in the [{extra}] extra: "
                             f"pip install 'nlp-pipelines[{extra}]'")
