"""Word-level inputs for non-subword encoders (the BiLSTM-CRF): vocabularies, casing, word2vec vectors.

`WordTokenizer` plays the tokenizer's part for `model.architecture=bilstm`: it maps each word to one id
(lower-cased), and gives its characters (case kept) and a casing class. Vectors are trained here with
gensim Word2Vec on the training text, since no pretrained vectors can be downloaded, plus any unlabelled
text the user points to (`model.word2vec_text`): its frequent words join the vocabulary with their vectors,
so that test words never seen in the labelled data still get a trained embedding.
"""

from __future__ import annotations

import gzip
import json
from collections import Counter
from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np

from pipelines.io import atomic_write_text

VOCAB_FILE = "word_vocab.json"
CASES = ("other", "lower", "upper", "title", "numeric", "has_digit", "mixed")
MAX_CHARS = 20
TEXT_SUFFIXES = (".txt", ".jsonl", ".jsonl.gz")


def _text_files(path: Path) -> list[Path]:
    if path.is_dir():
        return sorted(f for f in path.rglob("*") if f.is_file() and f.name.endswith(TEXT_SUFFIXES))
    if path.is_file():
        return [path]
    raise FileNotFoundError(f"model.word2vec_text: {path} does not exist")


def read_unlabelled(paths: Sequence[str | Path]) -> Iterator[list[str]]:
    """Word lists, one per non-empty line, from text files, JSON Lines (`text` field, optionally gzip) or
    directories of them (.txt, .jsonl, .jsonl.gz, recursively), split into words as raw text is at
    prediction time (pipelines.data.align.split_words). Files that are not UTF-8 are read as Latin-1."""
    from pipelines.data.align import split_words

    for root in paths:
        files = _text_files(Path(root))
        if not files:
            raise FileNotFoundError(f"model.word2vec_text: no {'/'.join(TEXT_SUFFIXES)} files under {root}")
        for f in files:
            raw = gzip.decompress(f.read_bytes()) if f.name.endswith(".gz") else f.read_bytes()
            try:
                text = raw.decode("utf-8")
            except UnicodeDecodeError:
                text = raw.decode("latin-1")
            is_jsonl = f.name.endswith((".jsonl", ".jsonl.gz"))
            for n, line in enumerate(text.splitlines(), 1):
                if is_jsonl and line.strip():
                    try:
                        line = json.loads(line)["text"]
                    except (ValueError, KeyError, TypeError) as e:
                        raise ValueError(f"{f}:{n}: expected a JSON object with a 'text' field ({e})") from e
                for part in line.splitlines():
                    words = [w for w, _, _ in split_words(part)]
                    if words:
                        yield words


def casing(word: str) -> int:
    """Index into CASES: the word's shape, the signal an uncased subword model cannot see."""
    if word.isdigit():
        return CASES.index("numeric")
    if any(c.isdigit() for c in word):
        return CASES.index("has_digit")
    if word.islower():
        return CASES.index("lower")
    if word.isupper():
        return CASES.index("upper")
    if word.istitle():
        return CASES.index("title")
    return CASES.index("mixed") if any(c.isalpha() for c in word) else CASES.index("other")


class WordTokenizer:
    """Word, character and casing ids. Id 0 is padding, id 1 unknown, in both vocabularies."""

    word_level = True
    pad_token_id, unk_token_id = 0, 1

    def __init__(self, words: Sequence[str], chars: Sequence[str]) -> None:
        self.words = ["<pad>", "<unk>", *words]
        self.chars = ["<pad>", "<unk>", *chars]
        self.word_index = {w: i for i, w in enumerate(self.words)}
        self.char_index = {c: i for i, c in enumerate(self.chars)}

    @classmethod
    def build(cls, sentences: Sequence[Sequence[str]], min_count: int = 1) -> WordTokenizer:
        """Vocabularies from training sentences: words (lower-cased) seen `min_count` times, all characters."""
        counts = Counter(w.lower() for s in sentences for w in s)
        words = sorted(w for w, c in counts.items() if c >= min_count)
        chars = sorted({c for s in sentences for w in s for c in w})
        return cls(words, chars)

    def encode_word(self, word: str) -> tuple[int, list[int], int]:
        """(word id, char ids (at most MAX_CHARS), casing id)."""
        chars = [self.char_index.get(c, 1) for c in word[:MAX_CHARS]] or [1]
        return self.word_index.get(word.lower(), 1), chars, casing(word)

    def __len__(self) -> int:
        return len(self.words)

    def save_pretrained(self, path: str | Path) -> None:
        atomic_write_text(Path(path) / VOCAB_FILE, json.dumps({"words": self.words[2:], "chars": self.chars[2:]}))

    @classmethod
    def from_pretrained(cls, path: str | Path) -> WordTokenizer:
        obj = json.loads((Path(path) / VOCAB_FILE).read_text(encoding="utf-8"))
        return cls(obj["words"], obj["chars"])


