"""The answer pages (docs/answers): every marked number equals its report's, rendered by benchmarks/answers.py;
a missing report or key fails; the index lists the 24 questions and links only pages that exist."""

import re
from pathlib import Path

from benchmarks.answers import MARK, render

ROOT = Path(__file__).resolve().parent.parent
PAGES = ROOT / "docs" / "answers"


def test_every_number_on_a_page_is_its_reports():
    pages = sorted(PAGES.glob("[0-9][0-9]-*.md"))
    assert pages
    for page in pages:
        text = page.read_text(encoding="utf-8")
        assert MARK.search(text), f"{page.name} renders no number from a report"
        rendered, problems = render(text, ROOT / "reports")
        assert not problems, f"{page.name}: {problems}"
        assert rendered == text, f"{page.name} differs from its reports: run make answers"


def test_a_changed_report_or_a_missing_key_is_caught(tmp_path):
    (tmp_path / "r.json").write_text('{"a": {"b": [1.234, 5]}}')
    assert render("<!--n r.json a.b.0 .1f-->9.9<!--/n-->", tmp_path)[0] == "<!--n r.json a.b.0 .1f-->1.2<!--/n-->"
    assert render("<!--n r.json a.b.1 d-->5<!--/n--> <!--n r.json a.b.0 .1%-->x<!--/n-->", tmp_path)[0].endswith(
        ">123.4<!--/n-->")
    (tmp_path / "d.json").write_text('{"v": {"w_0.5": {"x": 2}, "w_0": {"5": 9}}}')
    assert render("<!--n d.json v.w_0.5.x d-->?<!--/n-->", tmp_path)[0] == "<!--n d.json v.w_0.5.x d-->2<!--/n-->"
    (tmp_path / "s.json").write_text('{"batched, no mask": {"acc": 7}}')  # a space in a name: %20
    assert render("<!--n s.json batched,%20no%20mask.acc d-->?<!--/n-->", tmp_path)[0].endswith(">7<!--/n-->")
    _, problems = render("<!--n r.json a.c .2f-->1<!--/n--> <!--n nope.json a .2f-->1<!--/n-->", tmp_path)
    assert len(problems) == 2


def test_the_index_lists_every_question_and_links_pages_that_exist():
    index = (PAGES / "README.md").read_text(encoding="utf-8")
    numbers = re.findall(r"^\| (\d\d) \|", index, re.M)
    assert numbers == [f"{i:02d}" for i in range(1, 25)]
    for link in re.findall(r"\]\((\d\d-[\w-]+\.md)\)", index):
        assert (PAGES / link).is_file(), link
