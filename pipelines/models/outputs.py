"""Named model outputs: every model returns its scores by name, never one tensor shaped to fit a shared slot;
and the batched loop (`infer`) that runs a model over encoded features and yields them."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from dataclasses import dataclass, fields
from typing import Any

import torch
from transformers.utils import ModelOutput

from pipelines.data.batching import Collator, Features, sorted_batches


@dataclass
class TaskOutput(ModelOutput):
    """What a task's model returns (None where a model has no such output).

    Attributes:
        logits: (B, T, L) per-sub-token label scores (taggers; a CRF head's emissions) or (B, L) class scores.
        intent_logits: (B, K) the sentence's intent scores (joint).
        slot_logits: (B, T, L) per-sub-token slot tag scores (joint).
        gate_logits: (B, S, G) per tracked slot, the scores of its update gates (dialogue).
        pooled: (B, H) the sentence vector a classification head reads.
        hidden_states: the encoder's layers, when asked for.
    """

    logits: torch.Tensor | None = None
    intent_logits: torch.Tensor | None = None
    slot_logits: torch.Tensor | None = None
    gate_logits: torch.Tensor | None = None
    pooled: torch.Tensor | None = None
    hidden_states: tuple[torch.Tensor, ...] | None = None


def detach_cpu(out: ModelOutput) -> TaskOutput:
    """A TaskOutput with every tensor field of `out` detached, float and on the CPU (hidden states dropped).
    A Hugging Face classifier's output keeps its `logits`; its [CLS] vector becomes `pooled` when it
    returned hidden states and has no pooled vector of its own."""
    values = {k: v.detach().float().cpu() for k, v in out.items() if k in OUTPUT_FIELDS and torch.is_tensor(v)}
    hidden = out.get("hidden_states")
    if "pooled" not in values and hidden is not None:
        values["pooled"] = hidden[-1][:, 0].detach().float().cpu()  # (B, H)
    return TaskOutput(**values)


OUTPUT_FIELDS = frozenset(f.name for f in fields(TaskOutput)) - {"hidden_states"}


def model_inputs(model: torch.nn.Module, batch: dict[str, torch.Tensor],
                 device: torch.device | str | None = None) -> dict[str, torch.Tensor]:
    """The batch fields `model` takes as inputs: ids, mask and its `extra_inputs` if any (never targets)."""
    keys = ["input_ids", "attention_mask", *getattr(model, "extra_inputs", ())]
    return {k: batch[k].to(device) if device is not None else batch[k] for k in keys if k in batch}


@torch.inference_mode()
def infer(model: torch.nn.Module, features: Features, collate: Collator, batch_size: int,
          device: torch.device | str = "cpu", pooled: bool = False) -> Iterator[tuple[dict[str, torch.Tensor], Any]]:
    """Yield (batch, outputs) over `features` in length-sorted batches, the model in eval mode; `outputs` is a
    pipelines.models.outputs.TaskOutput on the CPU.

    pooled=True asks for the sentence vector (`outputs.pooled`): a model's own, or a Hugging Face
    classifier's last-layer [CLS] vector.
    """
    was_training = model.training
    if was_training:  # a served model is in eval mode already: no walk over its modules per call
        model.eval()
    batches = sorted_batches(features.lengths, batch_size)
    if len(batches) > 50 and sys.stderr.isatty():  # a bar only where a person watches a long job
        from tqdm.auto import tqdm

        batches = tqdm(batches, desc="predict", unit="batch", leave=False)
    from transformers import PreTrainedModel

    hf_classifier = isinstance(model, PreTrainedModel)  # a plain Hugging Face model: [CLS] from hidden states
    try:
        for idx in batches:
            batch = collate([features[i] for i in idx])
            extra = {"output_hidden_states": True} if pooled and hf_classifier else {}
            yield batch, detach_cpu(model(**model_inputs(model, batch, device=device), **extra))
    finally:
        if was_training:
            model.train()
