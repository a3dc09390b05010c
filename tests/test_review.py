"""`nlp-pipelines review`: decisions on the suspects of find-bad-labels land in an append-only log and in a
corrected copy of the data that trains unchanged; a reopened review resumes; nothing is written outside the
folder. (The page itself is tested in a browser in tests/test_web.py.)"""

import json

import numpy as np
import pytest
from conftest import train_tiny

from pipelines.data.readers import read_jsonl
from pipelines.inference.review import Review, ReviewError
from pipelines.training.find_bad_labels import main as find_bad_labels

SAMPLE = "samples/intent"


def planted_suspects(tmp_path, n_flips=6):
    """find-bad-labels (frozen tiny encoder: seconds) on the intent sample with `n_flips` labels flipped; the
    output folder, {id: the true label} of the flipped examples, and the clean training rows."""
    clean = read_jsonl(f"{SAMPLE}/train.jsonl")
    labels = sorted(set(clean["label"]))
    rng = np.random.default_rng(0)
    planted = sorted(rng.choice(len(clean), n_flips, replace=False).tolist())
    rows = [{"text": t, "label": g} for t, g in zip(clean["text"], clean["label"], strict=True)]
    for i in planted:
        rows[i]["label"] = labels[(labels.index(rows[i]["label"]) + 1) % len(labels)]
    data = tmp_path / "data"
    data.mkdir()
    (data / "train.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    (data / "dev.jsonl").write_text(open(f"{SAMPLE}/dev.jsonl").read())
    out = tmp_path / "suspects"
    find_bad_labels(["--task", "intent", "--data", str(data), "--frozen", "--folds", "3", "--out", str(out),
                     "model.encoder=tiny"])
    return out, {i: clean["label"][i] for i in planted}, clean


def test_relabels_land_in_the_log_and_the_corrected_data_which_trains(tmp_path):
    folder, truth, clean = planted_suspects(tmp_path)
    review = Review(folder)
    state = review.state()
    assert state["total"] == len(clean) and state["decided"] == 0 and state["rank"] == 1
    for i, label in truth.items():
        review.decide({"id": i, "action": "relabel", "label": label})
    first_other = next(s["id"] for s in review.suspects if s["id"] not in truth)
    state = review.decide({"id": first_other, "action": "keep"})
    assert state["counts"] == {"keep": 1, "relabel": len(truth), "skip": 0}
    log = [json.loads(x) for x in (folder / "review" / "decisions.jsonl").read_text().splitlines()]
    assert [d["id"] for d in log] == [*truth, first_other] and all(d["time"] for d in log)
    assert [d["label"] for d in log[:-1]] == list(truth.values()) and log[-1]["label"] is None
    fixed = read_jsonl(folder / "review" / "data" / "train.jsonl")
    assert fixed["text"] == clean["text"] and fixed["label"] == clean["label"]  # every planted flip undone
    assert read_jsonl(folder / "review" / "data" / "dev.jsonl")["text"] == read_jsonl(f"{SAMPLE}/dev.jsonl")["text"]
    # reopened (a closed page, a restarted server): the decisions are there and the next suspect is undecided
    again = Review(folder)
    assert again.state()["decided"] == len(truth) + 1 and again.state()["suspect"]["id"] not in again.decisions
    run = train_tiny(tmp_path, "intent", f"data.path={folder / 'review' / 'data'}")
    assert json.loads((run / "metrics.json").read_text())["train_examples"] == len(clean)


def test_bad_decisions_and_paths_out_of_the_folder_are_refused(tmp_path):
    folder, truth, _ = planted_suspects(tmp_path, 2)
    review = Review(folder)
    some = next(iter(truth))
    for body, problem in (({"id": some, "action": "relabel", "label": "no_such_intent"}, "not one of"),
                          ({"id": 10**6, "action": "keep"}, "no suspect"),
                          ({"id": some, "action": "delete"}, "expected"), (["keep"], "expected")):
        with pytest.raises(ReviewError, match=problem):
            review.decide(body)
    assert not (folder / "review" / "decisions.jsonl").exists()
    for out in ("../escape", "/tmp/escape", "review/../../escape"):
        with pytest.raises(ReviewError, match="outside"):
            Review(folder, out)
    (tmp_path / "elsewhere").mkdir()
    (folder / "link").symlink_to(tmp_path / "elsewhere")
    with pytest.raises(ReviewError, match="outside"):
        Review(folder, "link")
    old = tmp_path / "older"  # a find-bad-labels folder of an earlier version: no source.json
    old.mkdir()
    (old / "suspects.jsonl").write_text((folder / "suspects.jsonl").read_text())
    with pytest.raises(ReviewError, match="no source.json"):
        Review(old)


def test_a_tagging_relabel_writes_the_suggested_entities_as_tags(tmp_path):
    out = tmp_path / "suspects"
    find_bad_labels(["--task", "ner", "--frozen", "--folds", "2", "--out", str(out), "model.encoder=tiny"])
    review = Review(out)
    suspect = review.state()["suspect"]
    assert suspect["words"] and review.state()["kind"] == "tags"
    review.decide({"id": suspect["id"], "action": "relabel"})
    fixed = read_jsonl(out / "review" / "data" / "train.jsonl")
    tags = fixed["tags"][review.row_of[suspect["id"]]]
    want = ["O"] * len(suspect["words"])
    for e in suspect["suggested"]:
        want[e["start"]:e["end"]] = [f"B-{e['type']}"] + [f"I-{e['type']}"] * (e["end"] - e["start"] - 1)
    assert tags == want


def test_the_review_routes_answer_json_with_the_security_headers(tmp_path):
    from fastapi.testclient import TestClient

    from pipelines.inference.review import create_app

    folder, truth, _ = planted_suspects(tmp_path, 2)
    client = TestClient(create_app(Review(folder)))
    page = client.get("/")
    assert page.status_code == 200 and "review.js" in page.text
    assert "script-src 'self'" in page.headers["content-security-policy"]
    state = client.get("/review/state").json()
    sid = state["suspect"]["id"]
    r = client.post("/review/decide", json={"id": sid, "action": "relabel", "label": "<script>"})
    assert r.status_code == 422 and "not one of" in r.json()["error"]
    assert client.post("/review/decide", content=b"{not json").status_code == 400
    assert client.post("/review/decide", content=b"x" * 70_000).status_code == 413
    r = client.post("/review/decide", json={"id": sid, "action": "skip"})
    assert r.status_code == 200 and r.json()["decided"] == 1 and r.json()["suspect"]["id"] != sid
    assert client.get("/static/../source.json").status_code == 404
