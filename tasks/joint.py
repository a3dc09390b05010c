"""Joint intent classification + slot filling: one encoder, an intent head on [CLS], a slot head on first
sub-tokens (optionally a constrained CRF); loss = intent loss + model.slot_weight * slot loss.
Decoding defaults to `consistent`: the most probable valid IOB2 slot path using only slot types seen with
the predicted intent in training (reports/joint_vs_separate.md).

Data: `tokens`, `tags` (IOB2 slots) and `label` (the intent): ATIS/SNIPS folders, JSONL/CSV, or inline
annotations (pipelines.data.inline). Labels: the intents and the slot tags (`LabelSets`).
Metrics: intent accuracy, slot F1 (seqeval strict IOB2), sentence accuracy (intent and every tag right).
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
from pipelines.data.batching import Features
from pipelines.data.tagging import encode_with_intents
from pipelines.data.tags import LabelSets, spans, tag_list
from pipelines.families import tagging
from pipelines.inference import metrics
from pipelines.models import encoders
from pipelines.models.crf import tagging_loss
from pipelines.models.decoding import NEG, make_decoder
from pipelines.models.joint import JointModel, load_joint_model
from pipelines.models.losses import Criterion
from pipelines.models.outputs import TaskOutput
from pipelines.predictions import Entity, IntentAndSlots
from pipelines.records import NO_GOLD, JointRecord
from pipelines.task import SAMPLES, Featurizers, Task

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class JointOptions(ModelOptions):
    head: str = field(default="softmax", metadata={"help": "softmax | crf (a constrained CRF over the slots)"})
    decode: str = field(default="consistent", metadata={"help": "consistent (valid IOB2, slot types seen with "
                                                                  "the predicted intent) | viterbi | argmax"})
    slot_weight: float = field(default=2.0, metadata={"help": "loss = intent loss + slot_weight * slot loss (2: "
                                                                 "the ATIS dev search, reports/joint_recipe_atis.md)"})

    def __post_init__(self) -> None:
        super().__post_init__()
        self.check(self.head in {"softmax", "crf"}, f"model.head={self.head!r}: expected softmax|crf")
        self.check(self.decode in {"consistent", "viterbi", "argmax"},
                   f"model.decode={self.decode!r}: expected consistent|viterbi|argmax")
        self.check(not (self.head == "crf" and self.decode == "argmax"),
                   "model.decode=argmax with model.head=crf: a CRF decodes with its own Viterbi")
        self.check(self.slot_weight > 0, f"model.slot_weight={self.slot_weight}: expected > 0")


def prepare_model(model: JointModel, splits: dict[str, Dataset]) -> None:
    """Record which slot types occur with each intent in the training split (for decode='consistent')."""
    types = {t[2:] for t in model.tags if t != "O"}
    seen: dict[str, set[str]] = {i: set() for i in model.intents}
    for intent, tags in zip(splits["train"]["label"], splits["train"]["tags"], strict=True):
        seen.setdefault(intent, set()).update(kind for kind, _, _ in spans(tags))
    with torch.no_grad():
        for k, intent in enumerate(model.intents):
            for j, tag in enumerate(model.tags):
                model.slot_mask[k, j] = tag == "O" or (tag[2:] in seen[intent] and tag[2:] in types)


class SlotDecoder:
    """Decodes the slot scores of one window.

    decode="consistent": constrained Viterbi where slot types never seen with the predicted intent in
    training are forbidden (the model's `slot_mask`), so intent and slots cannot contradict each other.
    """

    def __init__(self, model: JointModel, decode: str) -> None:
        crf = model.crf
        self.mask = model.slot_mask if decode == "consistent" and model.slot_mask.any() else None
        mode = "crf" if crf is not None else ("viterbi" if decode == "consistent" else decode)
        self.fn = make_decoder(model.tags, mode, crf)

    def __call__(self, logits: torch.Tensor, continues: bool = False) -> list[int]:
        return self.fn(logits, continues)


def gather(batch: dict[str, torch.Tensor], out: TaskOutput, decode_fn: SlotDecoder) -> list[JointRecord]:
    """The shared token-task gather over the slot scores, plus intent probabilities and gold intent per window."""
    slots, intent_probs = out.slot_logits, out.intent_logits.float().softmax(-1)  # (B, T, L), (B, K)
    if decode_fn.mask is not None:
        allowed = decode_fn.mask[intent_probs.argmax(-1)]  # (B, L)
        slots = slots.masked_fill(~allowed[:, None, :], NEG)
    gold = batch["intent_labels"].tolist() if "intent_labels" in batch else [NO_GOLD] * len(intent_probs)
    return [JointRecord(**vars(rec), intent_probs=intent_probs[b].tolist(), intent_gold=int(gold[b]))
            for b, rec in enumerate(tagging.gather(batch, slots, decode_fn))]


def score(records: Sequence[JointRecord], id2label: dict[int, str],
          gold: Sequence[Sequence[str]] | None = None) -> dict[str, Any]:
    """Intent accuracy, slot scores (seqeval strict IOB2) and sentence accuracy. `gold`: slot tag strings."""
    intents, _, tags = LabelSets.of(id2label)
    tag_map = dict(enumerate(tags))
    result = tagging.score(records, tag_map, gold)
    first = {r.example_id: r for r in sorted(records, key=lambda r: -r.core_start)}  # core_start 0 wins
    ids = sorted(first)
    intent_ok = np.array([int(np.argmax(first[i].intent_probs)) == first[i].intent_gold for i in ids])
    preds = tagging.stitch(records, "pred")
    golds = tagging.stitch(records, "gold") if gold is None else None
    slots_ok = np.array([[tag_map[k] for k in preds[i]] == (list(gold[i]) if gold is not None
                                                             else [tag_map.get(k, "O") for k in golds[i]])
                         for i in ids])
    result["slot_f1"] = result.pop("f1")
    result["intent_acc"] = float(intent_ok.mean()) if len(ids) else 0.0
    result["sentence_acc"] = float((intent_ok & slots_ok).mean()) if len(ids) else 0.0
    result["intent_acc_ci95"] = metrics.bootstrap_ci(lambda v: float(v.mean()), intent_ok.astype(float))
    result["sentence_acc_ci95"] = metrics.bootstrap_ci(lambda v: float(v.mean()), (intent_ok & slots_ok).astype(float))
    result["intent_labels"] = list(intents)
    return result


class JointTask(Task):
    name = "joint"
    Options = JointOptions
    columns = ("tokens", "label", "tags")
    gold = "tags"  # per-word slot tags; the intent gold rides in the records
    monitor = "val/sentence_acc"
    sample = SAMPLES / "joint"
    report_notes = ("Slot scores: seqeval mode='strict', scheme=IOB2. Sentence accuracy: intent and every slot "
                    "tag right.",)
    options: JointOptions

    def label_list(self, splits: dict[str, Dataset]) -> LabelSets:
        """The intents (sorted, from train) and the slot tags."""
        return LabelSets(intents=sorted(set(splits["train"]["label"])), tags=tag_list(splits))

    def build_model(self, labels: Sequence[str], tokenizer, featurizers=None) -> JointModel:
        opts = self.options
        return JointModel(encoders.load_model(opts.encoder, AutoModel, tokenizer), labels, opts.dropout,
                          crf=opts.head == "crf")

    def load_model(self, path: str | Path) -> JointModel:
        return load_joint_model(path)

    def prepare_model(self, model: JointModel, splits: dict[str, Dataset]) -> None:
        prepare_model(model, splits)

    def encode(self, ds: Dataset, tokenizer, label2id: dict[str, int], data: DataConfig,
               featurizers: Featurizers | None = None) -> Features:
        return encode_with_intents(ds, tokenizer, label2id, data)

    def loss(self, model: JointModel, out: TaskOutput, batch, criterion: Criterion) -> torch.Tensor:
        """Intent cross-entropy + slot_weight * slot loss (the CRF's likelihood with head=crf); class weights
        apply to the slot tags (the `labels` targets)."""
        intent = criterion(out.intent_logits, batch["intent_labels"], weighted=False)
        return intent + self.options.slot_weight * tagging_loss(model, out.slot_logits, batch, criterion)

    def decoder(self, model: JointModel, decode: str | None = None) -> SlotDecoder:
        return SlotDecoder(model, decode or self.options.decode)

    def gather(self, batch, out: TaskOutput, decode_fn: SlotDecoder) -> list[JointRecord]:
        return gather(batch, out, decode_fn)

    def join_windows(self, records, decode_fn):
        """The shared join_windows over the slot scores, each window's already masked by its intent in `gather`."""
        return tagging.join_windows(records, decode_fn)

    def score(self, records, id2label, gold=None) -> dict[str, Any]:
        return score(records, id2label, gold)

    def entity_tags(self, model: JointModel) -> list[str]:
        return list(model.tags)

    def head_labels(self, model: JointModel) -> dict[str, list[str]]:
        return {"intent_head": model.intents, "slot_head": model.tags, "crf": model.tags}

    def predict(self, model: JointModel, tokenizer, texts, batch_size=64, data=None, featurizers=None):
        """Per text: {"intent", "probability", "entities": [{"type", "text", "start", "end", "score"}]}."""
        words, records, _ = tagging.predict_words(self, model, tokenizer, texts, batch_size, data)
        found = tagging.sentence_entities(records, self.entity_tags(model), model)
        first = {r.example_id: r for r in sorted(records, key=lambda r: -r.core_start)}
        out = []
        for i, (text, ws) in enumerate(zip(texts, words, strict=True)):
            p = (np.asarray(first[i].intent_probs) if i in first
                 else np.full(len(model.intents), 1 / len(model.intents)))
            k = int(p.argmax())
            ents = [Entity(**e) for e in tagging.entities(text, ws, *found.get(i, ([], [])))]
            out.append(IntentAndSlots(model.intents[k], round(float(p[k]), 4), ents).to_dict())
        return out


TASK = JointTask
