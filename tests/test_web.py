"""The page at `/` of `nlp-pipelines serve`, in a real headless browser: Debian's chromium driven by Playwright
(its own browser download cannot work here). Each test serves a sample-trained tiny run on a free loopback port,
types, clicks and checks what the page renders against what POST /predict answers; the browser aborts every
request that is not to that server and the test fails if the page made one. Screenshots go to reports/ui/.

Without chromium or playwright the tests skip with one line saying how to install them.
"""

import shutil
import socket
import threading
import time
from pathlib import Path

import pytest
from conftest import train_tiny

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
try:
    from playwright.sync_api import sync_playwright
except ImportError:
    sync_playwright = None
pytestmark = pytest.mark.skipif(
    CHROMIUM is None or sync_playwright is None,
    reason="browser tests need Debian's chromium and playwright: apt-get install chromium; pip install playwright")
ROOT = Path(__file__).resolve().parent.parent
SHOTS = ROOT / "reports" / "ui"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Served:
    """An app served by uvicorn in a thread of this process (no new interpreter: the model loads in a second)."""

    def __init__(self, app, port: int | None = None):
        import uvicorn

        self.port = port or _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="warning"))
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self):
        self.thread.start()
        deadline = time.time() + 30
        while not self.server.started:
            assert time.time() < deadline, "the server did not start"
            time.sleep(0.05)
        return self

    def __exit__(self, *exc):
        self.server.should_exit = True
        self.thread.join(timeout=10)


def _app(run, **changes):
    from pipelines.inference.serve import app_for, load_config

    return app_for(run, load_config(None, [f"{k}={v}" for k, v in changes.items()]))


@pytest.fixture(scope="module")
def browser():
    with sync_playwright() as pw:
        chromium = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=["--no-sandbox"])
        yield chromium
        chromium.close()


@pytest.fixture
def page_of(browser):
    """page_of(served) -> a page on the server whose every other request is aborted and recorded."""
    opened, outside = [], []

    def open_page(served):
        context = browser.new_context()
        page = context.new_page()

        def guard(route):
            if route.request.url.startswith(served.url + "/"):
                route.continue_()
            else:
                outside.append(route.request.url)
                route.abort()

        page.route("**/*", guard)
        errors = []
        page.on("pageerror", lambda err: errors.append(str(err)))
        page.goto(served.url + "/")
        opened.append((context, errors))
        return page

    yield open_page
    for context, errors in opened:
        context.close()
        assert not errors, f"the page raised: {errors}"
    assert not outside, f"the page asked for requests outside the server: {outside}"


def _predict(page, text):
    page.fill("#text", text)
    page.click("#predict-button")
    page.wait_for_selector("#result > *")


def _shot(page, name):
    import os

    if not os.environ.get("PIPELINES_SCREENSHOTS"):
        return
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)


@pytest.fixture(scope="module")
def ner_run(tmp_path_factory):
    return train_tiny(tmp_path_factory.mktemp("web-ner"), "ner", "train.limit_train_batches=8")


def test_ner_entities_are_highlighted_with_their_type_and_score(ner_run, page_of):
    from pipelines.inference.predict import Predictor

    text = "Anna Keller joined Vireo Labs in Oslo last May ."
    expected = Predictor.load(ner_run).predict([text])[0]["entities"]
    with Served(_app(ner_run)) as served:
        page = page_of(served)
        assert page.text_content("#model").startswith("task: ner")
        _predict(page, text)
        marks = page.query_selector_all("#result mark")
        assert [m.evaluate("m => m.firstChild.textContent") for m in marks] == [e["text"] for e in expected]
        assert [m.get_attribute("title").split(":")[0] for m in marks] == [e["type"] for e in expected]
        assert page.evaluate("document.querySelector('#result .text').firstChild !== null")
        _shot(page, "ner")


