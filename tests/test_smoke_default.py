"""One smoke test on the real default encoder (all-MiniLM-L6-v2 from the installed wheel)."""

from pipelines.config import load_config
from pipelines.inference.predict import Predictor
from pipelines.models.encoders import default_encoder_path
from pipelines.training.train import run


def test_default_encoder_trains_saves_and_predicts(tmp_path):
    assert (default_encoder_path() + "/model.safetensors").endswith("safetensors")
    cfg = load_config(None, ["train.limit_train_batches=3", "train.epochs=1", "train.progress_bar=false",
                             "train.eval_batch_size=128", f"train.out_dir={tmp_path}"], task="ner")
    assert cfg.model.encoder == "default"
    results = run(cfg, tmp_path / "run")
    assert 0.0 <= results["test"]["f1"] <= 1.0
    predictor = Predictor.load(tmp_path / "run")
    assert predictor.model.config.hidden_size == 384 and predictor.model.config.num_hidden_layers == 6
    [out] = predictor.predict("Anna Keller met Vireo Labs in Oslo .")
    assert isinstance(out["entities"], list)
