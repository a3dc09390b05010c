"""The document-classification family (topics): each document's inputs for the fusion classifier (a text
vector from a frozen chunk encoder, or sub-token ids for a fine-tuned one, and LDA topic weights), the check
for empty documents, and the top topics a prediction reports."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

import numpy as np
from datasets import Dataset

from pipelines.errors import ConfigError, ReadError
from pipelines.methods.documents import ChunkEncoder
from pipelines.methods.sparse import SparseModel
from pipelines.methods.topics import TopicModel

log = logging.getLogger(__name__)


def head_tail(ids: Sequence[int], size: int) -> list[int]:
    """The first and last `size // 2` ids of a sequence longer than `size` (head + tail truncation)."""
    if len(ids) <= size:
        return list(ids)
    head = size // 2
    return list(ids[:head]) + list(ids[len(ids) - (size - head):])


def check_empty(ds: Dataset, keep: bool, source: str) -> None:
    """Stop on the first empty document (naming its file or record) unless `keep`."""
    empty = [i for i, t in enumerate(ds["text"]) if not t.strip()]
    if not empty or keep:
        if empty:
            log.info("%d empty documents kept (model.empty_documents=keep)", len(empty))
        return
    i = empty[0]
    record = ds["id"][i] + 1 if "id" in ds.column_names else i + 1
    where = ds["file"][i] if "file" in ds.column_names else f"record {record}"
    raise ReadError(source, None, f"{len(empty)} empty documents (the first: {where}); remove them, or set "
                                  "model.empty_documents=keep")


def document_inputs(texts: Sequence[str], tokenizer: Any, max_length: int, text: str, pooling: str,
                    chunks: ChunkEncoder | None = None, topics: TopicModel | None = None,
                    sparse: SparseModel | None = None) -> list[dict[str, Any]]:
    """Per text the model's inputs. `text`: "frozen" (`doc_vectors` from `chunks`, pooled by `pooling`; the
    ids are [CLS] [SEP] only), "finetune" (the ids of one window of `max_length`, its head or, with
    pooling=head_tail, its first and last halves) or "" (no text vector). With `topics`, the topic weights;
    with `sparse`, the classical model's class scores."""
    rows: list[dict[str, Any]] = [{"example_id": i, "input_ids": [tokenizer.cls_token_id, tokenizer.sep_token_id]}
                                  for i in range(len(texts))]
    if text == "frozen":
        for row, vec in zip(rows, chunks.pooled(list(texts), pooling), strict=True):
            row["doc_vectors"] = vec.tolist()
    elif text == "finetune":
        ids = tokenizer(list(texts), add_special_tokens=False, verbose=False)["input_ids"]
        cut = head_tail if pooling == "head_tail" else (lambda x, n: list(x[:n]))
        for row, seq in zip(rows, ids, strict=True):
            row["input_ids"] = [tokenizer.cls_token_id, *cut(seq, max_length - 2), tokenizer.sep_token_id]
    if topics is not None:
        for row, theta in zip(rows, topics.transform(texts), strict=True):
            row["topics"] = theta.tolist()
    if sparse is not None:
        for row, scores in zip(rows, sparse.scores(texts), strict=True):
            row["sparse"] = scores.tolist()
    return rows


def fit_sparse_weight(task: Any, model: Any, tokenizer: Any, dev: Any, data: Any, featurizers: dict[str, Any],
                      batch_size: int = 64) -> float | None:
    """model.sparse with late fusion: the weight of the sparse scores chosen on the labelled dev documents (set on
    `model`); None where there is nothing to choose on."""
    import torch

    from pipelines.data.batching import Collator, Features
    from pipelines.methods.sparse import choose_weight
    from pipelines.models.outputs import infer

    label2id = {v: k for k, v in model.config.id2label.items()}
    texts, labels = (list(dev["text"]), list(dev["label"])) if dev is not None else ([], [])  # each column read once
    rows = [i for i, label in enumerate(labels) if label in label2id]
    if not rows:
        return None
    model.sparse_weight = 0.0
    feats = Features(task.features([texts[i] for i in rows], tokenizer, data, featurizers))
    log_probs = np.zeros((len(rows), len(label2id)), dtype=np.float32)
    scores = np.array([r["sparse"] for r in feats.rows], dtype=np.float32)
    with torch.no_grad():
        for batch, out in infer(model, feats, Collator(tokenizer.pad_token_id), batch_size):
            log_probs[batch["example_id"].numpy()] = out.logits.numpy()
    weight, by_weight = choose_weight(log_probs, scores, np.array([label2id[labels[i]] for i in rows]))
    model.sparse_weight = weight
    log.info("sparse scores: late-fusion weight %s chosen on %d dev documents (dev accuracy by weight %s)", weight,
             len(rows), by_weight)
    return weight


def top_topics(theta: Sequence[float], topic_words: Sequence[Sequence[tuple[str, float]]], n: int
               ) -> list[dict[str, Any]]:
    """The `n` heaviest topics of one document: {"topic", "weight", "words"}."""
    best = np.argsort(theta)[::-1][:n]
    return [{"topic": int(k), "weight": round(float(theta[k]), 4), "words": [w for w, _ in topic_words[k]]}
            for k in best]


def require_topics(topics: TopicModel | None) -> TopicModel:
    if topics is None:
        raise ConfigError("task topics: no topic model: pass featurizers= from fit_featurizers (training) or "
                          "load_featurizers (a saved model)")
    return topics
