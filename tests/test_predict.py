"""The Predictor as a service uses it: concurrent calls, and a model folder that is never half-written."""

import json
import threading

import pytest
from conftest import train_tiny

from pipelines.inference.predict import Predictor, export, model_dir

TEXTS = ["Anna Keller flew to Oslo .", "nothing here", "Vireo Labs hired Tom in Bergen .", "x " * 40]


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    return train_tiny(tmp_path_factory.mktemp("predict"), "ner", "data.max_length=32")


def test_concurrent_calls_from_threads_give_the_sequential_results(run_dir):
    """The contract: one call at a time per Predictor (a lock); threads may share it."""
    predictor = Predictor.load(run_dir)
    expected = [predictor.predict([t]) for t in TEXTS]
    results, errors = {}, []

    def worker(k):
        try:
            for _ in range(5):
                results.setdefault(k, []).append(predictor.predict([TEXTS[k % len(TEXTS)]]))
        except Exception as err:  # noqa: BLE001 - any failure in a thread is the test's failure
            errors.append(err)

    threads = [threading.Thread(target=worker, args=(k,)) for k in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    for k, outs in results.items():
        assert all(o == expected[k % len(TEXTS)] for o in outs)
    assert predictor.model.training is False  # no call left the model in train mode


def test_reexport_switches_the_model_folder_whole(run_dir):
    """`model` is a link switched in one rename: a loaded path stays valid, the new version is complete."""
    predictor = Predictor.load(run_dir)
    before = model_dir(run_dir)
    meta = json.loads((before / "pipeline.json").read_text())
    export(predictor.model, predictor.tokenizer, run_dir / "model", {**meta, "note": "second"})
    after = model_dir(run_dir)
    assert after != before and (run_dir / "model").is_symlink()
    assert json.loads((after / "pipeline.json").read_text())["note"] == "second"
    assert (before / "pipeline.json").exists()  # a reader that resolved the old version can finish
    assert Predictor.load(run_dir).predict(TEXTS) == predictor.predict(TEXTS)
    export(predictor.model, predictor.tokenizer, run_dir / "model", meta)
    assert not before.exists()  # versions older than the previous one are removed
    versions = [p for p in run_dir.iterdir() if p.name.startswith(".model-")]
    assert len(versions) == 2
