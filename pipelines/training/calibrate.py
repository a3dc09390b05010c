"""Temperature scaling of a trained classifier on its validation split (train.calibration=temperature)."""

from __future__ import annotations

import logging
from typing import Any

import numpy as np

from pipelines.methods.calibration import fit_temperature, fold_temperature

log = logging.getLogger(__name__)


def validation_log_probs(task: Any, model: Any, tokenizer: Any, ds: Any, data: Any,
                         batch_size: int = 64) -> tuple[np.ndarray, np.ndarray]:
    """(N, K) log class probabilities and (N,) gold ids of the examples of `ds` whose label the model has."""
    from pipelines.inference.evaluate import predict_records
    from pipelines.inference.predict import Predictor

    records = predict_records(Predictor(task, model, tokenizer, data, batch_size), ds)
    records = [r for r in records if r.get("gold", -100) >= 0]
    probs = np.array([r["probs"] for r in records], dtype=np.float64)
    return np.log(np.clip(probs, 1e-300, None)), np.array([r["gold"] for r in records])


def calibrate(task: Any, model: Any, tokenizer: Any, ds: Any, data: Any, batch_size: int = 64) -> float:
    """Fit one temperature on `ds` (validation) and fold it into the task's class head; returns it."""
    log_probs, gold = validation_log_probs(task, model, tokenizer, ds, data, batch_size)
    if not len(gold):
        raise ValueError("train.calibration=temperature: the validation split has no example of a known label")
    if (log_probs.argmax(1) == gold).all():  # no error to calibrate against: NLL falls without limit as T -> 0
        log.warning("train.calibration=temperature: the model gets all %d validation examples right, so no "
                    "temperature can be fitted on them; kept T = 1", len(gold))
        return 1.0
    temperature = round(fit_temperature(log_probs, gold), 6)  # the value metrics.json records is the one folded
    fold_temperature(model.get_submodule(task.class_head), temperature)
    return temperature
