"""A Transformer encoder written out (Vaswani et al. 2017), small enough to train from scratch on a CPU.

Shapes: B batch, T tokens, D model width, H heads, Dh = D / H per head. One layer is post-norm, as in the
paper and in `torch.nn.TransformerEncoderLayer` (norm_first=False), with the same parameter layout, so a test
can copy weights across and compare outputs:

    a = LayerNorm(x + Dropout(SelfAttention(x)))
    y = LayerNorm(a + Dropout(W2 Dropout(act(W1 a))))

SelfAttention(x) = concat_h softmax(Q_h K_h^T / sqrt(Dh) + mask) V_h  W_o, where padding keys get -inf before
the softmax: without it every real token also attends to the padding and its output depends on how long the
batch's longest sentence is (tests/test_transformer.py shows both).

`ScratchClassifier`: word embeddings + learned positions -> N layers -> masked mean -> linear; the intent task's
`model.architecture=scratch`, over the BiLSTM's word vocabulary. Saved like the BiLSTM (config.json,
model.safetensors, word_vocab.json).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

import torch
from torch import nn
from transformers import PretrainedConfig

from pipelines.models.outputs import TaskOutput
from pipelines.models.saving import load_config_model, save_config_model

SIZES = {"d_model": 256, "heads": 4, "layers": 2, "d_ff": 512, "max_positions": 128}


class SelfAttention(nn.Module):
    """Multi-head self-attention with one (3D, D) input projection for Q, K and V, like nn.MultiheadAttention."""

    def __init__(self, d_model: int, heads: int, dropout: float = 0.0) -> None:
        super().__init__()
        assert d_model % heads == 0, "d_model must be a multiple of heads"
        self.heads, self.dh = heads, d_model // heads
        self.in_proj = nn.Linear(d_model, 3 * d_model)
        self.out_proj = nn.Linear(d_model, d_model)
        self.dropout = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor, pad: torch.Tensor | None = None) -> torch.Tensor:
        """x (B, T, D); pad (B, T) True at padding (None = attend everywhere) -> (B, T, D)."""
        b, t, d = x.shape
        q, k, v = self.in_proj(x).view(b, t, 3, self.heads, self.dh).permute(2, 0, 3, 1, 4)  # 3 x (B, H, T, Dh)
        scores = q @ k.transpose(-2, -1) / math.sqrt(self.dh)  # (B, H, T, T): query t, key s
        if pad is not None:
            scores = scores.masked_fill(pad[:, None, None, :], float("-inf"))  # no query looks at a padding key
        weights = self.dropout(scores.softmax(-1))  # (B, H, T, T), rows sum to 1
        out = (weights @ v).transpose(1, 2).reshape(b, t, d)  # (B, T, H, Dh) -> (B, T, D)
        return self.out_proj(out)


class EncoderLayer(nn.Module):
    """Self-attention and a position-wise feed-forward block, each with a residual connection and LayerNorm."""

    def __init__(self, d_model: int, heads: int, d_ff: int, dropout: float = 0.1, activation: str = "gelu") -> None:
        super().__init__()
        self.attn = SelfAttention(d_model, heads, dropout)
        self.linear1, self.linear2 = nn.Linear(d_model, d_ff), nn.Linear(d_ff, d_model)
        self.norm1, self.norm2 = nn.LayerNorm(d_model), nn.LayerNorm(d_model)
        self.dropout, self.dropout1, self.dropout2 = nn.Dropout(dropout), nn.Dropout(dropout), nn.Dropout(dropout)
        self.act = nn.GELU() if activation == "gelu" else nn.ReLU()

    def forward(self, x: torch.Tensor, pad: torch.Tensor | None = None) -> torch.Tensor:
        """(B, T, D) -> (B, T, D)."""
        x = self.norm1(x + self.dropout1(self.attn(x, pad)))
        return self.norm2(x + self.dropout2(self.linear2(self.dropout(self.act(self.linear1(x))))))


class Encoder(nn.Module):
    """Token embeddings scaled by sqrt(D), plus learned position embeddings, then `layers` EncoderLayers."""

    def __init__(self, vocab_size: int, d_model: int, heads: int, layers: int, d_ff: int, max_positions: int,
                 dropout: float = 0.1) -> None:
        super().__init__()
        self.d_model = d_model
        self.tokens = nn.Embedding(vocab_size, d_model, padding_idx=0)
        self.positions = nn.Embedding(max_positions, d_model)
        self.dropout = nn.Dropout(dropout)
        self.layers = nn.ModuleList(EncoderLayer(d_model, heads, d_ff, dropout) for _ in range(layers))

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor | None = None) -> torch.Tensor:
        """(B, T) ids, (B, T) mask (1 = real token) -> (B, T, D); ids past max_positions are cut."""
        input_ids = input_ids[:, : self.positions.num_embeddings]
        pos = torch.arange(input_ids.shape[1], device=input_ids.device)  # (T,)
        x = self.dropout(self.tokens(input_ids) * math.sqrt(self.d_model) + self.positions(pos))  # (B, T, D)
        pad = None if attention_mask is None else attention_mask[:, : input_ids.shape[1]] == 0  # (B, T)
        for layer in self.layers:
            x = layer(x, pad)
        return x


class ScratchClassifier(nn.Module):
    """Encoder -> masked mean over real tokens (`pooled`) -> dropout -> linear (`logits`)."""

    architecture = "ScratchClassifier"
    pooled_feeds_head = True  # the class head reads `pooled` (through dropout): new rows can be imprinted

    def __init__(self, config: PretrainedConfig) -> None:
        super().__init__()
        self.config = c = config
        self.encoder = Encoder(c.vocab_size, c.d_model, c.heads, c.layers, c.d_ff, c.max_positions, c.dropout)
        self.dropout = nn.Dropout(c.dropout)
        self.classifier = nn.Linear(c.d_model, len(c.id2label))

    @classmethod
    def build(cls, labels: Sequence[str], vocab_size: int, dropout: float = 0.1, **sizes: int) -> ScratchClassifier:
        config = PretrainedConfig(id2label=dict(enumerate(labels)), label2id={x: i for i, x in enumerate(labels)},
                                  vocab_size=vocab_size, dropout=dropout, **{**SIZES, **sizes})
        return cls(config)

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> TaskOutput:
        h = self.encoder(input_ids, attention_mask)  # (B, T', D), T' = min(T, max_positions)
        mask = attention_mask[:, : h.shape[1], None].to(h.dtype)  # (B, T', 1)
        pooled = (h * mask).sum(1) / mask.sum(1).clamp(min=1.0)  # (B, D)
        return TaskOutput(logits=self.classifier(self.dropout(pooled)), pooled=pooled)  # (B, L), (B, D)

    def save_pretrained(self, path: str | Path) -> None:
        save_config_model(self, path)

    @classmethod
    def from_pretrained(cls, path: str | Path) -> ScratchClassifier:
        return load_config_model(cls, path).eval()
