"""Long documents through a short encoder: windows, frozen chunk embeddings, pooling, and an on-disk cache.

A 20 Newsgroups post runs to ~600 sub-tokens and a BBC article to ~450, past what a MiniLM-sized encoder
should read at once (it was trained on 128-token inputs; its position table ends at 512). Three ways to get
one vector per document, all from the same chunk embeddings, so one encoding pass measures all three:
- `head`: the first window only;
- `head_tail`: the mean of the first and the last window (the ends of a post carry its subject line and its
  sign-off; Sun et al. 2019 found head+tail best for long-text BERT classification);
- `chunks`: the mean over every window (at most `max_chunks`: the first ones and the last).
Each window is `window` sub-tokens with [CLS] and [SEP], cut without overlap from the text's sub-tokens.
Encoding a corpus once with the frozen encoder and training only a head on top is the CPU-friendly variant
(`tasks.topics`, model.features=frozen); vectors are cached under `cache_dir` by a hash of encoder, window,
max_chunks and text, so a second run (another seed, another head) reads them back instead of encoding.
"""

from __future__ import annotations

import hashlib
import logging
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from pipelines.data.batching import Collator, sorted_batches
from pipelines.io import atomic_open

log = logging.getLogger(__name__)
POOLINGS = ("head", "head_tail", "chunks")


def windows(ids: Sequence[int], window: int, max_chunks: int) -> list[list[int]]:
    """Content sub-token ids (no special tokens) -> at most `max_chunks` pieces of `window - 2` ids, the first
    `max_chunks - 1` and the last one (so the tail is always the document's real end; max_chunks=1: the head
    only). An empty text gives one empty piece."""
    size = window - 2
    pieces = [list(ids[s:s + size]) for s in range(0, len(ids), size)] or [[]]
    if len(pieces) > max_chunks:
        pieces = pieces[: max_chunks - 1] + pieces[-1:] if max_chunks > 1 else pieces[:1]
    return pieces


def pool(chunks: np.ndarray, how: str) -> np.ndarray:
    """(C, H) chunk embeddings of one document -> (H,) by `how` (head | head_tail | chunks)."""
    if how == "head":
        return chunks[0]
    if how == "head_tail":
        return (chunks[0] + chunks[-1]) / 2.0
    if how == "chunks":
        return chunks.mean(0)
    raise ValueError(f"pooling {how!r}: expected one of {POOLINGS}")


