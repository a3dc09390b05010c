"""Word-level features for a Transformer tagger: the casing an uncased sub-word vocabulary throws away.

Two places to put a second embedding space next to the encoder's:

- fusion="input": e_case(word) is added to each sub-token's embedding before the encoder's position embeddings
  and LayerNorm: x = E_tok[id] + E_case[case] (+ E_pos). A sum of two embedding tables is a concatenation
  followed by a linear map, [E_tok; E_case] -> [I  I], so "add" and "concatenate then project back to H" span
  the same models; the table is zero-initialised, so training starts from the pretrained model exactly, and the
  LayerNorm after the sum rescales it into the encoder's range. Attention can use it in every layer.
- fusion="head": e_case concatenated to the encoder's last hidden state before the linear classifier. A linear
  map of a concatenation is the sum of two maps, W [h; e] = W_h h + W_e e, so this adds a per-casing bias to the
  logits of each sub-token: cheap, but the encoder never sees the casing of the neighbours.

Which wins is measured in reports/ner_features.md.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
from torch import nn

from pipelines.data.words import CASES
from pipelines.models.crf import ConstrainedCRF
from pipelines.models.outputs import TaskOutput
from pipelines.models.saving import load_composite, save_composite

FUSIONS = ("input", "head")
HEAD_DIM = 16  # the casing vector's size with fusion="head"


class CasedTagger(nn.Module):
    """A Hugging Face token classifier (`emitter`) that also reads `case_ids` (B, T): 1 + the casing class
    of each sub-token's word, 0 on special tokens and padding. Optional constrained CRF over the emissions."""

    extra_inputs = ("case_ids",)
    architecture = "CasedTagger"

    def __init__(self, emitter: nn.Module, labels: Sequence[str], fusion: str = "input", crf: bool = False,
                 dropout: float = 0.1) -> None:
        super().__init__()
        if fusion not in FUSIONS:
            raise ValueError(f"fusion={fusion!r}: expected one of {FUSIONS}")
        self.emitter, self.fusion = emitter, fusion
        hidden = emitter.config.hidden_size
        self.case_embed = nn.Embedding(len(CASES) + 1, hidden if fusion == "input" else HEAD_DIM, padding_idx=0)
        if fusion == "input":
            nn.init.zeros_(self.case_embed.weight)  # the start is the pretrained model exactly
            self.case_head = None
        else:
            self.case_head = nn.Linear(HEAD_DIM, len(labels), bias=False)
            nn.init.zeros_(self.case_head.weight)
        self.dropout = nn.Dropout(dropout)
        self.crf = ConstrainedCRF(labels) if crf else None

    @property
    def config(self) -> Any:
        return self.emitter.config

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor, case_ids: torch.Tensor) -> TaskOutput:
        if self.fusion == "input":
            embeds = self.emitter.get_input_embeddings()(input_ids) + self.case_embed(case_ids)  # (B, T, H)
            return TaskOutput(logits=self.emitter(inputs_embeds=embeds, attention_mask=attention_mask).logits)
        logits = self.emitter(input_ids=input_ids, attention_mask=attention_mask).logits  # (B, T, L)
        return TaskOutput(logits=logits + self.case_head(self.dropout(self.case_embed(case_ids))))

    def save_pretrained(self, path: str | Path) -> None:
        parts = {"case_embed": self.case_embed.state_dict()}
        if self.case_head is not None:
            parts["case_head"] = self.case_head.state_dict()
        if self.crf is not None:
            parts["crf"] = self.crf.state_dict()
        save_composite(path, self.architecture, self.emitter, parts,
                       {"fusion": self.fusion, "crf": self.crf is not None})

    @classmethod
    def from_pretrained(cls, path: str | Path, model_cls: Any) -> CasedTagger:
        inner, tensors, config = load_composite(path)
        emitter = model_cls.from_pretrained(inner)
        labels = [emitter.config.id2label[i] for i in range(len(emitter.config.id2label))]
        model = cls(emitter, labels, fusion=config["fusion"], crf=config["crf"])
        for part in ("case_embed", "case_head", "crf"):
            if getattr(model, part) is not None:
                getattr(model, part).load_state_dict(tensors[part])
        return model.eval()
