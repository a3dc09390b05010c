"""Temperature scaling on the validation split (train.calibration=temperature): of a classifier's class
head, or of a tagger's entity scores; `temperature_ece` moves a class head's temperature to the one with the
lowest validation ECE.

An entity's score is the probability that exactly this span has this type (`tagging.entity_probs`); with the
chain's scores divided by T it changes, the predicted tags do not (Viterbi and argmax are unchanged by one
positive factor). T is fitted to the right/wrong outcomes of the predicted dev entities (binary NLL, bounded
scalar search on log T) and saved in the model's config (`entity_temperature`), where predict reads it.
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np

from pipelines.methods.calibration import fit_temperature, fold_temperature, refine_by_ece

log = logging.getLogger(__name__)


def validation_log_probs(task: Any, model: Any, tokenizer: Any, ds: Any, data: Any, batch_size: int = 64,
                         featurizers: dict[str, Any] | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(N, K) log class probabilities and (N,) gold ids of the examples of `ds` whose label the model has."""
    from pipelines.inference.evaluate import predict_records
    from pipelines.inference.predict import Predictor

    records = predict_records(Predictor(task, model, tokenizer, data, batch_size, featurizers), ds)
    records = [r for r in records if r.gold >= 0]
    probs = np.array([r.probs for r in records], dtype=np.float64)
    return np.log(np.clip(probs, 1e-300, None)), np.array([r.gold for r in records])


def calibrate(task: Any, model: Any, tokenizer: Any, ds: Any, data: Any, batch_size: int = 64,
              featurizers: dict[str, Any] | None = None, by_ece: bool = False) -> float:
    """Fit one temperature on `ds` (validation) and fold it into the task's class head, or, for a task whose
    outputs are entities, into their scores (`calibrate_entities`); returns it. `by_ece`: the NLL temperature
    times the factor with the lowest validation ECE (`refine_by_ece`; class heads)."""
    if not task.class_head and task.entity_tags(model):
        return calibrate_entities(task, model, tokenizer, ds, data, batch_size, featurizers)
    log_probs, gold = validation_log_probs(task, model, tokenizer, ds, data, batch_size, featurizers)
    if not len(gold):
        raise ValueError("train.calibration=temperature: the validation split has no example of a known label")
    if (log_probs.argmax(1) == gold).all():  # no error to calibrate against: NLL falls without limit as T -> 0
        log.warning("train.calibration=temperature: the model gets all %d validation examples right, so no "
                    "temperature can be fitted on them; kept T = 1", len(gold))
        return 1.0
    temperature = fit_temperature(log_probs, gold)
    if by_ece:
        temperature = refine_by_ece(log_probs, gold, temperature)
    temperature = round(temperature, 6)  # the value metrics.json records is the one folded
    fold_temperature(model.get_submodule(task.class_head), temperature)
    return temperature


def entity_outcomes(task: Any, model: Any, tokenizer: Any, ds: Any, data: Any, batch_size: int = 64,
                    featurizers: dict[str, Any] | None = None) -> list[tuple[Any, list[int], list[bool]]]:
    """Per sentence of labelled `ds`: its word scores (W, L), predicted tag ids and, per predicted entity, whether
    it is exactly a gold one (type and boundaries)."""
    import torch

    from pipelines.data.tags import spans
    from pipelines.families.tagging import stitch
    from pipelines.inference.evaluate import predict_records
    from pipelines.inference.predict import Predictor

    labels = task.entity_tags(model)
    records = predict_records(Predictor(task, model, tokenizer, data, batch_size, featurizers), ds)
    tags, scores = stitch(records, "pred"), stitch(records, "scores")
    gold = ds[task.gold]
    out = []
    for i, ids in sorted(tags.items()):
        want = set(spans(gold[i]))
        right = [found in want for found in spans([labels[k] for k in ids])]
        out.append((torch.stack(scores[i]) if ids else torch.zeros(0, len(labels)), ids, right))
    return out


def entity_confidences(outcomes: list[tuple[Any, list[int], list[bool]]], labels: list[str], model: Any,
                       temperature: float) -> tuple[np.ndarray, np.ndarray]:
    """(confidences, right) of every predicted entity in `outcomes` at `temperature`."""
    from pipelines.families.tagging import entity_probs

    crf = getattr(model, "crf", None)
    conf = [p for scores, ids, _ in outcomes for p in entity_probs(scores, ids, labels, crf, temperature)]
    return np.array(conf), np.array([r for _, _, right in outcomes for r in right], dtype=bool)


def fit_entity_temperature(outcomes: list[tuple[Any, list[int], list[bool]]], labels: list[str], model: Any,
                           bounds: tuple[float, float] = (0.1, 10.0)) -> float:
    """The T in `bounds` minimising the binary NLL of the predicted entities' right/wrong outcomes."""
    from scipy.optimize import minimize_scalar

    from pipelines.methods.calibration import binary_nll

    def loss(log_t: float) -> float:
        return binary_nll(*entity_confidences(outcomes, labels, model, float(np.exp(log_t))))

    found = minimize_scalar(loss, bounds=tuple(np.log(bounds)), method="bounded", options={"xatol": 1e-3})
    return float(np.exp(found.x))


def calibrate_entities(task: Any, model: Any, tokenizer: Any, ds: Any, data: Any, batch_size: int = 64,
                       featurizers: dict[str, Any] | None = None) -> float:
    """Fit the entity-score temperature on `ds` (validation) and save it in the model's config; returns it."""
    outcomes = entity_outcomes(task, model, tokenizer, ds, data, batch_size, featurizers)
    right = [r for _, _, rs in outcomes for r in rs]
    if not right or all(right) or not any(right):  # nothing to fit on (all right: a small or easy dev set)
        (log.info if right and all(right) else log.warning)(
            "train.calibration=temperature: %d validation entities, %s; kept the entity temperature at 1",
            len(right), "none predicted" if not right else "all right" if all(right) else "none right")
        return 1.0
    temperature = round(fit_entity_temperature(outcomes, task.entity_tags(model), model), 6)
    model.config.entity_temperature = temperature
    return temperature
