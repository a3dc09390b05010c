"""Train a task end to end: `nlp-pipelines train --task ner [--data D] [--resume RUN] [key=value ...]`.

A run directory holds `config.yaml` (resolved; `nlp-pipelines train runs/X/config.yaml` reproduces
it), `checkpoints/` (best and last, Lightning), `logs/` (CSV), `model/` (Hugging Face layout, safetensors,
tokenizer, pipeline.json), `metrics.json`, `report.md` and, for classification, confusion-matrix PNGs.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime
import logging
import os
import sys
import time
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import yaml

from pipelines.cli import parse_args
from pipelines.config import ConfigError, RunConfig, load_config, to_dict
from pipelines.errors import ModelNotFoundError
from pipelines.inference import reports
from pipelines.provenance import code_version, portable_path

RUN_DIR_ENV = "PIPELINES_RUN_DIR"  # carries the run dir to the processes that DDP launches


log = logging.getLogger(__name__)

def _new_run_dir(cfg: RunConfig, kind: str = "") -> Path:
    stamp = time.strftime("%Y%m%d-%H%M%S")
    name = f"{cfg.task}-{kind}-{stamp}" if kind else f"{cfg.task}-{stamp}"
    path = Path(cfg.train.out_dir) / name
    n = 1
    while path.exists():
        n += 1
        path = Path(cfg.train.out_dir) / f"{name}-{n}"
    return path


def _quiet_lightning(record: logging.LogRecord) -> bool:
    text = record.getMessage()
    return not ("Tip:" in text or "was configured so" in text or "to estimate number of stepping batches" in text)


def setup_logging() -> None:
    """The entry points' log: the pipelines' and tasks' INFO lines on stderr, no transformers progress bars."""
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()  # no "Loading weights" / "Writing model shards" bars in the run's log
    # Lightning's advertising tip and its "Trainer(...) was configured so ..." notes, and a deprecation inside it
    for name in ("lightning.pytorch.utilities.rank_zero", "lightning.fabric.utilities.rank_zero"):
        logging.getLogger(name).addFilter(_quiet_lightning)
    warnings.filterwarnings("ignore", message=r".*LeafSpec.*")
    handler = logging.StreamHandler()
    handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
    for name in ("pipelines", "tasks"):
        logging.getLogger(name).addHandler(handler)
        logging.getLogger(name).setLevel(logging.INFO)


def print_results(results: dict[str, Any], run_dir: Path) -> None:
    """The headline scores per split and where the run went."""
    for split, scores in results.items():
        head = reports.headline(scores)
        print(f"{split}: {head}")
    print(f"run dir: {run_dir}\n  model:  {run_dir / 'model'}\n  report: {run_dir / 'report.md'}")


def resume_checkpoint(run_dir: Path, missing_ok: bool = False) -> Path | str:
    """The run's `last.ckpt` (written atomically after every epoch), never whichever file is newest."""
    last = run_dir / "checkpoints" / "last.ckpt"
    if missing_ok and not last.exists():
        return ""
    if not last.is_file():
        raise ModelNotFoundError(f"{run_dir}/checkpoints/last.ckpt: no checkpoint to resume from")
    return last


def make_criterion(train: Any, features: Any, n_labels: int, target: str = "labels") -> Any:
    """The loss slot from `train.label_smoothing`, `train.class_weights`, `train.focal_gamma` and
    `train.logit_adjustment` (weights and priors over `n_labels` classes from the train features' `target`
    field, Task.class_targets)."""
    from pipelines.models.losses import Criterion, balanced_weights, log_priors

    values = [row.get(target, -100) for row in features.rows]
    ids = [x for v in values for x in (v if isinstance(v, list) else [v])]
    return Criterion(label_smoothing=train.label_smoothing,
                     class_weights=balanced_weights(ids, n_labels) if train.class_weights == "balanced" else None,
                     focal_gamma=train.focal_gamma, adjust_tau=train.logit_adjustment, soft_weight=train.soft_weight,
                     log_priors=log_priors(ids, n_labels) if train.logit_adjustment > 0 else None)


