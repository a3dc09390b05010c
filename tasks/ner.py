"""Named-entity recognition: a token classifier over first sub-tokens, scored with seqeval strict IOB2.

Data: `tokens` and `tags` (IOB2) per sentence, `doc_id` for document context. Long sentences are split
into windows (pipelines.data.align), so every gold entity is scored; the word scores of a sentence's windows
are joined and decoded as one sequence (`join_windows`), so Viterbi and CRF decoding stay valid IOB2 across
window boundaries. Decoding defaults to the most probable valid IOB2 path (`model.decode=viterbi`; argmax
left 3.2% of CoNLL-2003 test sentences invalid, reports/ner_compare.md).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from datasets import Dataset
from transformers import AutoModelForTokenClassification

from pipelines.config import DataConfig, ModelOptions
from pipelines.data.batching import Features
from pipelines.data.tagging import encode_tokens
from pipelines.data.tags import tag_list
from pipelines.data.words import WordTable, fit_word2vec
from pipelines.errors import ConfigError
from pipelines.families.tagging import (
    document_entities,
    gather,
    join_windows,
    score,
    word_decoder,
    word_distributions,
)
from pipelines.models import encoders
from pipelines.models.bilstm import BiLstmCrf
from pipelines.models.crf import CrfTokenClassifier, tagging_loss
from pipelines.models.losses import Criterion
from pipelines.models.outputs import TaskOutput
from pipelines.models.saving import load_by_architecture, load_pretrained
from pipelines.models.word_features import WordFeatureTagger, parse_features, token_tagger
from pipelines.predictions import Entities, Entity
from pipelines.task import SAMPLES, Featurizers, Task, labels_of

encode = encode_tokens  # the shared token-task encoder (pipelines.data.tagging)

MODEL_CLASS = AutoModelForTokenClassification
# what each saved architecture loads with (config.json's `architectures`; a Hugging Face token classifier else)
LOADERS = {BiLstmCrf.architecture: lambda p: BiLstmCrf.from_pretrained(p).eval(),
           WordFeatureTagger.architecture: lambda p: WordFeatureTagger.from_pretrained(p, MODEL_CLASS),
           CrfTokenClassifier.architecture: lambda p: CrfTokenClassifier.from_pretrained(p, MODEL_CLASS)}


@dataclass(frozen=True)
class NerOptions(ModelOptions):
    ARCHITECTURES = ("transformer", "bilstm")

    head: str = field(default="crf", metadata={"help": "softmax | crf (a constrained CRF; architecture=bilstm: crf)"})
    decode: str = field(default="viterbi", metadata={"help": "viterbi (most probable valid IOB2 path; the CRF's "
                                                               "own with head=crf) | argmax (softmax head only)"})
    word_vectors: str = field(default="word2vec", metadata={"help": "architecture=bilstm: word2vec (trained on the "
                                                                    "training text) | random"})
    word2vec_text: str = field(default="", metadata={"help": "word2vec (architecture=bilstm, or word_features with "
                                                             "word2vec): unlabelled text for the "
                                                             "vectors, comma-separated files or dirs (.txt, "
                                                             ".jsonl[.gz] with 'text'); its words seen 3+ times "
                                                             "join the vocabulary"})
    word_dropout: float = field(default=0.0, metadata={"help": "architecture=bilstm: share of words read as <unk> in "
                                                               "training, so the unknown-word vector is trained"})
    word_features: str = field(default="casing", metadata={"help": "none, or casing, chars, word2vec joined by '+': "
                                                                 "the Transformer also reads each word's casing, "
                                                                 "characters, word2vec vector "
                                                                 "(pipelines/models/word_features.py)"})
    feature_fusion: str = field(default="input", metadata={"help": "input (added to the sub-token embeddings) | "
                                                                   "head (concatenated before the classifier)"})

    def __post_init__(self) -> None:
        super().__post_init__()
        self.check(self.head in {"softmax", "crf"}, f"model.head={self.head!r}: expected softmax|crf")
        self.check(self.decode in {"viterbi", "argmax"}, f"model.decode={self.decode!r}: expected viterbi|argmax")
        self.check(not (self.head == "crf" and self.decode == "argmax"),
                   "model.decode=argmax with model.head=crf: a CRF decodes with its own Viterbi; use decode=viterbi")
        try:
            parse_features(self.word_features)
        except ValueError as err:
            raise ConfigError(f"model.word_features={self.word_features!r}: {err}") from None
        self.check(self.feature_fusion in {"input", "head"},
                   f"model.feature_fusion={self.feature_fusion!r}: expected input|head")
        # the BiLSTM-CRF reads each word's casing itself, so the default `casing` holds for it as it is
        self.check(not (self.architecture == "bilstm" and set(parse_features(self.word_features)) - {"casing"}),
                   f"model.word_features={self.word_features} is for Transformer encoders; the BiLSTM-CRF reads "
                   "casing and characters already: use configs/ner_bilstm.yaml or set model.word_features=none")
        self.check(self.word_vectors in {"word2vec", "random"},
                   f"model.word_vectors={self.word_vectors!r}: expected word2vec|random")
        self.check(0.0 <= self.word_dropout < 1.0, f"model.word_dropout={self.word_dropout}: expected in [0, 1)")
        bilstm, w2v_feature = self.architecture == "bilstm", "word2vec" in parse_features(self.word_features)
        self.check(not bilstm or self.head == "crf", "model.architecture=bilstm always has a CRF head: set "
                                                     "model.head=crf")
        self.check(not (self.word2vec_text and self.word_vectors == "random"),
                   "model.word2vec_text is read for word2vec vectors only, but model.word_vectors=random")
        for name, default in (("word_vectors", "word2vec"), ("word2vec_text", ""), ("word_dropout", 0.0)):
            self.check(bilstm or getattr(self, name) == default or (name == "word2vec_text" and w2v_feature),
                       f"model.{name} applies to model.architecture=bilstm only")


class NerTask(Task):
    name = "ner"
    Options = NerOptions
    columns = ("tokens", "tags")
    gold = "tags"
    monitor = "val/f1"
    sample = SAMPLES / "ner"
    report_notes = ("Entity scores: seqeval mode='strict', scheme=IOB2.",)
    distillable = True
    options: NerOptions

    def label_list(self, splits: dict[str, Dataset]) -> list[str]:
        return tag_list(splits)

    def fit_featurizers(self, splits: dict[str, Dataset], tokenizer: Any, seed: int) -> dict[str, Any]:
        """word2vec vectors trained on the training text (+ model.word2vec_text): for architecture=bilstm, or for
        the Transformer's word2vec word feature (`word_table`: its vocabulary, which `encode` reads)."""
        opts = self.options
        table = "word2vec" in parse_features(opts.word_features)
        if not table and (opts.architecture != "bilstm" or opts.word_vectors != "word2vec"):
            return {}
        fitted = fit_word2vec(splits["train"]["tokens"], seed, opts.word2vec_text, table, tokenizer)
        return {"word_table" if table else "word_vectors": fitted}

    def build_model(self, labels: Sequence[str], tokenizer, featurizers=None) -> torch.nn.Module:
        """A Hugging Face token classifier on the encoder; head=crf puts a constrained CRF on its emissions.
        architecture=bilstm is the BiLSTM-CRF over a WordTokenizer."""
        opts = self.options
        if opts.architecture == "bilstm":
            vectors = (featurizers or {}).get("word_vectors")
            return BiLstmCrf.build(labels, tokenizer, opts.dropout, opts.word_dropout,
                                   vectors.vectors if vectors is not None else None)
        model = encoders.load_model(opts.encoder, MODEL_CLASS, tokenizer, head=("classifier.",),
                                    num_labels=len(labels), id2label=dict(enumerate(labels)),
                                    label2id={lab: i for i, lab in enumerate(labels)}, classifier_dropout=opts.dropout)
        return token_tagger(model, labels, opts.head == "crf", parse_features(opts.word_features), opts.feature_fusion,
                            opts.dropout, (featurizers or {}).get("word_table"))

    def load_model(self, path: str | Path) -> torch.nn.Module:
        return load_by_architecture(path, LOADERS, lambda p: load_pretrained(MODEL_CLASS, p).eval())

    def load_featurizers(self, path: str | Path) -> dict[str, Any]:
        table = WordTable.load(path)
        return {"word_table": table} if table is not None else {}

    def encode(self, ds: Dataset, tokenizer, label2id: dict[str, int], data: DataConfig,
               featurizers: Featurizers | None = None) -> Features:
        features = parse_features(self.options.word_features)
        table = (featurizers or {}).get("word_table")
        if "word2vec" in features and table is None:
            raise ConfigError("model.word_features with word2vec: encode needs the fitted word vocabulary: pass "
                              "featurizers= from fit_featurizers (training) or load_featurizers (a saved model)")
        return encode(ds, tokenizer, label2id, data, casing="casing" in features, chars="chars" in features,
                      word_rows=table.index if "word2vec" in features else None)

    def loss(self, model, out: TaskOutput, batch, criterion: Criterion) -> torch.Tensor:
        return tagging_loss(model, out.logits, batch, criterion)

    def decoder(self, model: torch.nn.Module, decode: str | None = None):
        return word_decoder(model, decode or self.options.decode)

    def gather(self, batch, out: TaskOutput, decode_fn) -> list[dict[str, Any]]:
        return gather(batch, out.logits, decode_fn)

    def join_windows(self, records, decode_fn):
        return join_windows(records, decode_fn)

    def score(self, records, id2label, gold=None) -> dict[str, Any]:
        return score(records, id2label, gold)

    def entity_tags(self, model: torch.nn.Module) -> list[str]:
        return list(labels_of(model))

    def head_labels(self, model: torch.nn.Module) -> dict[str, list[str]]:
        labels = labels_of(model)
        return {p: labels for p in ("classifier", "emitter.classifier", "proj", "crf", "case_head")}

    def predict(self, model, tokenizer, texts, batch_size=64, data=None, featurizers=None):
        """Entities per text: [{"type", "text", "start", "end", "score"}] with character offsets; the score is the
        probability that exactly this entity is right (`tagging.entity_probs`). A text is a document whose
        lines are its sentences (a sentence per text is the common case): a model trained with document
        context (`data.doc_context=true`) reads each sentence with its neighbours, as in training; no entity
        crosses a line break."""
        found = document_entities(self, model, tokenizer, texts, batch_size, data, featurizers)
        return [Entities([Entity(**e) for e in ents]).to_dict() for ents in found]

    def distributions(self, model, tokenizer, ds: Dataset, data: DataConfig, batch_size: int = 64,
                      featurizers: Featurizers | None = None) -> list[np.ndarray]:
        """Per sentence, (W, L) label probabilities of each word (tagging.word_distributions)."""
        return word_distributions(self, model, tokenizer, ds, data, batch_size, featurizers)


TASK = NerTask
