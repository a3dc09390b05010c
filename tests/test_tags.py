import pytest

from pipelines.data.tags import TagError, detect_scheme, is_valid_iob2, spans, to_iob2


def test_iob1_to_iob2():
    tags = ["I-PER", "I-PER", "O", "I-PER", "B-PER", "I-LOC"]
    assert to_iob2(tags, "iob1") == ["B-PER", "I-PER", "O", "B-PER", "B-PER", "B-LOC"]


def test_bioes_to_iob2():
    tags = ["B-PER", "E-PER", "O", "S-LOC", "B-ORG", "I-ORG", "E-ORG", "S-ORG"]
    assert to_iob2(tags, "bioes") == ["B-PER", "I-PER", "O", "B-LOC", "B-ORG", "I-ORG", "I-ORG", "B-ORG"]


def test_detect_and_validate():
    assert detect_scheme([["B-PER", "I-PER", "O"]]) == "iob2"
    assert detect_scheme([["I-PER", "O"]]) == "iob1"
    assert detect_scheme([["S-PER", "O"]]) == "bioes"
    assert is_valid_iob2(["B-X", "I-X", "O", "B-Y"]) and not is_valid_iob2(["O", "I-X"])
    assert not is_valid_iob2(["B-X", "I-Y"])


@pytest.mark.parametrize("tag", ["PER", "X-LOC", "B-", "b-PER", ""])
def test_bad_tags(tag):
    with pytest.raises(TagError, match="fits no scheme"):
        to_iob2([tag], "iob2")


def test_spans():
    assert spans(["B-PER", "I-PER", "O", "B-LOC", "B-LOC", "I-ORG"]) == [
        ("PER", 0, 2), ("LOC", 3, 4), ("LOC", 4, 5), ("ORG", 5, 6)]
