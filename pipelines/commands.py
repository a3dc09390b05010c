"""The console command: `nlp-pipelines <command> [args]` (also `python -m pipelines <command>`).

Each command is one module's `main`, imported only when it runs, so `nlp-pipelines --help` is instant and a
predict-only install never imports the training layer. The command sets the offline default (pipelines.env)
before that module reads its settings; importing the library changes no environment variable.
"""

from __future__ import annotations

import importlib
import sys

# command -> (module whose `main(argv)` runs it, one line for --help)
COMMANDS = {
    "train": ("pipelines.training.train", "train a task on your data or the shipped sample -> a run folder"),
    "eval": ("pipelines.inference.evaluate", "score a run on labelled data (RUN DATA)"),
    "predict": ("pipelines.inference.predict", "predict with a run: texts on stdin or --input, JSON lines out"),
    "serve": ("pipelines.inference.serve", "HTTP JSON service for a run: POST /predict, GET /health, /info"),
    "quantize": ("pipelines.inference.quantize", "ONNX + INT8 of a run behind an accuracy gate"),
    "distill": ("pipelines.training.distill", "distil a run (the teacher) into a BiLSTM student"),
    "chat": ("pipelines.inference.chat", "talk to a dialogue run in the terminal"),
    "zero-shot": ("pipelines.inference.zeroshot", "intents with no training examples, by label similarity"),
    "few-shot": ("pipelines.training.fewshot", "intents from a few examples each -> a run folder"),
    "find-bad-labels": ("pipelines.training.find_bad_labels", "rank the training examples whose labels look wrong"),
    "review": ("pipelines.inference.review", "keep / relabel / skip the suspects of find-bad-labels in a browser page"),
    "package": ("pipelines.packaging", "build a pip-installable wheel of a run (Predictor.load(name) after install)"),
}


# `predict --output DIR` is sharded batch prediction through Lightning (several processes, resumable)
BULK_PREDICT = "pipelines.training.bulk_predict"


def module_of(name: str, args: list[str]) -> str:
    """The module that runs command `name` with `args`."""
    if name == "predict" and any(a == "--output" or a.startswith("--output=") for a in args):
        return BULK_PREDICT
    return COMMANDS[name][0]


def usage() -> str:
    width = max(map(len, COMMANDS))
    lines = [f"  {name:<{width}}  {text}" for name, (_, text) in COMMANDS.items()]
    return ("usage: nlp-pipelines <command> [args]   (nlp-pipelines <command> --help for its options)\n\ncommands:\n"
            + "\n".join(lines))


def main(argv: list[str] | None = None) -> None:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in {"-h", "--help", "help"}:
        print(usage())
        sys.exit(0 if argv else 2)
    name, rest = argv[0], argv[1:]
    if name not in COMMANDS:
        print(f"nlp-pipelines: unknown command {name!r}\n\n{usage()}", file=sys.stderr)
        sys.exit(2)
    from pipelines.cli import run_cli

    sys.argv[0] = f"nlp-pipelines {name}"  # argparse's prog: `usage: nlp-pipelines train ...`
    # run_cli sets the offline default before the module imports transformers, and turns a missing optional
    # dependency (the module's own imports included) into one line naming the extra to install
    run_cli(lambda: importlib.import_module(module_of(name, rest)).main(rest))


if __name__ == "__main__":
    main()
