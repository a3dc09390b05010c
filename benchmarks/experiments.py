"""Every published experiment, declared in one table, and the one runner that runs them.

An experiment is what one `make bench-NAME` reproduces: the task(s) it trains, the data (under ../shared/data),
the seeds, the report it writes, and the steps: each step is a benchmarks/ script with its arguments (the
overrides and variants that made the published rows). `{seeds}` in a step stands for the seeds of the call
(`--seeds`, default the experiment's); a step that names its own seeds (a single-seed ablation) keeps them.

    python -m benchmarks --list                       # the table
    python -m benchmarks ner-features --seeds 1 2 3   # = make bench-ner-features SEEDS="1 2 3"
    python -m benchmarks served --parts ner           # arguments after the name go to every step

Adding an experiment: write what is specific to it (its analysis, its report) as a script in benchmarks/ whose
`main(argv)` takes the arguments of a step, and add one entry below; `make bench-NAME` runs it.
"""

from __future__ import annotations

import argparse
import importlib
import shlex
from dataclasses import dataclass, field

S = "{seeds}"  # the seeds of the call


@dataclass(frozen=True)
class Experiment:
    """One experiment: `steps` are (script module under benchmarks/, its arguments)."""

    about: str
    task: str
    data: str
    report: str
    steps: list[tuple[str, str]] = field(default_factory=list)
    seeds: str = "1 2 3"
    passes_args: bool = False  # extra call arguments go to the steps (e.g. --parts, --run); else overrides


