"""The dialogue state tracker's model: an encoder read as user turn [SEP] context, with an intent head and a
gate head (carry / copy / system / dontcare / delete per slot) on [CLS] and a slot tag head on the tokens.
Its labels are intents, slots and IOB2 tags (`pipelines.data.tags.LabelSets`).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import torch
from torch import nn

from pipelines.data.dialogue import GATES
from pipelines.data.tags import LabelSets
from pipelines.models import encoders
from pipelines.models.outputs import TaskOutput
from pipelines.models.saving import load_composite, save_composite


class DSTModel(nn.Module):
    """Encoder + intent head and gate head on [CLS] + slot tag head on the tokens.
    Returns `intent_logits` (B, K), `gate_logits` (B, S, G), `slot_logits` (B, T, L) and `pooled` (B, H)."""

    architecture = "DialogueStateTracker"
    extra_inputs = ("token_type_ids",)

    def __init__(self, encoder: nn.Module, labels: Sequence[str], dropout: float = 0.1, context: str = "history",
                 span_copy: bool = False) -> None:
        super().__init__()
        self.span_copy = span_copy
        self.encoder = encoders.without_pooler(encoder)
        self.intents, self.slots, self.tags = (list(x) for x in LabelSets.of(labels))
        self.context = context
        hidden = encoder.config.hidden_size
        self.dropout = nn.Dropout(dropout)
        self.intent_head = nn.Linear(hidden, max(len(self.intents), 1))
        self.gate_head = nn.Linear(hidden, max(len(self.slots), 1) * len(GATES))
        self.slot_head = nn.Linear(hidden, len(self.tags))
        encoder.config.id2label = dict(enumerate(labels))
        encoder.config.label2id = {x: i for i, x in enumerate(labels)}
        self.config = encoder.config

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor,
                token_type_ids: torch.Tensor | None = None) -> TaskOutput:
        kwargs = {}
        if token_type_ids is not None and getattr(self.config, "type_vocab_size", 0) > 1:
            kwargs["token_type_ids"] = token_type_ids
        h = self.dropout(self.encoder(input_ids=input_ids, attention_mask=attention_mask, **kwargs).last_hidden_state)
        cls = h[:, 0]  # (B, H)
        gates = self.gate_head(cls).view(len(cls), -1, len(GATES))  # (B, S, G)
        return TaskOutput(intent_logits=self.intent_head(cls), gate_logits=gates, slot_logits=self.slot_head(h),
                          pooled=cls)

    def save_pretrained(self, path: str | Path) -> None:
        heads = {k: v for k, v in self.state_dict().items() if not k.startswith("encoder.")}
        save_composite(path, self.architecture, self.encoder, {"heads": heads},
                       {"context": self.context, "span_copy": self.span_copy})


def load_dst_model(path: str | Path) -> DSTModel:
    inner, parts, config = load_composite(path)
    encoder = encoders.load_saved_encoder(inner)
    labels = [encoder.config.id2label[i] for i in range(len(encoder.config.id2label))]
    model = DSTModel(encoder, labels, context=config.get("context", "history"),
                     span_copy=config.get("span_copy", False))
    missing, unexpected = model.load_state_dict(parts["heads"], strict=False)
    missing = [k for k in missing if not k.startswith("encoder.")]
    if missing or unexpected:
        raise ValueError(f"{path}: dialogue heads do not match the model (missing {missing}, unexpected {unexpected})")
    return model.eval()
