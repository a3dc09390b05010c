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

import numpy as np
import torch
from datasets import Dataset
from transformers import AutoModel

from pipelines.config import DataConfig, ModelOptions
from pipelines.data.align import split_words
from pipelines.data.batching import Collator, Features
from pipelines.data.spans import SPAN, tags_to_offsets
from pipelines.data.tagging import encode_with_intents
from pipelines.data.tags import INTENT, label_sets
from pipelines.errors import ConfigError
from pipelines.inference import metrics, tagging
from pipelines.methods import detox
from pipelines.models import encoders
from pipelines.models.crf import tagging_loss
from pipelines.models.decoding import make_decoder
from pipelines.models.joint import ToxicityModel, load_toxicity_model
from pipelines.models.losses import Criterion
from pipelines.models.outputs import TaskOutput, infer
from pipelines.task import SAMPLES, Task

TAGS = ["O", f"B-{SPAN}", f"I-{SPAN}"]
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
        self.check(self.encoder != "bilstm", "task toxicity needs a Transformer encoder, not model.encoder=bilstm")
        self.check(self.head in {"softmax", "crf"}, f"model.head={self.head!r}: expected softmax|crf")
        self.check(self.decode in {"viterbi", "argmax"}, f"model.decode={self.decode!r}: expected viterbi|argmax")
        self.check(not (self.head == "crf" and self.decode == "argmax"),
                   "model.decode=argmax with model.head=crf: a CRF decodes with its own Viterbi")
        self.check(self.pooling in {"mean", "cls"}, f"model.pooling={self.pooling!r}: expected mean|cls")
        self.check(self.span_weight > 0, f"model.span_weight={self.span_weight}: expected > 0")
        self.check(self.prior_correction in {"dev", "none"},
                   f"model.prior_correction={self.prior_correction!r}: expected dev|none")


TAUS = [round(0.25 * k, 2) for k in range(-4, 9)]  # prior-correction strengths tried on dev


def choose_tau(probs: np.ndarray, gold_ids: Sequence[int], log_prior: np.ndarray) -> float:
    """The tau in TAUS whose argmax(log probs - tau * log_prior) has the best macro-F1 on (`probs` (N, K),
    `gold_ids`); ties go to the smaller correction."""
    from sklearn.metrics import f1_score

    logp = np.log(probs + 1e-12)
    labels = list(range(probs.shape[1]))

    def macro(tau: float) -> float:
        return f1_score(gold_ids, (logp - tau * log_prior).argmax(-1), average="macro", labels=labels,
                        zero_division=0)

    return max(TAUS, key=lambda t: (macro(t), -abs(t)))


def fit_prior_correction(model: ToxicityModel, train_ids: Sequence[int], val_probs: np.ndarray,
                         val_ids: Sequence[int]) -> float:
    """Set `model.post_bias` to -tau * log prior (train label frequencies), tau from TAUS maximising macro-F1 of
    the validation posts (`val_probs` (N, K) uncorrected, `val_ids` gold ids); returns tau."""
    k = len(model.intents)
    log_prior = np.log(np.bincount(np.asarray(train_ids), minlength=k).clip(min=0.5) / len(train_ids))
    best = choose_tau(val_probs, val_ids, log_prior)
    with torch.no_grad():
        model.post_bias.copy_(torch.from_numpy(-best * log_prior).float())
    return best


def word_offsets(ds: Dataset) -> list[list[tuple[int, int]]]:
    """Per example, each word's (start, end) in its `text` (words as split_words splits it), or in the words
    joined by single spaces when there is no text or it splits differently."""
    texts = ds["text"] if "text" in ds.column_names else [None] * len(ds)
    out = []
    for text, words in zip(texts, ds["tokens"], strict=True):
        split = split_words(text) if text is not None else []
        if [w for w, _, _ in split] == list(words):
            out.append([(s, e) for _, s, e in split])
            continue
        pos, offs = 0, []
        for w in words:
            offs.append((pos, pos + len(w)))
            pos += len(w) + 1
        out.append(offs)
    return out