def build_trainer(cfg: RunConfig, run_dir: Path, monitor: str, batches_per_epoch: int = 0) -> tuple[Any, Any]:
    """A Lightning Trainer from `cfg.train`, checkpointing the best `monitor` value and the last state. The
    train loss is logged at least once an epoch (every 10 steps, or fewer when an epoch is shorter); with
    `train.progress_bar` and an output that is no terminal, progress comes as plain lines instead of a bar."""
    import lightning.pytorch as pl
    from lightning.pytorch.callbacks import ModelCheckpoint
    from lightning.pytorch.loggers import CSVLogger

    from pipelines.training.checkpoint_io import AtomicCheckpointIO, RngState

    best = ModelCheckpoint(dirpath=run_dir / "checkpoints", filename="best", monitor=monitor, mode="max",
                           save_top_k=1, enable_version_counter=False)
    # the resumable state after every training epoch (validation of that epoch included), whatever `best` does
    last = ModelCheckpoint(dirpath=run_dir / "checkpoints", filename="last", save_top_k=1, every_n_epochs=1,
                           save_on_train_epoch_end=True, enable_version_counter=False)
    t = cfg.train
    limit = datetime.timedelta(minutes=t.max_minutes) if t.max_minutes else None
    callbacks: list[Any] = [best, last, RngState()]
    bar = t.progress_bar and sys.stderr.isatty()
    if t.progress_bar and not bar:
        from pipelines.training.progress import PlainProgress

        callbacks.append(PlainProgress())
    steps = max(1, batches_per_epoch // t.accumulate_grad_batches) if batches_per_epoch else 10
    trainer = pl.Trainer(max_epochs=t.epochs, max_steps=t.max_steps, max_time=limit, accelerator=t.accelerator,
                         devices=t.devices, num_nodes=t.num_nodes, strategy=t.strategy, precision=t.precision,
                         accumulate_grad_batches=t.accumulate_grad_batches, gradient_clip_val=t.grad_clip,
                         val_check_interval=t.val_check_interval, limit_train_batches=t.limit_train_batches,
                         callbacks=callbacks, logger=CSVLogger(run_dir, name="logs"), default_root_dir=run_dir,
                         enable_progress_bar=bar, log_every_n_steps=min(10, steps), num_sanity_val_steps=0,
                         enable_model_summary=False, plugins=[AtomicCheckpointIO()])
    return trainer, best


@dataclasses.dataclass
class Prepared:
    """Everything a Trainer needs for one config, built the one way `make train` builds it: the task, the data
    module (splits read, augmented, encoded), the LightningModule with the loss options of `cfg.train`
    (label smoothing, class weights, focal loss, logit adjustment, the learning-rate groups), the tokenizer,
    the fitted featurizers and the config with `data.splitter=auto` resolved. Fit `module` with
    `datamodule=dm` in your own `lightning.pytorch.Trainer`, then `export(run_dir)`."""

    cfg: RunConfig
    task: Any
    dm: Any
    module: Any
    tokenizer: Any
    featurizers: dict[str, Any]
    lineage: dict[str, Any] | None = None

    def export(self, run_dir: str | Path, facts: dict[str, Any] | None = None) -> dict[str, Any]:
        """What `make train` does after fitting: temperature calibration (`train.calibration`), the model
        folder `Predictor.load` reads (pipeline.json, tokenizer, featurizers), scores on validation and test in
        metrics.json; returns the scores per split. The module's current weights are exported (load the best
        checkpoint first if you want that one)."""
        run_dir = Path(run_dir)
        run_dir.mkdir(parents=True, exist_ok=True)
        facts = {"task": self.cfg.task, "encoder": self.cfg.model.encoder, "seed": self.cfg.train.seed,
                 **code_version(), "data": portable_path(self.cfg.data.path), **(facts or {})}
        return finish(self.cfg, run_dir, self.task, self.module.model.cpu().eval(), self.tokenizer, self.dm.splits,
                      self.featurizers, facts)


def prepare(cfg: RunConfig, splits: dict[str, Any] | None = None, distillation: Any = None) -> Prepared:
    """Build the task, data module and LightningModule of `cfg` (see `Prepared`); `run` and a user's own Trainer
    both start here, so both get the same loss options, batching and calibration."""
    import lightning.pytorch as pl
    import torch

    from pipelines.data.splits import load_splits
    from pipelines.registry import get_task
    from pipelines.training import incremental
    from pipelines.training.datamodule import TaskDataModule
    from pipelines.training.module import TaskModule

    if cfg.train.threads:
        torch.set_num_threads(cfg.train.threads)
    pl.seed_everything(cfg.train.seed, workers=True, verbose=False)
    task = get_task(cfg.task, cfg.model)
    if cfg.train.calibration != "none" and not task.class_head and not task.scores_entities:
        raise ConfigError(f"train.calibration={cfg.train.calibration}: task {cfg.task!r} has neither a class head "
                          "nor entity scores to calibrate (intent, topics; ner, joint)")
    if cfg.train.calibration == "temperature_ece" and not task.class_head:
        raise ConfigError(f"train.calibration=temperature_ece: task {cfg.task!r} has no class head (entity scores "
                          "take train.calibration=temperature)")
    splits = splits or load_splits(cfg.data, task.sample, seed=cfg.train.seed)
    if cfg.data.splitter == "auto":  # what finds the training data's own words in raw text (pipeline.json)
        from pipelines.data.rawtext import choose_splitter

        chosen, agreement = choose_splitter(splits["train"])
        if agreement:
            log.info("data.splitter=auto: %s (training sentences given back exactly: %s)", chosen, agreement)
        cfg = dataclasses.replace(cfg, data=dataclasses.replace(cfg.data, splitter=chosen))
    splits, labels, lineage = incremental.prepare(cfg, task, splits)  # continuing a run: its labels, replay
    tokenizer = task.build_tokenizer(splits)
    augmented = task.augment(splits["train"], tokenizer, cfg.train.seed)
    if augmented is not splits["train"]:
        log.info("train: %d examples, %d after the task's augmentation", len(splits["train"]), len(augmented))
        splits = {**splits, "train": augmented}
    featurizers = task.fit_featurizers(splits, tokenizer, cfg.train.seed)
    dm = TaskDataModule(task, cfg.data, tokenizer, labels=labels, batch_size=cfg.train.batch_size, splits=splits,
                        eval_batch_size=cfg.train.eval_batch_size, bucketing=cfg.train.bucketing, seed=cfg.train.seed,
                        sampling=cfg.train.sampling, batch_tokens=cfg.train.batch_tokens, featurizers=featurizers)
    dm.setup("fit")
    target, n_classes = task.class_targets(dm.labels)
    rows_per_batch = 0.0
    if cfg.train.batch_tokens and task.class_head:  # one loss term per example: weigh every example the same
        rows_per_batch = len(dm.features["train"]) / max(1, len(dm.train_dataloader()))
    module = TaskModule(task, dm.labels, tokenizer=tokenizer, featurizers=featurizers,
                        criterion=make_criterion(cfg.train, dm.features["train"], n_classes, target),
                        lr=cfg.train.lr, weight_decay=cfg.train.weight_decay, warmup_ratio=cfg.train.warmup_ratio,
                        distillation=distillation, head_lr=cfg.train.head_lr, layer_decay=cfg.train.layer_decay,
                        gradient_checkpointing=cfg.train.gradient_checkpointing, rows_per_batch=rows_per_batch)
    module.prepare(dm.splits)
    if lineage is not None:
        lineage["imprinted_rows"] = incremental.imprint(task, module.model, tokenizer, dm.splits["train"], cfg.data,
                                                        lineage["new_labels"])
    return Prepared(cfg, task, dm, module, tokenizer, featurizers, lineage)


def run(cfg: RunConfig, run_dir: Path, resume: bool = False, splits: dict[str, Any] | None = None,
        distillation: Any = None, facts: dict[str, Any] | None = None) -> dict[str, Any]:
    """Fit, export the best model, score it on validation and test; returns the scores per split.

    `splits` (already read datasets) replaces reading `cfg.data.path`, e.g. for cross-validation folds, or a
    transfer set with teacher scores (`teacher_logits`), which `distillation` (losses.Distillation) reads.
    `facts` are added to metrics.json.
    """
    import torch

    from pipelines.io import atomic_write_text

    os.environ[RUN_DIR_ENV] = str(run_dir)
    ready = prepare(cfg, splits, distillation)
    cfg, dm, module = ready.cfg, ready.dm, ready.module
    batches = len(dm.train_dataloader())
    if isinstance(cfg.train.limit_train_batches, int):
        batches = min(batches, cfg.train.limit_train_batches)
    warn_if_few_steps(cfg, batches)
    trainer, best = build_trainer(cfg, run_dir, ready.task.monitor, batches)
    if trainer.is_global_zero:
        run_dir.mkdir(parents=True, exist_ok=True)
        atomic_write_text(run_dir / "config.yaml", yaml.safe_dump(to_dict(cfg), sort_keys=False))
    start = time.perf_counter()
    trainer.fit(module, datamodule=dm, ckpt_path=str(resume_checkpoint(run_dir)) if resume else None)
    if not trainer.is_global_zero:
        return {}
    ckpt = best.best_model_path if best.best_model_path and Path(best.best_model_path).exists() else ""
    if not ckpt and best.best_model_path:  # resumed after an earlier end deleted best.ckpt
        log.warning("%s is gone (train.keep_checkpoints): exporting the last state", best.best_model_path)
    ckpt = ckpt or resume_checkpoint(run_dir, missing_ok=True)
    if ckpt:
        module.load_state_dict(torch.load(ckpt, map_location="cpu", weights_only=True)["state_dict"])
    facts = {"train_seconds": round(time.perf_counter() - start, 1),
             "epochs_run": trainer.current_epoch, "global_step": trainer.global_step,
             **({"resumed": True} if resume else {}),  # reports can tell a resumed run apart
             "best_checkpoint": os.path.relpath(ckpt, run_dir) if ckpt else "",
             **({"batch_tokens": dm.batch_tokens} if dm.batch_tokens else {}),  # what `auto` resolved to
             **({"lineage": ready.lineage} if ready.lineage is not None else {}), **(facts or {})}
    results = ready.export(run_dir, facts)
    prune_checkpoints(run_dir, cfg.train.keep_checkpoints)
    return results


FEW_STEPS = 50


def train(task: str | None = None, data: str | Path | None = None, overrides: Sequence[str] = (),
          config: str | Path | None = None, run_dir: str | Path | None = None) -> Path:
    """Train as `nlp-pipelines train` does and return the run folder (scores in its metrics.json).

    Args:
        task: a task name (its shipped config, configs/<task>.yaml); or give `config`, a YAML file.
        data: a folder, a file or hub:name (= data.path); None: the config's (the shipped sample by default).
        overrides: "section.key=value" strings, e.g. ["train.epochs=1"].
        run_dir: where the run goes; None: a new timestamped folder under train.out_dir.
    """
    cfg = load_config(config, [*overrides, *([f"data.path={data}"] if data else [])], task=task)
    folder = Path(run_dir) if run_dir else _new_run_dir(cfg)
    run(cfg, folder)
    return folder


def warn_if_few_steps(cfg: RunConfig, batches_per_epoch: int) -> None:
    """One line when the whole run takes so few optimizer steps that a pretrained encoder barely moves (60 NER
    sentences x 3 epochs = 9 steps: test F1 0; 15 epochs: 96.55)."""
    t = cfg.train
    steps = t.epochs * max(1, batches_per_epoch // t.accumulate_grad_batches)
    if t.max_steps > 0:
        steps = min(steps, t.max_steps)
    if steps < FEW_STEPS and t.limit_train_batches == 1.0:
        log.warning("this run takes only %d optimizer steps (%d epochs x %d batches): too few for a model to learn "
                    "much; raise train.epochs to about %d, or lower train.batch_size", steps, t.epochs,
                    batches_per_epoch, -(-FEW_STEPS // max(1, batches_per_epoch // t.accumulate_grad_batches)))


def prune_checkpoints(run_dir: Path, keep: str) -> None:
    """Once the model is exported: keep last.ckpt (resumable), both, or none (each holds AdamW state, about 3x
    the weights)."""
    folder = run_dir / "checkpoints"
    doomed = {"last": ["best.ckpt"], "both": [], "none": ["best.ckpt", "last.ckpt"]}[keep]
    for name in doomed:
        (folder / name).unlink(missing_ok=True)


def finish(cfg: RunConfig, run_dir: Path, task: Any, model: Any, tokenizer: Any, splits: dict[str, Any],
           featurizers: dict[str, Any], facts: dict[str, Any]) -> dict[str, Any]:
    """Fit what the task fits after training (an off-topic detector), export the model with its tokenizer,
    featurizers and pipeline.json in one atomic step, then score the saved model on validation and test."""
    from pipelines.data.splits import split_record
    from pipelines.inference.card import CARD, model_card
    from pipelines.inference.evaluate import evaluate
    from pipelines.inference.predict import Predictor, export, pipeline_meta
    from pipelines.io import atomic_write_text

    if cfg.train.calibration != "none":
        from pipelines.training.calibrate import calibrate

        facts = {**facts, "temperature": calibrate(task, model, tokenizer, splits["validation"], cfg.data,
                                                   cfg.train.eval_batch_size, featurizers,
                                                   by_ece=cfg.train.calibration == "temperature_ece")}
    featurizers = {**featurizers, **task.fit_after_training(model, tokenizer, splits, cfg.data,
                                                            cfg.train.eval_batch_size, featurizers)}
    split = split_record(splits, cfg.train.seed) if "validation" in splits else None
    export(model, tokenizer, run_dir / "model", pipeline_meta(task, cfg.data, split), featurizers)
    predictor = Predictor.load(run_dir)
    results = {name: evaluate(predictor, splits[name], predictor.data) for name in ("validation", "test")
               if name in splits}
    facts = {**facts, **({"train_examples": len(splits["train"])} if "train" in splits else {})}
    reports.write(run_dir, "metrics", f"{cfg.task}: {cfg.model.encoder}", results, extra=facts,
                  notes=list(task.report_notes), md_name="report")
    atomic_write_text(run_dir / "model" / CARD, model_card(run_dir / "model"))
    return results


def main(argv: list[str] | None = None) -> int:
    setup_logging()
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("config", nargs="?", help="YAML config (default: configs/<task>.yaml)")
    parser.add_argument("overrides", nargs="*", help="section.key=value, e.g. train.lr=1e-4")
    parser.add_argument("--task", help="task name (a file in tasks/)")
    parser.add_argument("--data", help="dir, file or hub:name (= data.path)")
    parser.add_argument("--resume", help="run dir of an interrupted run to continue")
    parser.add_argument("--init", help="a finished run to continue on new data (= model.init=RUN; "
                                       "new labels allowed; train.replay=N replays its data)")
    args = parse_args(parser, argv)
    if args.config and "=" in args.config:
        args.overrides.insert(0, args.config)
        args.config = None
    overrides = args.overrides + ([f"data.path={args.data}"] if args.data else [])
    if args.init:
        if not (Path(args.init) / "model" / "pipeline.json").is_file():
            parser.error(f"--init {args.init}: not a finished run dir (no model/pipeline.json)")
        overrides.append(f"model.init={args.init}")
    if args.resume:
        run_dir = Path(args.resume)
        if not (run_dir / "config.yaml").exists():
            parser.error(f"--resume {run_dir}: no config.yaml there; is it a run dir?")
        cfg = load_config(run_dir / "config.yaml", overrides)
    else:
        if not args.config and not args.task:
            parser.error("give a config file or --task")
        cfg = load_config(args.config, overrides, task=args.task)
        launched = os.environ.get("LOCAL_RANK", "0") != "0" or os.environ.get("NODE_RANK", "0") != "0"
        run_dir = Path(os.environ[RUN_DIR_ENV]) if launched and RUN_DIR_ENV in os.environ else _new_run_dir(cfg)
    results = run(cfg, run_dir, resume=bool(args.resume))
    if results:
        print_results(results, run_dir)
    return 0


if __name__ == "__main__":
    from pipelines.cli import run_cli

    run_cli(main)
