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