class ChunkEncoder:
    """Mean-pooled frozen embeddings of every window of every document (pipelines.models.pooling.FrozenEncoder
    does the encoding), cached per document text.

    Args:
        encoder: a FrozenEncoder (its tokenizer and model), or an encoder name to build one.
        window: sub-tokens per window including [CLS] and [SEP].
        max_chunks: windows kept per document.
        cache_dir: folder of the vector cache ('' = no cache).
        batch_size: windows per forward pass.
        name: the encoder's name in the cache key (default: `encoder` when it is a name).
        cache_block: documents encoded between two cache writes.
    """

    def __init__(self, encoder: Any, window: int = 256, max_chunks: int = 8, cache_dir: str | Path = "",
                 batch_size: int = 32, name: str = "", cache_block: int = 1000) -> None:
        from pipelines.models.pooling import FrozenEncoder

        self.name = name or (encoder if isinstance(encoder, str) else "custom")
        self.encoder = FrozenEncoder(encoder) if isinstance(encoder, str) else encoder
        self.window, self.max_chunks, self.batch_size = window, max_chunks, batch_size
        self.cache_dir = Path(cache_dir) if cache_dir else None
        self.cache_block = cache_block

    def key(self, text: str) -> str:
        raw = f"{self.name}\0{self.window}\0{self.max_chunks}\0{text}".encode("utf-8", "surrogatepass")
        return hashlib.sha1(raw).hexdigest()

    def encode(self, texts: Sequence[str], progress: bool | None = None) -> list[np.ndarray]:
        """Per text a (C, H) float32 array of its window embeddings (C >= 1), from the cache where present."""
        out: list[np.ndarray | None] = [None] * len(texts)
        cached = self._read_cache(texts)
        todo = [i for i in range(len(texts)) if texts[i] not in cached]
        for i in range(len(texts)):
            if texts[i] in cached:
                out[i] = cached[texts[i]]
        for s in range(0, len(todo), self.cache_block):  # encoded and cached block by block: an interrupted
            block = todo[s:s + self.cache_block]               # run keeps what it encoded
            fresh = self._encode([texts[i] for i in block], progress)
            for i, vec in zip(block, fresh, strict=True):
                out[i] = vec
            self._write_cache({texts[i]: vec for i, vec in zip(block, fresh, strict=True)})
            log.info("encoded %d of %d new documents (%d from the cache)", s + len(block), len(todo),
                     len(texts) - len(todo))
        return out  # type: ignore[return-value]

    def pooled(self, texts: Sequence[str], how: str = "chunks", progress: bool | None = None) -> np.ndarray:
        """(N, H) one vector per text, pooled over its windows by `how`."""
        return np.stack([pool(c, how) for c in self.encode(texts, progress)]) if len(texts) else np.zeros((0, 0))

    @torch.inference_mode()
    def _encode(self, texts: Sequence[str], progress: bool | None) -> list[np.ndarray]:
        from transformers import logging as hf_logging

        from pipelines.models.pooling import masked_mean

        tok, model = self.encoder.tokenizer, self.encoder.model

        verbosity = hf_logging.get_verbosity()
        hf_logging.set_verbosity_error()  # "longer than the maximum sequence length": we cut the windows ourselves
        try:
            ids = tok(list(texts), add_special_tokens=False)["input_ids"]
        finally:
            hf_logging.set_verbosity(verbosity)
        pieces = [(d, [tok.cls_token_id, *p, tok.sep_token_id]) for d, doc in enumerate(ids)
                  for p in windows(doc, self.window, self.max_chunks)]
        vectors = np.zeros((len(pieces), model.config.hidden_size), dtype=np.float32)
        batches = sorted_batches([len(seq) for _, seq in pieces], self.batch_size)
        collate = Collator(tok.pad_token_id)
        if progress if progress is not None else (len(batches) > 20 and sys.stderr.isatty()):
            from tqdm.auto import tqdm

            batches = tqdm(batches, desc="encode documents", unit="batch")
        for idx in batches:
            batch = collate([{"input_ids": pieces[k][1]} for k in idx])
            h = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).last_hidden_state
            vectors[idx] = masked_mean(h, batch["attention_mask"]).numpy()  # (B, H)
        per_doc: list[list[int]] = [[] for _ in texts]
        for k, (d, _) in enumerate(pieces):
            per_doc[d].append(k)
        return [vectors[k] for k in per_doc]

    # cache: one .npz per call, holding keys, chunk counts and the stacked vectors ---------------------------
    def _read_cache(self, texts: Sequence[str]) -> dict[str, np.ndarray]:
        if self.cache_dir is None or not self.cache_dir.is_dir():
            return {}
        wanted = {self.key(t): t for t in texts}
        found: dict[str, np.ndarray] = {}
        for path in sorted(self.cache_dir.glob("vectors-*.npz")):
            try:
                with np.load(path, allow_pickle=False) as z:
                    keys, counts, vecs = z["keys"], z["counts"], z["vectors"]
            except (OSError, ValueError, KeyError) as err:
                log.warning("%s: unreadable cache file skipped (%s)", path, err)
                continue
            starts = np.concatenate([[0], np.cumsum(counts)])
            for j, k in enumerate(keys):
                if str(k) in wanted:
                    found[wanted[str(k)]] = vecs[starts[j]:starts[j + 1]]
        return found

    def _write_cache(self, new: dict[str, np.ndarray]) -> None:
        if self.cache_dir is None or not new:
            return
        keys = np.array([self.key(t) for t in new])
        counts = np.array([len(v) for v in new.values()])
        name = hashlib.sha1("".join(keys).encode()).hexdigest()[:16]
        with atomic_open(self.cache_dir / f"vectors-{name}.npz") as fh:
            np.savez(fh, keys=keys, counts=counts, vectors=np.concatenate(list(new.values())))
