import torch
from helpers import batch_loss, make_task
from pipelines.tasks import ner

from pipelines.data.batching import Collator
from pipelines.data.words import CASES, WordTokenizer, WordVectors, casing
from pipelines.models.bilstm import BiLstmCrf

SENTS = [["Anna", "met", "Tom", "in", "Oslo", "."], ["The", "IBM", "deal", "cost", "$5", "in", "1996"]]
LABELS = ["O", "B-PER", "I-PER", "B-LOC", "I-LOC"]


def test_casing_classes():
    assert [CASES[casing(w)] for w in ["oslo", "Oslo", "IBM", "1996", "$5", "iPhone", "."]] == [
        "lower", "title", "upper", "numeric", "has_digit", "mixed", "other"]


def test_word_tokenizer_ids_and_round_trip(tmp_path):
    tok = WordTokenizer.build(SENTS)
    wid, chars, case = tok.encode_word("OSLO")
    assert wid == tok.word_index["oslo"] and case == CASES.index("upper")
    assert chars[0] == tok.char_index["O"] and len(chars) == 4
    assert tok.encode_word("Zanzibar")[0] == tok.unk_token_id
    tok.save_pretrained(tmp_path)
    again = WordTokenizer.from_pretrained(tmp_path)
    assert again.words == tok.words and again.chars == tok.chars


def test_word2vec_vectors_fill_the_embedding():
    tok = WordTokenizer.build(SENTS)
    vectors = WordVectors.fit(tok, SENTS * 20, dim=16, seed=0, epochs=2)
    model = BiLstmCrf.build(LABELS, tok, vectors=vectors.vectors)
    assert model.word_emb.weight.shape == (len(tok), 16)
    assert torch.allclose(model.word_emb.weight[2], torch.from_numpy(vectors.vectors[2]))


def test_collator_pads_characters_in_three_dimensions():
    batch = Collator(0)([{"input_ids": [5, 6], "char_ids": [[1, 2, 3], [4]]}, {"input_ids": [7], "char_ids": [[9]]}])
    assert batch["char_ids"].tolist() == [[[1, 2, 3], [4, 0, 0]], [[9, 0, 0], [0, 0, 0]]]


def test_padding_changes_neither_loss_nor_emissions():
    from datasets import Dataset

    from pipelines.config import DataConfig

    torch.manual_seed(0)
    tok = WordTokenizer.build(SENTS)
    task = make_task("ner", architecture="bilstm", head="crf", word_features="none")
    model = BiLstmCrf.build(LABELS, tok, dropout=0.0).eval()
    ds = Dataset.from_dict({"tokens": SENTS, "tags": [["B-PER", "O", "B-PER", "O", "B-LOC", "O"], ["O"] * 7]})
    rows = ner.encode(ds, tok, {lab: i for i, lab in enumerate(LABELS)}, DataConfig()).rows
    alone = Collator(0)([rows[0]])
    padded = Collator(0)(rows)  # row 0 padded to 7 words
    keys = ("input_ids", "attention_mask", "char_ids", "case_ids")
    a = model(**{k: alone[k] for k in keys})
    both = model(**{k: padded[k] for k in keys})
    assert torch.allclose(a.logits[0], both.logits[0, :6], atol=1e-5)
    single_b = Collator(0)([rows[1]])
    loss_a, loss_b, loss_both = (batch_loss(task, model, b) for b in (alone, single_b, padded))
    assert torch.allclose((loss_a + loss_b) / 2, loss_both, atol=1e-4)


def test_read_unlabelled_text_jsonl_gzip_and_latin1(tmp_path):
    import gzip
    import json

    from pipelines.data.words import read_unlabelled

    (tmp_path / "a.txt").write_text("Anna flew to Oslo.\n\nTom stayed.\n", encoding="utf-8")
    (tmp_path / "b.txt").write_bytes("Zürich is cold".encode("latin-1"))
    (tmp_path / "c.jsonl.gz").write_bytes(gzip.compress(
        (json.dumps({"text": "Line one\nLine two"}) + "\n\n").encode()))
    (tmp_path / "skip.csv").write_text("not,read\n")
    got = list(read_unlabelled([tmp_path]))
    assert got == [["Anna", "flew", "to", "Oslo", "."], ["Tom", "stayed", "."], ["Zürich", "is", "cold"],
                   ["Line", "one"], ["Line", "two"]]


def test_read_unlabelled_names_the_missing_path_and_the_bad_line(tmp_path):
    import pytest

    from pipelines.data.words import read_unlabelled

    with pytest.raises(FileNotFoundError, match="nowhere"):
        list(read_unlabelled([tmp_path / "nowhere"]))
    (tmp_path / "bad.jsonl").write_text('{"text": "fine"}\n{"body": "no text"}\n')
    with pytest.raises(ValueError, match=r"bad.jsonl:2: expected a JSON object with a 'text' field"):
        list(read_unlabelled([tmp_path / "bad.jsonl"]))


def test_unlabelled_words_seen_often_join_the_vocabulary_with_trained_vectors():
    tok = WordTokenizer.build(SENTS)
    unlabelled = [["Bergen", "is", "near", "Oslo"]] * 5 + [["rare", "word"]] * 2
    vectors = WordVectors.fit(tok, SENTS * 5, dim=8, seed=0, epochs=1, unlabelled=unlabelled, min_count=3)
    assert "bergen" in tok.word_index and "near" in tok.word_index and "rare" not in tok.word_index
    assert vectors.vectors.shape == (len(tok), 8)
    assert tok.encode_word("Bergen")[0] == tok.word_index["bergen"] != tok.unk_token_id


def test_word_dropout_reads_words_as_unknown_in_training_only():
    torch.manual_seed(0)
    tok = WordTokenizer.build(SENTS)
    model = BiLstmCrf.build(LABELS, tok, dropout=0.0, word_dropout=0.5)
    seen = []
    model.word_emb.register_forward_hook(lambda mod, inp, out: seen.append(inp[0].clone()))
    ids = torch.tensor([[2, 3, 4, 5, 6, 7] * 20])
    kwargs = {"attention_mask": torch.ones_like(ids), "char_ids": torch.ones(1, 120, 3, dtype=torch.long),
              "case_ids": torch.zeros_like(ids)}
    model.train()(input_ids=ids, **kwargs)
    unk = (seen[-1] == tok.unk_token_id).float().mean().item()
    assert 0.3 < unk < 0.7 and ((seen[-1] == ids) | (seen[-1] == tok.unk_token_id)).all()
    model.eval()(input_ids=ids, **kwargs)
    assert torch.equal(seen[-1], ids)
