"""Word-level features for a Transformer tagger: what an uncased sub-word vocabulary throws away.

Features (`model.word_features`, joined with "+"):
- casing: the word's shape class (pipelines.data.words.CASES), an embedding table of 8 rows;
- chars: the word's first MAX_CHARS UTF-8 bytes through a character CNN (byte embeddings, width-3
  convolution, max over the characters), as in the BiLSTM-CRF; bytes need no vocabulary;
- word2vec: the word's vector from a second embedding space, gensim word2vec trained on the training text (and
  any `model.word2vec_text`), looked up by the lower-cased word in a frozen table (`word_ids`, 1 = unknown):
  another source of word embeddings next to the encoder's own sub-token table.

Every sub-token of a word carries its word's features. Two places to put them next to the encoder's space:

- fusion="input": each feature vector is added to the sub-token embeddings before the encoder's position
  embeddings and LayerNorm: x = E_tok[id] + sum_f P_f(v_f) (+ E_pos). A sum of two embeddings is a
  concatenation followed by a linear map, [E_tok; v] -> [I  P], so "add" and "concatenate then project back to
  H" span the same models. The casing table is zero-initialised; a CNN's projection ends in a LayerNorm
  whose gain starts at zero; so training starts from the pretrained model exactly, and the LayerNorm maps
  the new space to unit scale before the learned gain sets its weight. Attention can use it in every layer.
  The word2vec space is aligned the same way: a learned projection P (D -> H) and a LayerNorm whose gain
  starts at zero; the table itself stays frozen, so words seen only in the unlabelled text keep vectors that
  sit where their neighbours in that text put them.
- fusion="head": the feature vectors concatenated to the encoder's last hidden state before the linear
  classifier. A linear map of a concatenation is the sum of two maps, W [h; v] = W_h h + W_v v, so this adds a
  per-word bias to the tag scores (zero at the start): cheap, but the encoder never sees the neighbours'.

What each is worth is measured in reports/ner_features.md.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from pipelines.data.words import CASES
from pipelines.errors import ConfigError
from pipelines.models.crf import ConstrainedCRF, CrfTokenClassifier
from pipelines.models.outputs import TaskOutput
from pipelines.models.saving import load_composite, load_pretrained, save_composite

FEATURES = ("casing", "chars", "word2vec")
INPUTS = {"casing": "case_ids", "chars": "char_ids", "word2vec": "word_ids"}
FUSIONS = ("input", "head")
HEAD_DIM = 16  # the casing vector's size with fusion="head"
CHAR_DIM, CHAR_FILTERS = 30, 50


def parse_features(spec: str) -> tuple[str, ...]:
    """'casing+chars' -> ('casing', 'chars'); 'none' or '' -> (); an unknown name is a ValueError."""
    names = tuple(sorted({x.strip() for x in spec.split("+") if x.strip() and x.strip() != "none"}))
    unknown = [x for x in names if x not in FEATURES]
    if unknown:
        raise ValueError(f"unknown word feature {unknown[0]!r}: expected 'none' or {' + '.join(FEATURES)}")
    return names


PARTS = ("case_embed", "chars", "char_proj", "word_table", "word_proj", "case_head", "crf")


class CharCnn(nn.Module):
    """(B, T, C) byte ids (0 = padding) -> (B, T, CHAR_FILTERS): embedding, width-3 convolution, max over C."""

    def __init__(self) -> None:
        super().__init__()
        self.embed = nn.Embedding(257, CHAR_DIM, padding_idx=0)
        self.conv = nn.Conv1d(CHAR_DIM, CHAR_FILTERS, kernel_size=3, padding=1)

    def forward(self, char_ids: torch.Tensor) -> torch.Tensor:
        b, t, c = char_ids.shape
        x = self.embed(char_ids.reshape(b * t, c)).transpose(1, 2)  # (BT, D, C)
        h = self.conv(x).masked_fill((char_ids.reshape(b * t, 1, c) == 0), float("-inf"))
        h = h.max(-1).values  # (BT, F)
        return torch.where(torch.isfinite(h), h, torch.zeros_like(h)).reshape(b, t, -1)  # words without bytes: 0


class WordFeatureTagger(nn.Module):
    """A Hugging Face token classifier (`emitter`) that also reads word features: `case_ids` (B, T), 1 + the
    casing class of each sub-token's word, 0 on special tokens and padding; `char_ids` (B, T, C), the word's
    bytes + 1; `word_ids` (B, T), the word's row in `word_vectors` (0 = none, 1 = unknown). Optional constrained
    CRF over the emissions."""

    architecture = "WordFeatureTagger"

    def __init__(self, emitter: nn.Module, labels: Sequence[str], features: Sequence[str] = ("casing",),
                 fusion: str = "input", crf: bool = False, dropout: float = 0.1,
                 word_vectors: np.ndarray | tuple[int, int] | None = None) -> None:
        super().__init__()
        if fusion not in FUSIONS:
            raise ValueError(f"fusion={fusion!r}: expected one of {FUSIONS}")
        self.features = parse_features("+".join(features))
        if not self.features:
            raise ValueError("WordFeatureTagger needs at least one feature")
        self.emitter, self.fusion = emitter, fusion
        self.extra_inputs = tuple(INPUTS[f] for f in self.features)
        hidden = emitter.config.hidden_size
        width = 0
        self.case_embed = self.chars = self.char_proj = self.case_head = self.word_table = self.word_proj = None
        if "casing" in self.features:
            self.case_embed = nn.Embedding(len(CASES) + 1, hidden if fusion == "input" else HEAD_DIM, padding_idx=0)
            if fusion == "input":
                nn.init.zeros_(self.case_embed.weight)
            width += HEAD_DIM
        if "chars" in self.features:
            self.chars = CharCnn()
            if fusion == "input":
                self.char_proj = nn.Sequential(nn.Linear(CHAR_FILTERS, hidden), nn.LayerNorm(hidden))
                nn.init.zeros_(self.char_proj[1].weight)
            width += CHAR_FILTERS
        if "word2vec" in self.features:
            if word_vectors is None:
                raise ValueError("the word2vec feature needs word_vectors: a (V, D) array or its shape")
            table = torch.zeros(word_vectors) if isinstance(word_vectors, tuple) else torch.as_tensor(word_vectors)
            self.word_table = nn.Embedding.from_pretrained(table.float(), freeze=True, padding_idx=0)
            dim = self.word_table.embedding_dim
            if fusion == "input":
                self.word_proj = nn.Sequential(nn.Linear(dim, hidden), nn.LayerNorm(hidden))
                nn.init.zeros_(self.word_proj[1].weight)
            width += dim
        if fusion == "head":
            self.case_head = nn.Linear(width, len(labels), bias=False)
            nn.init.zeros_(self.case_head.weight)
        self.dropout = nn.Dropout(dropout)
        self.crf = ConstrainedCRF(labels) if crf else None

    @property
    def config(self) -> Any:
        return self.emitter.config

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor, case_ids: torch.Tensor | None = None,
                char_ids: torch.Tensor | None = None, word_ids: torch.Tensor | None = None) -> TaskOutput:
        given = {"case_ids": case_ids, "char_ids": char_ids, "word_ids": word_ids}
        if missing := [name for name in self.extra_inputs if given[name] is None]:
            raise ValueError(f"WordFeatureTagger(features={'+'.join(self.features)}) got no {', '.join(missing)}: "
                             "the batches were encoded without these word features. Encode with the options the "
                             "model was built with (one task object for the TaskDataModule and the TaskModule).")
        parts = []
        if self.case_embed is not None:
            parts.append(self.case_embed(case_ids))
        if self.chars is not None:
            vectors = self.chars(char_ids)
            parts.append(self.char_proj(vectors) if self.fusion == "input" else vectors)
        if self.word_table is not None:
            vectors = self.word_table(word_ids)
            parts.append(self.word_proj(vectors) if self.fusion == "input" else vectors)
        if self.fusion == "input":
            embeds = self.emitter.get_input_embeddings()(input_ids) + sum(parts)  # (B, T, H)
            return TaskOutput(logits=self.emitter(inputs_embeds=embeds, attention_mask=attention_mask).logits)
        logits = self.emitter(input_ids=input_ids, attention_mask=attention_mask).logits  # (B, T, L)
        return TaskOutput(logits=logits + self.case_head(self.dropout(torch.cat(parts, -1))))

    def save_pretrained(self, path: str | Path) -> None:
        parts = {name: getattr(self, name).state_dict() for name in PARTS if getattr(self, name) is not None}
        table = list(self.word_table.weight.shape) if self.word_table is not None else None
        save_composite(path, self.architecture, self.emitter, parts,
                       {"features": list(self.features), "fusion": self.fusion, "crf": self.crf is not None,
                        "word_vectors": table})

    @classmethod
    def from_pretrained(cls, path: str | Path, model_cls: Any) -> WordFeatureTagger:
        inner, tensors, config = load_composite(path)
        emitter = load_pretrained(model_cls, inner)
        labels = [emitter.config.id2label[i] for i in range(len(emitter.config.id2label))]
        table = config.get("word_vectors")
        model = cls(emitter, labels, features=config["features"], fusion=config["fusion"], crf=config["crf"],
                    word_vectors=tuple(table) if table else None)
        for name, state in tensors.items():
            getattr(model, name).load_state_dict(state)
        return model.eval()


def token_tagger(base: nn.Module, labels: Sequence[str], crf: bool, features: Sequence[str], fusion: str,
                 dropout: float, word_table: Any = None) -> nn.Module:
    """The NER model on a Hugging Face token classifier `base`: a WordFeatureTagger when it reads word
    `features` (`word_table`, a pipelines.data.words.WordTable, for the word2vec one), else a constrained CRF
    on its emissions with `crf`, else `base` itself."""
    if features:
        vectors = None
        if "word2vec" in features:
            if word_table is None:
                raise ConfigError("model.word_features with word2vec: build the model after fit_featurizers or "
                                  "load_featurizers (the 'word_table' holds the vocabulary and vectors)")
            # a loaded vocabulary has no vectors: a zero table of its shape, for a checkpoint's weights
            vectors = (word_table.vectors if word_table.vectors is not None
                       else (len(word_table.index), word_table.info["dim"]))
        return WordFeatureTagger(base, labels, features, fusion, crf=crf, dropout=dropout, word_vectors=vectors)
    return CrfTokenClassifier(base, labels) if crf else base