def encode(ds: Dataset, tokenizer, label2id: dict[str, int], cfg: DataConfig) -> Features:
    """The joint task's windows (span tag ids, post label id as `intent_labels`, -100 when absent), plus each
    core word's character span (`word_spans`) for character-level scoring. Text without words is split here."""
    if "tokens" not in ds.column_names:
        ds = ds.add_column("tokens", [[w for w, _, _ in split_words(t)] for t in ds["text"]])
    if "tags" in ds.column_names:  # every marked span is a toxic span, whatever type it was written with
        ds = ds.remove_columns("tags").add_column("tags", [
            None if t is None else [x if x == "O" else f"{x[:2]}{SPAN}" for x in t] for t in ds["tags"]])
    offsets = word_offsets(ds)
    feats = encode_with_intents(ds, tokenizer, label2id, cfg)
    soft = _soft_targets(ds, label2id)
    for row in feats.rows:
        if soft is not None:
            row["soft_targets"] = soft[row["example_id"]]
        start, n = row["core_start"], len(row["word_starts"])
        row["word_spans"] = [list(x) for x in offsets[row["example_id"]][start:start + n]] or [[0, 0]]
        row.setdefault("labels", [-100] * len(row["input_ids"]))
        row.setdefault("intent_labels", -100)
    return feats


def _soft_targets(ds: Dataset, label2id: dict[str, int]) -> list[list[float]] | None:
    """Per example, the post-label distribution from its `label_votes` ({label: annotator count}, e.g.
    Davidson's per-annotator counts), in the model's post-label order; None without votes or post labels."""
    intents = label_sets(sorted(label2id, key=label2id.get)).intents
    if "label_votes" not in ds.column_names or not intents:
        return None
    out = []
    labels = ds["label"] if "label" in ds.column_names else [None] * len(ds)
    for votes, label in zip(ds["label_votes"], labels, strict=True):
        counts = [float((votes or {}).get(x) or 0) for x in intents]
        if sum(counts) <= 0:  # no votes: the gold label, else uniform
            counts = [float(x == label) for x in intents] if label in intents else [1.0] * len(intents)
        out.append([c / sum(counts) for c in counts])
    return out


def gather(batch: dict[str, torch.Tensor], out: TaskOutput, decode_fn) -> list[dict[str, Any]]:
    """Per window: span tag predictions (tagging.gather), post probabilities and gold, core word offsets."""
    records = tagging.gather(batch, out.slot_logits, decode_fn)
    probs = out.intent_logits.float().softmax(-1)  # (B, K)
    for b, rec in enumerate(records):
        rec["intent_probs"] = probs[b].tolist()
        rec["intent_gold"] = int(batch["intent_labels"][b]) if "intent_labels" in batch else -100
        rec["word_spans"] = batch["word_spans"][b, :len(rec["pred"])].tolist()
    return records


def post_scores(records, intents: Sequence[str]) -> dict[str, Any]:
    """Accuracy, macro-F1, weighted F1 and per-class scores of the posts that have a gold label."""
    from sklearn.metrics import f1_score

    first = {r["example_id"]: r for r in sorted(records, key=lambda r: -r["core_start"])}  # core_start 0 wins
    rows = [first[i] for i in sorted(first) if first[i]["intent_gold"] >= 0]
    if not rows or not intents:
        return {}
    gold = [intents[r["intent_gold"]] for r in rows]
    pred = [intents[int(np.argmax(r["intent_probs"]))] for r in rows]
    result = metrics.classification_scores(gold, pred, intents)
    result["weighted_f1"] = float(f1_score(gold, pred, labels=list(intents), average="weighted", zero_division=0))
    return result


