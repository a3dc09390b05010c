import torch

from pipelines.batching import Collator
from pipelines.bilstm import BiLstmCrf
from pipelines.words import CASES, WordTokenizer, casing
from tasks import ner

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
    tok.train_vectors(SENTS * 20, dim=16, seed=0, epochs=2)
    model = BiLstmCrf.build(LABELS, tok)
    assert model.word_emb.weight.shape == (len(tok), 16)
    assert torch.allclose(model.word_emb.weight[2], torch.from_numpy(tok.vectors[2]))


def test_collator_pads_characters_in_three_dimensions():
    batch = Collator(0)([{"input_ids": [5, 6], "char_ids": [[1, 2, 3], [4]]}, {"input_ids": [7], "char_ids": [[9]]}])
    assert batch["char_ids"].tolist() == [[[1, 2, 3], [4, 0, 0]], [[9, 0, 0], [0, 0, 0]]]


def test_padding_changes_neither_loss_nor_emissions():
    from datasets import Dataset

    from pipelines.config import DataConfig

    torch.manual_seed(0)
    tok = WordTokenizer.build(SENTS)
    model = BiLstmCrf.build(LABELS, tok, dropout=0.0).eval()
    ds = Dataset.from_dict({"tokens": SENTS, "tags": [["B-PER", "O", "B-PER", "O", "B-LOC", "O"], ["O"] * 7]})
    rows = ner.encode(ds, tok, {lab: i for i, lab in enumerate(LABELS)}, DataConfig()).rows
    alone = Collator(0)([rows[0]])
    padded = Collator(0)(rows)  # row 0 padded to 7 words
    keys = ("input_ids", "attention_mask", "labels", "char_ids", "case_ids")
    a = model(**{k: alone[k] for k in keys})
    both = model(**{k: padded[k] for k in keys})
    assert torch.allclose(a.logits[0], both.logits[0, :6], atol=1e-5)
    single_b = model(**{k: Collator(0)([rows[1]])[k] for k in keys})
    assert torch.allclose((a.loss + single_b.loss) / 2, both.loss, atol=1e-4)
