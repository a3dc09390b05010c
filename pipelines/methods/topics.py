"""LDA topics (gensim) as document features: fit on the training text, θ per document, top words, coherence.

gensim's `LdaModel` is used, not `LdaMulticore`: with a `random_state` it is reproducible, the multicore
trainer is not. θ (the document-topic distribution) is inferred with a fresh generator per document, so the
same model and text always give the same θ, whatever else is in the batch. Words: gensim's
`simple_preprocess` (lower case, accents stripped, 3-20 letters), its English stop list removed, then words
in fewer than `no_below` documents or in more than `no_above` of them dropped (`Dictionary.filter_extremes`).
Training sees the documents in a seeded random order (see `_fit`).
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from pipelines.errors import UnsafeModelError
from pipelines.io import atomic_write_text

log = logging.getLogger(__name__)
FOLDER = "topics"  # inside a saved model/ folder
DICTIONARY_FILE, ARRAYS_FILE = "dictionary.txt", "lda.safetensors"
FORMAT = 2  # 1 (no "format" key): gensim pickles; 2: data files
MEMO_MODELS, MEMO_TEXTS = 4, 100_000
_MEMO: dict[str, dict[str, np.ndarray]] = {}


def words(text: str) -> list[str]:
    """The LDA vocabulary's view of a text."""
    from gensim.parsing.preprocessing import STOPWORDS
    from gensim.utils import simple_preprocess

    return [w for w in simple_preprocess(text, deacc=True, min_len=3, max_len=20) if w not in STOPWORDS]


