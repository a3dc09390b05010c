"""Served = scored: raw text made from tokens, the word splitter a run records, and the served path (predict on
raw text) scoring what the gold-token path scores when the splitter gives back the tokens."""

import json

import pytest
from datasets import Dataset

from pipelines.config import DataConfig, load_config
from pipelines.data.rawtext import SPLITTERS, choose_splitter, detokenize, plain_join, treebank_words
from pipelines.inference.evaluate import evaluate
from pipelines.inference.predict import Predictor
from pipelines.inference.served import raw_examples, served_scores
from pipelines.training.train import run

CONLL_LIKE = [["Anna", "Keller", "'s", "firm", "in", "the", "U.S.", "--", "said", "(", "Reuters", ")", "."],
              ["Shares", "rose", "1/2", "to", "$", "12", "."], ["\"", "We", "won", "\"", ",", "he", "said", "."]]


def test_detokenized_text_holds_every_token_at_its_span():
    for tokens in CONLL_LIKE:
        for join in (detokenize, plain_join):
            text, spans = join(tokens)
            assert [text[a:b] for a, b in spans] == tokens
    text, _ = detokenize(CONLL_LIKE[0])
    assert text == "Anna Keller's firm in the U.S. -- said (Reuters)."


def test_splitters_give_offsets_into_the_text_and_treebank_keeps_conll_tokens():
    text, spans = detokenize(CONLL_LIKE[0])
    for split in SPLITTERS.values():
        assert all(text[a:b] == w for w, a, b in split(text))
    assert [(a, b) for _, a, b in treebank_words(text)] == spans
    assert [w for w, _, _ in treebank_words("a\nb. c")] == ["a", "b.", "c"]  # lines split apart


def test_auto_chooses_the_splitter_that_gives_back_the_training_tokens():
    conll = Dataset.from_dict({"tokens": CONLL_LIKE * 3})
    assert choose_splitter(conll)[0] == "treebank"
    cut = Dataset.from_dict({"text": ["I'd like 2 tickets, please."], "tokens": [["I'd", "like", "2", "tickets",
                                                                                ",", "please", "."]]})
    assert choose_splitter(cut)[0] == "regex"  # words cut from the text by the regex: the model knows no other
    assert choose_splitter(Dataset.from_dict({"text": ["x"]}))[0] == "regex"


def tiny_ner_run(out, *overrides):
    run(load_config(None, ["model.encoder=tiny", "train.progress_bar=false", f"train.out_dir={out}", *overrides],
                    task="ner"), out / "run")
    return out / "run"


@pytest.fixture(scope="module")
def ner_run(tmp_path_factory):
    return tiny_ner_run(tmp_path_factory.mktemp("served"), "train.epochs=2", "data.max_length=16", "model.head=softmax")


def test_the_run_records_its_splitter_and_predict_uses_the_run_data_config(ner_run):
    meta = json.loads((ner_run / "model" / "pipeline.json").read_text())
    assert meta["data"]["splitter"] in {"treebank", "regex"} and meta["data"]["max_length"] == 16
    predictor = Predictor.load(ner_run)
    assert predictor.data.splitter == meta["data"]["splitter"]
    old = json.loads((ner_run / "model" / "pipeline.json").read_text())
    del old["data"]["splitter"]  # a run made before the splitter was recorded served with the regex
    (ner_run / "model" / "pipeline.json").write_text(json.dumps(old))
    try:
        assert Predictor.load(ner_run).data.splitter == "regex"
    finally:
        (ner_run / "model" / "pipeline.json").write_text(json.dumps(meta))


def test_served_path_scores_what_the_gold_token_path_scores_when_the_words_agree(ner_run):
    """Long sentences in windows of 16 sub-tokens: if predict encoded otherwise than training (another window
    length, no features), the two paths would differ."""
    words = "Anna Keller flew from Oslo to Bergen with Tom Berg and Vireo Labs on Monday".split()
    tags = ["B-PER", "I-PER", "O", "O", "B-LOC", "O", "B-LOC", "O", "B-PER", "I-PER", "O", "B-ORG", "I-ORG", "O", "O"]
    ds = Dataset.from_dict({"tokens": [words, words[:6], words[6:]], "tags": [tags, tags[:6], tags[6:]]})
    predictor = Predictor.load(ner_run)
    gold_path = evaluate(predictor, ds)
    for splitter in SPLITTERS:
        served = served_scores(predictor.with_data(splitter=splitter), ds, detok="plain")
        assert served["failed"] == 0 and served["examples"] == 3 and served["splitter"] == splitter
        assert served["f1"] == pytest.approx(gold_path["f1"]) and served["recall"] == pytest.approx(
            gold_path["recall"])
    texts, gold = raw_examples(ds, "plain")
    assert texts[1] == "Anna Keller flew from Oslo to" and gold[1] == {("PER", 0, 11), ("LOC", 22, 26)}
    assert DataConfig(splitter="treebank").splitter == "treebank"
    with pytest.raises(Exception, match="data.splitter"):
        DataConfig(splitter="spacy")


