import random

import pytest
from datasets import Dataset
from pipelines.tasks import ner

from pipelines.config import DataConfig
from pipelines.data.align import PieceCache, build_windows, plan_windows, split_words
from pipelines.families import tagging


def test_split_words_offsets():
    text = "Peter Blackburn's trip to U.S. cost $5,000!"
    words = split_words(text)
    assert [w for w, _, _ in words] == ["Peter", "Blackburn's", "trip", "to", "U.S", ".", "cost", "$", "5,000", "!"]
    assert all(text[s:e] == w for w, s, e in words)


def test_first_subtoken_labels_hand_aligned(tiny_tok):
    # tiny vocab: "new" and "york" are whole words; "oslo" splits into o ##s ##l ##o
    ds = Dataset.from_dict({"tokens": [["New", "York", "to", "Oslo"]], "tags": [["B-LOC", "I-LOC", "O", "B-LOC"]]})
    label2id = {"O": 0, "B-LOC": 1, "I-LOC": 2}
    [row] = ner.encode(ds, tiny_tok, label2id, DataConfig(max_length=32)).rows
    pieces = tiny_tok.convert_ids_to_tokens(row["input_ids"])
    assert pieces == ["[CLS]", "new", "york", "to", "o", "##s", "##l", "##o", "[SEP]"]
    assert row["word_starts"] == [1, 2, 3, 4]
    assert row["labels"] == [-100, 1, 2, 0, 1, -100, -100, -100, -100]


def test_real_wordpiece_alignment():
    from pipelines.models.encoders import load_tokenizer

    tok = load_tokenizer("default")
    ds = Dataset.from_dict({"tokens": [["EU", "rejects", "1996-08-22"]], "tags": [["B-ORG", "O", "O"]]})
    [row] = ner.encode(ds, tok, {"O": 0, "B-ORG": 1}, DataConfig(max_length=32)).rows
    assert tok.convert_ids_to_tokens(row["input_ids"]) == [
        "[CLS]", "eu", "rejects", "1996", "-", "08", "-", "22", "[SEP]"]
    assert row["labels"] == [-100, 1, 0, 0, -100, -100, -100, -100, -100]


def test_long_sentence_becomes_windows_that_label_every_word_once(tiny_tok):
    rng = random.Random(0)
    words = [rng.choice(["oslo", "the", "blackburn", "x", "new"]) for _ in range(120)]
    tags = [rng.choice(["O", "B-LOC"]) for _ in words]
    ds = Dataset.from_dict({"tokens": [words], "tags": [tags]})
    feats = ner.encode(ds, tiny_tok, {"O": 0, "B-LOC": 1}, DataConfig(max_length=24)).rows
    assert len(feats) > 5
    covered = []
    for row in feats:
        assert len(row["input_ids"]) <= 24
        labelled = [lab for lab in row["labels"] if lab != -100]
        assert len(labelled) == len(row["word_starts"])
        covered.extend(range(row["core_start"], row["core_start"] + len(row["word_starts"])))
    assert covered == list(range(len(words)))
    # stitching gold ids back gives the original tags
    windows = [(0, r["core_start"], [r["labels"][p] for p in r["word_starts"]]) for r in reversed(feats)]
    assert [["O", "B-LOC"][i] for i in tagging.stitch_values(windows)[0]] == tags


def test_document_context_adds_words_but_labels_only_the_sentence(tiny_tok):
    ds = Dataset.from_dict({"tokens": [["the", "x"], ["new", "york"], ["oslo"]], "tags": [["O", "O"],
                            ["B-LOC", "I-LOC"], ["B-LOC"]], "doc_id": [0, 0, 1]})
    rows = ner.encode(ds, tiny_tok, {"O": 0, "B-LOC": 1, "I-LOC": 2}, DataConfig(doc_context=True)).rows
    middle = rows[1]
    assert tiny_tok.convert_ids_to_tokens(middle["input_ids"])[1:-1] == ["the", "x", "new", "york"]
    assert middle["word_starts"] == [3, 4] and [lab for lab in middle["labels"] if lab != -100] == [1, 2]
    assert tiny_tok.convert_ids_to_tokens(rows[2]["input_ids"])[1:-1] == ["o", "##s", "##l", "##o"]  # other doc


@pytest.mark.parametrize("seed", range(20))
def test_plan_windows_partitions_cores(seed):
    rng = random.Random(seed)
    sizes = [rng.randint(1, 9) for _ in range(rng.randint(1, 60))]
    lo = rng.randint(0, len(sizes) - 1)
    hi = rng.randint(lo + 1, len(sizes))
    budget = rng.randint(4, 40)
    wins = plan_windows(sizes, lo, hi, budget)
    assert [w.start for w in wins] == [lo] + [w.end for w in wins[:-1]] and wins[-1].end == hi
    for w in wins:
        assert w.lo <= w.start < w.end <= w.hi
        assert sum(min(s, budget) for s in sizes[w.lo:w.hi]) <= budget


def test_piece_cache_unknown_word_maps_to_unk(tiny_tok):
    assert PieceCache(tiny_tok)(["\u200b"]) == [[tiny_tok.unk_token_id]]
    ids, starts, _ = build_windows([[5], [6, 7]], 0, 2, 16, 2, 3)[0]
    assert ids == [2, 5, 6, 7, 3] and starts == [1, 2]


def test_byte_level_bpe_words_keep_their_leading_space_marker(tmp_path):
    """RoBERTa/GPT-2 style tokenizers mark a word's leading space (Ġ); words handed over one by one must get
    the pieces they have in running text, or the encoder sees word-internal pieces everywhere."""
    from tokenizers import ByteLevelBPETokenizer
    from transformers import RobertaConfig, RobertaTokenizerFast

    from pipelines.models.encoders import load_tokenizer

    bpe = ByteLevelBPETokenizer()
    bpe.train_from_iterator(["anna keller flew to oslo", "vireo labs hired anna keller"] * 20, vocab_size=300,
                            min_frequency=1, special_tokens=["<s>", "<pad>", "</s>", "<unk>", "<mask>"])
    bpe.save_model(str(tmp_path))
    RobertaTokenizerFast(vocab=str(tmp_path / "vocab.json"), merges=str(tmp_path / "merges.txt")).save_pretrained(
        tmp_path)
    RobertaConfig(vocab_size=300, hidden_size=32, num_hidden_layers=1, num_attention_heads=2,
                  intermediate_size=37).save_pretrained(tmp_path)
    tok = load_tokenizer(str(tmp_path))  # as model.encoder=<that folder> loads it
    words = ["anna", "keller", "flew", "to", "oslo"]
    [row] = ner.encode(Dataset.from_dict({"tokens": [words]}), tok, {}, DataConfig()).rows
    assert row["input_ids"] == tok(" ".join(words))["input_ids"]  # the same pieces as running text
    assert all(tok.convert_ids_to_tokens(row["input_ids"][s]).startswith("Ġ") for s in row["word_starts"])
    from transformers import AutoTokenizer

    plain = AutoTokenizer.from_pretrained(tmp_path)  # the old way: loaded as is, each word tokenised alone
    [alone] = plain(["keller"], add_special_tokens=False)["input_ids"]
    assert not plain.convert_ids_to_tokens(alone)[0].startswith("Ġ")
