"""Throughput on CoNLL-2003, as ratios measured in one run on one machine (run it on an idle machine).

Training (sentences/s over the same number of optimizer steps, same model, batch size and max length):
ours with and without length bucketing, and a plain `transformers.Trainer` with its defaults, with
`group_by_length` (transformers 5: `train_sampling_strategy="group_by_length"`), and on exactly our batches (our
encoded rows in our sampler's order: the same shapes, so the ratio is the frameworks' alone). The last pair runs
again under cProfile for the breakdown of a step (forward, backward, optimizer, clipping, collation, the rest).
Inference: `Predictor` vs `transformers.pipeline("token-classification", aggregation_strategy="simple")`
on the same model and texts.

    .venv/bin/python -m benchmarks.throughput [--steps 40] [--model runs/X]
Writes reports/throughput.json.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import torch

from benchmarks.common import SHARED, machine, mean_sd
from pipelines.io import write_json

BATCH, MAX_LEN, WARMUP = 32, 128, 5
# the model both frameworks train: the Trainer's token classifier (a linear softmax head on the encoder), so the
# ratios compare frameworks and samplers, not heads (the shipped NER model adds a CRF and a casing table)
PLAIN = {"head": "softmax", "decode": "argmax", "word_features": "none"}


class StepClock:
    """Wall-clock time of optimizer steps after the first WARMUP (start-up and first allocations); with a
    `Profiled`, profiles the steps after the first WARMUP up to `last`."""

    def __init__(self, profiled: Profiled | None = None, last: int = 0) -> None:
        self.times: list[float] = []
        self.rows: list[int] = []
        self.tokens: list[int] = []
        self.profiled, self.last = profiled, last

    def tick(self, rows: int = 0, tokens: int = 0) -> None:
        self.times.append(time.perf_counter())
        self.rows.append(rows)
        self.tokens.append(tokens)
        if self.profiled is not None and len(self.times) == WARMUP:
            self.profiled.start()
        if self.profiled is not None and len(self.times) == self.last:
            self.profiled.stop()

    def rate(self, batch: int) -> float:
        t = self.times[WARMUP:]
        return (len(t) - 1) * batch / (t[-1] - t[0])

    def totals(self) -> dict[str, float]:
        """Sentences and real (unpadded) sub-tokens per second over the steps after the first WARMUP, and the
        sentences of all steps (a whole pass: every sentence of the set)."""
        span = self.times[-1] - self.times[WARMUP]
        return {"sents_per_s": round(sum(self.rows[WARMUP + 1:]) / span, 1),
                "tokens_per_s": round(sum(self.tokens[WARMUP + 1:]) / span, 1),
                "sentences": sum(self.rows), "steps": len(self.times), "seconds": round(span, 1)}


def ours(splits, steps: int, bucketing: bool, encoder: str = "default", profile: dict | None = None) -> StepClock:
    """Our TaskModule in a Lightning Trainer for `steps` optimizer steps (0: one whole pass over the train split);
    with `profile` (a dict), fills it with the cProfile breakdown."""
    import lightning.pytorch as pl

    from pipelines.config import DataConfig
    from pipelines.models.encoders import load_tokenizer
    from pipelines.training.datamodule import TaskDataModule
    from pipelines.training.module import TaskModule, make_task

    class Clock(pl.Callback):
        def __init__(self) -> None:
            self.clock = StepClock(Profiled(profile, steps) if profile is not None else None, steps + WARMUP)

        def on_train_batch_end(self, trainer, module, outputs, batch, batch_idx) -> None:
            self.clock.tick(len(batch["input_ids"]), int(batch["attention_mask"].sum()))

    pl.seed_everything(0, verbose=False)
    tok = load_tokenizer(encoder)
    options = {"encoder": encoder, **PLAIN}
    dm = TaskDataModule(make_task("ner", options), DataConfig(max_length=MAX_LEN), tok, batch_size=BATCH,
                        bucketing=bucketing,
                        splits={"train": splits["train"], "validation": splits["validation"].select(range(8))})
    dm.setup("fit")
    module = TaskModule("ner", dm.labels, options, tokenizer=tok, lr=5e-5)
    clock = Clock()
    trainer = pl.Trainer(max_steps=steps + WARMUP if steps else -1, max_epochs=1, accelerator="cpu", logger=False,
                         enable_checkpointing=False, enable_progress_bar=False, enable_model_summary=False,
                         limit_val_batches=0, gradient_clip_val=1.0, callbacks=[clock])
    trainer.fit(module, datamodule=dm)
    return clock.clock


def our_batches(splits, steps: int, encoder: str = "default") -> tuple[list[dict], list[int]]:
    """Our encoded training rows and the first steps' index order of our length-grouped sampler."""
    from pipelines.config import DataConfig
    from pipelines.data.batching import LengthGroupedSampler
    from pipelines.models.encoders import load_tokenizer
    from pipelines.training.datamodule import TaskDataModule
    from pipelines.training.module import make_task

    dm = TaskDataModule(make_task("ner", {"encoder": encoder, **PLAIN}), DataConfig(max_length=MAX_LEN),
                        load_tokenizer(encoder), batch_size=BATCH,
                        splits={"train": splits["train"], "validation": splits["validation"].select(range(8))})
    dm.setup("fit")
    order = list(LengthGroupedSampler(dm.features["train"].lengths, BATCH, seed=0))
    return dm.features["train"].rows, order[: (steps + WARMUP) * BATCH]


