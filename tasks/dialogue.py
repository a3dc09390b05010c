"""Dialogue state tracking with context: per user turn, the active intent, the slot spans in the user's words,
and for every tracked slot an update gate (carry | copy | system | dontcare | delete; pipelines/data/dialogue.py)
that turns the previous state into the new one.

Input of one turn: `[CLS] user words [SEP] context [SEP]`, token type 0 for the user's words and 1 for the
context. `model.context` says what the context holds: `user` (nothing), `system` (the system utterance just
before the turn) or `history` (that, then the earlier utterances, most recent first, each after a role word;
the window cuts the oldest). Heads: intent and gates on [CLS], slot tags on the user's first sub-tokens.
Loss = intent CE + gate_weight * gate CE (mean over slots) + slot_weight * tag CE.

Data: the dialogue JSON format (sim-M's; a `.json` file or a folder of train/dev/test `.json`).
Metrics: joint goal accuracy (`jga`: the whole predicted state right after a turn, the state carried from the
model's own earlier predictions), per-slot accuracy, turn-level slot F1 (seqeval strict IOB2 over the user's
words), intent accuracy, gate accuracy, and `jga_oracle` (gold gates and spans: what the gates can reach).
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
from pipelines.data.batching import Features
from pipelines.data.dialogue import AUGMENTED, MADE_UP_STYLES
from pipelines.data.tags import LabelSets
from pipelines.families import dialogue_state as dst
from pipelines.methods import offtopic as offtopic_lib
from pipelines.methods.chat import Catalogue
from pipelines.models import encoders
from pipelines.models.decoding import make_decoder
from pipelines.models.dialogue import DSTModel, load_dst_model
from pipelines.models.losses import Criterion
from pipelines.models.outputs import TaskOutput
from pipelines.records import TurnRecord
from pipelines.task import SAMPLES, Featurizers, Task

CONTEXTS = ("user", "system", "history")

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class DialogueOptions(ModelOptions):
    context: str = field(default="system", metadata={"help": "what the encoder reads besides the user's turn: "
                                                                "user (nothing) | system (the system turn before "
                                                                "it) | history (that and the earlier turns)"})
    gate_weight: float = field(default=1.0, metadata={"help": "weight of the gate loss"})
    slot_weight: float = field(default=1.0, metadata={"help": "weight of the slot tag loss"})
    augment_slots: str = field(default="movie", metadata={"help": "comma-separated slots whose values training also "
                                                             "sees replaced by made-up ones (open-ended values "
                                                             "such as movie titles; data.dialogue.replace_values)"})
    augment_copies: int = field(default=2, metadata={"help": "augmented copies of the training dialogues"})
    augment_style: str = field(default="titles", metadata={"help": "made-up values: words (1-4 random words) | "
                                                                  "titles (1-7, function words, numbers, marks)"})
    span_copy: bool = field(default=True, metadata={"help": "copy every value the tagger finds in the user's "
                                                             "words even where the slot's gate says carry"})
    offtopic: str = field(default="mahalanobis", metadata={"help": "off-topic detector fitted on the training "
                                                                   "turns after training ('' = none)"})
    offtopic_recall: float = field(default=0.95, metadata={"help": "in-scope validation recall the off-topic "
                                                                   "threshold keeps"})

    def __post_init__(self) -> None:
        super().__post_init__()
        self.check(self.context in CONTEXTS, f"model.context={self.context!r}: expected {'|'.join(CONTEXTS)}")
        self.check(self.gate_weight > 0 and self.slot_weight > 0, "model.gate_weight and slot_weight: expected > 0")
        self.check(self.offtopic in ("", "mahalanobis", "relative_mahalanobis", "knn"),
                   f"model.offtopic={self.offtopic!r}: expected mahalanobis|relative_mahalanobis|knn or ''")
        self.check(self.augment_copies >= 0, f"model.augment_copies={self.augment_copies}: expected >= 0")
        self.check(self.augment_style in MADE_UP_STYLES,
                   f"model.augment_style={self.augment_style!r}: expected {'|'.join(MADE_UP_STYLES)}")
        self.check(0 < self.offtopic_recall <= 1, f"model.offtopic_recall={self.offtopic_recall}: expected in (0, 1]")


class DialogueTask(Task):
    name = "dialogue"
    Options = DialogueOptions
    columns = ("tokens", "tags", "label", "state", "gates")
    optional_columns = ("system", "history", "system_values", "dialogue_id", "turn")
    gold = "state"
    monitor = "val/jga"
    sample = SAMPLES / "dialogue"
    report_notes = ("JGA: the whole state right after a turn, the tracker feeding on its own predictions. Slot F1: "
                    "seqeval strict IOB2 over the user's words of each turn.",)
    options: DialogueOptions

    def label_list(self, splits: dict[str, Dataset]) -> LabelSets:
        return dst.label_list(splits)

    def augment(self, train: Dataset, tokenizer, seed: int) -> Dataset:
        """With model.augment_slots: `augment_copies` more copies of the training dialogues with made-up values
        of those slots (dialogue_state.augment)."""
        asked = [s.strip() for s in self.options.augment_slots.split(",") if s.strip()]
        return dst.augment(train, tokenizer, seed, asked, self.options.augment_copies,
                           self.options.augment_style)

    def build_model(self, labels: Sequence[str], tokenizer, featurizers=None) -> DSTModel:
        opts = self.options
        return DSTModel(encoders.load_model(opts.encoder, AutoModel, tokenizer), labels, opts.dropout, opts.context,
                        opts.span_copy)

    def load_model(self, path: str | Path) -> DSTModel:
        return load_dst_model(path)

    def encode(self, ds: Dataset, tokenizer, label2id: dict[str, int], data: DataConfig,
               featurizers: Featurizers | None = None) -> Features:
        return dst.encode(ds, tokenizer, label2id, data, self.options.context)

    def loss(self, model: DSTModel, out: TaskOutput, batch, criterion: Criterion) -> torch.Tensor:
        """Intent CE + gate_weight * gate CE + slot_weight * tag loss (the criterion's options apply to the tags)."""
        intent = criterion(out.intent_logits, batch["intent_labels"], weighted=False)
        gates = criterion(out.gate_logits, batch["gate_labels"], weighted=False)
        tags = criterion(out.slot_logits, batch["labels"])
        return intent + self.options.gate_weight * gates + self.options.slot_weight * tags

    def decoder(self, model: DSTModel, decode: str | None = None):
        return make_decoder(model.tags, decode or "viterbi")

    def gather(self, batch, out: TaskOutput, decode_fn) -> list[TurnRecord]:
        records = dst.gather(batch, out, decode_fn)
        for r in records:
            r.pooled = None  # the validation epoch keeps every record: no vector each
        return records

    def score(self, records, id2label, gold=None) -> dict[str, Any]:
        return dst.score(records, id2label, gold, self.options.span_copy)

    def head_labels(self, model: DSTModel) -> dict[str, list[str]]:
        return {"intent_head": model.intents, "slot_head": model.tags}

    def fit_after_training(self, model, tokenizer, splits, data, batch_size=64, featurizers=None):
        """The slot values of the training states (the bot's catalogue) and, with model.offtopic, the
        off-topic detector."""
        train = splits["train"]
        # no made-up titles
        real = [st for d, st in zip(train["dialogue_id"], train["state"], strict=True) if AUGMENTED not in d]
        fitted: dict[str, Any] = {"catalogue": Catalogue.from_states(real)}
        if self.options.offtopic:
            fitted["offtopic"] = dst.fit_offtopic(self.options, model, tokenizer, splits, data, batch_size)
        return fitted

    def load_featurizers(self, path: str | Path) -> dict[str, Any]:
        found = {"offtopic": offtopic_lib.OffTopic.load(path), "catalogue": Catalogue.load(path)}
        return {k: v for k, v in found.items() if v is not None}

    def predict(self, model: DSTModel, tokenizer, texts, batch_size=64, data=None, featurizers=None):
        """Each text as the first turn of a dialogue (no context): intent, probability, gates, the values said
        and the state it starts. A dialogue's later turns go through `predict_turns` with their context
        (pipelines.methods.chat does that)."""
        return dst.predict_turns(model, tokenizer, [{"text": t} for t in texts], batch_size, data, featurizers)

    def predict_turns(self, model: DSTModel, tokenizer, turns, batch_size=64, data=None, featurizers=None):
        """Turns with their context (`dialogue_state.predict_turns`)."""
        return dst.predict_turns(model, tokenizer, turns, batch_size, data, featurizers)


TASK = DialogueTask
