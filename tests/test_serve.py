"""The HTTP service: every bad request gets a 4xx with a JSON error and the server keeps serving; concurrent
requests share model calls; one real server process answers over loopback."""

import asyncio

import pytest
from conftest import train_tiny
from fastapi.testclient import TestClient

from pipelines.errors import ConfigError
from pipelines.inference.predict import Predictor
from pipelines.inference.serve import MicroBatcher, ServeConfig, create_app
from pipelines.inference.serve import load_config as load_serve_config


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    return train_tiny(tmp_path_factory.mktemp("serve"), "intent")


@pytest.fixture(scope="module")
def client(run_dir):
    app = create_app(Predictor.load(run_dir), ServeConfig(max_texts=3, max_chars=40, max_wait_ms=1), "run")
    with TestClient(app) as c:
        yield c


@pytest.mark.parametrize("body,status,message", [
    (b"{not json", 400, "not valid JSON"),
    (b'{"text": ["hi"]}', 400, 'a "texts" list'),
    (b'["hi"]', 400, 'a "texts" list'),
    (b'{"texts": "hi"}', 422, "must be a list"),
    (b'{"texts": []}', 422, "is empty"),
    (b'{"texts": ["hi", "  "]}', 422, r"texts\[1\] is empty"),
    (b'{"texts": ["hi", 3]}', 422, r"texts\[1\] is not a string"),
    (b'{"texts": ["a", "b", "c", "d"]}', 413, "max_texts=3"),
    (b'{"texts": ["' + b"x" * 41 + b'"]}', 413, "max_chars=40"),
])
def test_bad_requests_get_a_json_error_and_the_server_keeps_serving(client, body, status, message):
    import re

    r = client.post("/predict", content=body, headers={"content-type": "application/json"})
    assert r.status_code == status and re.search(message, r.json()["error"])
    ok = client.post("/predict", json={"texts": ["book a table"]})
    assert ok.status_code == 200 and len(ok.json()["predictions"]) == 1


def test_predict_health_and_info(client, run_dir):
    r = client.post("/predict", json={"texts": ["book a table for two", "play some jazz"]})
    body = r.json()
    expected = Predictor.load(run_dir).predict(["book a table for two", "play some jazz"])
    assert r.status_code == 200 and body["predictions"] == expected
    assert client.get("/health").json() == {"status": "ok"}
    info = client.get("/info").json()
    assert info["task"] == "intent" and len(info["labels"]) > 1 and info["limits"]["max_texts"] == 3


def test_concurrent_requests_share_one_model_call():
    calls = []

    def predict(texts):
        calls.append(list(texts))
        return [{"n": len(t)} for t in texts]

    async def scenario():
        batcher = MicroBatcher(predict, max_batch_size=8, max_wait_ms=50)
        worker = asyncio.create_task(batcher.run())
        results = await asyncio.gather(batcher.submit(["a"]), batcher.submit(["bb", "ccc"]), batcher.submit(["dddd"]))
        worker.cancel()
        return results

    results = asyncio.run(scenario())
    assert calls == [["a", "bb", "ccc", "dddd"]]  # one call for all three requests
    assert [r[0] for r in results] == [[{"n": 1}], [{"n": 2}, {"n": 3}], [{"n": 4}]]  # each gets its own slice
    assert all(r[1] == 4 for r in results)


def test_a_full_batch_does_not_wait_and_a_failing_model_fails_each_request():
    async def scenario(predict, sizes):
        batcher = MicroBatcher(predict, max_batch_size=2, max_wait_ms=10_000)
        worker = asyncio.create_task(batcher.run())
        out = await asyncio.wait_for(asyncio.gather(*(batcher.submit(["x"] * n) for n in sizes),
                                                    return_exceptions=True), timeout=5)
        worker.cancel()
        return out

    assert len(asyncio.run(scenario(lambda t: [{}] * len(t), [2]))) == 1  # full at once: no 10 s wait

    def broken(texts):
        raise RuntimeError("model down")

    out = asyncio.run(scenario(broken, [1, 1]))
    assert all(isinstance(e, RuntimeError) for e in out)


def test_serve_config_is_checked(tmp_path):
    with pytest.raises(ConfigError, match="serve.bogus"):
        load_serve_config(None, ["bogus=1"])
    with pytest.raises(ConfigError, match="max_batch_size"):
        ServeConfig(max_batch_size=0)
    assert load_serve_config("configs/serve.yaml", ["port=9001"]).port == 9001