class Profiled:
    """cProfile over the timed steps; `stop` fills `into` with milliseconds per step of the parts of a step
    (the outermost call of each: model forward, backward, optimizer update, gradient clipping, collation) and
    the rest (framework, loss, logging, data loading)."""

    PARTS = {  # part: (file path fragment, function name)
        "forward": ("modeling_bert.py", "forward"),
        "backward": ("torch/autograd/graph.py", "_engine_run_backward"),
        "optimizer_update": ("torch/optim/adam.py", "adam"),  # AdamW's update runs in adam.adam
        "grad_clip": ("torch/nn/utils/clip_grad.py", "clip_grad_norm_"),
    }

    def __init__(self, into: dict, steps: int) -> None:
        import cProfile

        self.into, self.steps, self.prof = into, steps, cProfile.Profile()

    def start(self) -> None:
        self.t0 = time.perf_counter()
        self.prof.enable()

    def stop(self) -> None:
        import pstats

        self.prof.disable()
        total = time.perf_counter() - self.t0
        stats = pstats.Stats(self.prof).stats  # (file, line, name) -> (cc, nc, tt, ct, callers)
        parts = {part: max([v[3] for (f, _, n), v in stats.items() if where in f and n == name], default=0.0)
                 for part, (where, name) in self.PARTS.items()}
        # our Collator or the Hugging Face token-classification collator
        parts["collate"] = max([v[3] for (f, _, n), v in stats.items() if n == "__call__" and
                                (f.endswith("pipelines/data/batching.py") or f.endswith("data_collator.py"))],
                               default=0.0)
        self.into.update({k: round(1000 * v / self.steps, 1) for k, v in parts.items()})
        self.into["rest"] = round(1000 * (total - sum(parts.values())) / self.steps, 1)
        self.into["total"] = round(1000 * total / self.steps, 1)


def hf_trainer(splits, steps: int, group_by_length: bool, out: Path, encoder: str = "default",
               same_as_ours: tuple[list[dict], list[int]] | None = None, profile: dict | None = None) -> StepClock:
    """A plain `transformers.Trainer` for `steps` optimizer steps (0: one whole pass over the train split).
    `same_as_ours` = (our encoded rows, our index order): it trains on exactly our batches (the same ids, labels
    and padded shapes), so the ratio is the frameworks' alone."""
    from transformers import (
        AutoModelForTokenClassification,
        DataCollatorForTokenClassification,
        Trainer,
        TrainerCallback,
        TrainingArguments,
    )

    from pipelines.models import encoders

    tok = encoders.load_tokenizer(encoder)
    labels = ["O", "B-LOC", "I-LOC", "B-MISC", "I-MISC", "B-ORG", "I-ORG", "B-PER", "I-PER"]
    l2i = {x: i for i, x in enumerate(labels)}

    def tokenize_and_align(batch):  # the Hugging Face token-classification recipe
        enc = tok(batch["tokens"], is_split_into_words=True, truncation=True, max_length=MAX_LEN)
        enc["labels"] = []
        for i, tags in enumerate(batch["tags"]):
            prev, row = None, []
            for w in enc.word_ids(i):
                row.append(-100 if w is None or w == prev else l2i[tags[w]])
                prev = w
            enc["labels"].append(row)
        return enc

    if same_as_ours is None:
        train = splits["train"].map(tokenize_and_align, batched=True, remove_columns=splits["train"].column_names)
    else:
        from datasets import Dataset

        rows, order = same_as_ours
        train = Dataset.from_dict({"input_ids": [r["input_ids"] for r in rows],
                                   "labels": [r["labels"] for r in rows]})
    torch.manual_seed(0)
    model = encoders.load_model(encoder, AutoModelForTokenClassification, tok, num_labels=len(labels))
    clock = StepClock(Profiled(profile, steps) if profile is not None else None, steps + WARMUP)

    collated: list[tuple[int, int]] = []  # (rows, real tokens) of each batch, in the order the steps take them

    class Counted(DataCollatorForTokenClassification):
        def __call__(self, features, return_tensors=None):
            batch = super().__call__(features, return_tensors)
            collated.append((len(batch["input_ids"]), int(batch["attention_mask"].sum())))
            return batch

    class Clock(TrainerCallback):
        def on_step_end(self, *args, **kwargs):
            clock.tick(*collated[len(clock.times)])

    args = TrainingArguments(output_dir=str(out), per_device_train_batch_size=BATCH,
                             max_steps=steps + WARMUP if steps else -1, num_train_epochs=1,
                             learning_rate=5e-5, report_to="none", save_strategy="no", logging_strategy="no",
                             use_cpu=True, disable_tqdm=True, seed=0,
                             train_sampling_strategy="group_by_length" if group_by_length else "random")
    class SameOrder(Trainer):
        def _get_train_sampler(self, train_dataset=None):
            return order

    cls = Trainer if same_as_ours is None else SameOrder
    trainer = cls(model=model, args=args, train_dataset=train, data_collator=Counted(tok), callbacks=[Clock()])
    trainer.train()
    return clock


