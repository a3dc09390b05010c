"""Training that fits in memory: gradient accumulation, activation checkpointing, long inputs in micro-batches,
token-budget batches and the separate head learning rate."""

import lightning.pytorch as pl
import pytest
import torch
from datasets import Dataset
from torch import nn
from transformers import BertModel

from pipelines.config import ConfigError, DataConfig, load_config
from pipelines.data.batching import TokenBudgetBatchSampler
from pipelines.models import encoders
from pipelines.training.datamodule import TaskDataModule
from pipelines.training.long_inputs import document_step, encode_windows, windows
from pipelines.training.module import TaskModule

TEXTS = ["book a table for two", "what is the weather in oslo", "play some jazz music now", "wake me up at six",
         "book a cab to the airport", "will it rain in paris", "play the next song please", "set an alarm for noon"]


def no_dropout(module: nn.Module) -> nn.Module:
    for m in module.modules():
        if isinstance(m, nn.Dropout):
            m.p = 0.0
    return module


class Grads(pl.Callback):
    """The accumulated gradients at the first optimizer step (before clipping and the step)."""

    def __init__(self) -> None:
        self.grads: dict[str, torch.Tensor] = {}

    def on_before_optimizer_step(self, trainer, module, optimizer) -> None:
        if not self.grads:
            self.grads = {n: p.grad.clone() for n, p in module.named_parameters() if p.grad is not None}


def first_step_grads(tiny_tok, batch_size: int, accumulate: int) -> dict[str, torch.Tensor]:
    """Gradients of the first optimizer step of a tiny intent model on 8 examples (shuffled, no bucketing)."""
    pl.seed_everything(0, verbose=False)
    labels = ["alarm", "book", "music", "weather"]
    gold = ["book", "weather", "music", "alarm", "book", "weather", "music", "alarm"]
    ds = Dataset.from_dict({"text": TEXTS, "label": gold})
    dm = TaskDataModule("intent", DataConfig(), tiny_tok, labels=labels, batch_size=batch_size, bucketing=False,
                        splits={"train": ds, "validation": ds})
    module = TaskModule("intent", labels, {"encoder": "tiny", "dropout": 0.0}, tokenizer=tiny_tok, lr=1e-3)
    no_dropout(module)
    grads = Grads()
    trainer = pl.Trainer(max_steps=1, accumulate_grad_batches=accumulate, accelerator="cpu", logger=False,
                         enable_checkpointing=False, enable_progress_bar=False, enable_model_summary=False,
                         limit_val_batches=0, callbacks=[grads])
    trainer.fit(module, datamodule=dm)
    return grads.grads


def test_accumulated_micro_batches_give_the_large_batch_gradient(tiny_tok):
    """k micro-batches of b, one zero_grad per k (Lightning's accumulate_grad_batches divides each loss by k)
    = one batch of k*b, for a loss that is a mean over examples and micro-batches of equal size."""
    large = first_step_grads(tiny_tok, batch_size=8, accumulate=1)
    micro = first_step_grads(tiny_tok, batch_size=2, accumulate=4)
    assert large.keys() == micro.keys() and len(large) > 10
    for name in large:
        torch.testing.assert_close(micro[name], large[name], atol=1e-6, rtol=1e-4, msg=name)
    unscaled = first_step_grads(tiny_tok, batch_size=2, accumulate=1)  # one micro-batch alone differs
    assert not torch.allclose(unscaled["model.classifier.weight"], large["model.classifier.weight"], atol=1e-4)


