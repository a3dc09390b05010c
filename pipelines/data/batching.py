"""Batches: length-grouped sampling, dynamic padding, and a plain batched inference loop (no Lightning)."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

import torch
from torch.utils.data import Dataset, Sampler

PAD_VALUES = {"labels": -100, "word_starts": -1}


class Features(Dataset):
    """Encoded examples: a list of dicts with `input_ids` and task fields."""

    def __init__(self, rows: list[dict[str, Any]]) -> None:
        self.rows = rows
        self.lengths = [len(r["input_ids"]) for r in rows]

    def __len__(self) -> int:
        return len(self.rows)

    def __getitem__(self, i: int) -> dict[str, Any]:
        return self.rows[i]


class Collator:
    """Pad list fields to the longest row of the batch; build `attention_mask`.

    `input_ids` pad with the tokenizer's pad id, `labels` with -100, `word_starts` with -1. A field whose values
    are strings or tuples (a turn's words, a state's values) is no tensor: the batch carries it as the list of
    the rows' values.
    """

    def __init__(self, pad_id: int) -> None:
        self.pad_id = pad_id

    def __call__(self, rows: Sequence[dict[str, Any]]) -> dict[str, Any]:
        keys = set(rows[0])
        for k, row in enumerate(rows[1:], start=1):
            if set(row) != keys:  # a field some rows lack would be read from the first row only
                raise ValueError(f"feature row {k} of the batch has fields {sorted(row)}, row 0 has {sorted(keys)} "
                                 f"(missing {sorted(keys - set(row))}, extra {sorted(set(row) - keys)}): every "
                                 "row an encoder writes must carry the same fields")
        batch: dict[str, Any] = {}
        for key in rows[0]:
            values = [r[key] for r in rows]
            if isinstance(values[0], (str, tuple)):  # text: passed through, one value per row
                batch[key] = values
            elif isinstance(values[0], list) and values[0] and isinstance(values[0][0], list):  # (B, T, C)
                width = max(len(v) for v in values)
                depth = max(len(c) for v in values for c in v)
                batch[key] = torch.tensor([[c + [0] * (depth - len(c)) for c in v] + [[0] * depth] * (width - len(v))
                                           for v in values])
            elif isinstance(values[0], list):
                pad = self.pad_id if key == "input_ids" else PAD_VALUES.get(key, 0)
                width = max(1, max(len(v) for v in values))
                batch[key] = torch.tensor([v + [pad] * (width - len(v)) for v in values])  # (B, T)
            else:
                batch[key] = torch.tensor(values)  # (B,)
        lengths = torch.tensor([len(r["input_ids"]) for r in rows])
        batch["attention_mask"] = (torch.arange(batch["input_ids"].shape[1]) < lengths[:, None]).long()  # (B, T)
        return batch


class LengthGroupedSampler(Sampler[int]):
    """Indices in an order where each run of `batch_size` has similar lengths (less padding).

    Shuffle, cut into mega-batches of `batch_size * group` examples, sort each by length, cut into
    batches, shuffle the batches. The longest batch goes first so that out-of-memory shows at once.
    Deterministic for a given seed and epoch; Lightning calls `set_epoch`. Under DDP Lightning wraps it
    and hands every rank a strided share of this order, so each rank's batches stay length-grouped.
    With `weights` (one per example), an epoch draws as many examples with replacement, each with probability
    proportional to its weight (resampling for class imbalance), and groups those by length.
    """

    def __init__(self, lengths: Sequence[int], batch_size: int, seed: int = 0, group: int = 50,
                 weights: Sequence[float] | None = None) -> None:
        self.weights = torch.as_tensor(weights, dtype=torch.double) if weights is not None else None
        self.lengths = list(lengths)
        self.batch_size = batch_size
        self.seed = seed
        self.group = group
        self.epoch = 0
        self._iterations = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch, self._iterations = epoch, 0

    def __len__(self) -> int:
        return len(self.lengths)

    def __iter__(self) -> Iterator[int]:
        gen = torch.Generator().manual_seed(self.seed * 100_003 + self.epoch * 1_009 + self._iterations)
        self._iterations += 1
        n = len(self.lengths)
        if self.weights is None:
            order = torch.randperm(n, generator=gen).tolist()
        else:
            order = torch.multinomial(self.weights, n, replacement=True, generator=gen).tolist()
        mega = self.batch_size * self.group
        batches: list[list[int]] = []
        for s in range(0, len(order), mega):
            chunk = sorted(order[s:s + mega], key=lambda i: -self.lengths[i])
            batches.extend(chunk[k:k + self.batch_size] for k in range(0, len(chunk), self.batch_size))
        longest = max(range(len(batches)), key=lambda b: self.lengths[batches[b][0]])
        batches[0], batches[longest] = batches[longest], batches[0]
        rest = torch.randperm(len(batches) - 1, generator=gen).add(1).tolist()
        return iter([i for b in [batches[0]] + [batches[r] for r in rest] for i in b])


class TokenBudgetBatchSampler(Sampler[list[int]]):
    """Batches of up to `max_tokens` padded tokens (rows x the longest row) instead of a fixed number of rows.

    Each epoch: a seeded shuffle, cut into mega-batches of about `group` batches' worth of rows, each sorted
    by length and packed greedily (a row that would push rows x longest over the budget starts a new batch),
    then the batches are shuffled, the longest-padded one first so that out-of-memory shows at once. Short
    rows travel in large batches, long rows in small ones, so every step costs about the same. A row longer
    than the budget gets a batch of its own. `max_rows` caps the rows per batch (0 = no cap).
    `len()` is the number of batches of the epoch that was set last (Lightning calls `set_epoch` first).
    """

    def __init__(self, lengths: Sequence[int], max_tokens: int, seed: int = 0, group: int = 50,
                 max_rows: int = 0) -> None:
        if max_tokens < 1:
            raise ValueError(f"max_tokens={max_tokens}: expected >= 1")
        self.lengths = list(lengths)
        self.max_tokens, self.seed, self.group, self.max_rows = max_tokens, seed, group, max_rows
        self.epoch = 0
        self.sampler = _EpochOf(self)  # Lightning calls set_epoch on `batch_sampler.sampler`, not on the batch sampler

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def batches(self) -> list[list[int]]:
        """This epoch's batches, in the order they are served."""
        gen = torch.Generator().manual_seed(self.seed * 100_003 + self.epoch * 1_009)
        order = torch.randperm(len(self.lengths), generator=gen).tolist()
        mean = sum(self.lengths) / max(1, len(self.lengths))
        mega = max(1, int(self.group * self.max_tokens / max(1.0, mean)))
        batches: list[list[int]] = []
        for s in range(0, len(order), mega):
            batch: list[int] = []
            for i in sorted(order[s:s + mega], key=lambda i: -self.lengths[i]):
                width = max([self.lengths[i]] + [self.lengths[j] for j in batch[:1]])
                full = self.max_rows and len(batch) >= self.max_rows
                if batch and ((len(batch) + 1) * width > self.max_tokens or full):
                    batches.append(batch)
                    batch = []
                batch.append(i)
            if batch:
                batches.append(batch)
        if not batches:
            return []
        cost = [len(b) * self.lengths[b[0]] for b in batches]
        top = max(range(len(batches)), key=cost.__getitem__)
        batches[0], batches[top] = batches[top], batches[0]
        rest = torch.randperm(len(batches) - 1, generator=gen).add(1).tolist()
        return [batches[0]] + [batches[r] for r in rest]

    def __len__(self) -> int:
        return len(self.batches())

    def __iter__(self) -> Iterator[list[int]]:
        return iter(self.batches())