def whole_pass(splits, reps: int, sentences: int, out: Path, encoder: str) -> dict:
    """Ours (length buckets) and the Trainer with group_by_length, each over the same whole set of sentences
    (every sampler processes all of them once), alternating, `reps` times: sentences/s and real tokens/s after
    the first WARMUP steps, and their ratio per repetition."""
    if not reps:
        return {}
    train = splits["train"] if not sentences else splits["train"].select(range(min(sentences, len(splits["train"]))))
    subset = {"train": train, "validation": splits["validation"]}
    runs: dict[str, list[dict]] = {"ours_bucketed": [], "hf_trainer_group_by_length": []}
    for _ in range(reps):
        runs["ours_bucketed"].append(ours(subset, 0, True, encoder).totals())
        runs["hf_trainer_group_by_length"].append(hf_trainer(subset, 0, True, out, encoder).totals())
    ratios = {unit: [round(o[unit] / h[unit], 3) for o, h in zip(runs["ours_bucketed"],
                                                                   runs["hf_trainer_group_by_length"], strict=True)]
              for unit in ("sents_per_s", "tokens_per_s")}
    summary = {name: {unit: [round(x, 1) for x in mean_sd([r[unit] for r in rs])]
                      for unit in ("sents_per_s", "tokens_per_s")} for name, rs in runs.items()}
    return {"sentences": len(train), "reps": reps, "runs": runs, "mean_sd": summary, "ratio_per_rep": ratios,
            "ratio_mean": {unit: round(mean_sd(v)[0], 3) for unit, v in ratios.items()}, "goal_ratio": 1.1}


