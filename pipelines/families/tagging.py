"""Token tasks (NER, slots, toxic spans), the shared part: split raw text into words and run a model over them
(`predict_words`), decode each window's word scores, join a sentence's windows, stitch them back into
sentences, score with seqeval (strict IOB2), and turn word tags into character-offset entities with their
probabilities."""

from __future__ import annotations

import dataclasses
import math
from collections import defaultdict
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np
import torch
from datasets import Dataset

from pipelines.config import DataConfig
from pipelines.data.batching import Collator
from pipelines.data.columns import Columns
from pipelines.data.rawtext import get_splitter
from pipelines.data.tags import is_valid_iob2, spans
from pipelines.inference import metrics
from pipelines.models.crf import chain_potentials, crf_marginals, pack_words, segment_log_probs
from pipelines.models.decoding import make_decoder
from pipelines.models.outputs import infer
from pipelines.records import TagRecord
from pipelines.task import labels_of


def gather(batch: dict[str, torch.Tensor], logits: torch.Tensor, decode_fn=None) -> list[TagRecord]:
    """Per window: predicted label ids at the core words' first sub-tokens, and their word scores (`scores`,
    (W, L)): `join_windows` decodes a sentence's windows again as one sequence from them, and `entity_probs`
    reads an entity's probability off them; `logits` (B, T, L) are the sub-token tag scores.

    decode_fn: from `decoder(model, ...)`; None = per-word argmax.
    """
    decode_fn = decode_fn or make_decoder((), "argmax")
    out = []
    for b in range(logits.shape[0]):
        starts = batch["word_starts"][b]
        starts = starts[starts >= 0]  # (W,)
        ids = torch.tensor(decode_fn(logits[b, starts], int(batch["core_start"][b]) > 0), dtype=torch.long)
        out.append(TagRecord(int(batch["example_id"][b]), int(batch["core_start"][b]), ids.tolist(),
                             logits[b, starts].float(),
                             batch["labels"][b, starts].tolist() if "labels" in batch else None))
    return out


def join_windows(records: list[TagRecord], decode_fn=None) -> list[TagRecord]:
    """Decode each sentence split into several windows once over all its words' scores (the windows alone
    could end in O and continue with I-X), and put the labels back into its windows' records. Records of
    one-window sentences are left as they are. Returns `records`, changed in place."""
    decode_fn = decode_fn or make_decoder((), "argmax")
    parts: dict[int, dict[int, TagRecord]] = defaultdict(dict)
    for r in records:
        parts[r.example_id].setdefault(r.core_start, r)
    for windows in parts.values():
        if len(windows) < 2:
            continue
        ordered = [windows[k] for k in sorted(windows)]
        scores = torch.cat([r.scores for r in ordered])  # (W, L) of the whole sentence
        ids = torch.tensor(decode_fn(scores, False), dtype=torch.long)
        pos = 0
        for r in ordered:
            n = len(r.pred)
            r.pred = ids[pos:pos + n].tolist()
            pos += n
    return records


def stitch(records: Sequence[TagRecord], key: str) -> dict[int, list[Any]]:
    """Join the windows of each example in word order: {example_id: values of field `key` for every word}
    (none for a window whose field is None: gold of an unlabelled window)."""
    return stitch_values((r.example_id, r.core_start, [] if getattr(r, key) is None else getattr(r, key))
                         for r in records)


def stitch_values(windows: Iterable[tuple[int, int, Sequence[Any]]]) -> dict[int, list[Any]]:
    """(example_id, core_start, per-word values) of each window, joined per example in word order."""
    parts: dict[int, list[tuple[int, Sequence[Any]]]] = defaultdict(list)
    seen = set()
    for example_id, core_start, values in windows:
        if (example_id, core_start) not in seen:  # DDP samplers may repeat a window
            seen.add((example_id, core_start))
            parts[example_id].append((core_start, values))
    return {i: [v for _, vals in sorted(p, key=lambda x: x[0]) for v in vals] for i, p in parts.items()}


