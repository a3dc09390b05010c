"""Character-offset spans <-> word tags, the SemEval char-F1, and the reader's checks."""

import pytest

from pipelines.data.align import split_words
from pipelines.data.spans import offsets_to_tags, parse_offsets, tags_to_offsets, text_to_tags
from pipelines.errors import ReadError
from pipelines.inference.metrics import char_f1, span_f1

TEXT = "you absolute idiot, go away moron"
#       0123456789012345678901234567890123


def offsets(*ranges):
    return sorted({c for a, b in ranges for c in range(a, b)})


@pytest.mark.parametrize("spans, tags", [
    (offsets((13, 18)), ["O", "O", "B-SPAN", "O", "O", "O", "O"]),                       # one word
    (offsets((4, 18)), ["O", "B-SPAN", "I-SPAN", "O", "O", "O", "O"]),                    # two words, space inside
    (offsets((4, 12), (13, 18)), ["O", "B-SPAN", "B-SPAN", "O", "O", "O", "O"]),          # adjacent, space outside
    (offsets((13, 18), (28, 33)), ["O", "O", "B-SPAN", "O", "O", "O", "B-SPAN"]),         # two apart
    ([], ["O"] * 7),
])
def test_word_aligned_spans_round_trip_exactly(spans, tags):
    words = split_words(TEXT)
    assert [w for w, _, _ in words] == ["you", "absolute", "idiot", ",", "go", "away", "moron"]
    assert offsets_to_tags(words, spans) == tags
    assert tags_to_offsets(words, tags) == spans


def test_a_span_that_cuts_a_word_marks_the_whole_word_and_overlaps_merge():
    words = split_words(TEXT)
    cut = offsets((15, 17))  # "io" inside "idiot"
    assert offsets_to_tags(words, cut)[2] == "B-SPAN"
    assert tags_to_offsets(words, offsets_to_tags(words, cut)) == offsets((13, 18))  # rounded out to the word
    overlapping = sorted(set(offsets((4, 15)) + offsets((13, 18))))  # two annotators' spans, merged offsets
    assert tags_to_offsets(words, offsets_to_tags(words, overlapping)) == offsets((4, 18))


def test_span_f1_by_hand():
    assert span_f1([], []) == 1.0 and span_f1([1], []) == 0.0 and span_f1([], [1]) == 0.0
    assert span_f1([1, 2, 3, 4], [3, 4, 5]) == pytest.approx(2 * 2 / 7)
    assert char_f1([[1, 2], [], [5]], [[1, 2], [7], [5, 6]]) == pytest.approx((1 + 0 + 2 / 3) / 3)


@pytest.mark.parametrize("raw, message", [
    ("not json", "not a JSON list"), ('{"a": 1}', "must be a list"), ("[1.5]", "integer"),
    ("[-1, 2]", "negative offset -1"), ("[3, 99]", "offset 99 is out of range for a text of 10"),
    ("[4, 3]", "unsorted or repeated"), ("[3, 3]", "unsorted or repeated"),
])
def test_bad_offsets_say_what_is_wrong(raw, message):
    with pytest.raises(ValueError, match=message):
        parse_offsets(raw, 10)


def test_semeval_csv_reads_into_words_tags_and_offsets(tmp_path):
    from pipelines.config import DataConfig
    from pipelines.data.splits import read_file

    path = tmp_path / "spans.csv"
    path.write_text('spans,text\n"[13, 14, 15, 16, 17]","you absolute idiot, go away"\n"[]",fine then\n')
    ds = read_file(path, DataConfig())
    assert ds["tags"][0] == ["O", "O", "B-SPAN", "O", "O", "O"] and ds["spans"][1] == []
    assert text_to_tags(ds["text"][0], ds["spans"][0])[0] == ds["tokens"][0]
    path.write_text('spans,text\n"[1, 2]",ok text\n"[5, 40]",short\n')
    with pytest.raises(ReadError, match=r"spans.csv:3: offset 40 is out of range for a text of 5 characters"):
        read_file(path, DataConfig())


@pytest.mark.slow
def test_real_toxic_spans_read_and_round_trip_nearly_exactly():
    from conftest import SHARED

    from pipelines.config import DataConfig
    from pipelines.data.splits import read_file

    if not (SHARED / "toxic_spans").exists():
        pytest.skip("../shared/data/toxic_spans not present")
    ds = read_file(SHARED / "toxic_spans" / "tsd_trial.csv", DataConfig())
    back = [tags_to_offsets(split_words(t), tags) for t, tags in zip(ds["text"], ds["tags"], strict=True)]
    assert len(ds) == 690 and char_f1(ds["spans"], back) > 0.99  # words cost under 1 point of char-F1