def test_what_a_user_or_a_model_writes_is_shown_as_text_never_run(ner_run, page_of):
    """The payload comes back as an entity's text too (a stand-in predictor marks every word), and nothing runs."""
    from pipelines.inference.predict import Predictor

    predictor = Predictor.load(ner_run)

    def marks_every_word(texts):
        out = []
        for text in texts:
            at, entities = 0, []
            for word in text.split(" "):
                entities.append({"type": "<b>PER</b>", "text": word, "start": at, "end": at + len(word),
                                 "score": 0.9})
                at += len(word) + 1
            out.append({"entities": entities})
        return out

    predictor.predict = lambda texts, errors="raise": marks_every_word(texts)
    from pipelines.inference.serve import create_app, load_config

    payload = '<script>window.__xss=1</script> <img src=x onerror="window.__xss=2"> <svg onload="window.__xss=3">'
    with Served(create_app(predictor, load_config(None, []), "stand-in")) as served:
        page = page_of(served)
        _predict(page, payload)
        assert page.evaluate("window.__xss") is None
        assert page.query_selector("#result img, #result script, #result svg, #result b") is None
        shown = page.text_content("#result")
        assert "<script>window.__xss=1</script>" in shown and "<img" in shown and "<b>PER</b>" in shown
        response = page.request.get(served.url + "/")
        assert "script-src 'self'" in response.headers["content-security-policy"]


@pytest.fixture(scope="module")
def intent_run(tmp_path_factory):
    return train_tiny(tmp_path_factory.mktemp("web-intent"), "intent", "model.offtopic=mahalanobis")


def test_intent_shows_the_top_five_with_bars_and_the_off_topic_flag(intent_run, page_of):
    from pipelines.inference.predict import Predictor

    text = "book a table for two tonight"
    expected = Predictor.load(intent_run).predict([text])[0]
    with Served(_app(intent_run)) as served:
        page = page_of(served)
        _predict(page, text)
        assert page.text_content("#result .label").startswith(expected["label"])
        labels = [x.text_content() for x in page.query_selector_all("#result .bar-label")]
        assert labels == [r["label"] for r in expected["top_k"][:5]]
        assert "off-topic score" in page.text_content("#result")
        _shot(page, "intent")



def _check_joint(page, r):
    assert page.text_content("#result .label").startswith(f"intent: {r['intent']}")
    marks = page.query_selector_all("#result mark")
    assert [m.evaluate("m => m.firstChild.textContent") for m in marks] == [e["text"] for e in r["entities"]]


def _check_toxicity(page, r):
    if r.get("label") is not None:
        assert page.text_content("#result .label").startswith(r["label"])
    assert len(page.query_selector_all("#result mark.toxic")) == len(r["spans"])
    for key in ("masked", "removed", "rewritten"):
        if r.get(key) is not None:
            assert page.text_content(f"#result .version.{key}") == r[key]


def _check_topics(page, r):
    assert page.text_content("#result .label").startswith(r["label"])
    shown = [x.text_content() for x in page.query_selector_all("#result .bar-label")]
    top = [t["label"] for t in r["top_k"][:5]]
    assert shown[:len(top)] == top and len(shown) == len(top) + len(r["topics"])
    assert all(x.startswith("topic ") for x in shown[len(top):]) and r["topics"]


def test_the_chat_session_survives_a_server_restart(tmp_path_factory, page_of):
    """The session lives in the server's store (SQLite beside the run), not in the process: a new server on the
    same port and store goes on with the conversation the page holds."""
    run = train_tiny(tmp_path_factory.mktemp("web-restart"), "dialogue", "data.max_length=48")
    port = _free_port()
    with Served(_app(run), port=port) as served:
        page = page_of(served)
        page.wait_for_selector("#chat-view:not([hidden])")
        page.fill("#chat-text", "i want to see a movie tonight")
        page.click("#chat-button")
        page.wait_for_function("() => document.querySelectorAll('#chat-log .turn').length >= 2")
        session = page.evaluate("JSON.parse(localStorage.getItem('nlp-pipelines-chat')).session_id")
    with Served(_app(run), port=port):  # a new app: a new engine, the same session store
        page.reload()
        page.wait_for_selector("#chat-view:not([hidden])")
        page.fill("#chat-text", "two tickets please")
        page.click("#chat-button")
        page.wait_for_function("() => document.querySelectorAll('#chat-log .turn').length >= 4")
        assert page.is_hidden("#error")  # an unknown session would be a 404, shown there
        assert page.evaluate("JSON.parse(localStorage.getItem('nlp-pipelines-chat')).session_id") == session

