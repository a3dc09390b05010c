"""Continuing a finished run on new data with a new label: rows kept, the new row imprinted, replay, lineage."""

import json

import numpy as np
import pytest
import torch

from pipelines.config import ConfigError, load_config
from pipelines.training import incremental
from pipelines.training.train import run

SAMPLE = [json.loads(line) for line in open("samples/intent/train.jsonl")]


def write(folder, rows_by_split):
    folder.mkdir(parents=True, exist_ok=True)
    for name, rows in rows_by_split.items():
        (folder / f"{name}.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    return folder


@pytest.fixture(scope="module")
def parent(tmp_path_factory):
    """A tiny intent run on five of the sample's six labels (no 'weather')."""
    tmp = tmp_path_factory.mktemp("parent")
    old = [r for r in SAMPLE if r["label"] != "weather"]
    data = write(tmp / "old", {"train": old[::2], "dev": old[1::4], "test": old[3::4]})
    cfg = load_config(None, ["model.encoder=tiny", "train.epochs=1", "train.progress_bar=false",
                             "train.calibration=none", f"data.path={data}", f"train.out_dir={tmp}"], task="intent")
    run(cfg, tmp / "run")
    return tmp / "run"


def test_new_label_keeps_old_rows_imprints_the_new_one_and_records_lineage(parent, tmp_path):
    new = [r for r in SAMPLE if r["label"] == "weather"]
    data = write(tmp_path / "new", {"train": new[::2], "dev": new[1::2], "test": new[1::2]})
    cfg = load_config(None, [f"model.init={parent}", "train.epochs=1", "train.progress_bar=false",
                             f"data.path={data}", f"train.out_dir={tmp_path}", "train.replay=3",
                             "train.replay_select=herding", "train.lr=1e-9", "train.head_lr=0",  # head at lr too
                             "train.calibration=none"], task="intent")
    run(cfg, tmp_path / "run")
    child = json.loads((tmp_path / "run" / "model" / "config.json").read_text())
    labels = [child["id2label"][str(i)] for i in range(len(child["id2label"]))]
    parent_labels = json.loads((parent / "model" / "config.json").read_text())["id2label"]
    assert labels[:5] == [parent_labels[str(i)] for i in range(5)] and labels[5] == "weather"  # old order kept
    lineage = json.loads((tmp_path / "run" / "metrics.json").read_text())["lineage"]
    assert lineage["new_labels"] == ["weather"] and lineage["replayed_examples"] == 15  # 3 of each old label
    assert lineage["imprinted_rows"] == 1 and lineage["parent"].endswith("run")
    from safetensors.torch import load_file

    def head(run_dir):
        model = run_dir / "model"
        files = list(model.glob("**/heads.safetensors")) or list(model.glob("*.safetensors"))
        state = load_file(str(files[0]))
        return next(v for k, v in state.items() if k.endswith("classifier.weight"))

    old_w, new_w = head(parent), head(tmp_path / "run")
    assert torch.allclose(new_w[:5], old_w, atol=1e-4)  # lr ~ 0: the old rows are the parent's
    assert new_w[5].norm() == pytest.approx(float(old_w.norm(dim=1).mean()), rel=1e-3)  # imprinted, scaled


def test_replay_needs_a_parent_and_herding_follows_the_mean():
    with pytest.raises(ConfigError, match="--init"):
        run(load_config(None, ["model.encoder=tiny", "train.replay=5"], task="intent"), None)
    rng = np.random.default_rng(0)
    x = rng.normal(size=(200, 8))
    chosen = incremental.herding(x, 10)
    assert len(set(chosen.tolist())) == 10
    random_gap = np.mean([np.linalg.norm(x[rng.choice(200, 10, replace=False)].mean(0) - x.mean(0))
                          for _ in range(50)])
    assert np.linalg.norm(x[chosen].mean(0) - x.mean(0)) < random_gap / 3
    assert incremental.merged_labels(["b", "a"], ["a", "c"]) == ["b", "a", "c"]


def test_replay_draws_from_every_run_of_the_lineage(parent, tmp_path):
    """A grandchild replays the base run's labels (from the base data) and the child's (from the child's)."""
    steps = {}
    for name, label in (("child", "weather"), ("grandchild", "greeting2")):
        rows = [r if label != "greeting2" else {**r, "label": "greeting2"} for r in SAMPLE
                if r["label"] == ("weather" if label == "weather" else "greeting")][:20]
        data = write(tmp_path / name, {"train": rows[:14], "dev": rows[14:], "test": rows[14:]})
        init = steps.get("child", parent)
        cfg = load_config(None, [f"model.init={init}", "train.epochs=1", "train.progress_bar=false",
                                 f"data.path={data}", f"train.out_dir={tmp_path}", "train.replay=2"], task="intent")
        run(cfg, tmp_path / f"{name}-run")
        steps[name] = tmp_path / f"{name}-run"
    lineage = json.loads((steps["grandchild"] / "metrics.json").read_text())["lineage"]
    assert lineage["replayed_examples"] == 2 * 6  # five base labels and weather
    assert lineage["parent_lineage"]["new_labels"] == ["weather"]
    assert lineage["new_labels"] == ["greeting2"]
