"""Inference: Predictor, evaluation, metrics and reports; no Lightning."""
