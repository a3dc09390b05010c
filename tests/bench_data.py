"""A tiny stand-in for ../shared/data, in the same layouts, made from the project's own samples: the
benchmark scripts run on it in the smoke test (tests/test_benchmarks.py)."""

import gzip
import json
import shutil
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SAMPLES = ROOT / "samples"
OOS = ["how do i fix my bike chain", "what is the capital of peru", "tell me a joke about cats",
       "who won the match yesterday", "how tall is the eiffel tower", "recommend a good novel"]


def write(root: Path) -> Path:
    """Write conll2003, clinc150, snips, atis, bbc_news, 20newsgroups, toxicity, sim_m and sgd under `root`
    (a few hundred lines)."""
    from pipelines.data.inline import read_inline

    conll = root / "conll2003"
    conll.mkdir(parents=True)
    for split in ("train", "dev", "test"):
        shutil.copy(SAMPLES / "ner" / f"{split}.conll", conll / f"{split}.txt")
    clinc = root / "clinc150"
    clinc.mkdir()
    rows = {s: [json.loads(x) for x in (SAMPLES / "intent" / f"{s}.jsonl").read_text().splitlines()]
            for s in ("train", "dev", "test")}
    data = {"train": [[r["text"], r["label"]] for r in rows["train"]],
            "val": [[r["text"], r["label"]] for r in rows["dev"]],
            "test": [[r["text"], r["label"]] for r in rows["test"]],
            "oos_train": [[t, "oos"] for t in OOS[:2]], "oos_val": [[t, "oos"] for t in OOS[2:4]],
            "oos_test": [[t, "oos"] for t in OOS[4:]]}
    for name in ("data_full", "data_small", "data_imbalanced", "data_oos_plus"):
        (clinc / f"{name}.json").write_text(json.dumps(data))
    labels = sorted({r["label"] for r in rows["train"]})
    (clinc / "domains.json").write_text(json.dumps({"first": labels[:3], "second": labels[3:]}))
    for corpus in ("snips", "atis"):
        for split, file in (("train", "train.md"), ("dev", "dev.md"), ("test", "test.md")):
            ds = read_inline(SAMPLES / "joint" / file)
            folder = root / corpus / split
            folder.mkdir(parents=True)
            (folder / "seq.in").write_text("".join(" ".join(t) + "\n" for t in ds["tokens"]))
            (folder / "seq.out").write_text("".join(" ".join(t) + "\n" for t in ds["tags"]))
            (folder / "label").write_text("".join(x + "\n" for x in ds["label"]))
    write_documents(root)
    write_toxicity(root)
    write_dialogues(root)
    return root


def write_dialogues(root: Path) -> None:
    """sim_m (the shipped dialogue sample) and sgd (a few SGD-style dialogues, gzip) under `root`."""
    import gzip

    sim = root / "sim_m"
    sim.mkdir()
    for split in ("train", "dev", "test"):
        shutil.copy(SAMPLES / "dialogue" / f"{split}.json", sim / f"{split}.json")
    folder = root / "sgd" / "train"
    folder.mkdir(parents=True)
    dialogues = []
    for i in range(24):
        svc, city = ["Restaurants_1", "Hotels_2"][i % 2], ["San Jose", "Oslo", "Lima"][i % 3]
        text = f"Find me something in {city}."
        start = text.index(city)
        dialogues.append({"dialogue_id": f"1_{i:05d}", "services": [svc], "turns": [
            {"speaker": "USER", "utterance": text, "frames": [
                {"service": svc, "actions": [], "slots": [{"slot": "city", "start": start,
                                                           "exclusive_end": start + len(city)}],
                 "state": {"active_intent": "Find" + svc[:4], "slot_values": {"city": [city]}}}]},
            {"speaker": "SYSTEM", "utterance": "How about Blue Door?", "frames": [
                {"service": svc, "actions": [{"act": "OFFER", "slot": "name", "values": ["Blue Door"]}],
                 "slots": []}]},
            {"speaker": "USER", "utterance": "Yes, that works.", "frames": [
                {"service": svc, "actions": [], "slots": [],
                 "state": {"active_intent": "Find" + svc[:4],
                           "slot_values": {"city": [city], "name": ["Blue Door"]}}}]}]})
    with gzip.open(folder / "dialogues_001.json.gz", "wt", encoding="utf-8") as f:
        json.dump(dialogues, f)


def write_documents(root: Path) -> None:
    """bbc_news (<label>/<nnn>.txt, two exact duplicates) and 20newsgroups (train/test JSON Lines, gzip, with
    a header, a quoted line and a signature per post) from the topics sample."""
    docs = {split: sorted((p.parent.name, p.read_text()) for p in (SAMPLES / "topics" / split).glob("*/*.txt"))
            for split in ("train", "test")}
    for i, (label, text) in enumerate(docs["train"] + docs["test"]):
        path = root / "bbc_news" / label / f"{i:03d}.txt"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    for i, (label, text) in enumerate(docs["train"][:2]):
        (root / "bbc_news" / label / f"dup{i}.txt").write_text(text)
    (root / "20newsgroups").mkdir()
    for split, rows in docs.items():
        lines = [json.dumps({"id": f"{label}/{i}", "label": label,
                             "text": f"From: someone@example.org\nSubject: {text.splitlines()[0]}\n\n{text}"
                                     f"> an earlier post, quoted\n\n--\nSomeone, Example Org\n"}).encode()
                 for i, (label, text) in enumerate(rows)]
        (root / "20newsgroups" / f"{split}.jsonl.gz").write_bytes(gzip.compress(b"\n".join(lines) + b"\n"))


def write_toxicity(root: Path) -> None:
    """toxicity_davidson (the CSV layout, all three classes: some sample insults stand in for hate) and
    toxic_spans (tsd_train / tsd_trial) from the project's mild toxicity sample."""
    import csv
    import io

    rows = [json.loads(x) for s in ("train", "dev", "test")
            for x in (SAMPLES / "toxicity" / f"{s}.jsonl").read_text().splitlines()]
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["", "count", "hate_speech", "offensive_language", "neither", "class", "tweet"])
    for i, r in enumerate(rows):
        cls = 2 if r["label"] == "neither" else (0 if i % 3 == 0 else 1)
        votes = [3 if cls == k else 0 for k in range(3)]
        writer.writerow([i * 2, 3, *votes, cls, r["text"]])
    (root / "toxicity_davidson").mkdir()
    (root / "toxicity_davidson" / "labeled_data.csv").write_text(out.getvalue())
    (root / "toxic_spans").mkdir()
    for name, part in (("tsd_train.csv", rows[:240]), ("tsd_trial.csv", rows[240:])):
        out = io.StringIO()
        writer = csv.writer(out)
        writer.writerow(["spans", "text"])
        writer.writerows([json.dumps(r["spans"]), r["text"]] for r in part)
        (root / "toxic_spans" / name).write_text(out.getvalue())
