"""Shared machinery: config, readers, encoders, data module, Lightning module, train/eval/predict, reports.

Nothing here names a specific task; a task is `tasks/<name>.py`, found by name with importlib.
"""
