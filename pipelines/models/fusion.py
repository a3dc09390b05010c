"""A document classifier over a text vector, LDA topic proportions θ, or both fused.

Text vector h (B, H): the masked mean of a fine-tuned encoder's last layer over one window, or a vector
computed beforehand by a frozen encoder (`doc_vectors`, pipelines.methods.documents). θ (B, K): topic
proportions (pipelines.methods.topics). Both are layer-normalised first (u = LN(h), v = LN(θ)): h and θ live
on different scales (θ sums to 1), and a shared scale keeps one learning rate and weight decay fair to both.
Fusions:
- `text`: logits = W u (the Transformer alone);
- `topics`: logits = W v (multinomial logistic regression on θ);
- `concat`: logits = W [u; v] (θ joined before the head);
- `gate`: z = u + g ⊙ tanh(P v), g = σ(G [u; v]) (B, H); logits = W z. The topic branch can only add to the
  text vector, by as much as a gate that reads both allows per dimension: where the text vector already
  separates the classes the gate can close, where it is unsure (an off-window post, a short text) the topics
  come in. At g = 0 it is the text model, so fusion can do no worse than `text` once trained.
With `sparse` > 0 the model also reads s (B, L): a classical model's class scores (pipelines.methods.sparse:
TF-IDF + a linear model). `sparse_fusion`:
- `late`: logits = log_softmax(W z) + w s, the scalar w chosen on dev after training (0 while the head trains,
  so the head learns from the dense inputs alone);
- `head`: layer-normalised and joined to z before the classifier: logits = W [z; LN(s)] (the head learns how far
  to trust s, from out-of-fold scores on train).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
from torch import nn
from transformers import PretrainedConfig

from pipelines.models.encoders import load_saved_encoder, without_pooler
from pipelines.models.outputs import TaskOutput
from pipelines.models.pooling import masked_mean
from pipelines.models.saving import MODEL_TYPE, load_composite, save_composite, save_heads

FUSIONS = ("text", "topics", "concat", "gate")
SPARSE_FUSIONS = ("late", "head")


class TopicFusionClassifier(nn.Module):
    """See the module docstring. `encoder` (fine-tuning) or `text_dim` (frozen vectors) gives h; `num_topics`
    is θ's size (0 for `text`)."""

    architecture = "TopicFusionClassifier"

    def __init__(self, labels: Sequence[str], fusion: str, num_topics: int = 0, text_dim: int = 0,
                 encoder: nn.Module | None = None, dropout: float = 0.1, sparse: int = 0,
                 sparse_fusion: str = "late", sparse_weight: float = 0.0) -> None:
        super().__init__()
        if fusion not in FUSIONS:
            raise ValueError(f"fusion {fusion!r}: expected one of {FUSIONS}")
        uses_text, uses_topics = fusion != "topics", fusion != "text"
        if uses_topics and num_topics < 1:
            raise ValueError(f"fusion {fusion!r} reads topics: num_topics must be >= 1")
        self.fusion, self.num_topics = fusion, num_topics if uses_topics else 0
        self.encoder = without_pooler(encoder) if encoder is not None and uses_text else None
        self.text_dim = (self.encoder.config.hidden_size if self.encoder is not None else text_dim) if uses_text else 0
        if uses_text and self.text_dim < 1:
            raise ValueError(f"fusion {fusion!r} reads a text vector: give an encoder or text_dim")
        self.text_norm = nn.LayerNorm(self.text_dim) if uses_text else None
        self.topic_norm = nn.LayerNorm(self.num_topics) if uses_topics else None
        if fusion == "gate":
            self.topic_proj = nn.Linear(self.num_topics, self.text_dim)
            self.gate = nn.Linear(self.text_dim + self.num_topics, self.text_dim)
            nn.init.constant_(self.gate.bias, -2.0)  # start mostly closed: the text model, plus a little
        width = {"text": self.text_dim, "topics": self.num_topics, "gate": self.text_dim,
                 "concat": self.text_dim + self.num_topics}[fusion]
        if sparse_fusion not in SPARSE_FUSIONS:
            raise ValueError(f"sparse_fusion {sparse_fusion!r}: expected one of {SPARSE_FUSIONS}")
        self.sparse, self.sparse_fusion, self.sparse_weight = sparse, sparse_fusion, sparse_weight
        self.sparse_norm = nn.LayerNorm(sparse) if sparse and sparse_fusion == "head" else None
        head_sparse = sparse if self.sparse_norm is not None else 0
        self.dropout = nn.Dropout(dropout)
        self.classifier = nn.Linear(width + head_sparse, len(labels))
        if self.encoder is not None:
            self.config = self.encoder.config
            self.config.id2label, self.config.label2id = dict(enumerate(labels)), {x: i for i, x in enumerate(labels)}
        else:
            self.config = PretrainedConfig(id2label=dict(enumerate(labels)))
        self.extra_inputs = tuple(name for name, used in (("doc_vectors", uses_text and self.encoder is None),
                                                          ("topics", uses_topics), ("sparse", sparse > 0)) if used)

    def forward(self, input_ids: torch.Tensor | None = None, attention_mask: torch.Tensor | None = None,
                doc_vectors: torch.Tensor | None = None, topics: torch.Tensor | None = None,
                sparse: torch.Tensor | None = None) -> TaskOutput:
        u = v = None
        if self.text_norm is not None:
            if self.encoder is not None:
                h = self.encoder(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state  # (B, T, H)
                h = masked_mean(h, attention_mask)  # (B, H)
            else:
                h = doc_vectors  # (B, H)
            u = self.text_norm(h.float())
        if self.topic_norm is not None:
            v = self.topic_norm(topics.float())  # (B, K)
        if self.fusion == "text":
            z = u
        elif self.fusion == "topics":
            z = v
        elif self.fusion == "concat":
            z = torch.cat([u, v], dim=-1)  # (B, H + K)
        else:
            g = torch.sigmoid(self.gate(torch.cat([u, v], dim=-1)))  # (B, H)
            z = u + g * torch.tanh(self.topic_proj(v))
        if self.sparse_norm is not None:
            z = torch.cat([z, self.sparse_norm(sparse.float())], dim=-1)  # (B, width + L)
        logits = self.classifier(self.dropout(z))
        if self.sparse and self.sparse_fusion == "late":
            logits = logits.log_softmax(-1) + self.sparse_weight * sparse.float()
        return TaskOutput(logits=logits, pooled=z)

    def head_state(self) -> dict[str, dict[str, torch.Tensor]]:
        return {name: module.state_dict() for name, module in self.named_children() if name != "encoder"}

    def meta(self) -> dict[str, Any]:
        return {"fusion": self.fusion, "num_topics": self.num_topics, "text_dim": self.text_dim, "sparse": self.sparse,
                "sparse_fusion": self.sparse_fusion, "sparse_weight": self.sparse_weight}

    def save_pretrained(self, path: str | Path) -> None:
        path = Path(path)
        if self.encoder is not None:
            save_composite(path, self.architecture, self.encoder, self.head_state(), self.meta())
            return
        path.mkdir(parents=True, exist_ok=True)
        save_heads(path, self.head_state())
        config = {"model_type": MODEL_TYPE, "architectures": [self.architecture], "encoder": None,
                  "id2label": {str(k): v for k, v in self.config.id2label.items()}, **self.meta()}
        (path / "config.json").write_text(json.dumps(config, indent=2) + "\n", encoding="utf-8")

    @classmethod
    def from_pretrained(cls, path: str | Path) -> TopicFusionClassifier:
        config = json.loads((Path(path) / "config.json").read_text(encoding="utf-8"))
        labels = [config["id2label"][str(i)] for i in range(len(config["id2label"]))]
        inner, parts, _ = load_composite(path)
        encoder = load_saved_encoder(inner) if config.get("encoder") else None
        model = cls(labels, config["fusion"], config["num_topics"], config["text_dim"], encoder,
                    sparse=config.get("sparse", 0), sparse_fusion=config.get("sparse_fusion", "head"),
                    sparse_weight=config.get("sparse_weight", 0.0))
        for name, module in model.named_children():
            if name in parts:
                module.load_state_dict(parts[name])
        return model.eval()