def test_pre_split_tokens_are_predicted_as_given(ner_run):
    predictor = Predictor.load(ner_run)
    words = "Anna Keller 's firm in the U.S. -- said".split()
    [out] = predictor.predict(tokens=[words])
    text = " ".join(words)
    assert all(text[e["start"]:e["end"]] == e["text"] for e in out["entities"])
    starts = {text.index(w) for w in words}  # every entity starts at one of the given words
    assert all(e["start"] in starts for e in out["entities"])
    assert out == predictor.with_data(splitter="whitespace").predict([text])[0]
    with pytest.raises(ValueError, match="whitespace inside a word"):
        predictor.predict(tokens=[["New York", "is"]])
    with pytest.raises(ValueError, match="texts or tokens"):
        predictor.predict(["a"], tokens=[["a"]])


DOC_WORDS = ["Anna Keller flew from Oslo to Bergen .".split(), "She met Tom Berg of Vireo Labs .".split(),
             "Keller said the talks went well .".split()]
DOC_TAGS = [["B-PER", "I-PER", "O", "O", "B-LOC", "O", "B-LOC", "O"],
            ["O", "O", "B-PER", "I-PER", "O", "B-ORG", "I-ORG", "O"], ["B-PER", "O", "O", "O", "O", "O", "O"]]


@pytest.fixture(scope="module")
def doc_run(tmp_path_factory):
    return tiny_ner_run(tmp_path_factory.mktemp("served_doc"), "train.epochs=1", "data.max_length=24",
                        "data.doc_context=true")


def test_a_document_is_served_with_the_context_training_gave_its_sentences(doc_run):
    """A text whose lines are a document's sentences gets the features training gave those sentences with
    their doc_id (neighbouring words in the window), and `predict` scores as `evaluate` does."""
    from pipelines.families.tagging import predict_words

    predictor = Predictor.load(doc_run)
    assert predictor.data.doc_context
    ds = Dataset.from_dict({"tokens": DOC_WORDS * 2, "tags": DOC_TAGS * 2, "doc_id": [0, 0, 0, 1, 1, 1]})
    trained = predictor.task.encode(ds, predictor.tokenizer, {}, predictor.data)
    texts = [" ".join(w) for w in DOC_WORDS]
    served = predictor.task.encode(Dataset.from_dict({"tokens": [t.split() for t in texts], "doc_id": [0, 0, 0]}),
                                   predictor.tokenizer, {}, predictor.data)
    assert [r["input_ids"] for r in served.rows] == [r["input_ids"] for r in trained.rows[:len(served.rows)]]
    alone = predictor.task.encode(Dataset.from_dict({"tokens": [texts[1].split()]}), predictor.tokenizer, {},
                                  predictor.data)
    assert len(alone.rows[0]["input_ids"]) < len(served.rows[1]["input_ids"])  # the context is really there
    words, records, _ = predict_words(predictor.task, predictor.model, predictor.tokenizer, texts, 8,
                                      predictor.data, doc_ids=[0, 0, 0])
    assert len(words) == 3 and sorted({r.example_id for r in records}) == [0, 1, 2]
    gold_path = evaluate(predictor, ds)
    as_documents = served_scores(predictor.with_data(splitter="whitespace"), ds, detok="plain", documents=True)
    assert as_documents["examples"] == 2 and as_documents["failed"] == 0
    assert as_documents["f1"] == pytest.approx(gold_path["f1"])
    assert as_documents["precision"] == pytest.approx(gold_path["precision"])


def test_a_text_with_line_breaks_is_its_lines_as_sentences(ner_run):
    """Without document context, each line is predicted as if sent alone; offsets point into the whole text."""
    predictor = Predictor.load(ner_run)
    lines = ["Anna Keller flew from Oslo .", "", "Vireo Labs hired Tom in Bergen ."]
    [doc] = predictor.predict(["\n".join(lines)])
    alone = [predictor.predict([line])[0] if line else {"entities": []} for line in lines]
    shifts = [0, len(lines[0]) + 1, len(lines[0]) + len(lines[1]) + 2]
    want = [{**e, "start": e["start"] + shift, "end": e["end"] + shift}
            for out, shift in zip(alone, shifts, strict=True)
            for e in out["entities"]]
    assert doc["entities"] == want and want
    text = "\n".join(lines)
    assert all(text[e["start"]:e["end"]] == e["text"] for e in doc["entities"])
