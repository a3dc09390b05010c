"""Checkpoints written atomically: a run killed mid-save keeps its previous checkpoint intact."""

from __future__ import annotations

from typing import Any

import torch
from lightning.pytorch.plugins.io import TorchCheckpointIO

from pipelines.io import atomic_open


class AtomicCheckpointIO(TorchCheckpointIO):
    """torch.save into a temporary file in the same folder, fsync, then rename over the target."""

    def save_checkpoint(self, checkpoint: dict[str, Any], path: Any, storage_options: Any = None) -> None:
        with atomic_open(path) as fh:
            torch.save(checkpoint, fh)
