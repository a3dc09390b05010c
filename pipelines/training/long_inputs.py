"""Training on one input too long to fit in memory at once: its windows in micro-batches, with the exact gradient.

A document of W windows has one label; its score reads the mean of the W window vectors, so the loss couples
all windows and plain gradient accumulation (one loss per micro-batch) would change the objective. The
gradient cache (Gao et al. 2021, "Scaling deep contrastive learning batch size under memory limited setup")
keeps the objective and the gradient exact while holding the activations of one micro-batch only:

1. encode every window without a graph, micro-batch by micro-batch, keeping only the pooled (W, H) vectors
   and the random-number state each micro-batch started from (dropout);
2. pool, score and back-propagate the loss to those W vectors (and into the head);
3. encode each micro-batch again, now with a graph, from the same random state (the same dropout masks), and
   back-propagate the cached vector gradients into the encoder.

Cost: one more encoder forward per window (as activation checkpointing, which can be combined with it
inside each micro-batch: `pipelines.models.encoders.enable_checkpointing`). Memory: reports/memory.md.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn

from pipelines.models.pooling import masked_mean


def windows(ids: list[int], size: int, cls_id: int, sep_id: int, stride: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """Cut one document's sub-token ids (without special tokens) into windows of `size` ids including
    [CLS] and [SEP], each starting `stride` ids after the last (0 = no overlap). Returns (W, size) ids
    and the (W, size) attention mask (the last window is padded with id 0, masked out)."""
    body = size - 2
    step = stride or body
    if body < 1 or step < 1:
        raise ValueError(f"size={size}, stride={stride}: a window needs room for at least one id")
    starts = list(range(0, max(len(ids) - body, 0) + 1, step))
    if starts[-1] + body < len(ids):
        starts.append(starts[-1] + step)
    rows = [[cls_id, *ids[s:s + body], sep_id] for s in starts]
    out = torch.zeros(len(rows), size, dtype=torch.long)
    mask = torch.zeros(len(rows), size, dtype=torch.long)
    for i, row in enumerate(rows):
        out[i, :len(row)], mask[i, :len(row)] = torch.tensor(row), 1
    return out, mask


def encode_windows(encoder: nn.Module, ids: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """(W, T) windows -> (W, H) masked-mean vectors of the encoder's last layer."""
    return masked_mean(encoder(input_ids=ids, attention_mask=mask).last_hidden_state, mask)


def document_step(encoder: nn.Module, head: Callable[[torch.Tensor], torch.Tensor], ids: torch.Tensor,
                  mask: torch.Tensor, label: torch.Tensor, micro_batch: int,
                  loss_fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor] = nn.functional.cross_entropy
                  ) -> float:
    """Accumulate into `.grad` the gradient of loss_fn(head(mean of the window vectors), label) for one
    document of (W, T) windows, holding `micro_batch` windows' activations at a time. `label`: (1,) class id.
    Returns the loss. The caller zeroes the gradients and steps the optimizer, as for any backward()."""
    chunks = [slice(s, s + micro_batch) for s in range(0, len(ids), micro_batch)]
    states, vectors = [], []
    with torch.no_grad():  # pass 1: the window vectors only
        for c in chunks:
            states.append(torch.get_rng_state())
            vectors.append(encode_windows(encoder, ids[c], mask[c]))
    after = torch.get_rng_state()
    cached = torch.cat(vectors).requires_grad_(True)  # (W, H)
    loss = loss_fn(head(cached.mean(0, keepdim=True)), label)  # pass 2: head and pooling, with their gradients
    loss.backward()
    for c, state in zip(chunks, states, strict=True):  # pass 3: each micro-batch again, the same dropout masks
        torch.set_rng_state(state)
        encode_windows(encoder, ids[c], mask[c]).backward(cached.grad[c])
    torch.set_rng_state(after)
    return float(loss.detach())