def test_token_mean_losses_accumulate_by_token_share():
    """For a loss averaged over tokens (NER, slots), micro-batches with different token counts must be weighted
    by their share of the tokens, n_i / N; dividing each by k (what accumulate_grad_batches does) weights the
    tokens of a short micro-batch more. Equal-token micro-batches (token-budget batches) make the two agree."""
    torch.manual_seed(0)
    layer = nn.Linear(4, 3)
    x, y = torch.randn(10, 4), torch.randint(0, 3, (10,))
    parts = [slice(0, 2), slice(2, 10)]  # 2 tokens, then 8

    def grad(weights) -> torch.Tensor:
        layer.zero_grad()
        for part, w in zip(parts, weights, strict=True):
            (w * nn.functional.cross_entropy(layer(x[part]), y[part])).backward()
        return layer.weight.grad.clone()

    layer.zero_grad()
    nn.functional.cross_entropy(layer(x), y).backward()
    full = layer.weight.grad.clone()
    torch.testing.assert_close(grad([2 / 10, 8 / 10]), full)
    assert not torch.allclose(grad([1 / 2, 1 / 2]), full, atol=1e-3)


def tiny_encoder(dropout: float) -> BertModel:
    config = encoders.tiny_config(60)
    config.hidden_dropout_prob = config.attention_probs_dropout_prob = dropout
    torch.manual_seed(0)
    return BertModel(config, add_pooling_layer=False)


def test_windows_cover_the_document():
    ids, mask = windows(list(range(10, 20)), size=6, cls_id=1, sep_id=2)  # 10 ids, 4 per window
    assert ids.tolist() == [[1, 10, 11, 12, 13, 2], [1, 14, 15, 16, 17, 2], [1, 18, 19, 2, 0, 0]]
    assert mask[-1].tolist() == [1, 1, 1, 1, 0, 0]
    overlap, _ = windows(list(range(10, 20)), size=6, cls_id=1, sep_id=2, stride=3)
    assert [r[1] for r in overlap.tolist()] == [10, 13, 16]  # the last window ends at the last id
    assert overlap[-1].tolist() == [1, 16, 17, 18, 19, 2]
    with pytest.raises(ValueError):
        windows([1, 2], size=2, cls_id=1, sep_id=2)


@pytest.mark.parametrize("micro", [1, 2, 5])
def test_document_step_gives_the_full_gradient(micro):
    """The gradient cache: windows in micro-batches, one document-level loss, the same gradient as encoding
    every window in one graph."""
    encoder, head = tiny_encoder(0.0), nn.Linear(32, 3)
    ids, mask = windows(list(range(5, 45)), size=8, cls_id=2, sep_id=3)  # 7 windows
    label = torch.tensor([1])
    nn.functional.cross_entropy(head(encode_windows(encoder, ids, mask).mean(0, keepdim=True)), label).backward()
    full = {n: p.grad.clone() for n, p in [*encoder.named_parameters(), *head.named_parameters()]}
    encoder.zero_grad(), head.zero_grad()
    document_step(encoder, head, ids, mask, label, micro_batch=micro)
    for n, p in [*encoder.named_parameters(), *head.named_parameters()]:
        torch.testing.assert_close(p.grad, full[n], atol=1e-6, rtol=1e-4, msg=n)


def test_document_step_replays_dropout():
    """With dropout on, the re-encoded micro-batches reuse the masks of the first pass (the saved random
    state), so the gradient is that of one graph built micro-batch by micro-batch from the same state."""
    encoder, head = tiny_encoder(0.3).train(), nn.Linear(32, 3)
    ids, mask = windows(list(range(5, 45)), size=8, cls_id=2, sep_id=3)
    label = torch.tensor([2])
    torch.manual_seed(7)
    vectors = torch.cat([encode_windows(encoder, ids[s:s + 2], mask[s:s + 2]) for s in range(0, len(ids), 2)])
    nn.functional.cross_entropy(head(vectors.mean(0, keepdim=True)), label).backward()
    reference = {n: p.grad.clone() for n, p in encoder.named_parameters()}
    encoder.zero_grad()
    torch.manual_seed(7)
    document_step(encoder, head, ids, mask, label, micro_batch=2)
    for n, p in encoder.named_parameters():
        torch.testing.assert_close(p.grad, reference[n], atol=1e-6, rtol=1e-4, msg=n)


