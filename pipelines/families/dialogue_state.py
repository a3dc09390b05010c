"""The dialogue-state family: per user turn an intent, slot tags over the user's words and, for every tracked
slot, an update gate (pipelines/data/dialogue.py) that turns the previous state into the new one; the state is
tracked turn by turn on the model's own predictions.

A turn's input is `[CLS] user words [SEP] context [SEP]` (token type 0, then 1); `context_text` says what the
context holds. Records carry the turn's words, the values the system offered and the gold state as strings.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from datasets import Dataset, concatenate_datasets

from pipelines.config import DataConfig
from pipelines.data.align import PieceCache
from pipelines.data.batching import Collator, Features
from pipelines.data.dialogue import (
    FEATURES,
    GATES,
    as_dict,
    norm,
    replace_values,
    same_state,
    update,
    user_spans,
)
from pipelines.data.rawtext import get_splitter
from pipelines.data.tags import LabelSets, tag_list
from pipelines.families import tagging
from pipelines.inference import metrics
from pipelines.methods import offtopic as offtopic_lib
from pipelines.models.decoding import make_decoder
from pipelines.models.dialogue import DSTModel
from pipelines.models.outputs import TaskOutput, infer
from pipelines.predictions import Turn
from pipelines.records import NO_GOLD, TurnRecord

log = logging.getLogger(__name__)


def label_list(splits: dict[str, Dataset]) -> LabelSets:
    """Intents (from train), tracked slots (state and tag types of every split) and the slot tags."""
    intents = sorted(set(splits["train"]["label"]))
    tags = tag_list(splits)
    slots = sorted({p["slot"] for name in ("train", "validation", "test") if name in splits
                    for st in splits[name]["state"] for p in st} | {t[2:] for t in tags if t != "O"})
    return LabelSets(intents, slots, tags)


def augment(train: Dataset, tokenizer: Any, seed: int, asked: Sequence[str], copies: int,
            style: str = "words") -> Dataset:
    """The training dialogues plus `copies` copies whose values of the `asked` slots (those present) are made
    up of random words (the tokenizer's whole-word vocabulary, else the training words) in `style`
    (`data.dialogue.made_up_value`)."""
    present = {p["slot"] for st in train["state"] for p in st}
    slots = [s for s in asked if s in present]
    if asked and not slots:
        log.warning("model.augment_slots=%s: no such slot in the training states (%s); no augmentation",
                    ",".join(asked), ", ".join(sorted(present)) or "none")
    if not slots or not copies:
        return train
    words = sorted(w for w in getattr(tokenizer, "get_vocab", dict)() if w.isalpha() and w.islower() and len(w) > 2)
    if len(words) < 100:
        words = sorted({w for ts in train["tokens"] for w in ts if w.isalpha()})
    return concatenate_datasets([train, replace_values(train, slots, words, seed, copies, style)])


def context_text(row: dict[str, Any], context: str) -> str:
    """The context segment of a turn: nothing, the system turn, or the system turn then the earlier utterances
    most recent first (so that cutting the end of the window drops the oldest)."""
    if context == "user":
        return ""
    parts = [" ".join(row.get("system") or [])]
    if context == "history":
        parts += list(reversed(row.get("history") or []))
    return " ; ".join(p for p in parts if p)


def encode(ds: Dataset, tokenizer, label2id: dict[str, int], cfg: DataConfig, context: str) -> Features:
    """One row per turn (a user turn longer than the window keeps its first words). Besides ids, token types,
    word starts, tag / gate / intent targets, each row carries what scoring a state needs: its dialogue and
    turn, the user's words, the system's offered values and the gold state (tuples of strings: the collator
    passes them through as they are)."""
    intents, slots, tags = LabelSets.of(label2id)
    intent2id, tag2id = {x: i for i, x in enumerate(intents)}, {t: i for i, t in enumerate(tags)}
    gate2id = {g: i for i, g in enumerate(GATES)}
    cache = PieceCache(tokenizer)
    rows_in = ds.to_list()
    ctx_ids = tokenizer([context_text(r, context) for r in rows_in], add_special_tokens=False)["input_ids"]
    dialogues: dict[str, int] = {}
    labelled = "state" in ds.column_names
    rows = []
    for i, (r, ctx) in enumerate(zip(rows_in, ctx_ids, strict=True)):
        words = list(r["tokens"])
        pieces = cache(words)
        budget = cfg.max_length - 3
        ids, starts = [tokenizer.cls_token_id], []
        for p in pieces:
            if len(ids) - 1 + len(p) > budget:
                break
            starts.append(len(ids))
            ids += p
        words = words[:len(starts)]
        user_end = len(ids) + 1
        ids = ids + [tokenizer.sep_token_id] + ctx[:max(0, cfg.max_length - len(ids) - 2)] + [tokenizer.sep_token_id]
        row: dict[str, Any] = {
            "input_ids": ids, "token_type_ids": [0] * user_end + [1] * (len(ids) - user_end),
            "word_starts": starts, "example_id": i, "core_start": 0, "last": 1,
            "dialogue": dialogues.setdefault(r.get("dialogue_id") or str(i), len(dialogues)),
            "turn": int(r.get("turn") or 0),
            "words": tuple(w.lower() for w in words),
            "offered": tuple(as_dict(r.get("system_values") or []).get(s, "") for s in slots),
        }
        if r.get("tags") is not None and "tags" in ds.column_names:
            labels = [-100] * len(ids)
            for pos, tag in zip(starts, r["tags"][:len(starts)], strict=True):  # the words the window kept
                labels[pos] = tag2id.get(tag, -100)
            row["labels"] = labels
        if labelled:
            state, gates = as_dict(r["state"]), {g["slot"]: g["gate"] for g in r["gates"]}
            row["state"] = tuple(state.get(s, "") for s in slots)
            row["gate_labels"] = [gate2id.get(gates.get(s, "carry"), -100) for s in slots] or [-100]
            row["intent_labels"] = intent2id.get(r["label"], -100)
        rows.append(row)
    return Features(rows)


def gather(batch: dict[str, torch.Tensor], out: TaskOutput, decode_fn) -> list[TurnRecord]:
    """Per turn: the tag records of the shared token gather, plus gate and intent predictions, and the
    dialogue, words, offered values and (when labelled) gold gates, intent and state to score with."""
    gates = out.gate_logits.float().softmax(-1)  # (B, S, G)
    intents = out.intent_logits.float().softmax(-1)  # (B, K)
    labelled = "gate_labels" in batch
    return [TurnRecord(**vars(rec), intent_probs=intents[b].tolist(),
                       intent_gold=int(batch["intent_labels"][b]) if labelled else NO_GOLD,
                       dialogue=int(batch["dialogue"][b]), turn=int(batch["turn"][b]),
                       words=list(batch["words"][b][:len(rec.pred)]), offered=list(batch["offered"][b]),
                       gate_pred=gates[b].argmax(-1).tolist(), gate_prob=gates[b].max(-1).values.tolist(),
                       pooled=out.pooled[b].numpy() if out.pooled is not None else None,
                       gate_gold=batch["gate_labels"][b].tolist() if labelled else None,
                       state=list(batch["state"][b]) if labelled else None)
            for b, rec in enumerate(tagging.gather(batch, out.slot_logits, decode_fn))]


def turn_update(slots: Sequence[str], tags: Sequence[str], gate_ids: Sequence[int], words: Sequence[str],
                offered: Sequence[str], span_copy: bool = False
                ) -> tuple[dict[str, str], dict[str, str], dict[str, str]]:
    """(gates by slot, values the user said, values the system offered) of one turn; `span_copy` turns the
    carry gate of a slot the user said a value of into copy."""
    gates = {s: GATES[g] for s, g in zip(slots, gate_ids, strict=True) if 0 <= g < len(GATES)}
    said = user_spans(words, tags)
    if span_copy:
        gates.update({s: "copy" for s in said if gates.get(s, "carry") == "carry"})
    return gates, said, {s: v for s, v in zip(slots, offered, strict=True) if v}


def track(records: Sequence[TurnRecord], slots: Sequence[str], tags: Sequence[str],
          source: str = "pred", span_copy: bool = False) -> dict[int, dict[str, str]]:
    """The state after every turn (by example id), each dialogue's turns in order, every state built on the
    tracker's own previous one. source='gold' uses the gold gates and tags (the oracle)."""
    by_dialogue: dict[int, list[TurnRecord]] = defaultdict(list)
    for r in records:
        by_dialogue[r.dialogue].append(r)
    states = {}
    for turns in by_dialogue.values():
        state: dict[str, str] = {}
        for r in sorted(turns, key=lambda r: r.turn):
            gate_ids = r.gate_pred if source == "pred" else [g if g >= 0 else 0 for g in r.gate_gold]
            tag_ids = r.pred if source == "pred" else [max(k, 0) for k in r.gold]
            gates, said, offered = turn_update(slots, [tags[k] for k in tag_ids], gate_ids, r.words, r.offered,
                                               span_copy and source == "pred")
            state = update(state, gates, said, offered)
            states[r.example_id] = state
    return states


def score(records: Sequence[TurnRecord], id2label: dict[int, str],
          gold: Sequence[Any] | None = None, span_copy: bool = False) -> dict[str, Any]:
    """JGA, per-slot accuracy, slot F1 (turn level), intent and gate accuracy, oracle JGA."""
    intents, slots, tags = LabelSets.of(id2label)
    result = tagging.score(records, dict(enumerate(tags)))
    result["slot_f1"] = result.pop("f1")
    recs = {r.example_id: r for r in records}
    ids = sorted(recs)
    if not ids or recs[ids[0]].state is None:
        return result
    for name, source in (("jga", "pred"), ("jga_oracle", "gold")):
        states = track(list(recs.values()), slots, tags, source, span_copy)
        right = np.array([same_state(states[i], {s: v for s, v in zip(slots, recs[i].state, strict=True) if v})
                          for i in ids])
        result[name] = float(right.mean())
        if source == "pred":
            result["jga_ci95"] = metrics.bootstrap_ci(lambda v: float(v.mean()), right.astype(float))
            result["slot_acc"] = {s: float(np.mean([norm(states[i].get(s, "")) == norm(recs[i].state[k])
                                                    for i in ids])) for k, s in enumerate(slots)}
            result["slot_acc_mean"] = float(np.mean(list(result["slot_acc"].values()))) if slots else 0.0
    gate_pairs = [(p, g) for i in ids for p, g in zip(recs[i].gate_pred, recs[i].gate_gold, strict=True)
                  if g >= 0]
    result["gate_acc"] = float(np.mean([p == g for p, g in gate_pairs])) if gate_pairs else 0.0
    changed = [(p, g) for p, g in gate_pairs if g != 0]
    result["gate_acc_updates"] = float(np.mean([p == g for p, g in changed])) if changed else 0.0
    result["intent_acc"] = float(np.mean([int(np.argmax(recs[i].intent_probs)) == recs[i].intent_gold
                                          for i in ids]))
    result["turns"] = len(ids)
    result["unreachable_updates"] = int(sum(g < 0 for i in ids for g in recs[i].gate_gold))
    return result


def predict_turns(model: DSTModel, tokenizer, turns: Sequence[dict[str, Any]], batch_size: int = 64,
                  data: DataConfig | None = None, featurizers: dict[str, Any] | None = None) -> list[dict[str, Any]]:
    """Per turn (a dict with `tokens` or raw `text`, and optionally the system's `system` words or raw
    `system_text`, `history`, `system_values`): intent, probability, gates by slot, the values the user said,
    the update applied to `prev_state` (if the turn carries one), and off-topic flags when the run has a
    detector. Raw text is split into words by the run's splitter (`data.splitter`), as training's words were."""
    data = data or DataConfig()
    split = get_splitter(data.splitter)
    rows = []
    for t in turns:
        words = t.get("tokens") or [w for w, _, _ in split(t.get("text", ""))]
        system = t.get("system") or [w for w, _, _ in split(t.get("system_text", ""))]
        rows.append({"dialogue_id": str(len(rows)), "turn": 0, "tokens": list(words), "tags": None,
                     "system": list(system), "history": list(t.get("history") or []),
                     "system_values": [{"slot": k, "value": v} for k, v in (t.get("system_values") or {}).items()],
                     "label": "", "state": [], "gates": []})
    ds = Dataset.from_list(rows, features=FEATURES).remove_columns(["state", "gates", "tags"])
    label2id = {v: int(k) for k, v in model.config.id2label.items()}
    feats = encode(ds, tokenizer, label2id, data, model.context)
    decode_fn = make_decoder(model.tags, "viterbi")
    records = [r for batch, out in infer(model, feats, Collator(tokenizer.pad_token_id), batch_size,
                                         next(model.parameters()).device) for r in gather(batch, out, decode_fn)]
    records.sort(key=lambda r: r.example_id)
    det = (featurizers or {}).get("offtopic")
    flags = []
    if det is not None and records:
        probs = np.stack([r.intent_probs for r in records])
        flags = offtopic_lib.apply(det, np.log(probs + 1e-12), np.stack([r.pooled for r in records]),
                                   [" ".join(r.words) for r in records])
    out = []
    for k, (t, r) in enumerate(zip(turns, records, strict=True)):
        gates, said, offered = turn_update(model.slots, [model.tags[j] for j in r.pred], r.gate_pred,
                                           r.words, r.offered, model.span_copy)
        p = np.asarray(r.intent_probs)
        pred = {"intent": model.intents[int(p.argmax())] if model.intents else "",
                "probability": round(float(p.max()), 4),
                "gates": {s: g for s, g in gates.items() if g != "carry"}, "said": said,
                "state": update(t.get("prev_state") or {}, gates, said, offered)}
        if flags:
            pred.update(flags[k])
        out.append(Turn(**pred).to_dict())  # the prediction schema (pipelines.predictions.Turn)
    return out


def fit_offtopic(options: Any, model: DSTModel, tokenizer, splits: dict[str, Dataset], data: DataConfig,
                 batch_size: int = 64) -> offtopic_lib.OffTopic:
    """The off-topic detector on [CLS] vectors of the training turns (one class per intent), its threshold
    at `offtopic_recall` of the validation turns."""
    label2id = {v: int(k) for k, v in model.config.id2label.items()}

    def run(ds: Dataset) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        feats = encode(ds, tokenizer, label2id, data, model.context)
        logits, vecs = offtopic_lib.logits_and_features(model, feats, tokenizer.pad_token_id, batch_size,
                                                        scores="intent_logits")
        log_probs = torch.from_numpy(logits).log_softmax(-1).numpy()  # as predict_turns passes them
        return log_probs, vecs, np.array([row["intent_labels"] for row in feats.rows])

    t_logits, t_vecs, t_gold = run(splits["train"])
    keep = t_gold >= 0
    v_logits, v_vecs, _ = run(splits["validation"])
    return offtopic_lib.fit(options.offtopic, (t_logits[keep], t_vecs[keep], t_gold[keep]), (v_logits, v_vecs),
                            recall=options.offtopic_recall)
