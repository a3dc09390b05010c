"""It can learn (overfit 8 examples), it resumes, and our module + data module work in a user's Trainer."""

import json

import lightning.pytorch as pl
import pytest
from datasets import Dataset

from pipelines.config import DataConfig, load_config
from pipelines.data.words import WordTokenizer
from pipelines.models.encoders import tiny_tokenizer
from pipelines.training.datamodule import TaskDataModule
from pipelines.training.module import TaskModule
from pipelines.training.train import run

NER8 = {"tokens": [["anna", "met", "tom", "in", "oslo"], ["the", "city", "of", "paris"],
                   ["john", "smith", "said", "no"], ["london", "is", "big"], ["we", "saw", "york"],
                   ["she", "is", "from", "kyoto"], ["paris", "and", "london"], ["a", "b", "c"]],
        "tags": [["B-PER", "O", "B-PER", "O", "B-LOC"], ["O", "O", "O", "B-LOC"], ["B-PER", "I-PER", "O", "O"],
                 ["B-LOC", "O", "O"], ["O", "O", "B-LOC"], ["O", "O", "O", "B-LOC"], ["B-LOC", "O", "B-LOC"],
                 ["O", "O", "O"]]}
INTENT8 = {"text": ["book a table", "table for two", "weather today", "is it cold", "play jazz", "play rock",
                    "set an alarm", "wake me at 7"],
           "label": ["book", "book", "weather", "weather", "music", "music", "alarm", "alarm"]}


@pytest.mark.parametrize("task, rows, metric, encoder, head", [
    ("ner", NER8, "f1", "tiny", "softmax"), ("ner", NER8, "f1", "tiny", "crf"), ("ner", NER8, "f1", "bilstm", "crf"),
    ("intent", INTENT8, "accuracy", "tiny", "softmax")])
def test_overfit_eight_examples_in_a_plain_trainer(task, rows, metric, encoder, head):
    pl.seed_everything(0, verbose=False)
    ds = Dataset.from_dict(rows)
    tok = WordTokenizer.build(rows["tokens"]) if encoder == "bilstm" else tiny_tokenizer()
    dm = TaskDataModule(task, DataConfig(max_length=32), tok, batch_size=8, seed=0,
                        splits={"train": ds, "validation": ds})
    dm.setup("fit")
    options = {"encoder": encoder, "dropout": 0.0, **({"head": head} if task == "ner" else {})}
    module = TaskModule(task, dm.labels, options, tokenizer=tok, lr=3e-3 if encoder == "tiny" else 2e-2,
                        warmup_ratio=0.0)
    trainer = pl.Trainer(max_epochs=60, accelerator="cpu", logger=False, enable_checkpointing=False,
                         enable_progress_bar=False, enable_model_summary=False, check_val_every_n_epoch=60)
    trainer.fit(module, datamodule=dm)
    assert module.last_scores[metric] == 1.0


def test_resume_continues_from_the_last_checkpoint(tmp_path):
    over = ["model.encoder=tiny", "train.limit_train_batches=4", "train.batch_size=8", "train.progress_bar=false",
            "data.max_length=32", f"train.out_dir={tmp_path}"]
    run_dir = tmp_path / "run"
    run(load_config(None, [*over, "train.epochs=1"], task="intent"), run_dir)
    first = json.loads((run_dir / "metrics.json").read_text())
    assert first["global_step"] == 4
    # as `make train RESUME=run_dir ARGS=train.epochs=2` does after an interruption
    cfg = load_config(run_dir / "config.yaml", ["train.epochs=2"])
    run(cfg, run_dir, resume=True)
    second = json.loads((run_dir / "metrics.json").read_text())
    assert second["global_step"] == 8 and second["epochs_run"] == 2
    assert second["resumed"] is True and "resumed" not in first  # reports can tell a resumed run apart


