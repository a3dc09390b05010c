"""Offline and single-threaded before anything imports transformers or torch."""

import os

os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["HF_DATASETS_OFFLINE"] = "1"
os.environ["TOKENIZERS_PARALLELISM"] = "false"
os.environ.setdefault("OMP_NUM_THREADS", "1")

from pathlib import Path  # noqa: E402

import pytest  # noqa: E402
import torch  # noqa: E402

torch.set_num_threads(1)

FIXTURES = Path(__file__).parent / "fixtures"
SHARED = Path(__file__).resolve().parent.parent.parent / "shared" / "data"


@pytest.fixture(scope="session")
def tiny_tok():
    from pipelines.models.encoders import tiny_tokenizer

    return tiny_tokenizer()


@pytest.fixture
def fixtures() -> Path:
    return FIXTURES


def needs_shared(name: str):
    return pytest.mark.skipif(not (SHARED / name).exists(), reason=f"../shared/data/{name} not present")



def train_tiny(folder: Path, task: str, *overrides: str) -> Path:
    """A finished run of `task` on its shipped sample with the tiny encoder and two training batches (seconds),
    at folder/run; `overrides` come last."""
    from pipelines.config import load_config
    from pipelines.training.train import run

    cfg = load_config(None, ["model.encoder=tiny", "train.epochs=1", "train.limit_train_batches=2", "train.threads=1",
                             "train.progress_bar=false", f"train.out_dir={folder}", *overrides], task=task)
    run(cfg, folder / "run")
    return folder / "run"