class _EpochOf:
    """Forwards `set_epoch` to a batch sampler (where Lightning looks for it: `batch_sampler.sampler`)."""

    def __init__(self, owner: TokenBudgetBatchSampler) -> None:
        self.owner = owner

    def set_epoch(self, epoch: int) -> None:
        self.owner.set_epoch(epoch)


def token_budget(lengths: Sequence[int], batch_size: int) -> int:
    """`train.batch_tokens=auto`: `batch_size` x the mean length, rounded to tens, so that a token-budget batch
    holds as many tokens on average as a fixed batch of `batch_size` rows (reports/batching.md)."""
    mean = sum(lengths) / max(1, len(lengths))
    return max(10, int(round(batch_size * mean, -1)))


def resampling_weights(labels: Sequence[int], power: float) -> list[float]:
    """Per example 1 / count(its label)^power: 0.5 = square-root resampling, 1 = class-balanced (every class
    drawn equally often). Examples without a label (-100) keep weight 1 / (the largest count)^power."""
    from collections import Counter

    counts = Counter(x for x in labels if x >= 0)
    top = max(counts.values(), default=1)
    return [1.0 / counts.get(x, top) ** power for x in labels]


def sorted_batches(lengths: Sequence[int], batch_size: int) -> list[list[int]]:
    """Batches of indices sorted by length (for inference: least padding, order restored by the caller)."""
    order = sorted(range(len(lengths)), key=lambda i: -lengths[i])
    return [order[k:k + batch_size] for k in range(0, len(order), batch_size)]
