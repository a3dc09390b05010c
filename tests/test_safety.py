"""A model folder never runs code when loaded.

Every file a saved model holds is replaced, one at a time, by a Python pickle whose loading creates a marker
file; so are the pickled files an older version or a hand-made folder could hold (`pytorch_model.bin` in place of
the safetensors weights, gensim's `topics/lda` and `topics/dictionary`). `Predictor.load` and `predict` may then
fail or ignore the file, but the marker must never appear.
"""

import pickle
import shutil
from pathlib import Path

import pytest

from pipelines.config import load_config
from pipelines.errors import UnsafeModelError
from pipelines.inference.predict import Predictor
from pipelines.training.train import run

# the shipped config of each task (what a user trains), plus the components the defaults leave out
CASES = {"ner": ["model.word_features=casing+chars+word2vec"], "intent": ["model.offtopic=mahalanobis"],
         "joint": [], "toxicity": [], "topics": [], "dialogue": []}
TEXTS = {"dialogue": ["two tickets for inception tonight"], "ner": ["Anna Keller flew to Oslo ."]}


class Payload:
    """Unpickling this creates `marker`: proof that a load ran code from the file."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (open, (str(self.marker), "w"))


@pytest.fixture(scope="module", params=sorted(CASES))
def model_folder(request, tmp_path_factory):
    task = request.param
    out = tmp_path_factory.mktemp(f"safe-{task}")
    cfg = load_config(None, ["model.encoder=tiny", "train.limit_train_batches=2", "train.epochs=1",
                             "train.progress_bar=false", f"train.out_dir={out}", "train.batch_size=8",
                             "data.max_length=32", *CASES[task]], task=task)
    run(cfg, out / "run")
    return task, out / "run" / "model"


def plants(model: Path) -> list[tuple[str, list[str]]]:
    """(file to overwrite with the payload, files to delete first) for every saved file, and the pickled files a
    loader might fall back to."""
    cases = [(str(f.relative_to(model)), []) for f in sorted(model.rglob("*")) if f.is_file()]
    for weights in sorted(model.rglob("model.safetensors")):
        folder = weights.parent.relative_to(model)
        cases.append((str(folder / "pytorch_model.bin"), [str(folder / "model.safetensors")]))
    if (model / "topics").is_dir():  # the layout before data-only topics
        cases += [("topics/lda", []), ("topics/dictionary", [])]
    return cases


def test_no_saved_file_runs_code_when_loaded(model_folder, tmp_path):
    task, model = model_folder
    assert Predictor.load(model).predict(TEXTS.get(task, ["some words to predict"]))  # the clean folder works
    marker = tmp_path / "ran"
    cases = plants(model)
    assert len(cases) >= 6
    for i, (target, remove) in enumerate(cases):
        copy = tmp_path / f"m{i}"
        shutil.copytree(model, copy)
        for name in remove:
            (copy / name).unlink()
        (copy / target).parent.mkdir(parents=True, exist_ok=True)
        (copy / target).write_bytes(pickle.dumps(Payload(marker)))
        try:
            Predictor.load(copy).predict(TEXTS.get(task, ["some words to predict"]))
        except Exception:  # noqa: BLE001 - refusing is fine; running the payload is not
            pass
        assert not marker.exists(), f"{task}: loading a pickle planted as {target} ran code"
        shutil.rmtree(copy)


def test_topics_in_the_old_pickled_layout_are_refused(tmp_path):
    from pipelines.methods.topics import TopicModel

    docs = ["apples and pears grow in the orchard", "the orchard has apple trees", "engines need oil and fuel",
            "the engine burns fuel", "pears and apples are fruit", "fuel for the engine"] * 4
    model = TopicModel.fit(docs, 2, seed=1, passes=1)
    model.save_pretrained(tmp_path)
    again = TopicModel.load(tmp_path)
    assert again.fingerprint == model.fingerprint
    meta = (tmp_path / "topics" / "topics.json")
    meta.write_text(meta.read_text().replace('"format": 2', '"format": 1'))
    with pytest.raises(UnsafeModelError, match="pickles"):
        TopicModel.load(tmp_path)
