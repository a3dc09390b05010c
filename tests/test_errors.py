"""One hierarchy of user errors: a service catches PipelineError apart from its own bugs, and the CLI prints
each as one line."""

import inspect
import json
import subprocess
import sys

import pytest

from pipelines import errors
from pipelines.errors import ModelFormatError, ModelNotFoundError, PipelineError


def test_every_error_class_is_a_pipeline_error():
    classes = [c for _, c in inspect.getmembers(errors, inspect.isclass) if c.__module__ == errors.__name__]
    assert len(classes) >= 8 and all(issubclass(c, PipelineError) for c in classes)
    assert not issubclass(ModelFormatError, FileNotFoundError)  # an old layout is not a missing file
    assert issubclass(ModelNotFoundError, FileNotFoundError)


def test_a_missing_model_and_a_foreign_folder_raise_different_errors(tmp_path):
    from pipelines.inference.predict import Predictor
    from pipelines.models.saving import load_composite

    with pytest.raises(ModelNotFoundError, match="no trained model here"):
        Predictor.load(tmp_path / "nowhere")
    (tmp_path / "config.json").write_text(json.dumps({"model_type": "bert"}))
    with pytest.raises(ModelFormatError, match="not a saved nlp_pipelines model"):
        load_composite(tmp_path)
    (tmp_path / "pipeline.json").write_text(json.dumps({"task": "ner"}))
    with pytest.raises(ModelFormatError, match="older version"):
        Predictor.load(tmp_path)


def test_the_cli_prints_a_user_error_as_one_line(tmp_path):
    out = subprocess.run([sys.executable, "-m", "pipelines.inference.predict", str(tmp_path / "nowhere")],
                         capture_output=True, text=True, input="", timeout=120)
    assert out.returncode == 2 and out.stderr.strip().startswith("error:") and "Traceback" not in out.stderr
