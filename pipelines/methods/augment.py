"""Transfer-set augmentation for distillation (Tang et al. 2019, "Distilling Task-Specific Knowledge from BERT
into Simple Neural Networks", section 3.2): new inputs the teacher labels, so the student sees the teacher's
function on more of the input space than the training set covers.

Per word, one of (in this order of chance):
- masking: with `p_mask` the word becomes `mask_token` (the teacher reads its [MASK]; the student an
  unknown word): the student learns what each word contributes;
- swapping: with `p_swap` the word becomes another word seen with the same label (the same intent, or the
  same tag for token tasks; Tang et al. swap words of the same part of speech, which we have no tagger for);
then, with `p_ngram`, the example is cut to a random n-gram (n in 1..`max_ngram`).
An augmented copy equal to its original is drawn again (up to a few tries), so every copy is new input.
The labels of an augmented example are whatever the teacher says; the ones returned here are only the
source example's, for the swap vocabulary.
"""

from __future__ import annotations

import random
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass

MASK = "[MASK]"


@dataclass(frozen=True)
class Augmenter:
    """Draws augmented copies of word sequences.

    Attributes:
        p_mask: per-word chance of masking.
        p_swap: per-word chance of a same-label swap.
        p_ngram: per-example chance of cutting to an n-gram.
        max_ngram: longest n-gram kept.
        mask_token: what a masked word becomes.
    """

    p_mask: float = 0.1
    p_swap: float = 0.1
    p_ngram: float = 0.25
    max_ngram: int = 5
    mask_token: str = MASK

    def __post_init__(self) -> None:
        for name in ("p_mask", "p_swap", "p_ngram"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ValueError(f"{name}={getattr(self, name)}: expected in [0, 1]")
        if self.p_mask + self.p_swap > 1.0:
            raise ValueError(f"p_mask + p_swap = {self.p_mask + self.p_swap}: expected <= 1")
        if self.max_ngram < 1:
            raise ValueError(f"max_ngram={self.max_ngram}: expected >= 1")

    def copies(self, words: Sequence[Sequence[str]], labels: Sequence[Sequence[str]], n: int,
               seed: int = 0) -> list[tuple[int, list[str]]]:
        """`n` augmented copies of every example: (index of the source example, its new words).

        Args:
            words: per example, its words.
            labels: per example, one label per word (a token task's tags, or the example's class repeated).
            n: copies per example.
            seed: the draw's seed (the same seed, the same copies).
        """
        rng = random.Random(seed)
        pool: dict[str, list[str]] = defaultdict(list)  # label -> words seen with it (with repeats: by frequency)
        for ws, ls in zip(words, labels, strict=True):
            if len(ws) != len(ls):
                raise ValueError(f"{len(ws)} words but {len(ls)} labels in {list(ws)[:8]}")
            for w, lab in zip(ws, ls, strict=True):
                pool[lab].append(w)
        out = []
        for i, (ws, ls) in enumerate(zip(words, labels, strict=True)):
            for _ in range(n):
                new = list(ws)
                for _try in range(5):
                    new = self._one(list(ws), list(ls), pool, rng)
                    if new != list(ws):
                        break
                out.append((i, new))
        return out

    def _one(self, words: list[str], labels: list[str], pool: dict[str, list[str]], rng: random.Random) -> list[str]:
        new = []
        for w, lab in zip(words, labels, strict=True):
            r = rng.random()
            if r < self.p_mask:
                new.append(self.mask_token)
            elif r < self.p_mask + self.p_swap and pool[lab]:
                new.append(rng.choice(pool[lab]))
            else:
                new.append(w)
        if len(new) > 1 and rng.random() < self.p_ngram:
            size = rng.randint(1, min(self.max_ngram, len(new)))
            start = rng.randint(0, len(new) - size)
            new = new[start:start + size]
        return new
