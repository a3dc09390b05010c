"""Models with several heads on one encoder: joint intent + slots (`JointModel`), and the toxicity model (a
post head and a span head, `ToxicityModel`: the joint model plus a fitted shift of the post scores).

Their labels are the intents and the IOB2 tags (`pipelines.data.tags.LabelSets`).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
from torch import nn

from pipelines.data.tags import LabelSets
from pipelines.models import encoders
from pipelines.models.crf import ConstrainedCRF
from pipelines.models.outputs import TaskOutput
from pipelines.models.pooling import masked_mean
from pipelines.models.saving import load_composite, save_composite

log = logging.getLogger(__name__)


class JointModel(nn.Module):
    """Encoder + intent head ([CLS], or the masked mean of the token vectors with pooling="mean") + slot head
    (first sub-tokens), optional constrained CRF over the slots.
    Returns `intent_logits` (B, K), `slot_logits` (B, T, L) and `pooled` (B, H), the vector the intent head read."""

    architecture = "JointIntentSlotModel"

    def __init__(self, encoder: nn.Module, labels: Sequence[str], dropout: float = 0.1, crf: bool = False,
                 pooling: str = "cls") -> None:
        super().__init__()
        if pooling not in {"cls", "mean"}:
            raise ValueError(f"pooling={pooling!r}: expected cls|mean")
        self.pooling = pooling
        self.encoder = encoders.without_pooler(encoder)
        sets = LabelSets.of(labels)
        self.intents, self.tags = list(sets.intents), list(sets.tags)
        hidden = encoder.config.hidden_size
        self.dropout = nn.Dropout(dropout)
        self.intent_head = nn.Linear(hidden, len(self.intents))
        self.slot_head = nn.Linear(hidden, len(self.tags))
        self.crf = ConstrainedCRF(self.tags) if crf else None
        # (K, L) slot tags seen with each intent in training (set by prepare_model; all False = unknown)
        self.register_buffer("slot_mask", torch.zeros(len(self.intents), len(self.tags), dtype=torch.bool))
        # heads that saw no training targets ("intent", "slots"): predict returns None for them, never a guess
        self.untrained: list[str] = []
        encoder.config.id2label = dict(enumerate(labels))
        encoder.config.label2id = {x: i for i, x in enumerate(labels)}
        self.config = encoder.config

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> TaskOutput:
        h = self.encoder(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state  # (B, T, H)
        if self.pooling == "mean":
            pooled = masked_mean(h, attention_mask)  # (B, H)
            intent_in, h = self.dropout(pooled), self.dropout(h)
        else:  # one dropout over all positions, [CLS] read from it (as before pooling became an option)
            h = self.dropout(h)
            pooled = intent_in = h[:, 0]
        return TaskOutput(intent_logits=self.intent_head(intent_in),  # (B, K)
                          slot_logits=self.slot_head(h), pooled=pooled)  # (B, T, L), (B, H)

    def save_pretrained(self, path: str | Path) -> None:
        heads = {k: v for k, v in self.state_dict().items() if not k.startswith("encoder.")}
        save_composite(path, self.architecture, self.encoder, {"heads": heads},
                       {"crf": self.crf is not None, "pooling": self.pooling, "untrained": self.untrained})


def load_joint_model(path: str | Path, model_class: type[JointModel] = JointModel,
               may_lack: tuple[str, ...] = ()) -> JointModel:
    """A saved JointModel (or subclass); its heads load strictly, except the tensors named in `may_lack`
    (added to the class after some models were saved), which keep their initial values."""
    inner, parts, config = load_composite(path)
    encoder = encoders.load_saved_encoder(inner)
    model = model_class(encoder, [encoder.config.id2label[i] for i in range(len(encoder.config.id2label))],
                        crf=config["crf"], pooling=config.get("pooling", "cls"))
    missing, unexpected = model.load_state_dict(parts["heads"], strict=False)
    missing = [k for k in missing if not k.startswith("encoder.") and k not in may_lack]
    if missing or unexpected:
        raise ValueError(f"{path}: joint heads do not match the model (missing {missing}, unexpected {unexpected})")
    model.untrained = list(config.get("untrained", []))
    if model.untrained:
        log.warning("%s: the %s head(s) saw no labels in training: predictions leave them out (None)", path,
                    " and ".join(model.untrained))
    return model.eval()


class ToxicityModel(JointModel):
    """The joint model (post head + span head) plus `post_bias` (K,), added to the post scores in eval mode:
    the prior correction fitted on dev after training (zeros until then)."""

    architecture = "ToxicityModel"

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.register_buffer("post_bias", torch.zeros(len(self.intents)))

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> TaskOutput:
        out = super().forward(input_ids, attention_mask)
        if not self.training:
            out.intent_logits = out.intent_logits + self.post_bias
        return out


def load_toxicity_model(path: str | Path) -> ToxicityModel:
    """A saved toxicity model (runs saved before the prior correction existed load with a zero shift)."""
    return load_joint_model(path, ToxicityModel, may_lack=("post_bias",))
