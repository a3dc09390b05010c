"""Intent classification: one label per utterance, scored by accuracy and macro-F1.

Data: `text` and `label`. Utterances longer than data.max_length sub-tokens are truncated (intents are
short); `encode` logs how many were. The head reads the mean of the encoder's token vectors by default
(`model.pooling=mean`: 95.71 vs 94.91 accuracy for [CLS] + pooler on CLINC150, reports/README.md).
An off-topic detector (`model.offtopic`) is fitted after training and saved with the model.
`model.architecture=bilstm` trains the small word-level BiLSTM classifier instead (pipelines.models.bilstm, word2vec
vectors fitted on the training text): the student of `make distill`. `model.architecture=scratch` trains the
hand-written Transformer of pipelines.models.transformer from random weights over the same word vocabulary
(`model.scratch_layers`, `model.scratch_width`).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from datasets import Dataset
from transformers import AutoModel, AutoModelForSequenceClassification

from pipelines.config import DataConfig, ModelOptions
from pipelines.data.align import words_of
from pipelines.data.batching import Features
from pipelines.data.words import WordVectors
from pipelines.families import classify
from pipelines.methods.offtopic import METHODS as OFFTOPIC_METHODS
from pipelines.methods.offtopic import OffTopic, fit_on_splits
from pipelines.models import encoders
from pipelines.models.bilstm import BiLstmClassifier
from pipelines.models.losses import Criterion
from pipelines.models.outputs import TaskOutput
from pipelines.models.pooling import MeanPoolClassifier
from pipelines.models.saving import load_by_architecture, load_pretrained
from pipelines.models.transformer import ScratchClassifier
from pipelines.task import SAMPLES, Featurizers, Task

MODEL_CLASS = AutoModelForSequenceClassification
# what each saved architecture loads with (config.json's `architectures`; a Hugging Face classifier else)
LOADERS = {ScratchClassifier.architecture: ScratchClassifier.from_pretrained,
           BiLstmClassifier.architecture: lambda p: BiLstmClassifier.from_pretrained(p).eval(),
           MeanPoolClassifier.architecture: MeanPoolClassifier.from_pretrained}
log = logging.getLogger(__name__)


@dataclass(frozen=True)
class IntentOptions(ModelOptions):
    ARCHITECTURES = ("transformer", "bilstm", "scratch")

    pooling: str = field(default="mean", metadata={"help": "mean (masked mean of the token vectors) | cls "
                                                           "([CLS] + pooler, Hugging Face's classifier) | max "
                                                           "(architecture=bilstm: max over the BiLSTM states)"})
    offtopic: str = field(default="mahalanobis", metadata={"help": "fit an off-topic detector after training: "
                                                       "msp|energy|mahalanobis|relative_mahalanobis|knn|combined "
                                                       "('' = none)"})
    offtopic_recall: float = field(default=0.95, metadata={"help": "in-scope recall kept when no out-of-scope "
                                                                   "validation data exists"})
    offtopic_threshold: str = field(default="accuracy", metadata={"help": "with out-of-scope validation data: "
                                                                          "accuracy (max validation accuracy) | "
                                                                          "balanced (max mean of the two recalls)"})
    scratch_layers: int = field(default=2, metadata={"help": "architecture=scratch: Transformer layers"})
    scratch_width: int = field(default=256, metadata={"help": "architecture=scratch: model width (4 heads, FF 2x)"})

    def __post_init__(self) -> None:
        super().__post_init__()
        self.check(self.pooling in {"cls", "mean", "max"}, f"model.pooling={self.pooling!r}: expected mean|cls|max")
        self.check(self.scratch_layers >= 1 and self.scratch_width >= 8 and self.scratch_width % 4 == 0,
                   f"model.scratch_layers={self.scratch_layers}, model.scratch_width={self.scratch_width}: expected "
                   ">= 1 layer and a width >= 8 divisible by 4 (heads)")
        if self.architecture == "scratch":
            self.check(self.pooling == "mean", "model.architecture=scratch pools by the mean of its token vectors")
        if self.architecture == "bilstm":
            self.check(self.pooling in {"mean", "max"}, f"model.architecture=bilstm pools its states by mean|max, not "
                                                        f"{self.pooling!r}")
        if self.word_level:
            self.check(self.offtopic not in {"knn", "combined"},
                       f"model.offtopic={self.offtopic}: kNN reads a pretrained encoder; "
                       f"model.architecture={self.architecture} "
                       "has none")
        else:
            self.check(self.pooling != "max", "model.pooling=max applies to model.architecture=bilstm only")
        self.check(not self.offtopic or self.offtopic in OFFTOPIC_METHODS,
                   f"model.offtopic={self.offtopic!r}: expected one of {'|'.join(OFFTOPIC_METHODS)} or ''")
        self.check(self.offtopic_threshold in {"accuracy", "balanced"},
                   f"model.offtopic_threshold={self.offtopic_threshold!r}: expected accuracy|balanced")
        self.check(0.0 < self.offtopic_recall < 1.0, f"model.offtopic_recall={self.offtopic_recall}: "
                                                     "expected in (0, 1)")
        if not self.offtopic:
            self.check(self.offtopic_recall == 0.95 and self.offtopic_threshold == "accuracy",
                       "model.offtopic_recall and model.offtopic_threshold apply only with model.offtopic set")


class IntentTask(Task):
    name = "intent"
    Options = IntentOptions
    columns = ("text", "label")
    gold = "label"
    monitor = "val/accuracy"
    sample = SAMPLES / "intent"
    distillable = True
    class_head = "classifier"
    options: IntentOptions

    def label_list(self, splits: dict[str, Dataset]) -> list[str]:
        """Sorted labels of the train split (a classifier can only learn what train shows)."""
        return sorted(set(splits["train"]["label"]))

    def fit_featurizers(self, splits: dict[str, Dataset], tokenizer: Any, seed: int) -> dict[str, Any]:
        """architecture=bilstm: word2vec vectors trained on the training text (they start the word embeddings)."""
        if self.options.architecture != "bilstm":
            return {}
        return {"word_vectors": WordVectors.fit(tokenizer, words_of(splits["train"]["text"]), seed=seed)}

    def build_model(self, labels: Sequence[str], tokenizer, featurizers=None) -> torch.nn.Module:
        opts = self.options
        if opts.architecture == "bilstm":
            vectors = (featurizers or {}).get("word_vectors")
            return BiLstmClassifier.build(labels, tokenizer, opts.dropout, pooling=opts.pooling,
                                          vectors=vectors.vectors if vectors is not None else None)
        if opts.architecture == "scratch":
            return ScratchClassifier.build(labels, len(tokenizer.words), opts.dropout, layers=opts.scratch_layers,
                                           d_model=opts.scratch_width, d_ff=2 * opts.scratch_width)
        if opts.pooling == "mean":
            return MeanPoolClassifier(encoders.load_model(opts.encoder, AutoModel, tokenizer), labels, opts.dropout)
        return encoders.load_model(opts.encoder, MODEL_CLASS, tokenizer, head=("classifier.",),
                                   num_labels=len(labels), id2label=dict(enumerate(labels)),
                                   label2id={lab: i for i, lab in enumerate(labels)}, classifier_dropout=opts.dropout)

    def load_model(self, path: str | Path) -> torch.nn.Module:
        return load_by_architecture(path, LOADERS, lambda p: load_pretrained(MODEL_CLASS, p).eval())

    def fit_after_training(self, model, tokenizer, splits, data: DataConfig, batch_size=64, featurizers=None):
        """model.offtopic: a detector fitted on the in-scope train split, thresholded on validation."""
        opts = self.options
        if not opts.offtopic:
            return {}
        detector = fit_on_splits(self, model, tokenizer, splits, opts.offtopic, opts.offtopic_recall, data,
                                 base_encoder=opts.encoder, balanced=opts.offtopic_threshold == "balanced",
                                 batch_size=batch_size)
        return {"offtopic": detector}

    def load_featurizers(self, path: str | Path) -> dict[str, Any]:
        detector = OffTopic.load(path)
        return {"offtopic": detector} if detector is not None else {}

    def encode(self, ds: Dataset, tokenizer, label2id: dict[str, int], data: DataConfig,
               featurizers: Featurizers | None = None) -> Features:
        return classify.encode(ds, tokenizer, label2id, data)

    def loss(self, model, out: TaskOutput, batch, criterion: Criterion) -> torch.Tensor:
        return criterion(out.logits, batch["labels"], soft=batch.get("soft_targets"))

    def decoder(self, model: torch.nn.Module, decode: str | None = None) -> None:
        """Classification has nothing to decode."""
        return None

    def gather(self, batch, out: TaskOutput, decode_fn=None) -> list[dict[str, Any]]:
        return classify.gather(batch, out)

    def score(self, records, id2label, gold=None) -> dict[str, Any]:
        return classify.score(records, id2label, gold)

    def predict(self, model, tokenizer, texts, batch_size=64, data=None, featurizers=None):
        """Per text: {"label", "probability", "top_k": [{"label", "probability"}, ...]}, plus "off_topic" and
        "off_topic_score" when the model carries an off-topic detector (pipelines.methods.offtopic)."""
        return classify.predict_texts(model, tokenizer, texts, batch_size, data, (featurizers or {}).get("offtopic"))

    def distributions(self, model, tokenizer, ds: Dataset, data: DataConfig, batch_size: int = 64,
                      featurizers: Featurizers | None = None) -> np.ndarray:
        """(N, K) predicted class probabilities for the examples of `ds`, in order."""
        logits, _ = classify.class_outputs(model, tokenizer, ds, data, batch_size)
        return torch.from_numpy(logits).softmax(-1).numpy()


TASK = IntentTask
