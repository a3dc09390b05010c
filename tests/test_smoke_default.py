"""One smoke test on the real default encoder (all-MiniLM-L6-v2 from the installed wheel)."""

from pathlib import Path

import torch
from safetensors.torch import load_file

from pipelines.config import load_config
from pipelines.inference.predict import Predictor
from pipelines.models.encoders import default_encoder_path
from pipelines.training.train import run


def test_default_encoder_trains_saves_and_predicts(tmp_path):
    weights = Path(default_encoder_path()) / "model.safetensors"
    assert weights.is_file() and weights.stat().st_size > 80e6  # the real 22.7M-parameter model, not a pointer
    cfg = load_config(None, ["train.limit_train_batches=3", "train.epochs=1", "train.progress_bar=false",
                             "train.eval_batch_size=128", f"train.out_dir={tmp_path}"], task="ner")
    assert cfg.model.encoder == "default" and cfg.model.head == "crf"
    results = run(cfg, tmp_path / "run")
    assert 0.0 <= results["test"]["f1"] <= 1.0 and results["test"]["invalid_rate"] == 0.0  # CRF: valid IOB2
    predictor = Predictor.load(tmp_path / "run")
    config = predictor.model.config
    assert config.hidden_size == 384 and config.num_hidden_layers == 6
    # the fine-tuned encoder started from the pretrained weights: 3 small steps leave them almost where they were
    pretrained = load_file(str(weights))["embeddings.word_embeddings.weight"]
    tuned = predictor.model.emitter.bert.embeddings.word_embeddings.weight.detach()
    assert torch.nn.functional.cosine_similarity(pretrained.flatten(), tuned.flatten(), dim=0) > 0.99
    [out] = predictor.predict("Anna Keller met Vireo Labs in Oslo .")
    assert isinstance(out["entities"], list)