def span_scores(records, gold: Sequence[Sequence[int] | None] | None = None) -> dict[str, Any]:
    """char_f1 over the posts with span annotation: predicted word spans -> character offsets, against `gold`
    offsets (e.g. the SemEval file's) or, without them, the offsets of the gold word tags."""
    preds, golds = tagging.stitch(records, "pred"), tagging.stitch(records, "gold")
    offs = tagging.stitch(records, "word_spans")
    gold_sets, pred_sets = [], []
    for i in sorted(preds):
        if gold is not None:
            if gold[i] is None:
                continue
            g = list(gold[i])
        elif all(k < 0 for k in golds[i]):
            continue
        else:
            g = _offsets(offs[i], [TAGS[k] if k >= 0 else "O" for k in golds[i]])
        gold_sets.append(g)
        pred_sets.append(_offsets(offs[i], [TAGS[k] for k in preds[i]]))
    if not gold_sets:
        return {}
    per_post = np.array([metrics.span_f1(g, p) for g, p in zip(gold_sets, pred_sets, strict=True)])
    return {"char_f1": float(per_post.mean()), "char_f1_ci95": metrics.bootstrap_ci(lambda v: float(v.mean()),
                                                                                   per_post),
            "span_posts": len(gold_sets)}


def _offsets(word_spans: Sequence[Sequence[int]], tags: Sequence[str]) -> list[int]:
    return tags_to_offsets([("", s, e) for s, e in word_spans], tags)


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
        """Post labels as "intent:<name>" (sorted, from train; none when train has no labels), then the span
        tags O, B-SPAN, I-SPAN."""
        train = splits["train"]
        posts = sorted({x for x in train["label"] if x is not None}) if "label" in train.column_names else []
        if posts and self.options.clean_label not in posts:
            raise ConfigError(f"model.clean_label={self.options.clean_label!r} is not one of the post labels "
                              f"{posts}: set model.clean_label to the label that means not toxic (every post "
                              "would be called toxic otherwise)")
        return [INTENT + x for x in posts] + TAGS

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
                           batch_size: int = 64) -> dict[str, Any]:
        """model.prior_correction=dev: fit the post-score shift on the validation posts (kept in the model)."""
        val, train = splits.get("validation"), splits["train"]
        if (self.options.prior_correction != "dev" or not model.intents or val is None
                or "label" not in val.column_names or "label" not in train.column_names):
            return {}
        index = {x: i for i, x in enumerate(model.intents)}
        rows = [i for i, x in enumerate(val["label"]) if x in index]
        if not rows:
            return {}
        with torch.no_grad():
            model.post_bias.zero_()
        probs = self.post_probs(model, tokenizer, [val["text"][i] for i in rows], batch_size, data.max_length)
        tau = fit_prior_correction(model, [index[x] for x in train["label"] if x in index], probs,
                                   [index[val["label"][i]] for i in rows])
        log.info("prior correction: tau=%s chosen on %d validation posts (post scores - tau * log prior)",
                 tau, len(rows))
        return {}

    def fit_featurizers(self, splits: dict[str, Dataset], tokenizer: Any, seed: int) -> dict[str, Any]:
        """model.rewrite: word2vec and the toxic-word lexicon from the training text and spans."""
        if not self.options.rewrite:
            return {}
        train = splits["train"]
        words = train["tokens"] if "tokens" in train.column_names else [
            [w for w, _, _ in split_words(t)] for t in train["text"]]
        tags = train["tags"] if "tags" in train.column_names else None
        return {"rewriter": detox.Rewriter.fit(words, tags, seed=seed)}

    def load_featurizers(self, path: str | Path) -> dict[str, Any]:
        rewriter = detox.Rewriter.load(path)
        return {"rewriter": rewriter} if rewriter is not None else {}

    def encode(self, ds: Dataset, tokenizer, label2id: dict[str, int], data: DataConfig) -> Features:
        return encode(ds, tokenizer, label2id, data)

    def class_targets(self, labels: Sequence[str]) -> tuple[str, int]:
        """Class weights, priors and resampling count the post labels."""
        return "intent_labels", len(label_sets(labels).intents)

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

    def gather(self, batch, out: TaskOutput, decode_fn) -> list[dict[str, Any]]:
        return gather(batch, out, decode_fn)

    def join_windows(self, records, decode_fn):
        return tagging.join_windows(records, decode_fn)

    def score(self, records, id2label, gold=None) -> dict[str, Any]:
        """Post scores and span char-F1 (see the module docstring); `score` is their mean."""
        intents = label_sets([id2label[i] for i in range(len(id2label))]).intents
        result = {**post_scores(records, intents), **span_scores(records, gold)}
        parts = [result[k] for k in ("macro_f1", "char_f1") if k in result]
        result["score"] = float(np.mean(parts)) if parts else 0.0
        return result

    def head_labels(self, model: ToxicityModel) -> dict[str, list[str]]:
        return {"intent_head": model.intents, "post_bias": model.intents, "slot_head": model.tags, "crf": model.tags}

    def post_probs(self, model: ToxicityModel, tokenizer, texts: Sequence[str], batch_size: int = 64,
                   max_length: int = 128) -> np.ndarray:
        """(N, K) post-label probabilities of raw texts (their first window)."""
        feats = encode(Dataset.from_dict({"text": list(texts)}), tokenizer, {}, DataConfig(max_length=max_length))
        probs = np.full((len(texts), len(model.intents)), np.nan)
        for batch, out in infer(model, feats, Collator(tokenizer.pad_token_id), batch_size):
            p = out.intent_logits.softmax(-1).numpy()
            for b in range(len(p)):
                if int(batch["core_start"][b]) == 0:
                    probs[int(batch["example_id"][b])] = p[b]
        return probs

    def predict(self, model, tokenizer, texts, batch_size=64, data=None, featurizers=None):
        """Per text: {"label", "probability", "toxic", "spans": [{"start", "end", "text", "score"}],
        "offsets", "masked", "removed", "rewritten", "rewrite_accepted"}; label, probability and toxic are
        None when the model has no post labels, the span outputs None when no training post had spans."""
        opts = self.options
        max_length = (data or DataConfig()).max_length
        words, records, _ = tagging.predict_words(self, model, tokenizer, texts, batch_size, data)
        found_by_text = tagging.sentence_entities(records, model.tags, model)
        first = {r["example_id"]: r for r in sorted(records, key=lambda r: -r["core_start"])}
        out, spans = [], []
        for i, (text, ws) in enumerate(zip(texts, words, strict=True)):
            found = tagging.entities(text, ws, *found_by_text.get(i, ([], [])))
            res: dict[str, Any] = {"label": None, "probability": None, "toxic": None}
            if model.intents and i in first:
                p = np.asarray(first[i]["intent_probs"])
                k = int(p.argmax())
                res = {"label": model.intents[k], "probability": round(float(p[k]), 4),
                       "toxic": model.intents[k] != opts.clean_label}
            cut = [(s["start"], s["end"]) for s in found]
            spans.append(cut)
            res.update({"spans": [{k: s[k] for k in ("start", "end", "text", "score")} for s in found],
                        "offsets": [c for a, b in cut for c in range(a, b)],
                        "masked": detox.mask(text, cut, opts.mask), "removed": detox.remove(text, cut)})
            out.append(res)
        if "slots" in getattr(model, "untrained", []):  # a span head that never saw a span: no spans at all
            for res in out:
                res.update(dict.fromkeys(("spans", "offsets", "masked", "removed", "rewritten", "rewrite_accepted")))
            return out
        rewriter = (featurizers or {}).get("rewriter")
        if rewriter is None:
            for res in out:
                res["rewritten"], res["rewrite_accepted"] = res["removed"], False
            return out
        judge = None
        if opts.clean_label in model.intents:
            clean = model.intents.index(opts.clean_label)

            def judge(drafts: list[str]) -> list[bool]:
                return list(self.post_probs(model, tokenizer, drafts, batch_size, max_length).argmax(-1) == clean)

        for res, (text, ok) in zip(out, rewriter.rewrite(list(texts), spans, judge), strict=True):
            res["rewritten"], res["rewrite_accepted"] = text, ok
        return out


TASK = ToxicityTask
