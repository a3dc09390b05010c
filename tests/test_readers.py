import pytest
from conftest import SHARED, needs_shared

from pipelines.config import DataConfig
from pipelines.data.readers import ReadError, read_clinc, read_conll, read_csv, read_jsonl, read_seq_dir
from pipelines.data.splits import load_splits


def test_conll_columns_and_documents(fixtures):
    ds = read_conll(fixtures / "ner_iob2.conll")
    assert ds["tokens"] == [["EU", "rejects", "German", "call", "."], ["Peter", "Blackburn"],
                            ["New", "York", "is", "big"]]
    assert ds["tags"][0] == ["B-ORG", "O", "B-MISC", "O", "O"]
    assert ds["doc_id"] == [0, 0, 1]


def test_conll_choose_tag_column(fixtures):
    ds = read_conll(fixtures / "ner_iob2.conll", tag_column=2)  # the chunk column
    assert ds["tags"][0] == ["B-NP", "B-VP", "B-NP", "I-NP", "O"]


def test_iob1_and_bioes_become_iob2(fixtures):
    assert read_conll(fixtures / "ner_iob1.conll")["tags"][0] == [
        "B-PER", "I-PER", "O", "B-PER", "I-PER", "B-PER", "O", "B-LOC"]
    assert read_conll(fixtures / "ner_bioes.tsv")["tags"][0] == [
        "B-PER", "I-PER", "O", "B-PER", "O", "B-LOC", "I-LOC", "I-LOC"]


@pytest.mark.parametrize("name, message", [
    ("ner_bad_columns.conll", r"ner_bad_columns.conll:4: expected at least 2 columns"),
    ("ner_bad_tag.conll", r"ner_bad_tag.conll:3: tag 'MISC' fits no scheme"),
])
def test_malformed_conll_names_file_and_line(fixtures, name, message):
    with pytest.raises(ReadError, match=message):
        read_conll(fixtures / name)


def test_non_utf8_and_empty(tmp_path):
    bad = tmp_path / "latin1.conll"
    bad.write_bytes("EU B-ORG\nM\u00fcnchen B-LOC\n".encode("latin-1"))
    with pytest.raises(ReadError, match=r"latin1.conll:2: not UTF-8 \(byte 0xfc"):
        read_conll(bad)
    empty = tmp_path / "empty.conll"
    empty.write_text("\n\n")
    with pytest.raises(ReadError, match="empty.conll: file is empty"):
        read_conll(empty)


def test_seq_layout_and_mismatch(fixtures, tmp_path):
    ds = read_seq_dir(fixtures / "seq" / "train")
    assert ds["tokens"][0] == ["book", "a", "flight", "to", "boston"]
    assert ds["tags"][0][-1] == "B-toloc.city_name" and ds["label"] == ["atis_flight", "weather"]
    (tmp_path / "seq.in").write_text("a b c\nd e\n")
    (tmp_path / "seq.out").write_text("O O O\nO\n")
    with pytest.raises(ReadError, match=r"seq.out:2: 1 tags for 2 words"):
        read_seq_dir(tmp_path)


def test_csv_jsonl_clinc(fixtures):
    csv = read_csv(fixtures / "intent.csv")
    assert csv["text"][0] == "book a table for 2, please" and csv["label"][2] == "play_music"
    js = read_jsonl(fixtures / "intent.jsonl")
    assert js["label"] == ["book_table", "weather"]
    ner = read_jsonl(fixtures / "ner.jsonl")
    assert ner["tokens"][1] == ["Vireo", "Labs", "hired", "her"] and ner["tags"][1][:2] == ["B-ORG", "I-ORG"]
    clinc = read_clinc(fixtures / "clinc_mini.json")
    assert set(clinc) == {"train", "validation", "test", "oos_train", "oos_test"}
    assert clinc["train"]["label"] == ["weather", "book_flight"]