@pytest.mark.parametrize(("task", "text", "check"), [
    ("joint", "book a flight from boston to denver on monday", _check_joint),
    ("toxicity", "you are a stupid idiot and i hate you", _check_toxicity),
    ("topics", "the team won the match after a late goal in the second half", _check_topics),
])
def test_joint_toxicity_and_topics_views_render_what_predict_answers(task, text, check, tmp_path, page_of):
    from pipelines.inference.predict import Predictor

    run = train_tiny(tmp_path, task)
    expected = Predictor.load(run).predict([text])[0]
    with Served(_app(run)) as served:
        page = page_of(served)
        _predict(page, text)
        check(page, expected)
        _shot(page, task)

def test_the_chat_keeps_its_state_over_two_turns_and_a_reload(tmp_path_factory, page_of):
    run = train_tiny(tmp_path_factory.mktemp("web-dialogue"), "dialogue", "data.max_length=48")
    with Served(_app(run)) as served:
        page = page_of(served)
        page.wait_for_selector("#chat-view:not([hidden])")
        for text in ("i want to see a movie tonight", "two tickets please"):
            page.fill("#chat-text", text)
            page.click("#chat-button")
            page.wait_for_function("n => document.querySelectorAll('#chat-log .turn').length >= n",
                                   arg=2 * (1 if text.startswith("i") else 2))
        turns = [t.text_content() for t in page.query_selector_all("#chat-log .turn")]
        assert turns[0] == "i want to see a movie tonight" and turns[2] == "two tickets please" and len(turns) == 4
        rows = page.query_selector_all("#state tbody tr")
        page.reload()
        page.wait_for_selector("#chat-view:not([hidden])")
        assert [t.text_content() for t in page.query_selector_all("#chat-log .turn")] == turns
        assert len(page.query_selector_all("#state tbody tr")) == len(rows)
        _shot(page, "chat")


def test_the_review_page_relabels_with_shortcuts_and_resumes_after_a_reload(tmp_path, page_of):
    """The suspects of find-bad-labels on the intent sample with planted flips: `k` keeps, a label picked in the
    list + Enter relabels; the log and the corrected data get them; a reload resumes; data text is not run."""
    import json

    from test_review import planted_suspects

    from pipelines.data.readers import read_jsonl
    from pipelines.inference.review import Review, create_app

    folder, truth, clean = planted_suspects(tmp_path, 4)
    suspects = (folder / "suspects.jsonl").read_text().splitlines()
    top = json.loads(suspects[0])
    payload = '<img src=x onerror="window.__xss=1"><script>window.__xss=2</script>'
    top["text"] = payload  # what a data file may hold is shown as text
    (folder / "suspects.jsonl").write_text("\n".join([json.dumps(top), *suspects[1:]]) + "\n")
    order = [json.loads(x)["id"] for x in suspects]
    with Served(create_app(Review(folder))) as served:
        page = page_of(served)
        page.wait_for_selector("#card:not([hidden])")
        assert page.text_content("#example") == payload and page.evaluate("window.__xss") is None
        assert page.query_selector("#example img, #example script") is None
        for n, sid in enumerate(order[:3], start=1):
            if sid in truth:
                page.select_option("#label", truth[sid])
                page.press("#label", "Enter")
            else:
                page.keyboard.press("k")
            page.wait_for_function("n => document.querySelector('#progress').textContent.includes(`: ${n} of`)",
                                   arg=n, timeout=5000)
        page.reload()
        page.wait_for_selector("#card:not([hidden])")
        assert page.text_content("#rank").startswith(f"4 of {len(clean)}")
        _shot(page, "review")
        page.keyboard.press("s")
        page.wait_for_function("() => document.querySelector('#progress').textContent.includes(': 4 of')")
    log = [json.loads(x) for x in (folder / "review" / "decisions.jsonl").read_text().splitlines()]
    assert [d["id"] for d in log] == order[:4] and log[-1]["action"] == "skip"
    assert [d["action"] for d in log[:3]] == ["relabel" if i in truth else "keep" for i in order[:3]]
    fixed = read_jsonl(folder / "review" / "data" / "train.jsonl")["label"]
    assert all(fixed[i] == truth[i] for i in order[:3] if i in truth)
