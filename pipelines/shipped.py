"""The configs and sample data shipped with the code.

Installed from a wheel, they are package data (`pipelines/configs`, `pipelines/samples`, read with
importlib.resources); in a clone, or an editable install, they are the repository's top-level `configs/` and
`samples/` folders (pyproject.toml maps them to those package names).
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path


def shipped(folder: str) -> Path:
    """`configs` or `samples`: the installed package's copy when there is one, else the clone's folder."""
    installed = resources.files("pipelines").joinpath(folder)
    if installed.is_dir():
        return Path(str(installed))
    return Path(__file__).resolve().parent.parent / folder


CONFIG_DIR = shipped("configs")
SAMPLES = shipped("samples")  # one folder per task


MODELS_GROUP = "nlp_pipelines.models"  # entry-point group of model wheels (nlp-pipelines package)


def normalise(name: str) -> str:
    """A distribution name as pip compares it (PEP 503): case and runs of `-_.` do not matter."""
    import re

    return re.sub(r"[-_.]+", "-", name).lower()


def installed_model(name: str) -> Path | None:
    """The model folder of an installed model package (built by `nlp-pipelines package`) called `name`, found
    through its entry point without importing (running) the package; None when no such package is installed."""
    from importlib.metadata import entry_points
    from importlib.util import find_spec

    for entry in entry_points(group=MODELS_GROUP):
        if normalise(entry.name) == normalise(name):
            spec = find_spec(entry.value)
            if spec is not None and spec.submodule_search_locations:
                return Path(next(iter(spec.submodule_search_locations))) / "model"
    return None