NER_FEATURES = "ner_features --variants"
EXPERIMENTS: dict[str, Experiment] = {
    "ner": Experiment("CoNLL-2003 NER, sentence and document context", "ner", "conll2003", "ner_conll2003.json",
                      [("ner_conll2003", f"--seeds {S}")]),
    "compare": Experiment("NER: Transformer vs + CRF vs constrained Viterbi vs INT8 vs BiLSTM-CRF", "ner",
                          "conll2003, bbc_news + 20newsgroups (word2vec)", "ner_compare.*",
                          [("ner_compare", f"--seeds {S}")]),
    "ner-features": Experiment(
        "CoNLL-2003 word-feature ablation: casing, chars, word2vec, head lr, token budget, the default", "ner",
        "conll2003", "ner_features.*",
        [(NER_FEATURES, f"plain casing_input casing_head casing_chars_input casing_word2vec_input --seeds {S} "
                        "model.head=softmax train.epochs=1 train.head_lr=0 train.batch_tokens=0"),
         (NER_FEATURES, "casing_input casing_head --seeds 1 model.head=softmax train.epochs=1 train.head_lr=1e-3 "
                        "train.batch_tokens=0"),
         (NER_FEATURES, "plain casing_input --seeds 1 train.epochs=1 train.head_lr=0 train.batch_tokens=0"),
         (NER_FEATURES, f"casing_input casing_input_doc --seeds {S} train.head_lr=0 train.batch_tokens=0"),
         (NER_FEATURES, f"casing_input_headlr --seeds {S} train.batch_tokens=0"),
         (NER_FEATURES, "casing_input_headlr --seeds 1 train.lr=2e-4 train.batch_tokens=0"),
         (NER_FEATURES, f"casing_input_headlr --seeds {S} train.batch_tokens=640")]),
    "intent": Experiment("CLINC150 intents with the recipe before the search", "intent", "clinc150",
                         "intent_clinc150.json", [("intent_clinc150", f"--seeds {S}")]),
    "intent-recipe": Experiment("intent recipe search on CLINC150 dev, the winner on test", "intent", "clinc150",
                                "intent_recipe.*", [("intent_recipe", f"--seeds {S}")]),
    "offtopic": Experiment("CLINC150 off-topic detectors on the shipped intent recipe", "intent", "clinc150",
                           "offtopic_recipe.*", [("offtopic_clinc150", f"--seeds {S} --variants data_full")]),
    "calibration": Experiment("label smoothing and temperature scaling: ECE, NLL, OOS AUROC", "intent",
                              "clinc150", "calibration.*",
                              [("calibration", "--datasets clinc150 --smoothing 0 0.1 --seeds 1"),
                               ("calibration", "--datasets clinc150 --smoothing 0.1 --recipe shipped --seeds 1 2 3")],
                              seeds="1"),
    "joint": Experiment("joint intent + slots vs separate models", "joint, intent, ner", "atis, snips",
                        "joint_atis.json, joint_snips.json",
                        [("joint", f"train.epochs=5 --datasets atis --seeds {S}"),
                         ("joint", f"--datasets snips --seeds {S} --sweep")]),
    "joint-recipe": Experiment("joint recipe search on ATIS dev, the winner on test, then on SNIPS", "joint",
                               "atis, snips", "joint_recipe_*",
                               [("joint_recipe", f"--dataset atis --seeds {S}"),
                                ("joint_recipe", f"--dataset snips --seeds {S} --shipped")]),
    "toxicity": Experiment(
        "Davidson imbalance recipes, SemEval spans, occlusion, removal, CLINC150 imbalance, errors", "toxicity",
        "toxicity_davidson, toxic_spans, clinc150", "toxicity.*",
        [("toxicity", f"--parts frozen --seeds {S}"),
         ("toxicity", f"--parts finetune --variants plain sqrt_resampling --seeds {S}"),
         ("toxicity", f"--parts spans --heads softmax crf --seeds {S}"),
         ("toxicity", "--parts attribution removal --recipe plain --head softmax "
                      "--judge-run runs/bench/toxicity/davidson-sqrt_resampling-seed2"),
         ("toxicity", f"--parts clinc --variants plain sqrt_resampling logit_adjust --seeds {S}"),
         ("toxicity", "--parts errors --recipe plain"), ("toxicity", "--parts report")]),
    "topics": Experiment("LDA + Transformer fusion on 20 Newsgroups (raw, stripped) and BBC", "topics",
                         "20newsgroups, bbc_news", "topics.*",
                         [("topics", "--stage encode"), ("topics", "--stage baselines"), ("topics", "--stage lda"),
                          ("topics", f"--stage pooling --seeds {S} train.threads=1"),
                          ("topics", f"--stage variants --seeds {S} train.threads=1"), ("topics", "--stage report")]),
    "dialogue": Experiment("sim-M state tracking, context ablation", "dialogue", "sim_m", "dialogue_simm.*",
                           [("dialogue_simm", f"--seeds {S}"),
                            ("dialogue_simm", f"--seeds {S} --variants system_aug2 system_aug2_6ep titles "
                                              "--extra-variants"),
                            ("dialogue_simm", "--title-folds 3 --variants system_aug2_6ep titles --extra-variants")]),
    "dialogue-sgd": Experiment("SGD subset: intent and slots with and without context", "dialogue", "sgd",
                               "dialogue_sgd.*", [("dialogue_sgd", f"--seeds {S}")]),
    "bad-labels": Experiment("planted label flips: detection and cleaning", "intent, ner", "snips, clinc150, conll2003",
                             "bad_labels.*", [("bad_labels", f"--seeds {S}")]),
    "review-loop": Experiment("the review page's loop on planted flips: suspects, relabels, retraining", "intent",
                              "samples/intent (shipped)", "review_loop.*", [("review_loop", f"--seeds {S}")]),
    "fewshot": Experiment("zero-shot (CLINC150, SNIPS) and k-shot CLINC150 intents", "intent", "clinc150, snips",
                          "fewshot.*", [("fewshot", f"--parts zero few --seeds {S}"),
                                        ("fewshot", f"--parts few --shots 10 --finetune-seeds --contrastive-epochs 8 "
                                                    f"--seeds {S}"),
                                        ("fewshot", f"--parts few --shots 10 --finetune-seeds --contrastive-epochs 16 "
                                                    f"--seeds {S}"),
                                        ("fewshot", "--parts few --shots 5 --finetune-seeds --contrastive-epochs 32 "
                                                    "--seeds 1"),
                                        ("fewshot", "--parts few --shots 20 --finetune-seeds --contrastive-epochs 8 "
                                                    "--seeds 1")]),
    "unseen": Experiment("held-out CLINC150 intents (same domain) vs far OOS", "intent", "clinc150",
                         "unseen_intents.*", [("unseen_intents", f"--seeds {S} --contrastive-epochs 0 --shipped"),
                                              ("unseen_intents", "--seeds 1 --contrastive-epochs 1")]),
    "scratch": Experiment("hand-written Transformer from scratch vs BiLSTM vs MiniLM, learning curves", "intent",
                          "snips", "scratch.*",
                          [("scratch", f"--datasets snips --models scratch --seeds {S} --curve-seeds 1"),
                           ("scratch", "--datasets snips --models bilstm --seeds 1 --fractions 1.0")]),
    "incremental": Experiment("CLINC150 100 intents + 50 new: naive vs replay vs full retraining", "intent",
                              "clinc150", "incremental.*",
                              [("incremental", "--seeds 1 --replay 0 5 20 --steps 1")], seeds="1"),
    "distill": Experiment("distillation ablation into a BiLSTM", "intent, ner", "clinc150, conll2003",
                          "distill.*", [("distill", "--parts intent ner --seeds 1"),
                                        ("distill", "--parts intent-shipped --variants mse+aug --seeds 1"),
                                        ("distill", f"--parts intent-shipped --variants kl+aug --seeds {S}")]),
    "inference": Experiment("speed methods side by side: FP32, ONNX, INT8, students", "intent, ner",
                            "clinc150, conll2003", "inference.*", [("inference", "")], seeds=""),
    "latency": Experiment("batch-1 latency, one thread: the light encode route vs a Dataset per call", "intent",
                          "samples/intent (training), clinc150 (texts)", "latency.*", [("latency", "")], seeds=""),
    "masking": Experiment("what the attention mask is for: batched with and without it vs each text alone",
                          "intent", "clinc150", "masking.*", [("masking", "")], seeds=""),
    "batching": Experiment("fixed vs token-budget batches", "ner, intent", "conll2003, clinc150", "batching.*",
                           [("batching", f"--seeds {S}")]),
    "memory": Experiment("peak memory and step time: checkpointing, accumulation, long inputs", "intent",
                         "20newsgroups", "memory.*", [("memory", "")], seeds=""),
    "throughput": Experiment("training and inference throughput against transformers.Trainer", "ner", "conll2003",
                             "throughput.json", [("throughput", "")], seeds=""),
    "analogy": Experiment("word2vec vs encoder input embeddings: analogies, Procrustes, CKA, RSA", "-",
                          "20newsgroups, bbc_news", "analogy.*", [("analogy", "")], seeds=""),
    "tfidf": Experiment("TF-IDF + linear SVM / logistic regression, C on dev: the classical bar", "intent, joint, "
                        "toxicity", "clinc150, atis, snips, toxicity_davidson", "tfidf_baselines.*",
                        [("tfidf_baselines", "")], seeds="", passes_args=True),
    "splitters": Experiment("which word splitter gives back the gold tokens from raw text", "ner, joint",
                            "conll2003, atis, snips", "splitters.*", [("splitters", "")], seeds=""),
    "served": Experiment("served = scored: predict on raw text vs gold tokens, every task", "all", "all",
                         "served_vs_scored.*", [("served_vs_scored", "")], seeds="", passes_args=True),
    "recheck": Experiment("one published row per task retrained by this checkout (seed 1)", "all", "all",
                          "recheck.*", [("recheck", "")], seeds="", passes_args=True),
    "disk": Experiment("disk use of a run: model/ and each checkpoint", "ner", "-", "disk_use.json",
                       [("disk_use", "")], seeds="", passes_args=True),
    "serve": Experiment("the HTTP service under 1/8/32 concurrent clients", "intent", "clinc150", "serve.json",
                        [("serve_load", "")], seeds=""),
    "scale": Experiment("batch prediction: 1 vs 2 processes, peak RSS on 1M lines, a killed job resumed",
                        "intent", "clinc150", "scale.*", [("scale", "")], seeds=""),
}


