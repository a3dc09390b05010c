"""Review the labels `find-bad-labels` doubts: keep, relabel or skip each suspect in a browser page.

    nlp-pipelines review runs/badlabels-intent-20261207-101500          # then open http://127.0.0.1:8001/
    make review SUSPECTS=runs/badlabels-intent-20261207-101500

The folder is a `find-bad-labels` output (suspects.jsonl, and source.json: the task and the config that read the
data, so the same splits come back). The page shows the suspects in rank order, the lowest score first, with the
given label and the model's suggestion (for tagging: the given and the suggested entities highlighted in the
sentence); `k` keeps the label, `r` takes the suggestion (or the label picked in the list), `s` skips.

Every decision is appended to <folder>/review/decisions.jsonl (the audit log: time, example, action, the label
before and after) and the corrected data is rewritten, atomically, to <folder>/review/data/ (train.jsonl,
dev.jsonl, test.jsonl: the very splits find-bad-labels scored, the reviewed one with its relabels), which
`make train TASK=<task> DATA=<folder>/review/data` trains on unchanged. A page closed and opened again (or a
server restarted) goes on where it stopped: the log is replayed. Nothing is written outside the folder.
"""

import argparse
import json
import os
import time
from pathlib import Path
from typing import Any

from pipelines.data.tags import flat_labels
from pipelines.errors import PipelineError
from pipelines.io import atomic_write_text

ACTIONS = ("keep", "relabel", "skip")
SPLIT_FILES = {"train": "train.jsonl", "validation": "dev.jsonl", "test": "test.jsonl"}


class ReviewError(PipelineError):
    """A review folder or a decision that cannot be used."""


def inside(folder: Path, name: str) -> Path:
    """`folder / name`, refused when it would lead outside `folder` (`..`, an absolute path, a symlink out)."""
    path = (folder / name).resolve()
    if not path.is_relative_to(folder.resolve()):
        raise ReviewError(f"{name!r} leads outside the review folder {folder}")
    return path


def tags_of(entities: list[dict[str, Any]], n: int) -> list[str]:
    """IOB2 tags of `n` words from entities given as {type, start, end} word spans."""
    tags = ["O"] * n
    for e in entities:
        tags[e["start"]:e["end"]] = [f"B-{e['type']}"] + [f"I-{e['type']}"] * (e["end"] - e["start"] - 1)
    return tags