def test_a_run_killed_after_an_epoch_and_resumed_trains_the_same_weights(tmp_path, monkeypatch):
    """Killed at the start of epoch 2 (last.ckpt of epoch 1 on disk, no export) and resumed: the final weights
    equal an uninterrupted run's to the bit, because the checkpoint carries torch's random state (dropout masks;
    without it they differed by about 5e-4)."""
    import lightning.pytorch as pl
    import torch

    import pipelines.training.train as train_module

    over = ["model.encoder=tiny", "train.limit_train_batches=4", "train.batch_size=8", "train.progress_bar=false",
            "data.max_length=32", f"train.out_dir={tmp_path}", "train.epochs=2"]
    run(load_config(None, over, task="intent"), tmp_path / "whole")

    class Killed(Exception):
        pass

    class KillAtEpoch2(pl.Callback):
        def on_train_epoch_start(self, trainer, module):
            if trainer.current_epoch == 1:
                raise Killed

    build = train_module.build_trainer

    def with_kill(*args, **kwargs):
        trainer, best = build(*args, **kwargs)
        trainer.callbacks.append(KillAtEpoch2())
        return trainer, best

    monkeypatch.setattr(train_module, "build_trainer", with_kill)
    with pytest.raises(Killed):
        run(load_config(None, over, task="intent"), tmp_path / "cut")
    monkeypatch.setattr(train_module, "build_trainer", build)
    run(load_config(tmp_path / "cut" / "config.yaml"), tmp_path / "cut", resume=True)
    whole, cut = (torch.load(tmp_path / name / "checkpoints" / "last.ckpt", weights_only=True)["state_dict"]
                  for name in ("whole", "cut"))
    assert whole.keys() == cut.keys() and all(torch.equal(whole[k], cut[k]) for k in whole)


@pytest.mark.parametrize("keep,left", [("last", {"last.ckpt"}), ("both", {"last.ckpt", "best.ckpt"}),
                                       ("none", set())])
def test_last_ckpt_follows_every_epoch_and_only_the_kept_checkpoints_stay(tmp_path, keep, left):
    """last.ckpt is the state after the final epoch (a resume never re-runs finished epochs); once the model is
    exported, train.keep_checkpoints decides what stays."""
    import lightning.pytorch as pl_

    seen = []

    class Spy(pl_.Callback):
        def on_save_checkpoint(self, trainer, module, checkpoint):
            seen.append(checkpoint["epoch"])

    from pipelines.training import train as train_mod

    real = train_mod.build_trainer

    def with_spy(*args):
        trainer, best = real(*args)
        trainer.callbacks.append(Spy())
        return trainer, best

    over = ["model.encoder=tiny", "train.limit_train_batches=2", "train.batch_size=8", "train.progress_bar=false",
            "data.max_length=32", f"train.out_dir={tmp_path}", "train.epochs=3", f"train.keep_checkpoints={keep}"]
    run_dir = tmp_path / "run"
    import unittest.mock

    with unittest.mock.patch.object(train_mod, "build_trainer", with_spy):
        run(load_config(None, over, task="intent"), run_dir)
    assert {0, 1, 2} <= set(seen)  # a save after each of the three epochs
    assert {f.name for f in (run_dir / "checkpoints").iterdir()} == left
    if "last.ckpt" in left:
        import torch

        assert torch.load(run_dir / "checkpoints" / "last.ckpt", weights_only=True)["epoch"] == 2
    with pytest.raises(Exception, match="keep_checkpoints"):
        load_config(None, [*over[:-1], "train.keep_checkpoints=some"], task="intent")


def test_resume_takes_last_ckpt_not_the_newest_file(tmp_path):
    import os
    import time

    from pipelines.training.train import resume_checkpoint

    ckpts = tmp_path / "checkpoints"
    ckpts.mkdir()
    (ckpts / "last.ckpt").write_bytes(b"last")
    time.sleep(0.01)
    (ckpts / "best.ckpt").write_bytes(b"best")  # newer: an mtime rule would resume from the best epoch
    os.utime(ckpts / "best.ckpt", (time.time() + 60, time.time() + 60))
    assert resume_checkpoint(tmp_path) == ckpts / "last.ckpt"
    (ckpts / "last.ckpt").unlink()
    with pytest.raises(FileNotFoundError, match="last.ckpt"):
        resume_checkpoint(tmp_path)


