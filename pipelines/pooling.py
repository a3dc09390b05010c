"""A sentence classifier over the mean of the encoder's token vectors (masked), saved beside the encoder.

Sentence-transformers encoders such as the default all-MiniLM-L6-v2 were trained with mean pooling; their
[CLS] vector and pooler were not, so a mean-pooled head starts from a far better sentence representation.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file
from torch import nn
from transformers.modeling_outputs import SequenceClassifierOutput

from pipelines.encoders import load_saved_encoder, without_pooler

HEAD_FILE, META_FILE = "pooled_head.safetensors", "pooled_head.json"


class MeanPoolClassifier(nn.Module):
    """Encoder -> masked mean of the last layer -> dropout -> linear. `hidden_states` (when asked) holds the
    pooled vector as a one-position sequence, so `[:, 0]` is the sentence representation."""

    def __init__(self, encoder: nn.Module, labels: Sequence[str], dropout: float = 0.1) -> None:
        super().__init__()
        self.encoder = without_pooler(encoder)
        self.dropout = nn.Dropout(dropout)
        self.classifier = nn.Linear(encoder.config.hidden_size, len(labels))
        encoder.config.id2label = dict(enumerate(labels))
        encoder.config.label2id = {x: i for i, x in enumerate(labels)}
        self.config = encoder.config

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor, labels: torch.Tensor | None = None,
                output_hidden_states: bool = False) -> SequenceClassifierOutput:
        h = self.encoder(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state  # (B, T, H)
        mask = attention_mask[..., None].to(h.dtype)  # (B, T, 1)
        pooled = (h * mask).sum(1) / mask.sum(1).clamp(min=1.0)  # (B, H)
        logits = self.classifier(self.dropout(pooled))  # (B, L)
        loss = nn.functional.cross_entropy(logits, labels, ignore_index=-100) if labels is not None else None
        return SequenceClassifierOutput(loss=loss, logits=logits,
                                        hidden_states=(pooled[:, None, :],) if output_hidden_states else None)

    def save_pretrained(self, path: str | Path) -> None:
        self.encoder.save_pretrained(path)
        save_file({k: v.contiguous() for k, v in self.classifier.state_dict().items()}, str(Path(path) / HEAD_FILE))
        (Path(path) / META_FILE).write_text(json.dumps({"pooling": "mean"}))

    @classmethod
    def from_pretrained(cls, path: str | Path) -> MeanPoolClassifier:
        encoder = load_saved_encoder(path)
        labels = [encoder.config.id2label[i] for i in range(len(encoder.config.id2label))]
        model = cls(encoder, labels)
        model.classifier.load_state_dict(load_file(str(Path(path) / HEAD_FILE)))
        return model.eval()