class Review:
    """The suspects of one find-bad-labels folder, the decisions taken so far, and the corrected splits."""

    def __init__(self, folder: str | Path, out: str = "review") -> None:
        from pipelines.config import load_config
        from pipelines.data.splits import load_splits
        from pipelines.registry import get_task

        self.folder = Path(folder)
        for need in ("suspects.jsonl", "source.json"):
            if not (self.folder / need).exists():
                raise ReviewError(f"{self.folder} has no {need}: give the output folder of `nlp-pipelines "
                                  "find-bad-labels` (a run of this version writes both)")
        self.out = inside(self.folder, out)
        self.source = json.loads((self.folder / "source.json").read_text(encoding="utf-8"))
        self.suspects = [json.loads(line) for line in
                         (self.folder / "suspects.jsonl").read_text(encoding="utf-8").splitlines() if line.strip()]
        cfg = load_config(None, self.source["overrides"], task=self.source["task"])
        task = get_task(cfg.task, cfg.model)
        splits = load_splits(cfg.data, task.sample, seed=cfg.train.seed)
        self.split = self.source["split"]
        self.tagging = "tags" in task.columns
        rows = splits[self.split]
        ids = rows["id"] if "id" in rows.column_names and not self.tagging else range(len(rows))
        self.row_of = {int(i): k for k, i in enumerate(ids)}
        self.labels = (sorted({t[2:] for tags in rows["tags"] for t in tags if t != "O"}) if self.tagging
                       else flat_labels(task.label_list(splits)))
        # each split's two columns as lists, read from the Dataset once (every decision rewrites the reviewed one)
        fields = ("tokens", "tags") if self.tagging else ("text", "label")
        self.columns = {name: tuple(list(ds[f]) for f in fields) for name, ds in splits.items()}
        self.by_id = {s["id"]: s for s in self.suspects}
        self.decisions: dict[int, dict[str, Any]] = {}
        log = self.out / "decisions.jsonl"
        if log.exists():  # resume: the last decision on each example holds
            for line in log.read_text(encoding="utf-8").splitlines():
                if line.strip():
                    d = json.loads(line)
                    self.decisions[d["id"]] = d

    def state(self) -> dict[str, Any]:
        """The task, the label set, the progress and the first suspect not decided yet (None when all are)."""
        rank, pending = next(((k + 1, s) for k, s in enumerate(self.suspects) if s["id"] not in self.decisions),
                             (None, None))
        counts = {a: sum(d["action"] == a for d in self.decisions.values()) for a in ACTIONS}
        return {"task": self.source["task"], "kind": "tags" if self.tagging else "label", "labels": self.labels,
                "total": len(self.suspects), "decided": len(self.decisions), "counts": counts,
                "rank": rank, "suspect": self.view(pending),
                "corrected": str(self.out / "data")}

    def view(self, suspect: dict[str, Any] | None) -> dict[str, Any] | None:
        if suspect is None:
            return None
        view = {k: suspect[k] for k in ("id", "text", "given", "suggested", "score")}
        if self.tagging:
            view["words"] = list(self.columns[self.split][0][self.row_of[suspect["id"]]])
        return view

    def decide(self, body: Any) -> dict[str, Any]:
        """Apply {"id", "action", "label"?}: append it to the log, rewrite the corrected data; the next state."""
        if not isinstance(body, dict) or body.get("action") not in ACTIONS or not isinstance(body.get("id"), int):
            raise ReviewError('expected {"id": <suspect id>, "action": "keep" | "relabel" | "skip", "label": ...}')
        suspect = self.by_id.get(body["id"])
        if suspect is None:
            raise ReviewError(f"no suspect with id {body['id']}")
        label = body.get("label")
        if body["action"] == "relabel":
            if self.tagging:
                label = suspect["suggested"]  # the suggested entities, whole
            elif label is None:
                label = suspect["suggested"]
            elif label not in self.labels:
                raise ReviewError(f"label {str(label)[:80]!r} is not one of the task's {len(self.labels)} labels")
        decision = {"time": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "id": suspect["id"], "action": body["action"],
                    "given": suspect["given"], "label": label if body["action"] == "relabel" else None}
        self.out.mkdir(parents=True, exist_ok=True)
        with open(self.out / "decisions.jsonl", "a", encoding="utf-8") as f:
            f.write(json.dumps(decision, ensure_ascii=False) + "\n")
            f.flush()
            os.fsync(f.fileno())
        self.decisions[suspect["id"]] = decision
        self.write_corrected()
        return self.state()

    def write_corrected(self) -> Path:
        """<out>/data/{train,dev,test}.jsonl: every split as read, the reviewed one with the relabels applied
        (rewritten at every call; the others written once)."""
        data = self.out / "data"
        relabel = {self.row_of[d["id"]]: d["label"] for d in self.decisions.values() if d["action"] == "relabel"}
        for name, (first, second) in self.columns.items():
            path = data / SPLIT_FILES.get(name, f"{name}.jsonl")
            if name != self.split and path.exists():
                continue
            fix = relabel if name == self.split else {}
            if self.tagging:
                lines = ({"tokens": list(w), "tags": tags_of(fix[k], len(w)) if k in fix else list(t)}
                         for k, (w, t) in enumerate(zip(first, second, strict=True)))
            else:
                lines = ({"text": x, "label": fix.get(k, g)}
                         for k, (x, g) in enumerate(zip(first, second, strict=True)))
            atomic_write_text(path, "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in lines))
        return data


def create_app(review: Review, max_body_bytes: int = 65_536) -> Any:
    """The review page and its two routes: GET /review/state, POST /review/decide."""
    from fastapi import Request  # resolved here by FastAPI: this module has no `from __future__ import annotations`

    from pipelines.inference.serve import BadRequest, json_body, page_app

    app = page_app("review.html", ("common.js", "review.js", "app.css"), title="nlp-pipelines review")

    @app.get("/review/state")
    async def state() -> dict[str, Any]:
        return review.state()

    @app.post("/review/decide")
    async def decide(request: Request) -> dict[str, Any]:
        body = await json_body(request, max_body_bytes)
        try:
            return review.decide(body)
        except ReviewError as err:
            raise BadRequest(422, str(err)) from None

    return app


def main(argv: list[str] | None = None) -> int:
    import uvicorn

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("folder", help="the output folder of find-bad-labels (suspects.jsonl, source.json)")
    parser.add_argument("--out", default="review", help="a sub-folder of FOLDER for the log and the corrected data")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8001)
    args = parser.parse_args(argv)
    review = Review(args.folder, args.out)
    state = review.state()
    print(f"{state['total']} suspects, {state['decided']} decided; review at http://{args.host}:{args.port}/ ; "
          f"corrected data -> {state['corrected']}", flush=True)
    uvicorn.run(create_app(review), host=args.host, port=args.port, log_level="warning")
    return 0


if __name__ == "__main__":
    from pipelines.cli import run_cli

    run_cli(main)
