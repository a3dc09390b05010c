"""A sentence classifier over the mean of the encoder's token vectors (masked), saved beside the encoder.

Sentence-transformers encoders such as the default all-MiniLM-L6-v2 were trained with mean pooling; their
[CLS] vector and pooler were not, so a mean-pooled head starts from a far better sentence representation.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from pipelines.models.encoders import load_saved_encoder, without_pooler
from pipelines.models.outputs import TaskOutput
from pipelines.models.saving import load_composite, save_composite


def masked_mean(h: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
    """(B, T, H) token vectors, (B, T) mask -> (B, H) mean over the real tokens."""
    mask = attention_mask[..., None].to(h.dtype)  # (B, T, 1)
    return (h * mask).sum(1) / mask.sum(1).clamp(min=1.0)


class MeanPoolClassifier(nn.Module):
    """Encoder -> masked mean of the last layer (`pooled`) -> dropout -> linear (`logits`)."""

    architecture = "MeanPoolClassifier"
    pooled_feeds_head = True  # the class head reads `pooled` (through dropout): new rows can be imprinted

    def __init__(self, encoder: nn.Module, labels: Sequence[str], dropout: float = 0.1,
                 normalize: bool = False) -> None:
        super().__init__()
        self.normalize = normalize  # the head reads the unit-length mean (a cosine head, as few-shot heads are fitted)
        self.encoder = without_pooler(encoder)
        self.dropout = nn.Dropout(dropout)
        self.classifier = nn.Linear(encoder.config.hidden_size, len(labels))
        encoder.config.id2label = dict(enumerate(labels))
        encoder.config.label2id = {x: i for i, x in enumerate(labels)}
        self.config = encoder.config

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> TaskOutput:
        h = self.encoder(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state  # (B, T, H)
        pooled = masked_mean(h, attention_mask)  # (B, H)
        z = torch.nn.functional.normalize(pooled, dim=-1) if self.normalize else pooled
        return TaskOutput(logits=self.classifier(self.dropout(z)), pooled=pooled)  # (B, L), (B, H)

    def save_pretrained(self, path: str | Path) -> None:
        save_composite(path, self.architecture, self.encoder, {"classifier": self.classifier.state_dict()},
                       {"pooling": "mean", "normalize": self.normalize})

    @classmethod
    def from_pretrained(cls, path: str | Path) -> MeanPoolClassifier:
        inner, parts, config = load_composite(path)
        encoder = load_saved_encoder(inner)
        model = cls(encoder, [encoder.config.id2label[i] for i in range(len(encoder.config.id2label))],
                    normalize=bool(config.get("normalize", False)))
        model.classifier.load_state_dict(parts["classifier"])
        return model.eval()


class FrozenEncoder:
    """A pretrained encoder used as a fixed feature extractor (no fine-tuning), by config name (default, tiny,
    hub id): mean-pooled sentence embeddings, or one vector per word from its first sub-token. Inputs are
    batched by length; text past the encoder's length limit is truncated (its words get zero vectors)."""

    def __init__(self, name: str) -> None:
        from transformers import AutoModel

        from pipelines.models import encoders

        self.tokenizer = encoders.load_tokenizer(name)
        with torch.random.fork_rng():  # `tiny` is random: the same name must give the same encoder
            torch.manual_seed(0)
            self.model = encoders.load_model(name, AutoModel, self.tokenizer).eval()

    @torch.inference_mode()
    def _batches(self, items: Sequence[Any], words: bool, batch_size: int):
        """Yield (indices, tokenizer output, last hidden states) over length-sorted batches of `items`."""
        order = np.argsort([len(x) for x in items])  # similar lengths together: less padding
        for s in range(0, len(order), batch_size):
            idx = order[s:s + batch_size]
            enc = self.tokenizer([list(items[i]) if words else items[i] for i in idx], is_split_into_words=words,
                                 truncation=True, padding=True, return_tensors="pt")
            out = self.model(input_ids=enc["input_ids"], attention_mask=enc["attention_mask"])
            yield idx, enc, out.last_hidden_state

    def sentences(self, texts: Sequence[str], batch_size: int = 64) -> np.ndarray:
        """(N, H) mean-pooled last-layer embeddings."""
        out = np.zeros((len(texts), self.model.config.hidden_size), dtype=np.float32)
        for idx, enc, h in self._batches(texts, False, batch_size):
            out[idx] = masked_mean(h, enc["attention_mask"]).numpy()
        return out

    def words(self, sentences: Sequence[Sequence[str]], batch_size: int = 64) -> list[np.ndarray]:
        """Per sentence a (W, H) array: each word's first sub-token vector."""
        out: list[Any] = [None] * len(sentences)
        for idx, enc, h in self._batches(sentences, True, batch_size):
            for b, i in enumerate(idx):
                vec = np.zeros((len(sentences[i]), h.shape[-1]), dtype=np.float32)
                seen: set[int] = set()
                for pos, w in enumerate(enc.word_ids(b)):
                    if w is not None and w not in seen:
                        seen.add(w)
                        vec[w] = h[b, pos].numpy()
                out[i] = vec
        return out
