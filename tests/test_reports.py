"""The published reports stay consistent with their machine-readable parts."""

import json
from pathlib import Path

REPORTS = Path(__file__).resolve().parent.parent / "reports"


def test_hand_read_verdicts_cover_each_read_top_50_once():
    """reports/bad_labels_real_verdicts.json (the hand reads of bad_labels_real.md): every verdict is about a row
    of the published top 50, every row of a read list has exactly one verdict."""
    suspects = json.loads((REPORTS / "bad_labels_real.json").read_text())["corpora"]
    verdicts = json.loads((REPORTS / "bad_labels_real_verdicts.json").read_text())["corpora"]
    for name, read in verdicts.items():
        top = [r["id"] for r in suspects[name]["top"][:50]]
        ids = [r["id"] for r in read["rows"]]
        assert sorted(ids) == sorted(top), name
        assert {r["verdict"] for r in read["rows"]} <= {"real", "debatable", "model_error"}
        assert read["counts"] == {v: sum(r["verdict"] == v for r in read["rows"]) for v in read["counts"]}


def test_reports_name_data_relative_to_the_project():
    for path in REPORTS.glob("*"):
        if path.suffix in {".json", ".md"}:
            assert "/work/" not in path.read_text() and "/root/" not in path.read_text(), path.name


def test_console_and_report_show_calibration_and_jga():
    from pipelines.inference import reports

    scores = {"accuracy": 0.9, "ece": 0.0312, "nll": 0.41234, "jga": 0.75}
    assert reports.headline(scores) == {"accuracy": 90.0, "jga": 75.0, "ece": 0.0312, "nll": 0.4123}
    md = reports.markdown("x", {"test": scores})
    assert "- ece: 0.0312" in md and "- nll: 0.4123" in md and "- jga: **75.00**" in md