def test_jsonl_errors(tmp_path):
    path = tmp_path / "x.jsonl"
    path.write_text('{"text": "a", "label": "b"}\n{"text": "a", \n')
    with pytest.raises(ReadError, match=r"x.jsonl:2: not valid JSON"):
        read_jsonl(path)
    path.write_text('{"tokens": ["a", "b"], "tags": ["O"]}\n')
    with pytest.raises(ReadError, match=r"x.jsonl:1: 1 tags for 2 tokens"):
        read_jsonl(path)


def test_splits_from_folder_and_carved_dev(fixtures, tmp_path):
    splits = load_splits(DataConfig(), fixtures / "seq")
    assert set(splits) == {"train", "validation"} and len(splits["validation"]) == 1
    (tmp_path / "train.jsonl").write_text("".join(f'{{"text": "t{i}", "label": "a"}}\n' for i in range(20)))
    splits = load_splits(DataConfig(path=str(tmp_path)), "unused")
    assert len(splits["train"]) == 18 and len(splits["validation"]) == 2
    with pytest.raises(ReadError, match="no such file"):
        load_splits(DataConfig(path=str(tmp_path / "nope")), "unused")


@pytest.mark.slow
@needs_shared("conll2003")
def test_real_conll2003_counts():
    counts = {s: len(read_conll(SHARED / "conll2003" / f"{s}.txt")) for s in ("train", "dev", "test")}
    assert counts == {"train": 14041, "dev": 3250, "test": 3453}
    assert read_conll(SHARED / "conll2003" / "train.txt")["doc_id"][-1] == 945


@needs_shared("atis")
def test_real_atis_and_snips_and_clinc():
    assert len(read_seq_dir(SHARED / "atis" / "train")) == 4478
    assert len(read_seq_dir(SHARED / "snips" / "test")) == 700
    clinc = read_clinc(SHARED / "clinc150" / "data_full.json")
    assert (len(clinc["train"]), len(clinc["validation"]), len(clinc["test"])) == (15000, 3000, 4500)
    assert len(clinc["oos_test"]) == 1000 and len(set(clinc["train"]["label"])) == 150


@needs_shared("conll2003")
def test_real_conll2003_dev_parses_as_iob2():
    ds = read_conll(SHARED / "conll2003" / "dev.txt")
    assert len(ds) == 3250 and sum(len(t) for t in ds["tokens"]) == 51362


def test_hub_spec_is_handed_to_datasets_and_fails_clearly_offline():
    with pytest.raises(ReadError, match=r"hub:no-such/dataset: datasets.load_dataset failed .*HF_HUB_OFFLINE=0"):
        load_splits(DataConfig(path="hub:no-such/dataset"), "unused")


@needs_shared("clinc150")
def test_clinc_file_is_recognised_by_load_splits():
    # data_full.json is pretty-printed and its first key is oos_val: detection must not rely on the head
    splits = load_splits(DataConfig(path=str(SHARED / "clinc150" / "data_full.json")), "unused")
    assert len(splits["train"]) == 15000 and len(splits["oos_validation"]) == 100


def intent_module(csv, *overrides, seed=13):
    """The intent task's data module over one CSV, set up as training sets it up."""
    from pipelines.config import load_config
    from pipelines.registry import get_task
    from pipelines.training.datamodule import TaskDataModule

    cfg = load_config(None, ["model.encoder=tiny", f"data.path={csv}", *overrides], task="intent")
    task = get_task("intent", cfg.model)
    TaskDataModule(task, cfg.data, task.build_tokenizer({}), seed=seed).setup("fit")


def test_a_record_without_its_label_is_named_by_file_and_line(tmp_path):
    """The check runs after the dev set is carved out of a shuffled train split: the message still names the
    line of the file, not a position in the shuffled split."""
    rows = [f"text number {i},{'a' if i % 2 else 'b'}" for i in range(40)]
    rows[14] = "text number 14,"  # file line 16 (the header is line 1)
    csv = tmp_path / "mine.csv"
    csv.write_text("text,label\n" + "\n".join(rows) + "\n")
    with pytest.raises(ReadError, match=rf"{csv}:16: no 'label' in this record"):
        intent_module(csv)


