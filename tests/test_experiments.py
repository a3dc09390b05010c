"""The declared experiments (benchmarks/experiments.py): every step names a script that exists, and every
`make bench-NAME` the documentation mentions is declared."""

from __future__ import annotations

import importlib
import re
from pathlib import Path

import pytest

from benchmarks.experiments import EXPERIMENTS, argv_of, main

ROOT = Path(__file__).resolve().parent.parent


def test_every_step_runs_a_script_with_main():
    for name, exp in EXPERIMENTS.items():
        assert exp.steps, name
        for step in exp.steps:
            module, argv = argv_of(step, "1 2", [])
            assert callable(importlib.import_module(module).main), (name, module)
            assert "{seeds}" not in " ".join(argv)


def test_seeds_of_the_call_replace_the_declared_ones_only_where_a_step_takes_them():
    steps = [argv_of(s, "7", ["train.epochs=1"]) for s in EXPERIMENTS["unseen"].steps]
    assert steps[0][1][:2] == ["--seeds", "7"] and steps[1][1][:2] == ["--seeds", "1"]  # the ablation keeps seed 1
    assert all(argv[-1] == "train.epochs=1" for _, argv in steps)


def test_documented_bench_targets_are_declared():
    docs = [ROOT / "README.md", ROOT / "ARCHITECTURE.md", *(ROOT / "reports").glob("*.md"),
            *(ROOT / "docs").glob("**/*.md")]
    named = {m for p in docs for m in re.findall(r"make bench-([a-z][a-z0-9-]*)", p.read_text(encoding="utf-8"))}
    assert named, "the documentation names no bench target"
    assert named - {"list"} <= set(EXPERIMENTS), sorted(named - {"list"} - set(EXPERIMENTS))


def test_runner_lists_and_dry_runs(capsys):
    main(["--list"])
    assert "bench-ner-features" in capsys.readouterr().out
    main(["joint-recipe", "--seeds", "4", "--dry-run"])
    out = capsys.readouterr().out
    assert "benchmarks.joint_recipe --dataset atis --seeds 4" in out and "--dataset snips --seeds 4 --shipped" in out
    with pytest.raises(SystemExit):  # an option for a script that takes overrides only
        main(["ner", "--dry-run", "--run", "x"])
