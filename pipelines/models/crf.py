"""A CRF head (pytorch-crf) with IOB2 constraints, over the first sub-token of each word.

The emission model is any Hugging Face token classifier; `CrfTokenClassifier` saves it in the usual
`save_pretrained` layout and the CRF's transition scores beside it in `crf.safetensors`.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file, save_file
from torch import nn
from torchcrf import CRF
from transformers.modeling_outputs import TokenClassifierOutput

from pipelines.models.decoding import NEG, iob2_constraints

CRF_FILE = "crf.safetensors"


class ConstrainedCRF(CRF):
    """pytorch-crf's CRF whose forbidden IOB2 starts and transitions are fixed at NEG.

    The forbidden entries start at NEG and their gradients are zeroed, so training never moves them and
    Viterbi decoding never returns an I-X after O, after another type, or at the start.
    """

    def __init__(self, labels: Sequence[str]) -> None:
        super().__init__(len(labels), batch_first=True)
        allowed_start, allowed = iob2_constraints(labels)
        self.register_buffer("forbid_start", ~allowed_start, persistent=False)
        self.register_buffer("forbid", ~allowed, persistent=False)
        with torch.no_grad():
            self.start_transitions.masked_fill_(self.forbid_start, NEG)
            self.transitions.masked_fill_(self.forbid, NEG)
        self.start_transitions.register_hook(lambda g: g.masked_fill(self.forbid_start, 0.0))
        self.transitions.register_hook(lambda g: g.masked_fill(self.forbid, 0.0))


def pack_words(logits: torch.Tensor, word_starts: torch.Tensor,
               labels: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
    """Gather first-sub-token positions to the left: the CRF's first timestep is then always on.

    Args:
        logits: (B, T, L) emissions per sub-token.
        word_starts: (B, W) positions of each word's first sub-token, -1 for padding.
        labels: (B, T) label ids per sub-token (-100 off first sub-tokens), or None.
    Returns:
        emissions (B, W, L), mask (B, W) bool, tags (B, W) or None (-100 read as label 0).
    """
    mask = word_starts >= 0  # (B, W)
    pos = word_starts.clamp(min=0)  # (B, W)
    emissions = logits.gather(1, pos[..., None].expand(-1, -1, logits.shape[-1]))  # (B, W, L)
    tags = None
    if labels is not None:
        tags = labels.gather(1, pos).clamp(min=0) * mask  # (B, W)
    return emissions, mask, tags


class CrfTokenClassifier(nn.Module):
    """Emissions from a Hugging Face token classifier, a constrained CRF on top (loss: mean NLL per window)."""

    extra_inputs = ("word_starts",)

    def __init__(self, emitter: nn.Module, labels: Sequence[str]) -> None:
        super().__init__()
        self.emitter = emitter
        self.crf = ConstrainedCRF(labels)

    @property
    def config(self) -> Any:
        return self.emitter.config

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor, labels: torch.Tensor | None = None,
                word_starts: torch.Tensor | None = None) -> TokenClassifierOutput:
        logits = self.emitter(input_ids=input_ids, attention_mask=attention_mask).logits  # (B, T, L)
        loss = None
        if labels is not None:
            if word_starts is None:
                raise ValueError("CrfTokenClassifier needs word_starts with labels")
            emissions, mask, tags = pack_words(logits, word_starts, labels)
            loss = -self.crf(emissions, tags, mask, reduction="mean")
        return TokenClassifierOutput(loss=loss, logits=logits)

    def save_pretrained(self, path: str | Path) -> None:
        self.emitter.save_pretrained(path)
        save_file({k: v.contiguous() for k, v in self.crf.state_dict().items()}, str(Path(path) / CRF_FILE))

    @classmethod
    def from_pretrained(cls, path: str | Path, model_cls: Any) -> CrfTokenClassifier:
        emitter = model_cls.from_pretrained(path)
        labels = [emitter.config.id2label[i] for i in range(len(emitter.config.id2label))]
        model = cls(emitter, labels)
        model.crf.load_state_dict(load_file(str(Path(path) / CRF_FILE)))
        return model