@pytest.mark.system  # a real server process: make test-system (CI)
def test_a_real_server_process_answers_over_loopback(run_dir):
    import httpx

    from benchmarks.serve_load import free_port, start_server

    port = free_port()
    server = start_server(str(run_dir), port, ["threads=1"], timeout=120)
    try:
        base = f"http://127.0.0.1:{port}"
        assert httpx.get(f"{base}/health").json() == {"status": "ok"}
        r = httpx.post(f"{base}/predict", json={"texts": ["book a table"]})
        assert r.status_code == 200 and "label" in r.json()["predictions"][0]
        assert httpx.post(f"{base}/predict", json={"texts": []}).status_code == 422
        assert httpx.get(f"{base}/health").status_code == 200
    finally:
        server.terminate()
        server.wait(timeout=30)


@pytest.mark.parametrize("body,status,message", [
    (b'{"texts": ["refund \\ud800 please"]}', 422, r"texts\[0\]: a lone UTF-16 surrogate \(\\ud800\)"),
    (b'{"texts": ["a\\u0000b"]}', 422, r"texts\[0\]: a control character \(\\x00\) at character 1"),
    (b'{"texts": ["ok", "bell\\u0007"]}', 422, r"texts\[1\]: a control character"),
    (b"[" * 100_000, 400, "nested too deep|not valid JSON"),
    (b'{"texts": ["' + b"y" * 2_000_000 + b'"]}', 413, "max_body_bytes"),
    (b"\xff\xfe", 400, "not valid JSON"),
])
def test_hostile_requests_get_a_json_4xx(client, body, status, message):
    import re

    r = client.post("/predict", content=body, headers={"content-type": "application/json"})
    assert r.status_code == status and re.search(message, r.json()["error"]), r.text[:200]
    assert client.post("/predict", json={"texts": ["tab\tand\nnewline pass"]}).status_code == 200


def test_every_error_is_json_and_docs_are_off_by_default(client):
    for r in (client.get("/nowhere"), client.get("/predict"), client.get("/docs"), client.get("/openapi.json")):
        assert r.status_code in (404, 405) and "error" in r.json()


def test_one_request_that_breaks_the_model_fails_alone():
    """A text that passes the checks but makes the model raise: only its request fails, the batch's others are
    answered (each alone)."""
    def predict(texts):
        if "poison" in texts:
            raise UnicodeEncodeError("utf-8", "poison", 0, 1, "surrogates not allowed")
        return [{"n": len(t)} for t in texts]

    async def scenario():
        batcher = MicroBatcher(predict, max_batch_size=64, max_wait_ms=50)
        worker = asyncio.create_task(batcher.run())
        jobs = [batcher.submit([f"ok{i}"]) for i in range(15)] + [batcher.submit(["poison"])]
        out = await asyncio.gather(*jobs, return_exceptions=True)
        worker.cancel()
        return out

    out = asyncio.run(scenario())
    assert isinstance(out[-1], UnicodeEncodeError)
    assert [r[0] for r in out[:-1]] == [[{"n": len(f"ok{i}")}] for i in range(15)]


def test_predict_returns_the_error_at_its_position(run_dir, monkeypatch):
    predictor = Predictor.load(run_dir)
    out = predictor.predict(["fine", "refund \ud800 please", "a\x00b"], errors="return")
    assert "surrogate" in out[1]["error"] and "control character" in out[2]["error"] and "label" in out[0]
    with pytest.raises(ValueError, match="positions \\[1\\]"):
        predictor.predict(["fine", "refund \ud800 please"])
    real = predictor.task.predict

    def flaky(model, tokenizer, texts, *args):  # the model breaks on one text the checks let through
        if any("boom" in t for t in texts):
            raise RuntimeError("boom")
        return real(model, tokenizer, texts, *args)

    monkeypatch.setattr(predictor.task, "predict", flaky)
    out = predictor.predict(["fine", "boom here", "also fine"], errors="return")
    assert out[1] == {"error": "prediction failed: RuntimeError: boom"}
    assert out[0] == predictor.predict(["fine"])[0] and "label" in out[2]


def test_an_internal_error_is_json_and_keeps_the_security_headers(run_dir):
    """A 500 is answered outside the middleware that sets the headers; the handler sets them itself."""
    from fastapi.testclient import TestClient

    from pipelines.inference.predict import Predictor
    from pipelines.inference.serve import create_app, load_config

    predictor = Predictor.load(run_dir)
    app = create_app(predictor, load_config(None, []), "test")

    @app.get("/boom")
    async def boom():
        raise RuntimeError("boom")

    r = TestClient(app, raise_server_exceptions=False).get("/boom")
    assert r.status_code == 500 and r.json() == {"error": "internal error: RuntimeError"}
    assert "default-src 'none'" in r.headers["content-security-policy"] and r.headers["x-content-type-options"]