class WordVectors:
    """A featurizer: word2vec (gensim, skip-gram) vectors for a WordTokenizer's vocabulary, fitted on the
    training sentences plus unlabelled text. Words of the unlabelled text seen `min_count` times join the
    tokenizer's vocabulary. The vectors start the model's word embedding, so the saved model carries them;
    `save_pretrained` records where they came from (`word_vectors.json`)."""

    FILE = "word_vectors.json"

    def __init__(self, vectors: np.ndarray, info: dict | None = None) -> None:
        self.vectors = vectors  # (V, D), row i for tokenizer word i
        self.info = info or {}

    @classmethod
    def fit(cls, tokenizer: WordTokenizer, sentences: Sequence[Sequence[str]], dim: int = 100, seed: int = 0,
            epochs: int = 10, unlabelled: Sequence[Sequence[str]] = (), min_count: int = 3) -> WordVectors:
        """Rows of words Word2Vec skipped stay random (scaled like the trained rows)."""
        from gensim.models import Word2Vec

        lowered = [[w.lower() for w in s] for s in [*sentences, *unlabelled]]
        if unlabelled:
            counts = Counter(w for s in lowered[len(sentences):] for w in s)
            new = sorted(w for w, c in counts.items() if c >= min_count and w not in tokenizer.word_index)
            tokenizer.words += new
            tokenizer.word_index = {w: i for i, w in enumerate(tokenizer.words)}
        w2v = Word2Vec(lowered, vector_size=dim, window=5, min_count=1, sg=1, workers=1, seed=seed, epochs=epochs)
        rng = np.random.default_rng(seed)
        vectors = rng.normal(0, 0.1, (len(tokenizer.words), dim)).astype(np.float32)
        vectors[0] = 0.0
        for i, w in enumerate(tokenizer.words):
            if w in w2v.wv:
                vec = w2v.wv[w]
                vectors[i] = vec / (np.linalg.norm(vec) + 1e-8) * 0.5  # same scale as the random rows, roughly
        info = {"dim": dim, "epochs": epochs, "seed": seed, "training_sentences": len(sentences),
                "unlabelled_sentences": len(unlabelled), "vocabulary": len(tokenizer.words)}
        return cls(vectors, info)

    def save_pretrained(self, path: str | Path) -> None:
        atomic_write_text(Path(path) / self.FILE, json.dumps({**self.info, "stored_in": "the model's word_emb"}))


class WordTable:
    """A featurizer for the Transformer tagger's `word2vec` word feature: a lower-cased vocabulary (row 0 =
    none, 1 = unknown, words from 2) and, while training, its word2vec vectors. The model's frozen table
    carries the vectors once built; `save_pretrained` writes the vocabulary (`word2vec_vocab.json`), which
    encoding needs to map words to rows."""

    FILE = "word2vec_vocab.json"

    def __init__(self, words: Sequence[str], vectors: np.ndarray | None = None, info: dict | None = None) -> None:
        self.words = list(words)  # without <pad> and <unk>
        self.index = {w: i for i, w in enumerate(["<pad>", "<unk>", *self.words])}
        self.vectors, self.info = vectors, info or {}

    @classmethod
    def fit(cls, sentences: Sequence[Sequence[str]], seed: int = 0, unlabelled: Sequence[Sequence[str]] = (),
            epochs: int = 10, dim: int = 100) -> WordTable:
        """Vocabulary of the training sentences (+ unlabelled words seen 3+ times) and word2vec vectors."""
        vocab = WordTokenizer.build(sentences)
        vectors = WordVectors.fit(vocab, sentences, dim=dim, seed=seed, epochs=epochs, unlabelled=unlabelled)
        return cls(vocab.words[2:], vectors.vectors, vectors.info)

    def save_pretrained(self, path: str | Path) -> None:
        atomic_write_text(Path(path) / self.FILE, json.dumps({"info": self.info, "words": self.words}))

    @classmethod
    def load(cls, path: str | Path) -> WordTable | None:
        f = Path(path) / cls.FILE
        if not f.exists():
            return None
        obj = json.loads(f.read_text(encoding="utf-8"))
        return cls(obj["words"], info=obj["info"])


def fit_word2vec(train: Sequence[Sequence[str]], seed: int, extra_text: str = "", table: bool = False,
                 tokenizer: WordTokenizer | None = None) -> WordTable | WordVectors:
    """word2vec on the training sentences plus the unlabelled text `extra_text` names (comma-separated files or
    dirs, read_unlabelled): a WordTable (its own vocabulary, for a Transformer's word feature) with `table`,
    else WordVectors over `tokenizer`'s vocabulary (the BiLSTM's embeddings). 10 passes over a small labelled
    corpus; 5 (gensim's default) once large unlabelled text joins it."""
    extra = [p.strip() for p in extra_text.split(",") if p.strip()]
    unlabelled = list(read_unlabelled(extra)) if extra else []
    if extra:
        print(f"word2vec: {len(train)} training sentences + {len(unlabelled)} unlabelled lines "
              f"({sum(map(len, unlabelled))} words) from {', '.join(extra)}", flush=True)
    epochs = 5 if unlabelled else 10
    if table:
        return WordTable.fit(train, seed=seed, unlabelled=unlabelled, epochs=epochs)
    return WordVectors.fit(tokenizer, train, seed=seed, unlabelled=unlabelled, epochs=epochs)
