"""Joint intent classification + slot filling: one encoder, an intent head on [CLS], a slot head on first
sub-tokens (optionally a constrained CRF); loss = intent loss + data.slot_weight * slot loss.

Data: `tokens`, `tags` (IOB2 slots) and `label` (the intent): ATIS/SNIPS folders, JSONL/CSV, or inline
annotations (pipelines.data.inline). The label vocabulary is one list: intents as "intent:<name>", then slot tags.
Metrics: intent accuracy, slot F1 (seqeval strict IOB2), sentence accuracy (intent and every tag right).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from datasets import Dataset
from safetensors.torch import load_file, save_file
from torch import nn
from transformers import AutoModel
from transformers.modeling_outputs import TokenClassifierOutput

from pipelines.config import DataConfig
from pipelines.data.align import split_words
from pipelines.data.batching import Collator, Features, infer
from pipelines.inference import metrics
from pipelines.models import encoders
from pipelines.models.crf import ConstrainedCRF, pack_words
from pipelines.models.decoding import NEG, make_decoder
from tasks import ner

MONITOR = "val/sentence_acc"
COLUMNS = ("tokens", "label", "tags")  # the last one is the per-word gold that evaluate hands to `score`
SAMPLE = ner.SAMPLE.parent / "joint"
REPORT_NOTES = ["Slot scores: seqeval mode='strict', scheme=IOB2. Sentence accuracy: intent and every slot tag right."]
PREFIX = "intent:"
HEADS_FILE, META_FILE = "joint_heads.safetensors", "joint.json"
SLOT_WEIGHT = 1.0


def split_labels(labels: Sequence[str]) -> tuple[list[str], list[str]]:
    intents = [x[len(PREFIX):] for x in labels if x.startswith(PREFIX)]
    return intents, [x for x in labels if not x.startswith(PREFIX)]


def label_list(splits: dict[str, Dataset]) -> list[str]:
    intents = sorted(set(splits["train"]["label"]))
    return [PREFIX + x for x in intents] + ner.label_list(splits)


class JointModel(nn.Module):
    """Encoder + intent head ([CLS]) + slot head (first sub-tokens), optional constrained CRF.

    `logits` of the output are (B, T, L + K): the slot scores, then the sentence's intent scores repeated at
    every position, so that the shared batching and inference code carry both.
    """

    extra_inputs = ("word_starts", "intent_labels")

    def __init__(self, encoder: nn.Module, labels: Sequence[str], dropout: float = 0.1, crf: bool = False,
                 slot_weight: float = SLOT_WEIGHT) -> None:
        super().__init__()
        self.encoder, self.slot_weight = encoders.without_pooler(encoder), slot_weight
        self.intents, self.tags = split_labels(labels)
        hidden = encoder.config.hidden_size
        self.dropout = nn.Dropout(dropout)
        self.intent_head = nn.Linear(hidden, len(self.intents))
        self.slot_head = nn.Linear(hidden, len(self.tags))
        self.crf = ConstrainedCRF(self.tags) if crf else None
        # (K, L) slot tags seen with each intent in training (set by prepare_model; all False = unknown)
        self.register_buffer("slot_mask", torch.zeros(len(self.intents), len(self.tags), dtype=torch.bool))
        # the encoder's config carries the joint label list, so config.json is self-describing
        encoder.config.id2label = dict(enumerate(labels))
        encoder.config.label2id = {x: i for i, x in enumerate(labels)}
        self.config = encoder.config

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor, labels: torch.Tensor | None = None,
                word_starts: torch.Tensor | None = None,
                intent_labels: torch.Tensor | None = None) -> TokenClassifierOutput:
        h = self.dropout(self.encoder(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state)  # (B,T,H)
        slots = self.slot_head(h)  # (B, T, L)
        intent = self.intent_head(h[:, 0])  # (B, K)
        loss = None
        if labels is not None and intent_labels is not None:
            if self.crf is not None:
                emissions, mask, tags = pack_words(slots, word_starts, labels)
                slot_loss = -self.crf(emissions, tags, mask, reduction="mean")
            else:
                slot_loss = nn.functional.cross_entropy(slots.flatten(0, 1), labels.flatten(), ignore_index=-100)
            loss = nn.functional.cross_entropy(intent, intent_labels, ignore_index=-100) + self.slot_weight * slot_loss
        logits = torch.cat([slots, intent[:, None, :].expand(-1, slots.shape[1], -1)], -1)  # (B, T, L + K)
        return TokenClassifierOutput(loss=loss, logits=logits)

    def save_pretrained(self, path: str | Path) -> None:
        self.encoder.save_pretrained(path)
        heads = {k: v.contiguous() for k, v in self.state_dict().items() if not k.startswith("encoder.")}
        save_file(heads, str(Path(path) / HEADS_FILE))
        meta = {"labels": [self.config.id2label[i] for i in range(len(self.config.id2label))],
                "crf": self.crf is not None, "slot_weight": self.slot_weight}
        (Path(path) / META_FILE).write_text(json.dumps(meta, indent=2))


def build_model(encoder: str, labels: Sequence[str], tokenizer, dropout: float = 0.1, head: str = "softmax",
                slot_weight: float = SLOT_WEIGHT) -> torch.nn.Module:
    if head not in {"softmax", "crf"}:
        raise ValueError(f"model.head={head!r}: expected softmax|crf")
    return JointModel(encoders.load_model(encoder, AutoModel, tokenizer), labels, dropout, crf=head == "crf",
                      slot_weight=slot_weight)


def load_model(path: str | Path) -> torch.nn.Module:
    meta = json.loads((Path(path) / META_FILE).read_text())
    model = JointModel(encoders.load_saved_encoder(path), meta["labels"], crf=meta["crf"],
                       slot_weight=meta["slot_weight"])
    model.load_state_dict(load_file(str(Path(path) / HEADS_FILE)), strict=False)
    return model.eval()


def prepare_model(model: JointModel, splits: dict[str, Dataset]) -> None:
    """Record which slot types occur with each intent in the training split (for decode='consistent')."""
    from pipelines.data.tags import spans

    types = {t[2:] for t in model.tags if t != "O"}
    seen: dict[str, set[str]] = {i: set() for i in model.intents}
    for intent, tags in zip(splits["train"]["label"], splits["train"]["tags"]):
        seen.setdefault(intent, set()).update(kind for kind, _, _ in spans(tags))
    with torch.no_grad():
        for k, intent in enumerate(model.intents):
            for j, tag in enumerate(model.tags):
                model.slot_mask[k, j] = tag == "O" or (tag[2:] in seen[intent] and tag[2:] in types)


def encode(ds: Dataset, tokenizer, label2id: dict[str, int], cfg: DataConfig) -> Features:
    """ner.encode's windows (slot ids index the slot head), each also carrying its sentence's intent id
    (-100 when unknown)."""
    intents, tags = split_labels(sorted(label2id, key=label2id.get))
    feats = ner.encode(ds, tokenizer, {t: i for i, t in enumerate(tags)}, cfg)
    if "label" in ds.column_names:
        intent2id, gold = {x: i for i, x in enumerate(intents)}, ds["label"]
        for row in feats.rows:
            row["intent_labels"] = intent2id.get(gold[row["example_id"]], -100)
    return feats


class SlotDecoder:
    """Decodes the slot part of the joint logits; knows where the slot scores end.

    decode="consistent": constrained Viterbi where slot types never seen with the predicted intent in
    training are forbidden (the model's `slot_mask`), so intent and slots cannot contradict each other.
    """

    def __init__(self, model: JointModel, decode: str) -> None:
        crf = model.crf
        self.n_tags = len(model.tags)
        self.mask = model.slot_mask if decode == "consistent" and model.slot_mask.any() else None
        mode = "crf" if crf is not None else ("viterbi" if decode == "consistent" else decode)
        self.fn = make_decoder(model.tags, mode, crf)

    def __call__(self, logits: torch.Tensor, continues: bool = False) -> list[int]:
        return self.fn(logits, continues)


def decoder(model: torch.nn.Module, decode: str = "argmax") -> SlotDecoder:
    return SlotDecoder(model, decode)


def gather(batch: dict[str, torch.Tensor], logits: torch.Tensor, decode_fn: SlotDecoder) -> list[dict[str, Any]]:
    """ner.gather over the slot scores, plus intent probabilities and gold intent per window."""
    n_tags = decode_fn.n_tags
    slots, intent_probs = logits[..., :n_tags], logits[:, 0, n_tags:].float().softmax(-1)  # (B, T, L), (B, K)
    if decode_fn.mask is not None:
        allowed = decode_fn.mask[intent_probs.argmax(-1)]  # (B, L)
        slots = slots.masked_fill(~allowed[:, None, :], NEG)
    records = ner.gather(batch, slots, decode_fn)
    for b, rec in enumerate(records):
        rec["intent_probs"] = intent_probs[b].tolist()
        if "intent_labels" in batch:
            rec["intent_gold"] = int(batch["intent_labels"][b])
    return records


join_windows = ner.join_windows  # over the slot scores, each window's already masked by its intent in `gather`


def score(records: Sequence[dict[str, Any]], id2label: dict[int, str],
          gold: Sequence[Sequence[str]] | None = None) -> dict[str, Any]:
    """Intent accuracy, slot scores (seqeval strict IOB2) and sentence accuracy. `gold`: slot tag strings."""
    labels = [id2label[i] for i in range(len(id2label))]
    intents, tags = split_labels(labels)
    tag_map = dict(enumerate(tags))
    result = ner.score(records, tag_map, gold)
    first = {r["example_id"]: r for r in sorted(records, key=lambda r: -r["core_start"])}  # core_start 0 wins
    ids = sorted(first)
    intent_ok = np.array([int(np.argmax(first[i]["intent_probs"])) == first[i].get("intent_gold", -1) for i in ids])
    preds = ner.stitch(records, "pred")
    golds = ner.stitch(records, "gold") if gold is None else None
    slots_ok = np.array([[tag_map[k] for k in preds[i]] == (list(gold[i]) if gold is not None
                                                             else [tag_map.get(k, "O") for k in golds[i]])
                         for i in ids])
    result["slot_f1"] = result.pop("f1")
    result["intent_acc"] = float(intent_ok.mean()) if len(ids) else 0.0
    result["sentence_acc"] = float((intent_ok & slots_ok).mean()) if len(ids) else 0.0
    result["intent_acc_ci95"] = metrics.bootstrap_ci(lambda v: float(v.mean()), intent_ok.astype(float))
    result["sentence_acc_ci95"] = metrics.bootstrap_ci(lambda v: float(v.mean()), (intent_ok & slots_ok).astype(float))
    result["intent_labels"] = intents
    return result


def predict(model: torch.nn.Module, tokenizer, texts: Sequence[str], batch_size: int = 64,
            max_length: int = 128, decode: str = "argmax") -> list[dict[str, Any]]:
    """Per text: {"intent", "probability", "entities": [{"type", "text", "start", "end", "score"}]}."""
    dec = decoder(model, decode)
    words = [split_words(t) for t in texts]
    ds = Dataset.from_dict({"tokens": [[w for w, _, _ in ws] for ws in words]})
    feats = encode(ds, tokenizer, {}, DataConfig(max_length=max_length))
    records = [r for batch, logits in infer(model, feats, Collator(tokenizer.pad_token_id), batch_size,
                                            next(model.parameters()).device) for r in gather(batch, logits, dec)]
    ner.join_windows(records, dec)
    tags, probs = ner.stitch(records, "pred"), ner.stitch(records, "prob")
    first = {r["example_id"]: r for r in sorted(records, key=lambda r: -r["core_start"])}
    out = []
    for i, (text, ws) in enumerate(zip(texts, words)):
        p = np.asarray(first[i]["intent_probs"]) if i in first else np.full(len(model.intents), 1 / len(model.intents))
        k = int(p.argmax())
        out.append({"intent": model.intents[k], "probability": round(float(p[k]), 4),
                    "entities": ner.entities(text, ws, [model.tags[j] for j in tags.get(i, [])], probs.get(i, []))})
    return out
