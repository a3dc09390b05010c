"""BiLSTM models over words: word embeddings + character CNN + casing features, one bidirectional LSTM layer.

- `BiLstmCrf`, the tagger (Lample et al. 2016): per-word emissions, a constrained CRF;
- `BiLstmClassifier`, the sentence classifier (the distillation student of Tang et al. 2019): max- or
  mean-pooled BiLSTM states, then a hidden ReLU layer and a linear layer.

Saved like a Hugging Face model: `config.json` (id2label, sizes) and `model.safetensors`, with the
vocabularies in `word_vocab.json` beside them (pipelines.data.words.WordTokenizer).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence
from transformers import PretrainedConfig

from pipelines.data.words import CASES, WordTokenizer
from pipelines.models.crf import ConstrainedCRF
from pipelines.models.outputs import TaskOutput
from pipelines.models.saving import load_config_model, save_config_model

SIZES = {"word_dim": 100, "char_dim": 30, "char_filters": 50, "case_dim": 8, "hidden": 200}


class WordBiLstm(nn.Module):
    """The shared body: a BiLSTM over [word; char-CNN; casing] embeddings (subclasses add their head)."""

    extra_inputs = ("char_ids", "case_ids")
    architecture = ""

    def __init__(self, config: PretrainedConfig) -> None:
        super().__init__()
        self.config = config
        c = config
        self.word_emb = nn.Embedding(c.vocab_size, c.word_dim, padding_idx=0)
        self.char_emb = nn.Embedding(c.char_vocab_size, c.char_dim, padding_idx=0)
        self.char_cnn = nn.Conv1d(c.char_dim, c.char_filters, kernel_size=3, padding=1)
        self.case_emb = nn.Embedding(len(CASES), c.case_dim)
        self.dropout = nn.Dropout(c.dropout)
        self.lstm = nn.LSTM(c.word_dim + c.char_filters + c.case_dim, c.hidden, batch_first=True, bidirectional=True)

    @property
    def labels(self) -> list[str]:
        return [self.config.id2label[i] for i in range(len(self.config.id2label))]

    @classmethod
    def build(cls, labels: Sequence[str], tokenizer: WordTokenizer, dropout: float = 0.5,
              word_dropout: float = 0.0, vectors: np.ndarray | None = None, **extra) -> WordBiLstm:
        """A fresh model; word embeddings start from `vectors` ((V, D), e.g. WordVectors) when given. In training, each
        word is read as <unk> with probability `word_dropout` (Lample et al. 2016 do this for singletons), so
        that the unknown-word vector, the one every unseen test word gets, is trained."""
        dim = vectors.shape[1] if vectors is not None else SIZES["word_dim"]
        config = PretrainedConfig(id2label=dict(enumerate(labels)), label2id={x: i for i, x in enumerate(labels)},
                                  vocab_size=len(tokenizer.words), char_vocab_size=len(tokenizer.chars),
                                  dropout=dropout, word_dropout=word_dropout, **{**SIZES, "word_dim": dim}, **extra)
        model = cls(config)
        if vectors is not None:
            with torch.no_grad():
                model.word_emb.weight.copy_(torch.from_numpy(vectors))
        return model

    def _chars(self, char_ids: torch.Tensor) -> torch.Tensor:
        """(B, T, C) char ids -> (B, T, F) max-pooled CNN features (0 for padding words)."""
        b, t, c = char_ids.shape
        x = self.char_emb(char_ids.view(b * t, c)).transpose(1, 2)  # (B*T, Dc, C)
        h = self.char_cnn(x).masked_fill((char_ids.view(b * t, 1, c) == 0), -1e4)  # (B*T, F, C)
        h = h.max(dim=-1).values.clamp(min=-1e3)  # (B*T, F)
        return h.masked_fill(h <= -1e3, 0.0).view(b, t, -1)

    def states(self, input_ids: torch.Tensor, attention_mask: torch.Tensor, char_ids: torch.Tensor | None = None,
               case_ids: torch.Tensor | None = None) -> torch.Tensor:
        """input_ids (B, T) word ids; char_ids (B, T, C); case_ids (B, T) -> BiLSTM states (B, T, 2H), 0 past
        each sequence's end."""
        if char_ids is None or case_ids is None:
            raise ValueError(f"{type(self).__name__} needs char_ids and case_ids (word-level features of a "
                             "WordTokenizer)")
        p = getattr(self.config, "word_dropout", 0.0)  # absent from models saved before it existed
        if self.training and p > 0:
            drop = (torch.rand(input_ids.shape, device=input_ids.device) < p) & (input_ids > WordTokenizer.unk_token_id)
            input_ids = input_ids.masked_fill(drop, WordTokenizer.unk_token_id)
        x = torch.cat([self.word_emb(input_ids), self._chars(char_ids), self.case_emb(case_ids)], -1)  # (B, T, D)
        lengths = attention_mask.sum(1).clamp(min=1).cpu()
        packed = pack_padded_sequence(self.dropout(x), lengths, batch_first=True, enforce_sorted=False)
        h, _ = pad_packed_sequence(self.lstm(packed)[0], batch_first=True, total_length=input_ids.shape[1])
        return h  # (B, T, 2H)

    def save_pretrained(self, path: str | Path) -> None:
        save_config_model(self, path)

    @classmethod
    def from_pretrained(cls, path: str | Path) -> WordBiLstm:
        return load_config_model(cls, path)


class BiLstmCrf(WordBiLstm):
    """Emissions from the BiLSTM, decoded by a constrained CRF."""

    architecture = "BiLstmCrf"

    def __init__(self, config: PretrainedConfig) -> None:
        super().__init__(config)
        self.proj = nn.Linear(2 * config.hidden, len(config.id2label))
        self.crf = ConstrainedCRF(self.labels)

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor, char_ids: torch.Tensor | None = None,
                case_ids: torch.Tensor | None = None) -> TaskOutput:
        """-> emissions as `logits` (B, T, L)."""
        h = self.states(input_ids, attention_mask, char_ids, case_ids)  # (B, T, 2H)
        return TaskOutput(logits=self.proj(self.dropout(h)))  # (B, T, L)


class BiLstmClassifier(WordBiLstm):
    """One label per text: pooled BiLSTM states (`config.pooling`: max | mean) -> ReLU layer -> linear."""

    architecture = "BiLstmClassifier"

    def __init__(self, config: PretrainedConfig) -> None:
        super().__init__(config)
        self.hidden = nn.Linear(2 * config.hidden, 2 * config.hidden)
        self.classifier = nn.Linear(2 * config.hidden, len(config.id2label))

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor, char_ids: torch.Tensor | None = None,
                case_ids: torch.Tensor | None = None) -> TaskOutput:
        """-> class scores `logits` (B, L) and the sentence vector `pooled` (B, 2H)."""
        h = self.states(input_ids, attention_mask, char_ids, case_ids)  # (B, T, 2H)
        mask = attention_mask[..., None].bool()  # (B, T, 1)
        if self.config.pooling == "max":
            pooled = h.masked_fill(~mask, -1e4).max(1).values  # (B, 2H)
        else:
            pooled = (h * mask).sum(1) / mask.sum(1).clamp(min=1)  # (B, 2H)
        z = torch.relu(self.hidden(self.dropout(pooled)))  # (B, 2H)
        return TaskOutput(logits=self.classifier(self.dropout(z)), pooled=pooled)  # (B, L), (B, 2H)