def test_checkpointing_keeps_the_gradient(tiny_tok):
    torch.manual_seed(0)
    plain = TaskModule("intent", ["a", "b"], {"encoder": "tiny"}, tokenizer=tiny_tok)
    checked = TaskModule("intent", ["a", "b"], {"encoder": "tiny"}, tokenizer=tiny_tok, gradient_checkpointing=True)
    checked.load_state_dict(plain.state_dict())
    assert encoders.pretrained_part(checked.model).is_activation_checkpointing
    batch = tiny_tok(TEXTS[:4], padding=True, return_tensors="pt")
    for m in (plain, checked):
        no_dropout(m).train()
        m.model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits.sum().backward()
    for (n, a), (_, b) in zip(plain.named_parameters(), checked.named_parameters(), strict=True):
        torch.testing.assert_close(b.grad, a.grad, atol=1e-6, rtol=1e-4, msg=n)


def test_checkpointing_needs_a_pretrained_encoder(tiny_tok):
    with pytest.raises(ConfigError, match="gradient_checkpointing"):
        TaskModule("intent", ["a", "b"], tokenizer=tiny_tok, model=nn.Linear(4, 2), gradient_checkpointing=True)


def test_head_lr_groups_cover_every_parameter_once(tiny_tok):
    module = TaskModule("joint", ["intent:a", "intent:b", "O", "B-x", "I-x"], {"encoder": "tiny", "head": "crf"},
                        tokenizer=tiny_tok)
    groups = module.parameter_groups(1e-4, 0.01, 1e-3)
    ids = [id(p) for g in groups for p in g["params"]]
    assert len(ids) == len(set(ids)) == len(list(module.parameters()))
    rate = {id(p): g["lr"] for g in groups for p in g["params"]}
    decay = {id(p): g["weight_decay"] for g in groups for p in g["params"]}
    named = dict(module.named_parameters())
    assert rate[id(named["model.encoder.embeddings.word_embeddings.weight"])] == 1e-4
    assert rate[id(named["model.slot_head.weight"])] == rate[id(named["model.intent_head.weight"])] == 1e-3
    assert decay[id(named["model.slot_head.bias"])] == 0.0 and decay[id(named["model.slot_head.weight"])] == 0.01
    assert all(rate[id(p)] == 1e-3 for n, p in named.items() if ".crf." in n)


def test_layer_decay_rates_fall_layer_by_layer(tiny_tok):
    module = TaskModule("intent", ["a", "b"], {"encoder": "tiny"}, tokenizer=tiny_tok)
    named = dict(module.named_parameters())
    rate = {id(p): g["lr"] for g in module.parameter_groups(1e-4, 0.01, 1e-3, layer_decay=0.5) for p in g["params"]}
    depth = module.model.encoder.config.num_hidden_layers
    assert depth >= 2
    for i in range(depth):
        weights = [p for n, p in named.items() if f".layer.{i}." in n]
        assert weights and all(rate[id(p)] == pytest.approx(1e-4 * 0.5 ** (depth - 1 - i)) for p in weights)
    assert rate[id(named["model.encoder.embeddings.word_embeddings.weight"])] == pytest.approx(1e-4 * 0.5 ** depth)
    assert all(rate[id(p)] == 1e-3 for n, p in named.items() if not n.startswith("model.encoder."))
    plain = module.parameter_groups(1e-4, 0.01, 1e-3)  # decay 1: the same groups as without it
    assert sorted(g["lr"] for g in plain) == sorted(g["lr"] for g in module.parameter_groups(1e-4, 0.01, 1e-3, 1.0))
    assert {g["lr"] for g in plain} == {1e-4, 1e-3}
    from pipelines.config import load_config

    with pytest.raises(ConfigError, match="layer_decay"):
        load_config(None, ["train.layer_decay=0"], task="intent")