@pytest.mark.parametrize("line,message", [
    ('{"text": 12345, "label": "a"}', r":2: 'text' must be a string, got int"),
    ('{"text": "fine", "label": ["a", "b"]}', r":2: 'label' must be one label"),
    ('{"tokens": ["a", 3], "tags": ["O", "O"]}', r":2: 'tokens' must be a list of strings"),
])
def test_jsonl_fields_of_the_wrong_type_name_the_line(tmp_path, line, message):
    first = '{"tokens": ["x"], "tags": ["O"]}' if "tokens" in line else '{"text": "ok", "label": "a"}'
    path = tmp_path / "x.jsonl"
    path.write_text(first + "\n" + line + "\n")
    with pytest.raises(ReadError, match=message):
        read_jsonl(path)


def test_one_label_only_is_refused(tmp_path):
    csv = tmp_path / "one.csv"
    csv.write_text("text,label\n" + "".join(f"row {i},same\n" for i in range(30)))
    with pytest.raises(ReadError, match=r"only the label\(s\) \['same'\]"):
        intent_module(csv)


def test_iob1_reading_and_nul_bytes_are_said(tmp_path, caplog):
    path = tmp_path / "x.conll"
    path.write_text("Tom B-PER\nmet O\n\nin O\nOslo I-LOC\nand O\nBergen I-LOC\n")
    with caplog.at_level("WARNING"):
        ds = read_conll(path)
    assert ds["tags"][1] == ["O", "B-LOC", "O", "B-LOC"] and ds["line"] == [1, 4]
    assert "2 entities start with I- (the first at line 5, 'I-LOC')" in caplog.text
    jsonl = tmp_path / "n.jsonl"
    jsonl.write_text('{"text": "a\\u0000b", "label": "x"}\n{"text": "fine", "label": "y"}\n')
    with caplog.at_level("WARNING"):
        ds = read_jsonl(jsonl)
    assert ds["text"][0] == "a b" and "1 records hold NUL bytes in their text (the first at line 1)" in caplog.text


def test_split_files_named_otherwise_are_named_in_the_config(tmp_path, fixtures):
    import shutil

    from pipelines.errors import ConfigError

    for name in ("wnut17train.conll", "emerging.dev.conll", "emerging.test.annotated"):
        shutil.copy(fixtures / "ner_iob2.conll", tmp_path / name)
    cfg = DataConfig(path=str(tmp_path), train="wnut17train.conll", dev="emerging.dev.conll",
                     test="emerging.test.annotated", format="conll")
    splits = load_splits(cfg, "")
    assert set(splits) == {"train", "validation", "test"} and len(splits["test"]) == len(splits["train"])
    only_train = load_splits(DataConfig(train=str(tmp_path / "wnut17train.conll")), "", seed=1)
    assert set(only_train) == {"train", "validation"}  # a dev set carved as usual
    with pytest.raises(ReadError, match="no such file"):
        load_splits(DataConfig(path=str(tmp_path), train="nope.conll"), "")
    with pytest.raises(ConfigError, match="give data.train too"):
        DataConfig(dev="x.conll")


def test_a_missing_label_column_names_the_option_that_maps_one(tmp_path):
    csv = tmp_path / "news.csv"
    csv.write_text("text,category\n" + "".join(f"row {i},{'ab'[i % 2]}\n" for i in range(30)))
    with pytest.raises(ReadError, match=r"lacks \['label'\] \(has \['text', 'category'\]\).*data.label_field=<column>"):
        intent_module(csv)
    intent_module(csv, "data.label_field=category")


def test_a_format_is_one_registered_reader_and_an_unknown_one_lists_them(tmp_path, monkeypatch):
    from datasets import Dataset

    from pipelines.data import splits

    path = tmp_path / "data.txt"
    path.write_text("ok\n")
    with pytest.raises(ReadError, match="data.format='xml' is not a file format: expected auto, hub or one of "
                                        "clinc, conll, csv"):
        splits.read_file(path, DataConfig(format="xml"))
    monkeypatch.setitem(splits.READERS, "xml", lambda p, cfg: Dataset.from_dict({"text": [p.read_text()]}))
    assert splits.read_file(path, DataConfig(format="xml"))["text"] == ["ok\n"]
