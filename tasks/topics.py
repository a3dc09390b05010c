"""Document classification with LDA topics and a Transformer fused (20 Newsgroups, BBC News).

Data: `text` and `label`: CSV / JSONL, or a folder of `<label>/<file>.txt` (the BBC layout; data.encoding_fallback=
latin-1 reads a non-UTF-8 file instead of stopping on it). An empty document stops the run with its file and record
(`model.empty_documents=keep` keeps it: stripping 20 Newsgroups' headers and quotes empties some posts).

The model (pipelines.models.fusion.TopicFusionClassifier) reads a text vector, θ from LDA (pipelines.methods.topics,
fitted on the training text), or both (`model.fusion` text | topics | concat | gate). The text vector comes from the
frozen encoder (`model.features=frozen`, the default: each document encoded once, window by window, pooled by
`model.pooling`, cached under `model.cache`; `input_ids` holds [CLS] [SEP] only) or from the encoder fine-tuned on one
window (`finetune`). `model.sparse` (svm | logreg) adds a TF-IDF linear model's class scores (pipelines.methods.sparse),
late (logits + w x scores, w chosen on dev) or as a head input (`model.sparse_fusion`). Prediction adds the
document's top topics with their top words. The topic and sparse models are featurizers (fit_featurizers /
load_featurizers return them; encode and predict take them); the chunk encoder is built once per task instance.
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
from transformers import AutoModel

from pipelines.config import DataConfig, ModelOptions
from pipelines.data.batching import Collator, Features
from pipelines.errors import ModelFormatError
from pipelines.families import classify, documents
from pipelines.methods.documents import POOLINGS, ChunkEncoder
from pipelines.methods.sparse import KINDS, SparseModel, required
from pipelines.methods.topics import TopicModel
from pipelines.models import encoders
from pipelines.models.fusion import FUSIONS, SPARSE_FUSIONS, TopicFusionClassifier
from pipelines.models.losses import Criterion
from pipelines.models.outputs import TaskOutput, infer
from pipelines.models.saving import is_composite
from pipelines.predictions import Topic
from pipelines.task import SAMPLES, Featurizers, Task, labels_of

TOP_TOPICS, TOP_WORDS = 3, 8
log = logging.getLogger(__name__)


@dataclass(frozen=True)
class TopicsOptions(ModelOptions):
    fusion: str = field(default="gate", metadata={"help": "text (Transformer only) | topics (LDA θ only) | concat "
                                                          "(θ joined before the head) | gate (gated θ branch)"})
    features: str = field(default="frozen", metadata={"help": "frozen (encode once, cache, train the head) | "
                                                              "finetune (train the encoder on one window)"})
    pooling: str = field(default="head", metadata={"help": "head | head_tail | chunks (mean over windows, frozen "
                                                           "only); head won on dev (reports/topics.md)"})
    window: int = field(default=256, metadata={"help": "features=frozen: sub-tokens per window incl. [CLS]/[SEP]"})
    max_chunks: int = field(default=4, metadata={"help": "features=frozen, pooling head_tail|chunks: windows per "
                                                         "document (the first ones + the last)"})
    num_topics: int = field(default=50, metadata={"help": "LDA topics (fusion=text fits none)"})
    lda_passes: int = field(default=5, metadata={"help": "LDA passes over the training text"})
    cache: str = field(default="runs/cache", metadata={"help": "folder caching frozen document vectors "
                                                               "(documents/) and LDA models (lda/); '' = none"})
    sparse: str = field(default="svm", metadata={"help": "none | svm | logreg: a TF-IDF linear model's class scores"})
    sparse_fusion: str = field(default="late", metadata={"help": "late (+ w x scores, w on dev) | head (an input)"})
    empty_documents: str = field(default="error", metadata={"help": "error | keep (an empty text: θ = the prior, "
                                                                    "the vector of an empty window)"})

    def __post_init__(self) -> None:
        super().__post_init__()
        self.check(self.fusion in FUSIONS, f"model.fusion={self.fusion!r}: expected {'|'.join(FUSIONS)}")
        self.check(self.features in {"frozen", "finetune"},
                   f"model.features={self.features!r}: expected frozen|finetune")
        self.check(self.pooling in POOLINGS, f"model.pooling={self.pooling!r}: expected {'|'.join(POOLINGS)}")
        self.check(self.features == "frozen" or self.pooling != "chunks",
                   "model.pooling=chunks needs model.features=frozen (a fine-tuned encoder reads one window: "
                   "head|head_tail)")
        self.check(self.window >= 8 and self.max_chunks >= 1, f"model.window={self.window} (>= 8) and "
                                                               f"model.max_chunks={self.max_chunks} (>= 1)")
        self.check(self.fusion == "text" or self.num_topics >= 2, f"model.num_topics={self.num_topics}: expected >= 2")
        self.check(self.sparse in {"none", *KINDS} and self.sparse_fusion in SPARSE_FUSIONS,
                   f"model.sparse={self.sparse!r}, model.sparse_fusion={self.sparse_fusion!r}: expected "
                   f"none|{'|'.join(KINDS)} and {'|'.join(SPARSE_FUSIONS)}")
        self.check(self.empty_documents in {"error", "keep"},
                   f"model.empty_documents={self.empty_documents!r}: expected error|keep")


class TopicsTask(Task):
    name = "topics"
    Options = TopicsOptions
    columns = ("text", "label")
    optional_columns = ("file",)
    gold = "label"
    monitor = "val/accuracy"
    class_head = "classifier"
    sample = SAMPLES / "topics"
    options: TopicsOptions
    _chunks: ChunkEncoder | None = None  # built on first use, per instance

    uses_topics = property(lambda self: self.options.fusion != "text")
    uses_text = property(lambda self: self.options.fusion != "topics")

    def chunk_encoder(self, cache: bool = True) -> ChunkEncoder:
        """The frozen encoder that turns documents into window vectors (built once per task instance)."""
        if self._chunks is None:  # pooling=head reads the first window: the others are never encoded
            windows = 1 if self.options.pooling == "head" else self.options.max_chunks
            self._chunks = ChunkEncoder(self.options.encoder, self.options.window, windows)
        self._chunks.cache_dir = Path(self.options.cache) / "documents" if cache and self.options.cache else None
        return self._chunks

    def label_list(self, splits: dict[str, Dataset]) -> list[str]:
        return sorted(set(splits["train"]["label"]))

    def fit_featurizers(self, splits: dict[str, Dataset], tokenizer: Any, seed: int) -> dict[str, Any]:
        """LDA on the training text (none for fusion=text); the TF-IDF model with model.sparse."""
        opts, out = self.options, {}
        if self.uses_topics:
            out["topics"] = TopicModel.fit(splits["train"]["text"], opts.num_topics, seed=seed, passes=opts.lda_passes,
                                           cache_dir=Path(opts.cache) / "lda" if opts.cache else None)
        if opts.sparse != "none":
            out["sparse"] = SparseModel.fit_splits(splits, self.label_list(splits), opts.sparse, seed,
                                                   out_of_fold=opts.sparse_fusion == "head")
        return out

    def load_featurizers(self, path: str | Path) -> dict[str, Any]:
        found = {"topics": TopicModel.load(path), "sparse": SparseModel.load(path)}
        return {k: v for k, v in found.items() if v is not None}

    def build_model(self, labels: Sequence[str], tokenizer, featurizers=None) -> TopicFusionClassifier:
        opts = self.options
        topics = (featurizers or {}).get("topics")
        k = topics.num_topics if self.uses_topics and topics is not None else opts.num_topics
        head = {"dropout": opts.dropout, "sparse": len(labels) if required(opts.sparse, featurizers, labels) else 0,
                "sparse_fusion": opts.sparse_fusion}
        if opts.features == "finetune" and self.uses_text:
            encoder = encoders.load_model(opts.encoder, AutoModel, tokenizer)
            return TopicFusionClassifier(labels, opts.fusion, k, encoder=encoder, **head)
        dim = self.chunk_encoder().encoder.model.config.hidden_size if self.uses_text else 0
        return TopicFusionClassifier(labels, opts.fusion, k, text_dim=dim, **head).train()

    def fit_after_training(self, model, tokenizer, splits, data, batch_size=64, featurizers=None) -> dict[str, Any]:
        if self.options.sparse != "none" and self.options.sparse_fusion == "late":  # the weight, set on the model
            documents.fit_sparse_weight(self, model, tokenizer, splits.get("validation"), data, featurizers, batch_size)
        return {}

    def load_model(self, path: str | Path) -> TopicFusionClassifier:
        if not is_composite(path):
            raise ModelFormatError(f"{path}: not a saved topics model (config.json of model_type nlp_pipelines)")
        return TopicFusionClassifier.from_pretrained(path)

    def features(self, texts: Sequence[str], tokenizer, data: DataConfig, featurizers: Featurizers | None,
                 cache: bool = True) -> list[dict[str, Any]]:
        """Per text the model's inputs (documents.document_inputs)."""
        opts, text = self.options, self.options.features if self.uses_text else ""
        return documents.document_inputs(texts, tokenizer, data.max_length, text, opts.pooling,
                                         self.chunk_encoder(cache) if text == "frozen" else None,
                                         documents.require_topics((featurizers or {}).get("topics"))
                                         if self.uses_topics else None, required(opts.sparse, featurizers))

    def encode(self, ds: Dataset, tokenizer, label2id: dict[str, int], data: DataConfig,
               featurizers: Featurizers | None = None) -> Features:
        documents.check_empty(ds, self.options.empty_documents == "keep", data.path or str(self.sample))
        rows = self.features(ds["text"], tokenizer, data, featurizers)
        if "label" in ds.column_names:
            for row, label in zip(rows, ds["label"], strict=True):
                row["labels"] = label2id.get(label, -100)
        return Features(rows)

    def loss(self, model, out: TaskOutput, batch, criterion: Criterion) -> torch.Tensor:
        return criterion(out.logits, batch["labels"], soft=batch.get("soft_targets"))

    def decoder(self, model: torch.nn.Module, decode: str | None = None) -> None:  # nothing to decode
        return None

    def gather(self, batch, out: TaskOutput, decode_fn=None) -> list[dict[str, Any]]:
        return classify.gather(batch, out)  # one probability row per document, as for intents

    def score(self, records, id2label, gold=None) -> dict[str, Any]:
        return classify.score(records, id2label, gold)

    def predict(self, model, tokenizer, texts, batch_size=64, data=None, featurizers=None):
        """Per text: {"label", "probability", "top_k", "topics" (when the model reads them): [{"topic", "weight",
        "words"}, ...]}."""
        topics = (featurizers or {}).get("topics")
        feats = Features(self.features(texts, tokenizer, data or DataConfig(max_length=256), featurizers, False))
        labels = labels_of(model)
        logits = np.zeros((len(texts), len(labels)), dtype=np.float32)
        for batch, out in infer(model, feats, Collator(tokenizer.pad_token_id), batch_size):
            logits[batch["example_id"].numpy()] = out.logits.numpy()
        topics_words = topics.top_words(TOP_WORDS) if self.uses_topics and topics else None
        results = []
        for i, row in enumerate(torch.from_numpy(logits).softmax(-1)):
            top = (None if topics_words is None else
                   [Topic(**t) for t in documents.top_topics(feats.rows[i]["topics"], topics_words, TOP_TOPICS)])
            results.append(classify.ranked(row, labels, topics=top).to_dict())
        return results


TASK = TopicsTask
