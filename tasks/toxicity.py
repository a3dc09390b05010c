"""Toxic language: is a post toxic (a post classifier), which characters (a span tagger), and a cleaned text.

One encoder, two heads (pipelines.models.joint.ToxicityModel): a post head on the mean of the token vectors and a span
tagger on first sub-tokens (B-SPAN / I-SPAN / O, optionally a constrained CRF). Spans are character offsets
(SemEval-2021 Task 5) turned into word tags and back (pipelines.data.spans: a span that cuts a word marks the
whole word).

Data: records with `text` and a post `label` (CSV/JSONL `text,label`), and/or `spans` (SemEval `spans,text`,
character offsets) or inline-annotated text. A record may lack either: an empty or null label, or empty/null
spans, leaves that head untrained on it; so one file can mix labelled posts and span-annotated posts.
Class-imbalance settings (train.class_weights, focal_gamma, sampling, logit_adjustment) act on the post head;
a `label_votes` field ({label: annotator count}) trains it on the annotators' soft labels too
(train.soft_weight: the share of the loss on them).
Metrics: post accuracy, macro-F1, weighted F1 and per-class scores; span char-F1 (the official SemEval
metric, per post, averaged; a post with no gold spans scores 1 only when none are predicted).

`predict` returns per text the label and its probability, `toxic` (label != model.clean_label), the spans as
character offsets, and the text masked, with the spans removed, and rewritten (pipelines.methods.detox).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from datasets import Dataset
from transformers import AutoModel

from pipelines.config import DataConfig, ModelOptions
from pipelines.data.align import words_of
from pipelines.data.batching import Features
from pipelines.data.tags import LabelSets
from pipelines.errors import ConfigError
from pipelines.families import post_spans, tagging
from pipelines.families.post_spans import TAGS
from pipelines.methods import detox
from pipelines.models import encoders
from pipelines.models.crf import tagging_loss
from pipelines.models.decoding import make_decoder
from pipelines.models.joint import ToxicityModel, load_toxicity_model
from pipelines.models.losses import Criterion
from pipelines.models.outputs import TaskOutput
from pipelines.records import PostRecord
from pipelines.task import SAMPLES, Featurizers, Task

log = logging.getLogger(__name__)
PLAIN = Criterion()  # the span head's loss: plain cross-entropy (imbalance settings are for the post head)


@dataclass(frozen=True)
class ToxicityOptions(ModelOptions):
    head: str = field(default="softmax", metadata={"help": "span tagger head: softmax | crf"})
    decode: str = field(default="viterbi", metadata={"help": "viterbi (valid IOB2 spans) | argmax (softmax head)"})
    pooling: str = field(default="mean", metadata={"help": "post head input: mean (of the token vectors) | cls"})
    span_weight: float = field(default=1.0, metadata={"help": "loss = post loss + span_weight * span loss"})
    clean_label: str = field(default="neither", metadata={"help": "the post label that means not toxic"})
    mask: str = field(default="***", metadata={"help": "what replaces each span in `masked`"})
    rewrite: bool = field(default=True, metadata={"help": "fit word2vec on the training text for `rewritten` "
                                                          "(else `rewritten` is the removed text)"})
    prior_correction: str = field(default="dev", metadata={"help": "dev: after training, shift the post scores "
                                                                     "by -tau * log(train label prior), tau chosen "
                                                                     "on dev macro-F1 (0 if nothing helps) | none"})

    def __post_init__(self) -> None:
        super().__post_init__()
        self.check(self.head in {"softmax", "crf"}, f"model.head={self.head!r}: expected softmax|crf")
        self.check(self.decode in {"viterbi", "argmax"}, f"model.decode={self.decode!r}: expected viterbi|argmax")
        self.check(not (self.head == "crf" and self.decode == "argmax"),
                   "model.decode=argmax with model.head=crf: a CRF decodes with its own Viterbi")
        self.check(self.pooling in {"mean", "cls"}, f"model.pooling={self.pooling!r}: expected mean|cls")
        self.check(self.span_weight > 0, f"model.span_weight={self.span_weight}: expected > 0")
        self.check(self.prior_correction in {"dev", "none"},
                   f"model.prior_correction={self.prior_correction!r}: expected dev|none")


class ToxicityTask(Task):
    name = "toxicity"
    Options = ToxicityOptions
    columns = ("text",)
    optional_columns = ("label", "spans", "tokens", "tags", "label_votes")  # either head may go untrained
    gold = "spans"
    monitor = "val/score"
    sample = SAMPLES / "toxicity"
    criterion_on_crf = False  # the criterion reaches the post head only; a CRF span head keeps its likelihood
    report_notes = ("Post scores over posts with a label; char_f1: SemEval-2021 Task 5 character F1 per post, "
                    "averaged over posts with span annotation; score = mean of macro_f1 and char_f1 (those "
                    "present).",)
    options: ToxicityOptions

    def label_list(self, splits: dict[str, Dataset]) -> list[str]:
        """Post labels (sorted, from train; none when train has no labels) and the span tags O, B-SPAN, I-SPAN."""
        train = splits["train"]
        posts = sorted({x for x in train["label"] if x is not None}) if "label" in train.column_names else []
        if posts and self.options.clean_label not in posts:
            raise ConfigError(f"model.clean_label={self.options.clean_label!r} is not one of the post labels "
                              f"{posts}: set model.clean_label to the label that means not toxic (every post "
                              "would be called toxic otherwise)")
        return LabelSets(intents=posts, tags=TAGS)

    def prepare_model(self, model: ToxicityModel, splits: dict[str, Dataset]) -> None:
        """Note the heads the training split gives no targets to: predict leaves their outputs out (None)."""
        train = splits["train"]
        model.untrained = []
        if not model.intents:
            model.untrained.append("intent")
        if "tags" not in train.column_names or all(t is None for t in train["tags"]):
            model.untrained.append("slots")
        if "slots" in model.untrained:
            log.warning("no post in the training data has span annotation: the span head is not trained, and "
                        "predict returns no spans, masked, removed or rewritten text (None)")

    def build_model(self, labels: Sequence[str], tokenizer, featurizers=None) -> ToxicityModel:
        opts = self.options
        return ToxicityModel(encoders.load_model(opts.encoder, AutoModel, tokenizer), labels, opts.dropout,
                             crf=opts.head == "crf", pooling=opts.pooling)

    def load_model(self, path: str | Path) -> ToxicityModel:
        return load_toxicity_model(path)

    def fit_after_training(self, model: ToxicityModel, tokenizer, splits, data: DataConfig,
                           batch_size: int = 64, featurizers=None) -> dict[str, Any]:
        """model.prior_correction=dev: fit the post-score shift on the validation posts (kept in the model)."""
        if self.options.prior_correction == "dev":
            post_spans.prior_correction_on_dev(model, tokenizer, splits, data, batch_size)
        return {}

    def fit_featurizers(self, splits: dict[str, Dataset], tokenizer: Any, seed: int) -> dict[str, Any]:
        """model.rewrite: word2vec and the toxic-word lexicon from the training text and spans."""
        if not self.options.rewrite:
            return {}
        train = splits["train"]
        words = train["tokens"] if "tokens" in train.column_names else words_of(train["text"])
        tags = train["tags"] if "tags" in train.column_names else None
        return {"rewriter": detox.Rewriter.fit(words, tags, seed=seed)}

    def load_featurizers(self, path: str | Path) -> dict[str, Any]:
        rewriter = detox.Rewriter.load(path)
        return {"rewriter": rewriter} if rewriter is not None else {}

    def encode(self, ds: Dataset, tokenizer, label2id: dict[str, int], data: DataConfig,
               featurizers: Featurizers | None = None) -> Features:
        return post_spans.encode(ds, tokenizer, label2id, data)

    def class_targets(self, labels: Sequence[str]) -> tuple[str, int]:
        """Class weights, priors and resampling count the post labels."""
        return "intent_labels", len(LabelSets.of(labels).intents)

    def loss(self, model: ToxicityModel, out: TaskOutput, batch, criterion: Criterion) -> torch.Tensor:
        """Post loss (the shared criterion, over posts with a label) + span_weight * span loss (plain
        cross-entropy or the CRF's likelihood, over posts with span annotation)."""
        total = out.slot_logits.sum() * 0.0  # keeps the graph when a batch has neither target
        post = batch["intent_labels"]
        if (post >= 0).any():
            total = total + criterion(out.intent_logits, post, soft=batch.get("soft_targets"))
        annotated = (batch["labels"] != -100).any(1)  # (B,)
        if annotated.any():
            sub = {k: v[annotated] for k, v in batch.items() if torch.is_tensor(v) and len(v) == len(annotated)}
            total = total + self.options.span_weight * tagging_loss(model, out.slot_logits[annotated], sub,
                                                                        PLAIN)
        return total

    def decoder(self, model: ToxicityModel, decode: str | None = None):
        crf = model.crf
        return make_decoder(model.tags, "crf" if crf is not None else (decode or self.options.decode), crf)

    def gather(self, batch, out: TaskOutput, decode_fn) -> list[PostRecord]:
        return post_spans.gather(batch, out, decode_fn)

    def join_windows(self, records, decode_fn):
        return tagging.join_windows(records, decode_fn)

    def score(self, records, id2label, gold=None) -> dict[str, Any]:
        """Post scores and span char-F1 (see the module docstring); `score` is their mean."""
        return post_spans.score(records, id2label, gold)

    def head_labels(self, model: ToxicityModel) -> dict[str, list[str]]:
        return {"intent_head": model.intents, "post_bias": model.intents, "slot_head": model.tags, "crf": model.tags}

    def predict(self, model, tokenizer, texts, batch_size=64, data=None, featurizers=None):
        """Per text: {"label", "probability", "toxic", "spans": [{"start", "end", "text", "score"}],
        "offsets", "masked", "removed", "rewritten", "rewrite_accepted"} (post_spans.predict)."""
        opts = self.options
        return post_spans.predict(self, model, tokenizer, texts, batch_size, data, (featurizers or {}).get("rewriter"),
                                  opts.clean_label, opts.mask)


TASK = ToxicityTask
