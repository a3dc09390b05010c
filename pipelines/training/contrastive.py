"""Contrastive fine-tuning of a sentence encoder on a few labelled examples (the SetFit recipe, Tunstall et al.
2022), on the Lightning harness. SetFit itself (Apache-2.0) pulls sentence-transformers and pins its own
transformers range; the recipe is a loss and a sampler, so it is written here.

Each batch holds `per_class` examples of each of batch_size / per_class classes, so every sentence has a
positive. The loss is supervised contrastive (Khosla et al. 2020) on unit mean-pooled embeddings: for an
anchor i with positives P(i) and temperature t,

    l_i = -1/|P(i)| * sum_{p in P(i)} log( exp(s_ip / t) / sum_{a != i} exp(s_ia / t) )

It pulls same-label sentences together and pushes the batch's other labels away, which is what a nearest-mean or
logistic head on the embeddings then needs. SetFit's pair loss (cosine to 1 or 0 on sampled pairs) asks the
same; in-batch negatives give B - per_class negatives per anchor for one forward pass each.

    encoder = fit_contrastive(texts, labels, encoder="default", epochs=4, seed=1)
    vectors = encoder.sentences(new_texts)        # then prototypes / a logistic head
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

import lightning.pytorch as pl
import numpy as np
import torch
from torch.utils.data import DataLoader, Sampler

from pipelines.models.pooling import FrozenEncoder, masked_mean


def supcon_loss(z: torch.Tensor, labels: torch.Tensor, temperature: float = 0.05) -> torch.Tensor:
    """(B, H) unit embeddings, (B,) labels -> the mean supervised contrastive loss over anchors with a positive."""
    sims = z @ z.T / temperature  # (B, B)
    self_mask = torch.eye(len(z), dtype=torch.bool, device=z.device)
    sims = sims.masked_fill(self_mask, float("-inf"))
    log_prob = sims - sims.logsumexp(dim=1, keepdim=True)  # (B, B), -inf on the diagonal
    positive = (labels[:, None] == labels[None, :]) & ~self_mask  # (B, B)
    has_pos = positive.any(1)
    pos_log_prob = log_prob.masked_fill(~positive, 0.0).sum(1) / positive.sum(1).clamp(min=1)
    return -pos_log_prob[has_pos].mean()


class ClassBatches(Sampler[list[int]]):
    """Batches of `per_class` examples from each of `classes_per_batch` labels; an epoch visits every example
    about once as an anchor. Reshuffled each epoch from `seed`."""

    def __init__(self, labels: Sequence[int], batch_size: int, per_class: int = 2, seed: int = 0) -> None:
        self.labels = np.asarray(labels)
        self.per_class, self.classes_per_batch = per_class, max(2, batch_size // per_class)
        self.rng = np.random.default_rng(seed)
        self.n_batches = max(1, len(self.labels) // (self.per_class * self.classes_per_batch))

    def __len__(self) -> int:
        return self.n_batches

    def __iter__(self) -> Iterator[list[int]]:
        classes = np.unique(self.labels)
        by_class = {c: np.flatnonzero(self.labels == c) for c in classes}
        for _ in range(self.n_batches):
            picked = self.rng.choice(classes, size=min(self.classes_per_batch, len(classes)), replace=False)
            batch = [int(i) for c in picked
                     for i in self.rng.choice(by_class[c], size=min(self.per_class, len(by_class[c])), replace=False)]
            yield batch


class ContrastiveModule(pl.LightningModule):
    """The encoder, mean pooling, the supervised contrastive loss; AdamW with linear warm-up and decay."""

    def __init__(self, encoder: torch.nn.Module, lr: float = 2e-5, temperature: float = 0.05,
                 warmup_ratio: float = 0.1) -> None:
        super().__init__()
        self.encoder = encoder.train()  # from_pretrained returns eval mode: dropout would stay off
        self.lr, self.temperature, self.warmup_ratio = lr, temperature, warmup_ratio

    def training_step(self, batch: dict[str, torch.Tensor], batch_idx: int) -> torch.Tensor:
        h = self.encoder(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).last_hidden_state
        z = torch.nn.functional.normalize(masked_mean(h, batch["attention_mask"]), dim=-1)  # (B, H)
        loss = supcon_loss(z, batch["labels"], self.temperature)
        self.log("train/loss", loss, prog_bar=True, batch_size=len(z))
        return loss

    def configure_optimizers(self) -> dict[str, Any]:
        from transformers import get_linear_schedule_with_warmup

        optimizer = torch.optim.AdamW(self.parameters(), lr=self.lr, weight_decay=0.01)
        total = max(1, int(self.trainer.estimated_stepping_batches))
        scheduler = get_linear_schedule_with_warmup(optimizer, int(self.warmup_ratio * total), total)
        return {"optimizer": optimizer, "lr_scheduler": {"scheduler": scheduler, "interval": "step"}}


def fit_contrastive(texts: Sequence[str], labels: Sequence[Any], encoder: str = "default", epochs: int = 4,
                    batch_size: int = 32, lr: float = 2e-5, temperature: float = 0.05, seed: int = 0,
                    max_length: int = 64, progress_bar: bool = True) -> FrozenEncoder:
    """The encoder named `encoder` fine-tuned contrastively on (texts, labels); returned as a FrozenEncoder (eval
    mode) whose `sentences()` embeds with the tuned weights."""
    pl.seed_everything(seed, workers=True, verbose=False)
    frozen = FrozenEncoder(encoder)
    ids = {lab: i for i, lab in enumerate(sorted(set(labels)))}
    y = [ids[lab] for lab in labels]
    tok = frozen.tokenizer

    def collate(idx: list[int]) -> dict[str, torch.Tensor]:
        enc = tok([texts[i] for i in idx], truncation=True, max_length=max_length, padding=True, return_tensors="pt")
        return {"input_ids": enc["input_ids"], "attention_mask": enc["attention_mask"],
                "labels": torch.tensor([y[i] for i in idx])}

    loader = DataLoader(list(range(len(texts))), batch_sampler=ClassBatches(y, batch_size, seed=seed),
                        collate_fn=collate)
    module = ContrastiveModule(frozen.model, lr=lr, temperature=temperature)
    trainer = pl.Trainer(max_epochs=epochs, accelerator="auto", devices=1, logger=False, enable_checkpointing=False,
                         enable_progress_bar=progress_bar, enable_model_summary=False, gradient_clip_val=1.0)
    trainer.fit(module, train_dataloaders=loader)
    frozen.model = module.encoder.cpu().eval()
    return frozen
