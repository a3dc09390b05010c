import lightning.pytorch as pl
import pytest
import torch
from datasets import Dataset
from helpers import batch_loss, make_task
from pipelines.tasks import joint

from pipelines.config import DataConfig
from pipelines.data.batching import Collator
from pipelines.data.tagging import encode_with_intents
from pipelines.models.encoders import tiny_tokenizer
from pipelines.models.outputs import TaskOutput
from pipelines.records import JointRecord
from pipelines.training.datamodule import TaskDataModule
from pipelines.training.module import TaskModule

LABELS = ["intent:book", "intent:weather", "O", "B-city", "I-city", "B-n", "I-n"]
ROWS = {"tokens": [["book", "for", "two"], ["weather", "in", "new", "york"], ["table", "for", "four", "please"],
                   ["rain", "in", "oslo"], ["book", "a", "table"], ["is", "it", "cold", "in", "paris"],
                   ["table", "for", "2"], ["weather", "today"]],
        "tags": [["O", "O", "B-n"], ["O", "O", "B-city", "I-city"], ["O", "O", "B-n", "O"], ["O", "O", "B-city"],
                 ["O", "O", "O"], ["O", "O", "O", "O", "B-city"], ["O", "O", "B-n"], ["O", "O"]],
        "label": ["book", "weather", "book", "weather", "book", "weather", "book", "weather"]}


def test_encode_separates_intent_and_slot_ids(tiny_tok):
    ds = Dataset.from_dict({k: v[:2] for k, v in ROWS.items()})
    rows = encode_with_intents(ds, tiny_tok, {x: i for i, x in enumerate(LABELS)}, DataConfig()).rows
    assert [r["intent_labels"] for r in rows] == [0, 1]
    assert [lab for lab in rows[1]["labels"] if lab != -100] == [0, 0, 1, 2]  # O O B-city I-city as slot ids


@pytest.mark.parametrize("crf", [False, True])
def test_padding_changes_neither_loss_nor_predictions(tiny_tok, crf):
    torch.manual_seed(0)
    task = make_task("joint", encoder="tiny", dropout=0.0, head="crf" if crf else "softmax")
    model = task.build_model(LABELS, tiny_tok).eval()
    ds = Dataset.from_dict({k: v[:2] for k, v in ROWS.items()})
    rows = encode_with_intents(ds, tiny_tok, {x: i for i, x in enumerate(LABELS)}, DataConfig()).rows
    keys = ("input_ids", "attention_mask", "labels", "word_starts", "intent_labels", "core_start")
    batch = {k: Collator(0)([rows[0]])[k] for k in keys}
    alone = model(batch["input_ids"], batch["attention_mask"])
    padded = dict(batch)  # the same sentence with 5 padding positions (and 2 padded word slots)
    padded["input_ids"] = torch.cat([batch["input_ids"], torch.zeros(1, 5, dtype=torch.long)], 1)
    padded["attention_mask"] = torch.cat([batch["attention_mask"], torch.zeros(1, 5, dtype=torch.long)], 1)
    padded["labels"] = torch.cat([batch["labels"], torch.full((1, 5), -100)], 1)
    padded["word_starts"] = torch.cat([batch["word_starts"], torch.full((1, 2), -1)], 1)
    out = model(padded["input_ids"], padded["attention_mask"])
    n = batch["input_ids"].shape[1]
    assert torch.allclose(alone.slot_logits, out.slot_logits[:, :n], atol=1e-5)
    assert torch.allclose(alone.intent_logits, out.intent_logits, atol=1e-5)
    assert torch.allclose(batch_loss(task, model, batch), batch_loss(task, model, padded), atol=1e-5)


def test_score_by_hand():
    id2label = dict(enumerate(LABELS))
    def sentence(i, pred, gold, intent_probs, intent_gold):
        return JointRecord(i, 0, pred, torch.zeros(len(pred), len(LABELS)), gold, intent_probs, intent_gold)

    records = [
        sentence(0, [0, 0, 3], [0, 0, 3], [0.9, 0.1], 0),  # intent right, slots right
        sentence(1, [0, 0, 1, 2], [0, 0, 1, 2], [0.8, 0.2], 1),  # intent wrong, slots right
        sentence(2, [0, 0, 0], [0, 0, 3], [0.1, 0.9], 1),  # intent right, a slot missed
    ]
    s = joint.score(records, id2label)
    assert s["intent_acc"] == pytest.approx(2 / 3) and s["sentence_acc"] == pytest.approx(1 / 3)
    assert s["slot_f1"] == pytest.approx(2 * 2 / (2 + 3))  # 2 of 2 predicted right, 3 gold


def test_overfit_eight_examples():
    pl.seed_everything(0, verbose=False)
    ds = Dataset.from_dict(ROWS)
    tok = tiny_tokenizer()
    dm = TaskDataModule("joint", DataConfig(max_length=32), tok, batch_size=8, splits={"train": ds, "validation": ds})
    dm.setup("fit")
    module = TaskModule("joint", dm.labels, {"encoder": "tiny", "dropout": 0.0}, lr=3e-3, warmup_ratio=0.0,
                        tokenizer=tok)
    trainer = pl.Trainer(max_epochs=80, accelerator="cpu", logger=False, enable_checkpointing=False,
                         enable_progress_bar=False, enable_model_summary=False, check_val_every_n_epoch=80)
    trainer.fit(module, datamodule=dm)
    assert module.last_scores["sentence_acc"] == 1.0


def test_consistent_decoding_forbids_slots_never_seen_with_the_intent(tiny_tok):
    task = make_task("joint", encoder="tiny", dropout=0.0)
    model = task.build_model(LABELS, tiny_tok).eval()
    task.prepare_model(model, {"train": Dataset.from_dict(ROWS)})
    # book: O and the n slot; weather: O and the city slot
    assert model.slot_mask.tolist() == [[True, False, False, True, True], [True, True, True, False, False]]
    slots = torch.full((1, 3, 5), -5.0)
    slots[0, 1, 1] = 2.0  # word 1: B-city is the best slot, but 'book' never had a city
    out = TaskOutput(slot_logits=slots, intent_logits=torch.tensor([[3.0, -5.0]]))  # intent: book
    batch = {"word_starts": torch.tensor([[1]]), "example_id": torch.tensor([0]), "core_start": torch.tensor([0])}
    free = task.gather(batch, out, task.decoder(model, "argmax"))[0].pred
    kept = task.gather(batch, out, task.decoder(model))[0].pred  # the default: consistent
    assert model.tags[free[0]] == "B-city" and model.tags[kept[0]] in {"O", "B-n"}


def test_saved_joint_model_says_what_it_is(tmp_path, tiny_tok):
    from transformers import AutoModelForTokenClassification

    task = make_task("joint", encoder="tiny", dropout=0.0, head="crf")
    model = task.build_model(LABELS, tiny_tok).eval()
    task.prepare_model(model, {"train": Dataset.from_dict(ROWS)})
    model.save_pretrained(tmp_path)
    loaded = task.load_model(tmp_path)
    for name, tensor in model.state_dict().items():
        assert torch.equal(loaded.state_dict()[name], tensor), name  # slot mask and CRF included
    with pytest.raises(ValueError, match="nlp_pipelines"):  # not a plain BERT that would get a random head
        AutoModelForTokenClassification.from_pretrained(tmp_path)
