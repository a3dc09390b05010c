"""Shared machinery, in layers (ARCHITECTURE.md): base modules here, then data/, models/, the task contract
(task.py), methods/, inference/ and training/. Nothing here imports a task except through the registry.

Importing `pipelines` makes runs offline by default (pipelines.env), before transformers or datasets read
their settings; set HF_HUB_OFFLINE=0 to use a hub.
"""

from pipelines.env import offline_by_default

offline_by_default()
