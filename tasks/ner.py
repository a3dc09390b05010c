"""Named-entity recognition: a token classifier over first sub-tokens, scored with seqeval strict IOB2.

Data: `tokens` and `tags` (IOB2) per sentence, `doc_id` for document context. Long sentences are split
into windows (pipelines.data.align), so every gold entity is scored; the word scores of a sentence's windows are
joined and decoded as one sequence (`join_windows`), so Viterbi and CRF decoding stay valid IOB2 across
window boundaries.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from datasets import Dataset
from transformers import AutoModelForTokenClassification

from pipelines.config import DataConfig
from pipelines.data.align import PieceCache, build_windows, split_words
from pipelines.data.batching import Collator, Features, infer
from pipelines.data.tags import is_valid_iob2, spans
from pipelines.data.words import VOCAB_FILE
from pipelines.inference import metrics
from pipelines.models import encoders
from pipelines.models.bilstm import BiLstmCrf
from pipelines.models.crf import CRF_FILE, CrfTokenClassifier
from pipelines.models.decoding import make_decoder

MONITOR = "val/f1"
REPORT_NOTES = ["Entity scores: seqeval mode='strict', scheme=IOB2."]
SAMPLE = Path(__file__).resolve().parent.parent / "samples" / "ner"
MODEL_CLASS = AutoModelForTokenClassification
COLUMNS = ("tokens", "tags")


def label_list(splits: dict[str, Dataset]) -> list[str]:
    """'O' first, then B-/I- of each type, types sorted; taken from every split so dev/test types are known."""
    kinds = sorted({t[2:] for name in ("train", "validation", "test") if name in splits
                    for tags in splits[name]["tags"] for t in tags if t != "O"})
    return ["O"] + [f"{p}-{k}" for k in kinds for p in ("B", "I")]


def build_model(encoder: str, labels: Sequence[str], tokenizer, dropout: float = 0.1,
                head: str = "softmax", word_dropout: float = 0.0) -> torch.nn.Module:
    """A Hugging Face token classifier on `encoder`; head='crf' puts a constrained CRF on its emissions.
    encoder='bilstm' is the BiLSTM-CRF over a WordTokenizer (its head is always a CRF); `word_dropout` is its
    share of words read as <unk> in training."""
    if encoder == "bilstm":
        return BiLstmCrf.build(labels, tokenizer, dropout, word_dropout)
    model = encoders.load_model(encoder, MODEL_CLASS, tokenizer, num_labels=len(labels),
                                id2label=dict(enumerate(labels)), label2id={lab: i for i, lab in enumerate(labels)},
                                classifier_dropout=dropout)
    if head == "crf":
        return CrfTokenClassifier(model, labels)
    if head != "softmax":
        raise ValueError(f"model.head={head!r}: expected softmax|crf")
    return model


def load_model(path: str | Path) -> torch.nn.Module:
    """A model saved by a run (`model/`), with its CRF when it has one."""
    if (Path(path) / VOCAB_FILE).exists():
        return BiLstmCrf.from_pretrained(path)
    if (Path(path) / CRF_FILE).exists():
        return CrfTokenClassifier.from_pretrained(path, MODEL_CLASS)
    return MODEL_CLASS.from_pretrained(path)


def _context(ds: Dataset, budget: int) -> tuple[list[list[str]], list[list[str]]]:
    """Words of the preceding / following sentences of the same document, at most `budget` each side."""
    docs, tokens = ds["doc_id"], ds["tokens"]
    left: list[list[str]] = []
    right: list[list[str]] = [[] for _ in tokens]
    for i in range(len(tokens)):
        words: list[str] = []
        j = i - 1
        while j >= 0 and docs[j] == docs[i] and len(words) < budget:
            words = tokens[j] + words
            j -= 1
        left.append(words[-budget:])
    for i in range(len(tokens) - 1, -1, -1):
        words, j = [], i + 1
        while j < len(tokens) and docs[j] == docs[i] and len(words) < budget:
            words = words + tokens[j]
            j += 1
        right[i] = words[:budget]
    return left, right


def encode(ds: Dataset, tokenizer, label2id: dict[str, int], cfg: DataConfig) -> Features:
    """One feature per window: input_ids, labels (-100 off first sub-tokens and on unseen tags),
    word_starts, example_id, core_start (index of the window's first core word in its sentence) and last
    (1 when the window's core words reach the sentence's end)."""
    tokens, tags = ds["tokens"], ds["tags"] if "tags" in ds.column_names else None
    if getattr(tokenizer, "word_level", False):
        return _encode_words(tokens, tags, tokenizer, label2id)
    cache = PieceCache(tokenizer)
    if cfg.doc_context and "doc_id" in ds.column_names:
        left, right = _context(ds, cfg.max_length)
    else:
        left = right = [[] for _ in tokens]
    rows = []
    for i, words in enumerate(tokens):
        stream = left[i] + list(words) + right[i]
        lo = len(left[i])
        for ids, starts, win in build_windows(cache(stream), lo, lo + len(words), cfg.max_length,
                                              tokenizer.cls_token_id, tokenizer.sep_token_id):
            row: dict[str, Any] = {"input_ids": ids, "word_starts": starts, "example_id": i,
                                   "core_start": win.start - lo, "last": int(win.end - lo == len(words))}
            if tags is not None:
                labels = [-100] * len(ids)
                for pos, tag in zip(starts, tags[i][win.start - lo: win.end - lo]):
                    labels[pos] = label2id.get(tag, -100)
                row["labels"] = labels
            rows.append(row)
    return Features(rows)


def decoder(model: torch.nn.Module, decode: str = "argmax"):
    """The decoding function for `model`: its CRF when it has one, else `decode` (argmax|viterbi)."""
    id2label = model.config.id2label
    labels = [id2label[i] for i in range(len(id2label))]
    crf = getattr(model, "crf", None)
    mode = "viterbi" if decode == "consistent" else decode  # consistency with an intent: joint task only
    return make_decoder(labels, "crf" if crf is not None else mode, crf)


def _encode_words(tokens: Sequence[Sequence[str]], tags: Sequence[Sequence[str]] | None, tokenizer,
                  label2id: dict[str, int]) -> Features:
    """Word-level features (one position per word, no windows): word, char and casing ids."""
    rows = []
    for i, words in enumerate(tokens):
        if not words:
            continue
        ids, chars, cases = zip(*(tokenizer.encode_word(w) for w in words))
        row: dict[str, Any] = {"input_ids": list(ids), "char_ids": list(chars), "case_ids": list(cases),
                               "word_starts": list(range(len(words))), "example_id": i, "core_start": 0,
                               "last": 1}
        if tags is not None:
            row["labels"] = [label2id.get(t, -100) for t in tags[i]]
        rows.append(row)
    return Features(rows)


def gather(batch: dict[str, torch.Tensor], logits: torch.Tensor, decode_fn=None) -> list[dict[str, Any]]:
    """Per window: predicted label ids and their probabilities at the core words' first sub-tokens.
    A window of a sentence that has several also keeps its word scores (`scores`, (W, L)) for
    `join_windows`, which decodes them again as one sequence.

    decode_fn: from `decoder(model, ...)`; None = per-word argmax.
    """
    decode_fn = decode_fn or make_decoder((), "argmax")
    probs = logits.float().softmax(-1)  # (B, T, L)
    out = []
    for b in range(logits.shape[0]):
        starts = batch["word_starts"][b]
        starts = starts[starts >= 0]  # (W,)
        ids = torch.tensor(decode_fn(logits[b, starts], int(batch["core_start"][b]) > 0), dtype=torch.long)
        p = probs[b, starts].gather(-1, ids[:, None]).squeeze(-1)  # (W,)
        rec = {"example_id": int(batch["example_id"][b]), "core_start": int(batch["core_start"][b]),
               "pred": ids.tolist(), "prob": p.tolist()}
        if int(batch["core_start"][b]) > 0 or ("last" in batch and not int(batch["last"][b])):
            rec["scores"] = logits[b, starts].float()
        if "labels" in batch:
            rec["gold"] = batch["labels"][b, starts].tolist()
        out.append(rec)
    return out


def join_windows(records: list[dict[str, Any]], decode_fn=None) -> list[dict[str, Any]]:
    """Decode each sentence split into several windows once over all its words' scores (the windows alone
    could end in O and continue with I-X), and put the labels and probabilities back into its windows'
    records. Records of one-window sentences are left as they are. Returns `records`, changed in place."""
    decode_fn = decode_fn or make_decoder((), "argmax")
    parts: dict[int, dict[int, dict[str, Any]]] = defaultdict(dict)
    for r in records:
        if "scores" in r:
            parts[r["example_id"]].setdefault(r["core_start"], r)
    for windows in parts.values():
        ordered = [windows[k] for k in sorted(windows)]
        scores = torch.cat([r["scores"] for r in ordered])  # (W, L) of the whole sentence
        ids = torch.tensor(decode_fn(scores, False), dtype=torch.long)
        probs = scores.softmax(-1).gather(-1, ids[:, None]).squeeze(-1)
        pos = 0
        for r in ordered:
            n = len(r["pred"])
            r["pred"], r["prob"] = ids[pos:pos + n].tolist(), probs[pos:pos + n].tolist()
            pos += n
    for r in records:
        r.pop("scores", None)
    return records


def stitch(records: Sequence[dict[str, Any]], key: str) -> dict[int, list[Any]]:
    """Join the windows of each example in word order: {example_id: values for every word}."""
    parts: dict[int, list[tuple[int, list[Any]]]] = defaultdict(list)
    seen = set()
    for r in records:
        if (r["example_id"], r["core_start"]) not in seen:  # DDP samplers may repeat a window
            seen.add((r["example_id"], r["core_start"]))
            parts[r["example_id"]].append((r["core_start"], r[key]))
    return {i: [v for _, vals in sorted(p) for v in vals] for i, p in parts.items()}


def score(records: Sequence[dict[str, Any]], id2label: dict[int, str],
          gold: Sequence[Sequence[str]] | None = None) -> dict[str, Any]:
    """seqeval strict IOB2 scores. `gold` (tag strings per example) replaces the ids in the records,
    so that tags the model never saw still count as missed entities."""
    preds = stitch(records, "pred")
    ids = sorted(preds)
    pred_tags = [[id2label[k] for k in preds[i]] for i in ids]
    if gold is None:
        golds = stitch(records, "gold")
        gold_tags = [[id2label.get(k, "O") for k in golds[i]] for i in ids]
    else:
        gold_tags = [list(gold[i]) for i in ids]
    result = metrics.entity_scores(gold_tags, pred_tags)
    counts = metrics.entity_counts(gold_tags, pred_tags)
    result["f1_ci95"] = metrics.bootstrap_ci(metrics.f1_from_counts, counts)
    # share of predicted sentences that are not valid IOB2 (an I-X after O or after another type)
    result["invalid_rate"] = sum(not is_valid_iob2(p) for p in pred_tags) / max(len(pred_tags), 1)
    return result


def entities(text: str, words: Sequence[tuple[str, int, int]], tags: Sequence[str],
             probs: Sequence[float]) -> list[dict[str, Any]]:
    """Entities of one text from its word tags: type, text, character start/end, mean word probability."""
    return [{"type": kind, "text": text[words[s][1]:words[e - 1][2]], "start": words[s][1], "end": words[e - 1][2],
             "score": round(sum(probs[s:e]) / (e - s), 4)} for kind, s, e in spans(tags)]


def predict(model: torch.nn.Module, tokenizer, texts: Sequence[str], batch_size: int = 64,
            max_length: int = 128, decode: str = "argmax") -> list[dict[str, Any]]:
    """Entities per text: [{"type", "text", "start", "end", "score"}] with character offsets."""
    id2label = model.config.id2label
    decode_fn = decoder(model, decode)
    words = [split_words(t) for t in texts]
    ds = Dataset.from_dict({"tokens": [[w for w, _, _ in ws] for ws in words]})
    feats = encode(ds, tokenizer, {}, DataConfig(max_length=max_length))
    records = [r for batch, logits in infer(model, feats, Collator(tokenizer.pad_token_id), batch_size,
                                            next(model.parameters()).device)
               for r in gather(batch, logits, decode_fn)]
    join_windows(records, decode_fn)
    tags, probs = stitch(records, "pred"), stitch(records, "prob")
    return [{"entities": entities(text, ws, [id2label[k] for k in tags.get(i, [])], probs.get(i, []))}
            for i, (text, ws) in enumerate(zip(texts, words))]


def distributions(model: torch.nn.Module, tokenizer, ds: Dataset, data: DataConfig,
                  batch_size: int = 64) -> list[np.ndarray]:
    """Per sentence, (W, L) label probabilities of each word (at its first sub-token), in order."""
    feats = encode(ds.remove_columns([c for c in ds.column_names if c not in ("tokens", "doc_id")]), tokenizer,
                   {}, data)
    records = []
    for batch, logits in infer(model, feats, Collator(tokenizer.pad_token_id), batch_size,
                               next(model.parameters()).device):
        probs = logits.softmax(-1)  # (B, T, L)
        for b in range(len(logits)):
            starts = batch["word_starts"][b]
            records.append({"example_id": int(batch["example_id"][b]), "core_start": int(batch["core_start"][b]),
                            "dist": list(probs[b, starts[starts >= 0]].numpy())})
    joined = stitch(records, "dist")
    return [np.stack(joined[i]) if joined.get(i) else np.zeros((0, model.config.num_labels)) for i in range(len(ds))]