def test_readme_own_trainer_recipe_gets_the_shipped_defaults():
    """README, 'Training in your own Trainer': config first, one task object for the data and the module."""
    from pipelines.registry import get_task

    cfg = load_config(task="ner", overrides=["model.encoder=tiny", "data.max_length=32"])
    task = get_task("ner", cfg.model)
    tok = task.build_tokenizer({})
    dm = TaskDataModule(task, cfg.data, tok, batch_size=8)
    dm.setup("fit")
    module = TaskModule(task, dm.labels, tokenizer=tok, lr=cfg.train.lr, head_lr=cfg.train.head_lr,
                        layer_decay=cfg.train.layer_decay, warmup_ratio=cfg.train.warmup_ratio)
    assert "case_ids" in next(iter(dm.train_dataloader()))  # configs/ner.yaml's casing feature reaches the batch
    assert module.model.crf is not None and module.model.case_embed is not None  # and its CRF head
    before = module.model.case_embed.weight.detach().clone()
    pl.Trainer(max_epochs=1, limit_train_batches=2, limit_val_batches=1, accelerator="cpu", logger=False,
               enable_checkpointing=False, enable_progress_bar=False, enable_model_summary=False).fit(module, dm)
    assert not module.model.case_embed.weight.detach().equal(before)  # the casing table trains


def test_a_log_that_is_no_terminal_gets_plain_progress_lines_and_a_train_loss(tmp_path, capsys, caplog):
    """Four batches an epoch: the train loss is still logged (every 10 steps logged nothing), progress comes as
    lines (a bar in a file prints nothing until the end), and so few steps are said in one line."""
    csv = tmp_path / "few.csv"
    csv.write_text("text,label\n" + "".join(f"{w} number {i},{w}\n" for i in range(18) for w in ("up", "down")))
    over = ["model.encoder=tiny", "train.batch_size=8", "train.progress_bar=true", "data.max_length=32",
            f"train.out_dir={tmp_path}", "train.epochs=2", f"data.path={csv}"]
    with caplog.at_level("WARNING"):
        run(load_config(None, over, task="intent"), tmp_path / "run")
    err = capsys.readouterr().err
    assert "training: 2 epochs of" in err and "epoch 2/2 validated: {'val/" in err
    assert "optimizer steps" in caplog.text and "raise train.epochs" in caplog.text
    logged = (tmp_path / "run" / "logs" / "version_0" / "metrics.csv").read_text()
    assert "train/loss" in logged.splitlines()[0]
    rows = [r for r in logged.splitlines()[1:] if r.split(",")[logged.splitlines()[0].split(",").index("train/loss")]]
    assert rows


def test_the_readme_own_trainer_snippet_trains_what_make_train_trains(tmp_path, monkeypatch):
    """The README's own-Trainer snippet, run as written (intent instead of NER, a tiny encoder, two batches):
    its module has the loss options of configs/intent.yaml and its export is calibrated like make train's."""
    import re
    from pathlib import Path

    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    block = readme[readme.index("Training in your own `Trainer`"):]
    code = re.search(r"```python\n(.*?)```", block, re.S).group(1)
    assert "prepare(cfg)" in code and "ready.export(" in code
    code = code.replace('task="ner", overrides=["data.path=data/my_conll"]',
                        'task="intent", overrides=["model.encoder=tiny", "train.progress_bar=false"]')
    code = code.replace("pl.Trainer(max_epochs=cfg.train.epochs)",
                        "pl.Trainer(max_epochs=1, limit_train_batches=2, logger=False, enable_checkpointing=False)")
    code = code.replace('"runs/my-ner"', repr(str(tmp_path / "run")))
    monkeypatch.chdir(tmp_path)
    scope: dict = {}
    exec(compile(code, "README.md", "exec"), scope)  # noqa: S102 - the README's own code
    from pipelines.config import load_config

    shipped = load_config(task="intent")
    assert shipped.train.label_smoothing > 0 and shipped.train.calibration == "temperature_ece"
    assert scope["ready"].module.criterion.label_smoothing == shipped.train.label_smoothing
    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert metrics["temperature"] > 0 and (tmp_path / "run" / "model" / "pipeline.json").exists()