def test_token_budget_batches():
    lengths = [int(x) for x in torch.randint(3, 60, (500,), generator=torch.Generator().manual_seed(0))]
    sampler = TokenBudgetBatchSampler(lengths, max_tokens=400, seed=1)
    batches = list(sampler)
    assert sorted(i for b in batches for i in b) == list(range(500))
    cost = [len(b) * max(lengths[i] for i in b) for b in batches]
    assert max(cost) <= 400 and cost[0] == max(cost)  # the most expensive batch first
    assert max(len(b) for b in batches) > 3 * min(len(b) for b in batches)  # short rows travel in big batches
    assert list(sampler) == batches and len(sampler) == len(batches)
    sampler.sampler.set_epoch(1)  # where Lightning calls it
    assert list(sampler) != batches
    alone = list(TokenBudgetBatchSampler([10, 500, 20], max_tokens=100))
    assert [1] in alone  # longer than the budget: a batch of its own
    capped = TokenBudgetBatchSampler([5] * 50, max_tokens=1000, max_rows=8)
    assert max(len(b) for b in capped) == 8


def test_datamodule_serves_token_budget_batches(tiny_tok):
    ds = Dataset.from_dict({"text": TEXTS * 4, "label": ["a", "b"] * 16})
    dm = TaskDataModule("intent", DataConfig(), tiny_tok, batch_size=4, batch_tokens=64,
                        splits={"train": ds, "validation": ds})
    dm.setup("fit")
    shapes = [tuple(b["input_ids"].shape) for b in dm.train_dataloader()]
    assert sum(s[0] for s in shapes) == 32 and all(s[0] * s[1] <= 64 for s in shapes)
    with pytest.raises(ConfigError, match="batch_tokens"):
        TaskDataModule("intent", DataConfig(), tiny_tok, batch_tokens=64, sampling="sqrt")


def test_auto_token_budget_is_batch_size_times_the_mean_length(tiny_tok):
    ds = Dataset.from_dict({"text": TEXTS * 4, "label": ["a", "b"] * 16})
    dm = TaskDataModule("intent", DataConfig(), tiny_tok, batch_size=4, batch_tokens="auto",
                        splits={"train": ds, "validation": ds})
    dm.setup("fit")
    lengths = dm.features["train"].lengths
    assert dm.batch_tokens == round(4 * sum(lengths) / len(lengths), -1) > 0
    shapes = [tuple(b["input_ids"].shape) for b in dm.train_dataloader()]
    assert sum(s[0] for s in shapes) == 32 and all(s[0] * s[1] <= dm.batch_tokens for s in shapes)
    assert load_config(None, ["train.batch_tokens=auto"], task="intent").train.batch_tokens == "auto"
    for bad in ("lots", "-5"):
        with pytest.raises(ConfigError, match="batch_tokens"):
            load_config(None, [f"train.batch_tokens={bad}"], task="intent")


def test_rows_per_batch_weighs_every_example_the_same(tiny_tok):
    """With token-budget batches, a per-example loss is scaled by rows / mean rows: a batch's loss becomes its
    sum over examples divided by a constant, so an example counts the same in a batch of 2 or of 6."""
    torch.manual_seed(0)
    module = no_dropout(TaskModule("intent", ["a", "b"], {"encoder": "tiny"}, tokenizer=tiny_tok, rows_per_batch=4.0))
    module.log = lambda *a, **k: None
    enc = tiny_tok(TEXTS[:6], padding=True, return_tensors="pt")
    batch = {"input_ids": enc["input_ids"], "attention_mask": enc["attention_mask"],
             "labels": torch.tensor([0, 1, 0, 1, 1, 0])}

    def part(rows):
        return {k: v[rows] for k, v in batch.items()}

    per_example = [float(module.model_step(part(slice(i, i + 1)))[0]) for i in range(6)]
    for rows in (slice(0, 2), slice(0, 6)):
        expected = sum(per_example[rows]) / 4.0
        assert abs(float(module.training_step(part(rows), 0)) - expected) < 1e-5