class TopicModel:
    """A gensim Dictionary + LdaModel pair; `transform` gives (N, K) θ."""

    def __init__(self, dictionary: Any, lda: Any, seed: int) -> None:
        self.dictionary, self.lda, self.seed = dictionary, lda, seed
        self._fingerprint: str | None = None
        self._top_words: dict[int, list[list[tuple[str, float]]]] = {}

    @property
    def num_topics(self) -> int:
        return int(self.lda.num_topics)

    @classmethod
    def fit(cls, texts: Sequence[str], num_topics: int, seed: int = 0, passes: int = 5, iterations: int = 100,
            no_below: int = 5, no_above: float = 0.5, keep_n: int = 20000, chunksize: int = 2000,
            cache_dir: str | Path | None = None) -> TopicModel:
        """LDA with `num_topics` topics on `texts` (asymmetric α and η learnt from the data: alpha="auto").
        With `cache_dir`, a model fitted before on the same texts with the same settings is loaded instead."""
        settings = [num_topics, seed, passes, iterations, no_below, no_above, keep_n, chunksize, "shuffled",
                    f"format{FORMAT}"]
        key = hashlib.sha1(json.dumps([settings, list(texts)]).encode()).hexdigest()[:20]
        if cache_dir is not None and (cached := cls.load(Path(cache_dir) / key)) is not None:
            log.info("LDA: %d topics read from the cache (%s)", num_topics, Path(cache_dir) / key)
            return cached
        model = cls._fit(texts, num_topics, seed, passes, iterations, no_below, no_above, keep_n, chunksize)
        if cache_dir is not None:
            tmp = Path(tempfile.mkdtemp(dir=Path(cache_dir).mkdir(parents=True, exist_ok=True) or cache_dir))
            model.save_pretrained(tmp)
            try:
                os.replace(tmp, Path(cache_dir) / key)
            except OSError:  # another run cached the same model meanwhile
                shutil.rmtree(tmp, ignore_errors=True)
        return model

    @classmethod
    def _fit(cls, texts: Sequence[str], num_topics: int, seed: int, passes: int, iterations: int, no_below: int,
             no_above: float, keep_n: int, chunksize: int) -> TopicModel:
        from gensim.corpora import Dictionary
        from gensim.models import LdaModel

        docs = [words(t) for t in texts]
        dictionary = Dictionary(docs)
        # a tiny corpus (the shipped sample, tests) cannot afford the frequency cut-offs meant for thousands
        dictionary.filter_extremes(no_below=min(no_below, max(1, len(docs) // 20)),
                                   no_above=no_above if len(docs) >= 20 else 1.0, keep_n=keep_n)
        if len(dictionary) == 0:
            raise ValueError("no word is left for LDA after the stop list and frequency cut-offs: "
                             "the training documents are too few or too short")
        # online LDA learns from chunks in order with a falling step size: on data sorted by label (a folder per
        # class, 20 Newsgroups' files) it would fit the first classes' topics and barely revise them, so the
        # documents go in a seeded random order (20 Newsgroups stripped, 50 topics: dev accuracy of θ 36.9 -> 47.1)
        order = np.random.RandomState(seed).permutation(len(docs))
        corpus = [dictionary.doc2bow(docs[i]) for i in order]
        lda = LdaModel(corpus, num_topics=num_topics, id2word=dictionary, random_state=seed, passes=passes,
                       iterations=iterations, alpha="auto", eta="auto", chunksize=chunksize, eval_every=None)
        log.info("LDA: %d topics, %d documents, %d words in the dictionary", num_topics, len(docs), len(dictionary))
        return cls(dictionary, lda, seed)

    @property
    def fingerprint(self) -> str:
        """A hash of the topic-word parameters: equal for a model and its saved-and-loaded copy."""
        if self._fingerprint is None:
            state = np.ascontiguousarray(self.lda.state.get_lambda(), dtype=np.float32)
            self._fingerprint = hashlib.sha1(state.tobytes() + str(self.seed).encode()).hexdigest()[:16]
        return self._fingerprint

    def transform(self, texts: Sequence[str]) -> np.ndarray:
        """(N, K) θ rows summing to 1; a text with no known word gets the prior α normalised. θ is memoised
        per model and text in this process (the last MEMO_MODELS models), since training, evaluation and
        seeds of one benchmark ask for the same documents again; at most MEMO_TEXTS texts per model)."""
        memo = _MEMO.pop(self.fingerprint, {})
        _MEMO[self.fingerprint] = memo  # most recently used last
        while len(_MEMO) > MEMO_MODELS:
            _MEMO.pop(next(iter(_MEMO)))
        alpha = np.asarray(self.lda.alpha, dtype=np.float64)
        out = np.zeros((len(texts), self.num_topics), dtype=np.float32)
        saved = self.lda.random_state
        try:
            for i, text in enumerate(texts):
                if text in memo:
                    out[i] = memo[text]
                    continue
                bow = self.dictionary.doc2bow(words(text))
                if not bow:
                    out[i] = alpha / alpha.sum()
                else:
                    self.lda.random_state = np.random.RandomState(self.seed)
                    gamma, _ = self.lda.inference([bow])
                    out[i] = gamma[0] / gamma[0].sum()
                if len(memo) < MEMO_TEXTS:  # bounded: a server predicts an endless stream of new texts
                    memo[text] = out[i].copy()
        finally:
            self.lda.random_state = saved
        return out

    def top_words(self, topn: int = 10) -> list[list[tuple[str, float]]]:
        """Per topic its `topn` most probable words (computed once per `topn`: prediction asks on every call)."""
        if topn not in self._top_words:
            self._top_words[topn] = [[(w, round(float(p), 4)) for w, p in self.lda.show_topic(k, topn)]
                                     for k in range(self.num_topics)]
        return self._top_words[topn]

    def coherence(self, texts: Sequence[str], measure: str = "c_npmi", topn: int = 10) -> dict[str, Any]:
        """gensim CoherenceModel over `texts` (reference documents): the mean and the per-topic scores."""
        from gensim.models import CoherenceModel

        cm = CoherenceModel(model=self.lda, texts=[words(t) for t in texts], dictionary=self.dictionary,
                            coherence=measure, topn=topn, processes=1)
        per_topic = [float(x) for x in cm.get_coherence_per_topic()]
        finite = [x for x in per_topic if np.isfinite(x)]  # a top-word pair never seen together: log 0
        return {"measure": measure, "mean": float(np.mean(finite)) if finite else float("nan"),
                "non_finite_topics": len(per_topic) - len(finite),
                "per_topic": [x if np.isfinite(x) else None for x in per_topic]}

    def save_pretrained(self, path: str | Path) -> None:
        """Data only, never a pickle: the vocabulary in gensim's text format, LDA's topic-word statistics and
        priors as safetensors, the rest as JSON (`load` rebuilds the gensim objects from them)."""
        from safetensors.numpy import save_file

        folder = Path(path) / FOLDER
        folder.mkdir(parents=True, exist_ok=True)
        self.dictionary.save_as_text(str(folder / DICTIONARY_FILE))  # "id<TAB>word<TAB>document count" lines
        # the topics are state.eta + sstats; lda.eta is the prior learnt since (alpha/eta="auto"), which the
        # state keeps at its initial value
        arrays = {"sstats": self.lda.state.sstats, "state_eta": np.asarray(self.lda.state.eta),
                  "eta": np.asarray(self.lda.eta), "alpha": np.asarray(self.lda.alpha)}
        save_file({k: np.ascontiguousarray(v) for k, v in arrays.items()}, str(folder / ARRAYS_FILE))
        atomic_write_text(folder / "topics.json", json.dumps({
            "format": FORMAT, "seed": self.seed, "num_topics": self.num_topics, "num_terms": int(self.lda.num_terms),
            "dtype": np.dtype(self.lda.dtype).name, "top_words": self.top_words()}, indent=1) + "\n")

    @classmethod
    def load(cls, path: str | Path) -> TopicModel | None:
        """The topic model saved in a model/ folder, or None when it has none. Reads data only: a folder in the
        old pickled layout (gensim's `.save`) is refused, since unpickling runs whatever the file says."""
        folder = Path(path) / FOLDER
        if not folder.is_dir():
            return None
        meta = json.loads((folder / "topics.json").read_text(encoding="utf-8"))
        if meta.get("format") != FORMAT:
            raise UnsafeModelError(f"{folder}: topics saved by an older version as Python pickles, which run code "
                                   "when loaded; it is not loaded. Retrain the run, or convert a folder you trust "
                                   f"with `python -m pipelines.methods.topics --convert-trusted {folder}`")
        return cls.from_arrays(folder, meta)

    @classmethod
    def from_arrays(cls, folder: Path, meta: dict[str, Any]) -> TopicModel:
        from gensim.corpora import Dictionary
        from gensim.models import LdaModel
        from safetensors.numpy import load_file

        dictionary = Dictionary.load_from_text(str(folder / DICTIONARY_FILE))
        arrays = load_file(str(folder / ARRAYS_FILE))
        k, v = int(meta["num_topics"]), int(meta["num_terms"])
        if arrays["sstats"].shape != (k, v) or len(dictionary) != v:
            raise ValueError(f"{folder}: LDA arrays of shape {arrays['sstats'].shape} do not match {k} topics "
                             f"x {v} words (the dictionary has {len(dictionary)})")
        dtype = np.dtype(meta.get("dtype", "float32")).type
        lda = LdaModel(num_topics=k, id2word=dictionary, alpha=arrays["alpha"], eta=arrays["eta"],
                       random_state=int(meta["seed"]), dtype=dtype)
        lda.state.sstats[...] = arrays["sstats"]
        lda.state.eta = arrays["state_eta"]
        lda.sync_state()  # expElogbeta from eta + sstats, as after the last training step
        return cls(dictionary, lda, int(meta["seed"]))


def convert_trusted(folder: Path) -> None:
    """Rewrite a topics folder of the old pickled layout as data files. Unpickles: only for folders you made."""
    from gensim.corpora import Dictionary
    from gensim.models import LdaModel

    meta = json.loads((folder / "topics.json").read_text(encoding="utf-8"))
    old = TopicModel(Dictionary.load(str(folder / "dictionary")), LdaModel.load(str(folder / "lda")),
                     int(meta["seed"]))
    old.save_pretrained(folder.parent)
    for name in folder.iterdir():
        if name.name.startswith(("lda", "dictionary")):
            name.unlink()
    print(f"{folder}: converted to data files")


if __name__ == "__main__":
    import argparse

    parser = argparse.ArgumentParser(description="Convert a topics folder saved as pickles by an older version.")
    parser.add_argument("--convert-trusted", type=Path, required=True, metavar="MODEL/topics",
                        help="the folder to convert (its pickles are loaded: only a folder you trust)")
    convert_trusted(parser.parse_args().convert_trusted)