def argv_of(step: tuple[str, str], seeds: str, extra: list[str]) -> tuple[str, list[str]]:
    """The module and argv of one step, `{seeds}` replaced and the call's extra arguments appended."""
    module, args = step
    words = shlex.split(module) + shlex.split(args.replace(S, seeds))
    return f"benchmarks.{words[0]}", words[1:] + extra


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__.split("\n")[0])
    parser.add_argument("name", nargs="?", choices=list(EXPERIMENTS), metavar="NAME")
    parser.add_argument("--list", action="store_true", help="print the table of experiments")
    parser.add_argument("--seeds", nargs="+", help="replace the experiment's seeds where its steps take the call's")
    parser.add_argument("--dry-run", action="store_true", help="print the steps, run nothing")
    args, extra = parser.parse_known_args(argv)
    if args.list or not args.name:
        for name, e in EXPERIMENTS.items():
            print(f"bench-{name:14s} {e.about}\n{'':21s}task {e.task}; data {e.data}; seeds {e.seeds or '-'}; "
                  f"reports/{e.report}")
        return
    exp = EXPERIMENTS[args.name]
    seeds = " ".join(args.seeds) if args.seeds else exp.seeds
    if extra and not exp.passes_args and any(not x.partition("=")[1] or x.startswith("-") for x in extra):
        parser.error(f"{args.name} takes section.key=value overrides only, got {' '.join(extra)}")
    for step in exp.steps:
        module, step_argv = argv_of(step, seeds, extra)
        print(f"$ python -m {module} {shlex.join(step_argv)}", flush=True)
        if not args.dry_run:
            importlib.import_module(module).main(step_argv)
