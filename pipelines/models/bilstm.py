"""BiLSTM-CRF tagger (Lample et al. 2016): word embeddings + character CNN + casing, BiLSTM, constrained CRF.

Saved like a Hugging Face model: `config.json` (id2label, sizes) and `model.safetensors`, with the
vocabularies in `word_vocab.json` beside them (pipelines.data.words.WordTokenizer).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from safetensors.torch import load_file, save_file
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence
from transformers import PretrainedConfig

from pipelines.data.words import CASES, WordTokenizer
from pipelines.models.crf import ConstrainedCRF
from pipelines.models.outputs import TaskOutput

SIZES = {"word_dim": 100, "char_dim": 30, "char_filters": 50, "case_dim": 8, "hidden": 200}


class BiLstmCrf(nn.Module):
    """Emissions from a BiLSTM over [word; char-CNN; casing] embeddings, decoded by a constrained CRF."""

    extra_inputs = ("char_ids", "case_ids")
    architecture = "BiLstmCrf"

    def __init__(self, config: PretrainedConfig) -> None:
        super().__init__()
        self.config = config
        c = config
        labels = [c.id2label[i] for i in range(len(c.id2label))]
        self.word_emb = nn.Embedding(c.vocab_size, c.word_dim, padding_idx=0)
        self.char_emb = nn.Embedding(c.char_vocab_size, c.char_dim, padding_idx=0)
        self.char_cnn = nn.Conv1d(c.char_dim, c.char_filters, kernel_size=3, padding=1)
        self.case_emb = nn.Embedding(len(CASES), c.case_dim)
        self.dropout = nn.Dropout(c.dropout)
        self.lstm = nn.LSTM(c.word_dim + c.char_filters + c.case_dim, c.hidden, batch_first=True, bidirectional=True)
        self.proj = nn.Linear(2 * c.hidden, len(labels))
        self.crf = ConstrainedCRF(labels)

    @classmethod
    def build(cls, labels: Sequence[str], tokenizer: WordTokenizer, dropout: float = 0.5,
              word_dropout: float = 0.0, vectors: np.ndarray | None = None) -> BiLstmCrf:
        """A fresh model; word embeddings start from `vectors` ((V, D), e.g. WordVectors) when given. In training, each
        word is read as <unk> with probability `word_dropout` (Lample et al. 2016 do this for singletons), so
        that the unknown-word vector, the one every unseen test word gets, is trained."""
        dim = vectors.shape[1] if vectors is not None else SIZES["word_dim"]
        config = PretrainedConfig(id2label=dict(enumerate(labels)), label2id={x: i for i, x in enumerate(labels)},
                                  vocab_size=len(tokenizer.words), char_vocab_size=len(tokenizer.chars),
                                  dropout=dropout, word_dropout=word_dropout, **{**SIZES, "word_dim": dim})
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

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor, char_ids: torch.Tensor | None = None,
                case_ids: torch.Tensor | None = None) -> TaskOutput:
        """input_ids (B, T) word ids; char_ids (B, T, C); case_ids (B, T) -> emissions as `logits` (B, T, L)."""
        if char_ids is None or case_ids is None:
            raise ValueError("BiLstmCrf needs char_ids and case_ids (from tasks.ner.encode with a WordTokenizer)")
        p = getattr(self.config, "word_dropout", 0.0)  # absent from models saved before it existed
        if self.training and p > 0:
            drop = (torch.rand(input_ids.shape, device=input_ids.device) < p) & (input_ids > WordTokenizer.unk_token_id)
            input_ids = input_ids.masked_fill(drop, WordTokenizer.unk_token_id)
        x = torch.cat([self.word_emb(input_ids), self._chars(char_ids), self.case_emb(case_ids)], -1)  # (B, T, D)
        lengths = attention_mask.sum(1).clamp(min=1).cpu()
        packed = pack_padded_sequence(self.dropout(x), lengths, batch_first=True, enforce_sorted=False)
        h, _ = pad_packed_sequence(self.lstm(packed)[0], batch_first=True, total_length=input_ids.shape[1])
        return TaskOutput(logits=self.proj(self.dropout(h)))  # (B, T, L)

    def save_pretrained(self, path: str | Path) -> None:
        self.config.architectures = [self.architecture]
        self.config.save_pretrained(path)
        save_file({k: v.contiguous() for k, v in self.state_dict().items()}, str(Path(path) / "model.safetensors"))

    @classmethod
    def from_pretrained(cls, path: str | Path) -> BiLstmCrf:
        model = cls(PretrainedConfig.from_pretrained(path))
        model.load_state_dict(load_file(str(Path(path) / "model.safetensors")))
        return model