def inference(texts: list[str], model_dir: str | None, encoder: str = "default") -> dict[str, float]:
    from transformers import pipeline

    from pipelines.inference.predict import Predictor

    if model_dir:
        predictor = Predictor.load(model_dir)
    else:  # an untrained head on the default encoder: the same compute as a trained one
        from pipelines.config import DataConfig
        from pipelines.models.encoders import load_tokenizer
        from pipelines.registry import get_task, task_class

        # argmax decoding, as the Hugging Face pipeline decodes (and as the published ratio was measured)
        task = get_task("ner", task_class("ner").Options(encoder=encoder, decode="argmax", head="softmax",
                                                          word_features="none"))
        tok = load_tokenizer(encoder)
        labels = ["O", "B-LOC", "I-LOC", "B-MISC", "I-MISC", "B-ORG", "I-ORG", "B-PER", "I-PER"]
        predictor = Predictor(task, task.build_model(labels, tok), tok, DataConfig(max_length=MAX_LEN))
    predictor.predict(texts[:64])
    t0 = time.perf_counter()
    predictor.predict(texts)
    ours_rate = len(texts) / (time.perf_counter() - t0)
    hf = pipeline("token-classification", model=predictor.model, tokenizer=predictor.tokenizer,
                  aggregation_strategy="simple", device="cpu")
    hf(texts[:16])
    t0 = time.perf_counter()
    hf(texts)
    hf_rate = len(texts) / (time.perf_counter() - t0)
    t0 = time.perf_counter()
    hf(texts, batch_size=64)
    hf64_rate = len(texts) / (time.perf_counter() - t0)
    return {"predictor_sents_per_s": round(ours_rate, 1), "hf_pipeline_sents_per_s": round(hf_rate, 1),
            "hf_pipeline_batch64_sents_per_s": round(hf64_rate, 1)}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--steps", type=int, default=40, help="timed optimizer steps per configuration")
    parser.add_argument("--texts", type=int, default=2000, help="CoNLL test sentences for inference")
    parser.add_argument("--model", default=None, help="trained NER run dir for inference (default: fresh head)")
    parser.add_argument("--out", default="reports/throughput.json")
    parser.add_argument("--encoder", default="default", help="'tiny' for a smoke run")
    parser.add_argument("--epoch-reps", type=int, default=3, help="whole passes per framework (0: none)")
    parser.add_argument("--epoch-sentences", type=int, default=0,
                        help="the whole pass reads the first N train sentences (0: all of them, one epoch)")
    args = parser.parse_args(argv)

    from pipelines.data.readers import read_conll

    data = SHARED / "conll2003"
    splits = {"train": read_conll(data / "train.txt"), "validation": read_conll(data / "dev.txt")}
    texts = [" ".join(t) for t in read_conll(data / "test.txt")["tokens"][: args.texts]]
    same = our_batches(splits, args.steps, args.encoder)
    profiles: dict[str, dict] = {"ours": {}, "hf_trainer_same_batches": {}}
    hf_out = Path("runs/bench/hf_trainer")
    rates = {
        "ours_bucketed": ours(splits, args.steps, True, args.encoder).rate(BATCH),
        "hf_trainer_same_batches": hf_trainer(splits, args.steps, False, hf_out, args.encoder,
                                              same_as_ours=same).rate(BATCH),
        "ours_unbucketed": ours(splits, args.steps, False, args.encoder).rate(BATCH),
        "hf_trainer_default": hf_trainer(splits, args.steps, False, hf_out, args.encoder).rate(BATCH),
        "hf_trainer_group_by_length": hf_trainer(splits, args.steps, True, hf_out, args.encoder).rate(BATCH),
    }
    # the same two runs again under cProfile (slower; read for the shares, not the rates)
    ours(splits, args.steps, True, args.encoder, profile=profiles["ours"])
    hf_trainer(splits, args.steps, False, Path("runs/bench/hf_trainer"), args.encoder, same_as_ours=same,
               profile=profiles["hf_trainer_same_batches"])
    whole = whole_pass(splits, args.epoch_reps, args.epoch_sentences, hf_out, args.encoder)
    infer = inference(texts, args.model, args.encoder)
    report = {
        "data": f"CoNLL-2003 train (training), first {len(texts)} test sentences joined by spaces (inference)",
        "encoder": "all-MiniLM-L6-v2 (default)" if args.encoder == "default" else args.encoder,
        "model": f"the encoder + a linear softmax tag head in both frameworks (ours: {PLAIN})",
        "batch_size": BATCH, "max_length": MAX_LEN,
        "timed_steps": args.steps, "warmup_steps_excluded": WARMUP, "machine": machine(),
        "train_sents_per_s": {k: round(v, 1) for k, v in rates.items()},
        "bucketing_speedup": round(rates["ours_bucketed"] / rates["ours_unbucketed"], 2),
        "vs_hf_trainer": round(rates["ours_bucketed"] / rates["hf_trainer_default"], 2),
        "vs_hf_trainer_grouped": round(rates["ours_bucketed"] / rates["hf_trainer_group_by_length"], 2),
        "vs_hf_trainer_same_batches": round(rates["ours_bucketed"] / rates["hf_trainer_same_batches"], 2),
        "profile_ms_per_step": profiles,
        "whole_pass": whole,
        "inference": infer,
        "predictor_vs_hf_pipeline": round(infer["predictor_sents_per_s"] / infer["hf_pipeline_sents_per_s"], 2),
        "predictor_vs_hf_pipeline_batch64": round(
            infer["predictor_sents_per_s"] / infer["hf_pipeline_batch64_sents_per_s"], 2),
        "goals": {"vs_hf_trainer": 1.5, "whole_pass_vs_hf_trainer_grouped": 1.1, "vs_hf_trainer_grouped": 1.0,
                  "vs_hf_trainer_same_batches": 1.0,
                  "predictor_vs_hf_pipeline": 2.0},
    }
    write_json(args.out, report)
    print(report)


if __name__ == "__main__":
    main()