def score(records: Sequence[TagRecord], id2label: dict[int, str],
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


def entity_probs(scores: torch.Tensor, tag_ids: Sequence[int], labels: Sequence[str], crf: Any = None,
                 temperature: float = 1.0) -> list[float]:
    """The probability of each entity of a sentence's predicted tags (in `spans` order): that exactly these
    words form an entity of this type (`pipelines.models.crf.segment_log_probs`), under the model's CRF, or
    under independent per-word softmaxes without one, every score divided by `temperature` (fitted on dev
    by `fit_entity_temperature`). scores: (W, L) word scores of the whole sentence."""
    found = spans([labels[k] for k in tag_ids])
    if not found:
        return []
    index = {name: k for k, name in enumerate(labels)}
    trans, start, end = chain_potentials(crf, len(labels), temperature)
    emissions = scores.float() / temperature
    if crf is None:  # a softmax head: each word's own distribution (no chain)
        emissions = emissions.log_softmax(-1)
    segments = [(s, list(tag_ids[s:e]), index.get(f"I-{kind}", -1)) for kind, s, e in found]
    return [math.exp(v) for v in segment_log_probs(emissions, segments, trans, start, end)]


def entity_temperature(model: Any) -> float:
    """The entity-score temperature a run fitted on dev (`model.config.entity_temperature`; 1 = none)."""
    return float(getattr(model.config, "entity_temperature", None) or 1.0)


def sentence_entities(records: Sequence[TagRecord], labels: Sequence[str], model: Any = None,
                      temperature: float | None = None) -> dict[int, tuple[list[str], list[float]]]:
    """Per example id: its predicted word tags and the probability of each predicted entity, under `model`'s
    CRF if it has one, at `temperature` (default: the one the model carries)."""
    crf = getattr(model, "crf", None)
    if temperature is None:
        temperature = entity_temperature(model) if model is not None else 1.0
    tags, scores = stitch(records, "pred"), stitch(records, "scores")
    out = {}
    for i, ids in tags.items():
        word_scores = torch.stack(scores[i]) if ids else torch.zeros(0, len(labels))
        out[i] = ([labels[k] for k in ids], entity_probs(word_scores, ids, labels, crf, temperature))
    return out


def entities(text: str, words: Sequence[tuple[str, int, int]], tags: Sequence[str],
             scores: Sequence[float]) -> list[dict[str, Any]]:
    """Entities of one text from its word tags: type, text, character start/end and `scores` (one per entity,
    in `spans` order: `entity_probs`)."""
    return [{"type": kind, "text": text[words[s][1]:words[e - 1][2]], "start": words[s][1], "end": words[e - 1][2],
             "score": round(score, 4)} for (kind, s, e), score in zip(spans(tags), scores, strict=True)]


def word_decoder(model: torch.nn.Module, decode: str):
    """Its CRF's Viterbi when the model has one, else `decode` (argmax | viterbi) over the tag scores."""
    crf = getattr(model, "crf", None)
    return make_decoder(labels_of(model), "crf" if crf is not None else decode, crf)


def predict_words(task: Any, model: torch.nn.Module, tokenizer, texts: Sequence[str], batch_size: int,
                  data: DataConfig | None = None, doc_ids: Sequence[int] | None = None,
                  featurizers: dict[str, Any] | None = None) -> tuple[list[Any], list[TagRecord], Any]:
    """Split raw texts into words (with the run's recorded splitter), encode them as training encoded its data
    (the run's data config: window length, features), run, gather and join windows: (words per text, records,
    decoder). Each text is a sentence; with `doc_ids` (one per text, the same id for the sentences of one
    document, in order) a model trained with document context (`data.doc_context`) reads the neighbouring
    sentences too, and without them it gets none."""
    data = data or DataConfig()
    if doc_ids is None:
        data = dataclasses.replace(data, doc_context=False)
    decode_fn = task.decoder(model)
    split = get_splitter(data.splitter)
    words = [split(t) for t in texts]
    columns: dict[str, list[Any]] = {"tokens": [[w for w, _, _ in ws] for ws in words]}
    if doc_ids is not None:
        columns["doc_id"] = list(doc_ids)
    feats = task.encode(Columns(columns), tokenizer, {}, data, featurizers)
    records = [r for batch, out in infer(model, feats, Collator(tokenizer.pad_token_id), batch_size,
                                         next(model.parameters()).device)
               for r in task.gather(batch, out, decode_fn)]
    task.join_windows(records, decode_fn)
    return words, records, decode_fn


def document_lines(texts: Sequence[str]) -> tuple[list[str], list[int], list[int]]:
    """Each text as a document of sentences, one per non-blank line: (sentences, the text each came from, the
    character offset of each in its text)."""
    sentences, owner, shift = [], [], []
    for i, text in enumerate(texts):
        start = 0
        for line in text.split("\n"):
            if line.strip():
                sentences.append(line)
                owner.append(i)
                shift.append(start)
            start += len(line) + 1
    return sentences, owner, shift


def word_distributions(task: Any, model: torch.nn.Module, tokenizer: Any, ds: Dataset, data: DataConfig,
                       batch_size: int = 64, featurizers: dict[str, Any] | None = None) -> list[np.ndarray]:
    """Per sentence, (W, L) label probabilities of each word (at its first sub-token), in order: the
    softmax of the tag scores, or a CRF head's marginals (forward-backward over the words)."""
    keep = [c for c in ds.column_names if c not in ("tokens", "doc_id")]
    feats = task.encode(ds.remove_columns(keep), tokenizer, {}, data, featurizers)
    crf = getattr(model, "crf", None)
    windows = []
    for batch, out in infer(model, feats, Collator(tokenizer.pad_token_id), batch_size,
                            next(model.parameters()).device):
        emissions, mask, _ = pack_words(out.logits, batch["word_starts"])  # (B, W, L), (B, W)
        with torch.no_grad():
            probs = crf_marginals(crf, emissions, mask) if crf is not None else emissions.softmax(-1)
        windows += [(int(batch["example_id"][b]), int(batch["core_start"][b]), list(probs[b, mask[b]].numpy()))
                    for b in range(len(probs))]
    joined = stitch_values(windows)
    return [np.stack(joined[i]) if joined.get(i) else np.zeros((0, model.config.num_labels))
            for i in range(len(ds))]


def document_entities(task: Any, model: torch.nn.Module, tokenizer: Any, texts: Sequence[str], batch_size: int,
                      data: DataConfig | None = None, featurizers: dict[str, Any] | None = None
                      ) -> list[list[dict[str, Any]]]:
    """Per text, its entities ({"type", "text", "start", "end", "score"}, character offsets in the text). A text
    is a document whose lines are its sentences (document_lines); a model trained with document context reads
    each sentence with its neighbours, as in training; no entity crosses a line break."""
    sentences, owner, shift = document_lines(texts)
    words, records, _ = predict_words(task, model, tokenizer, sentences, batch_size, data, doc_ids=owner,
                                      featurizers=featurizers)
    found = sentence_entities(records, task.entity_tags(model), model)
    out: list[list[dict[str, Any]]] = [[] for _ in texts]
    for k, (line, ws) in enumerate(zip(sentences, words, strict=True)):
        for ent in entities(line, ws, *found.get(k, ([], []))):
            out[owner[k]].append({**ent, "start": ent["start"] + shift[k], "end": ent["end"] + shift[k]})
    return out
