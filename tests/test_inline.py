import pytest

from pipelines.config import DataConfig
from pipelines.data.inline import parse_example, read_inline
from pipelines.data.readers import ReadError
from pipelines.data.splits import read_file


def test_markdown_by_hand(fixtures):
    ds = read_inline(fixtures / "inline.md")
    assert ds["label"] == ["book_table", "book_table", "weather"]
    assert ds["text"][0] == "book a table at Roma for 4 tomorrow"
    assert ds["tokens"][0] == ["book", "a", "table", "at", "Roma", "for", "4", "tomorrow"]
    assert ds["tags"][0] == ["O", "O", "O", "O", "B-restaurant", "O", "B-party_size", "O"]
    assert ds["tags"][1] == ["O", "O", "B-party_size", "O", "B-restaurant", "I-restaurant"]
    assert ds["tokens"][2][-3:] == ["New", "York", "?"] and ds["tags"][2][-3:] == ["B-city", "I-city", "O"]


def test_yaml_matches_markdown(fixtures):
    md, ym = read_inline(fixtures / "inline.md"), read_inline(fixtures / "inline.yaml")
    assert ym["text"] == [md["text"][0], md["text"][2]] and ym["tags"] == [md["tags"][0], md["tags"][2]]
    assert read_file(fixtures / "inline.yaml", DataConfig())["label"] == ["book_table", "weather"]


@pytest.mark.parametrize("line, message", [
    ("book [Roma(restaurant)", "column 6"),
    ("book [Roma]restaurant", "column 6"),
    ("book Roma](restaurant)", "column 10"),
    ("[New Yor](city)k", "starts or ends inside the word 'York'"),
])
def test_malformed_examples_name_line_and_column(tmp_path, line, message):
    with pytest.raises(ReadError, match=message):
        parse_example(line, tmp_path / "x.md", 3)


def test_structure_errors_name_the_line(tmp_path):
    path = tmp_path / "bad.md"
    path.write_text("- an example before any heading\n")
    with pytest.raises(ReadError, match=r"bad.md:1: example before any"):
        read_inline(path)
    path.write_text("## greet\n- hi\nhello there\n")
    with pytest.raises(ReadError, match=r"bad.md:3: expected '## intent: NAME' or '- example'"):
        read_inline(path)
    path = tmp_path / "bad.yaml"
    path.write_text("greet:\n  - hi\n  - [oops](x\n")
    with pytest.raises(ReadError, match=r"bad.yaml:3"):
        read_inline(path)
