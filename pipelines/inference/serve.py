"""An HTTP JSON service for any run (`make serve RUN=...`): FastAPI + uvicorn, concurrent requests micro-batched.

    POST /predict  {"texts": ["...", ...]}  ->  {"predictions": [...], "model": ..., "batched_with": n}
    GET  /health                           ->  {"status": "ok"}
    GET  /info                             ->  task, labels, model folder, version, limits
    GET  /                                 ->  the page: type a text and see the result, or chat (static/)
    POST /chat     {"session_id"?: "...", "text": "..."}  (dialogue runs only)
                   ->  {"session_id", "reply", "action", "state"}

The chat route runs the bot of pipelines.methods.chat over a dialogue run: no session id starts a session;
an unknown id is a 404; an expired one (`session_ttl_s` since its last turn) that is still stored starts a new
session and answers action "expired" without reading the message. Sessions are saved after every turn in
`session_store` (pipelines.inference.sessions: a SQLite file, default <run>/sessions.sqlite3, or Redis for
several replicas), so they survive a restart; expired ones are deleted in bulk, at most `max_sessions` are live
(then a 503); ids are 128 random bits, and one session's turns run one at a time.

Micro-batching: requests wait in one queue; a worker takes the first, then whatever else arrives within
`max_wait_ms` up to `max_batch_size` texts, runs them through `Predictor.predict` as one call (in a thread, so
the event loop keeps accepting), and answers each request with its own slice. One worker per process: the
Predictor runs one call at a time anyway; scale out with processes.

Every error is a JSON `{"error": "..."}`, and one request's error never fails another's: malformed JSON, JSON
nested too deep or a missing `texts` (400), an empty list, an empty or non-string text, a text holding a lone
UTF-16 surrogate, NUL or another control character (422), more than `max_texts` texts, a text over `max_chars`
characters or a body over `max_body_bytes` (413). A text that passes these checks and still makes the model fail
fails only its own request: a micro-batch that raises is run again one request at a time, and only the request
it fails on gets the 500. `/docs` (Swagger UI, which loads its scripts from a CDN) is off unless `docs=true`.

The page at `/` is three static files packaged with the library (`static/`: HTML, vanilla JS, CSS; no CDN, no
external font or script) that call /info, /predict and /chat. Every response carries a Content-Security-Policy
that allows only this server's own scripts, styles and connections (no inline script), and the page puts every
text from a user or a model into the document as text, never as HTML.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import time
from contextlib import asynccontextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from pipelines.config import CONFIG_DIR, build_section, read_raw
from pipelines.inference.predict import bad_characters
from pipelines.predictions import fields_of
from pipelines.provenance import code_version
from pipelines.task import labels_of

log = logging.getLogger(__name__)
MAX_SESSION_ID = 64
STATIC = Path(__file__).resolve().parent / "static"
PAGE_TYPES = {"html": "text/html; charset=utf-8", "js": "text/javascript; charset=utf-8",
              "css": "text/css; charset=utf-8"}
SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; "
                               "img-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
    "X-Content-Type-Options": "nosniff", "Referrer-Policy": "no-referrer"}


@dataclass(frozen=True)
class ServeConfig:
    host: str = "127.0.0.1"
    port: int = 8000
    max_batch_size: int = field(default=32, metadata={"help": "texts per model call, at most"})
    max_wait_ms: float = field(default=5.0, metadata={"help": "how long a batch waits for more requests"})
    max_texts: int = field(default=64, metadata={"help": "texts per request, at most"})
    max_chars: int = field(default=2000, metadata={"help": "characters per text, at most"})
    threads: int = field(default=0, metadata={"help": "torch / ONNX Runtime threads (0 = all cores)"})
    session_store: str = field(default="", metadata={"help": "chat: a SQLite file, or redis://host:port/db for "
                                                              "several replicas ('' = <run>/sessions.sqlite3)"})
    max_sessions: int = field(default=10_000, metadata={"help": "chat: live sessions at most (then 503)"})
    session_ttl_s: float = field(default=1800.0, metadata={"help": "chat: a session expires this long after its "
                                                                   "last turn"})
    chat_max_chars: int = field(default=500, metadata={"help": "chat: a longer message is answered 'too_long'"})
    guard: str = field(default="", metadata={"help": "chat: a toxicity run whose 'toxic' messages are refused"})
    max_body_bytes: int = field(default=1_048_576, metadata={"help": "a larger request body is refused (413) "
                                                                     "before it is parsed"})
    docs: bool = field(default=False, metadata={"help": "serve /docs and /redoc (Swagger UI loads from a CDN)"})

    def __post_init__(self) -> None:
        from pipelines.errors import ConfigError

        if min(self.max_batch_size, self.max_texts, self.max_chars, self.max_body_bytes) < 1 or self.max_wait_ms < 0:
            raise ConfigError("serve: max_batch_size, max_texts, max_chars and max_body_bytes must be >= 1, "
                              "max_wait_ms >= 0")


class BadRequest(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status, self.message = status, message


def check_request(body: Any, cfg: ServeConfig) -> list[str]:
    """The request's texts, or a BadRequest saying what is wrong with it."""
    if not isinstance(body, dict) or "texts" not in body:
        raise BadRequest(400, 'expected a JSON object with a "texts" list')
    texts = body["texts"]
    if not isinstance(texts, list):
        raise BadRequest(422, f'"texts" must be a list of strings, got {type(texts).__name__}')
    if not texts:
        raise BadRequest(422, '"texts" is empty')
    if len(texts) > cfg.max_texts:
        raise BadRequest(413, f"{len(texts)} texts in one request, more than max_texts={cfg.max_texts}")
    for i, text in enumerate(texts):
        if not isinstance(text, str):
            raise BadRequest(422, f"texts[{i}] is not a string ({type(text).__name__})")
        if not text.strip():
            raise BadRequest(422, f"texts[{i}] is empty")
        if len(text) > cfg.max_chars:
            raise BadRequest(413, f"texts[{i}] has {len(text)} characters, more than max_chars={cfg.max_chars}")
        if problem := bad_characters(text):
            raise BadRequest(422, f"texts[{i}]: {problem}")
    return texts


class MicroBatcher:
    """Collects concurrent requests into model calls of at most `max_batch_size` texts."""

    def __init__(self, predict: Any, max_batch_size: int, max_wait_ms: float) -> None:
        self.predict, self.max_batch_size, self.max_wait = predict, max_batch_size, max_wait_ms / 1000
        self.queue: asyncio.Queue = asyncio.Queue()
        self.calls = 0

    async def submit(self, texts: list[str]) -> tuple[list[dict[str, Any]], int]:
        """The predictions for `texts` and how many texts shared their model call."""
        future = asyncio.get_running_loop().create_future()
        await self.queue.put((texts, future))
        return await future

    async def run(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            jobs = [await self.queue.get()]
            size = len(jobs[0][0])
            deadline = loop.time() + self.max_wait
            while size < self.max_batch_size:
                timeout = deadline - loop.time()
                if timeout <= 0:
                    break
                try:
                    job = await asyncio.wait_for(self.queue.get(), timeout)
                except asyncio.TimeoutError:
                    break
                jobs.append(job)
                size += len(job[0])
            texts = [t for job_texts, _ in jobs for t in job_texts]
            try:
                results = await loop.run_in_executor(None, self.predict, texts)
            except Exception as err:  # noqa: BLE001 - the model failed on one of them: each request alone
                if len(jobs) == 1:
                    if not jobs[0][1].done():
                        jobs[0][1].set_exception(err)
                else:
                    await self.run_alone(jobs)
                continue
            self.calls += 1
            start = 0
            for job_texts, future in jobs:
                if not future.done():
                    future.set_result((results[start:start + len(job_texts)], len(texts)))
                start += len(job_texts)


    async def run_alone(self, jobs: list[tuple[list[str], asyncio.Future]]) -> None:
        """Each request of a failed micro-batch in its own model call: only the one that fails hears of it."""
        loop = asyncio.get_running_loop()
        for job_texts, future in jobs:
            try:
                results = await loop.run_in_executor(None, self.predict, job_texts)
            except Exception as err:  # noqa: BLE001 - this request's own failure
                if not future.done():
                    future.set_exception(err)
                continue
            self.calls += 1
            if not future.done():
                future.set_result((results, len(job_texts)))


async def json_body(request: Request, limit: int) -> Any:
    """The request's JSON: a 413 for a body over `limit` bytes (not read past it), a 400 for one that is not JSON
    or is nested too deep to parse."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise BadRequest(413, f"a body of {declared} bytes is larger than max_body_bytes={limit}")
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise BadRequest(413, f"the body is larger than max_body_bytes={limit}")
        chunks.append(chunk)
    try:
        return json.loads(b"".join(chunks))
    except ValueError as err:
        raise BadRequest(400, f"the body is not valid JSON ({err})") from None
    except RecursionError:
        raise BadRequest(400, "the body is JSON nested too deep to parse") from None


def page_app(index: str, assets: tuple[str, ...], title: str = "nlp-pipelines", lifespan: Any = None,
             docs: bool = False) -> FastAPI:
    """A FastAPI app that serves the page `index` at / and its `assets` at /static/<name> (files of static/), puts
    SECURITY_HEADERS on every response (errors included) and answers every error as JSON {"error": ...}."""
    pages = {name: (STATIC / name).read_bytes() for name in (index, *assets)}
    app = FastAPI(title=title, lifespan=lifespan, docs_url="/docs" if docs else None,
                  redoc_url="/redoc" if docs else None, openapi_url="/openapi.json" if docs else None)

    @app.middleware("http")
    async def security_headers(request: Request, call_next):
        response = await call_next(request)
        response.headers.update(SECURITY_HEADERS)
        return response

    @app.get("/")
    async def page() -> Response:
        return Response(pages[index], media_type=PAGE_TYPES[index.rsplit(".", 1)[1]])

    @app.get("/static/{name}")
    async def static(name: str) -> Response:
        if name not in assets:
            raise BadRequest(404, f"no static file {name!r}")
        return Response(pages[name], media_type=PAGE_TYPES[name.rsplit(".", 1)[1]])

    @app.exception_handler(BadRequest)
    async def bad_request(request: Request, err: BadRequest) -> JSONResponse:
        return JSONResponse({"error": err.message}, status_code=err.status)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, err: StarletteHTTPException) -> JSONResponse:  # 404, 405 ...
        return JSONResponse({"error": str(err.detail)}, status_code=err.status_code, headers=err.headers)

    @app.exception_handler(Exception)
    async def server_error(request: Request, err: Exception) -> JSONResponse:
        # answered outside the middleware above (Starlette's outermost layer): the headers are set here
        log.error("%s %s failed: %s: %s", request.method, request.url.path, type(err).__name__, err)
        return JSONResponse({"error": f"internal error: {type(err).__name__}"}, status_code=500,
                            headers=SECURITY_HEADERS)

    return app


def create_app(predictor: Any, cfg: ServeConfig, source: str = "", chat: Any = None) -> FastAPI:
    """The FastAPI app serving `predictor` (a pipelines.inference.predict.Predictor); `chat`, a
    (pipelines.methods.chat.ChatEngine, SessionStore) pair, adds POST /chat."""
    batcher = MicroBatcher(lambda texts: predictor.predict(texts), cfg.max_batch_size, cfg.max_wait_ms)

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        worker = asyncio.create_task(batcher.run())
        yield
        worker.cancel()

    app = page_app("index.html", ("common.js", "app.js", "app.css"), lifespan=lifespan, docs=cfg.docs)
    app.state.batcher = batcher
    labels = labels_of(predictor.model)
    info = {"task": predictor.task_name, "labels": labels, "model": source, "runtime": type(predictor.model).__name__,
            "version": code_version(), "limits": asdict(cfg),
            "prediction": fields_of(predictor.task_name),  # each result's fields (pipelines.predictions)
            "chat": chat is not None}

    @app.get("/health")
    async def health() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/info")
    async def get_info() -> dict[str, Any]:
        return info

    @app.post("/predict")
    async def predict(request: Request) -> dict[str, Any]:
        body = await json_body(request, cfg.max_body_bytes)
        texts = check_request(body, cfg)
        start = time.perf_counter()
        predictions, shared = await batcher.submit(texts)
        return {"predictions": predictions, "batched_with": shared,
                "ms": round(1000 * (time.perf_counter() - start), 2)}

    if chat is not None:
        add_chat_route(app, *chat, cfg)
    return app


def add_chat_route(app: FastAPI, engine: Any, store: Any, cfg: ServeConfig) -> None:
    """POST /chat over `store` (pipelines.inference.sessions): each turn runs in a worker thread under the
    session's lock, reading the session inside the lock, so turns of one session never interleave (across
    replicas too, with Redis)."""
    from pipelines.inference.sessions import SessionLimit
    from pipelines.methods.chat import SessionExpired

    def turn(sid: str | None, text: str) -> dict[str, Any]:
        if sid is None:  # a new id: no other request can hold it yet
            session = store.new()
            if not text:
                store.save(session)
                return {"session_id": session.id, "action": "greet", "state": {}, "reply": engine.greeting()}
            reply = engine.reply(session, text)
            store.save(session)
        else:
            with store.lock(sid):
                try:
                    session = store.get(sid)
                except SessionExpired:
                    session = store.new()
                    store.save(session)
                    return {"session_id": session.id, "action": "expired", "state": {},
                            "reply": "That conversation expired; let's start again. " + engine.greeting()}
                except KeyError:
                    raise BadRequest(404, "unknown or expired session_id: omit it to start a session") from None
                reply = engine.reply(session, text)
                store.save(session)
        return {"session_id": session.id, "reply": reply.text, "action": reply.action, "state": reply.state}

    @app.post("/chat")
    async def chat(request: Request) -> dict[str, Any]:
        body = await json_body(request, cfg.max_body_bytes)
        if not isinstance(body, dict) or not isinstance(body.get("text", ""), str):
            raise BadRequest(422, 'expected a JSON object {"session_id"?: str, "text": str}')
        sid = body.get("session_id")
        if sid is not None and (not isinstance(sid, str) or len(sid) > MAX_SESSION_ID):
            raise BadRequest(422, f"session_id must be a string of at most {MAX_SESSION_ID} characters")
        text = body.get("text", "")
        if len(text) > cfg.max_chars:
            raise BadRequest(413, f"text has {len(text)} characters, more than max_chars={cfg.max_chars}")
        if problem := bad_characters(text):
            raise BadRequest(422, f"text: {problem}")
        try:
            return await asyncio.get_running_loop().run_in_executor(None, turn, sid, text)
        except SessionLimit as err:
            raise BadRequest(503, str(err)) from None


def load_config(path: str | Path | None, overrides: list[str]) -> ServeConfig:
    raw = read_raw(path, [f"serve.{o}" for o in overrides]).get("serve", {})
    return build_section(ServeConfig, raw, "serve")


def app_for(run: str | Path, cfg: ServeConfig) -> FastAPI:
    """The service of a run folder (or a model folder, or an installed model's name): its Predictor, and for a
    dialogue run the chat engine over a session store (default <run>/sessions.sqlite3)."""
    import torch

    from pipelines.inference.predict import Predictor

    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    predictor = Predictor.load(run, batch_size=cfg.max_batch_size, max_chars=cfg.max_chars, threads=cfg.threads)
    chat = None
    if predictor.task_name == "dialogue":
        from pipelines.inference.chat import build_engine
        from pipelines.inference.sessions import open_store

        where = cfg.session_store or str(Path(run) / "sessions.sqlite3")
        chat = (build_engine(predictor, cfg.guard, cfg.chat_max_chars),
                open_store(where, cfg.session_ttl_s, cfg.max_sessions))
    return create_app(predictor, cfg, str(run), chat)


def main(argv: list[str] | None = None) -> int:
    import uvicorn

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("run", help="run dir, its model/ folder, or a quantised folder (model-dynamic/ ...)")
    parser.add_argument("overrides", nargs="*", help="key=value of configs/serve.yaml, e.g. port=8080")
    parser.add_argument("--config", default=str(CONFIG_DIR / "serve.yaml"))
    args = parser.parse_args(argv)
    cfg = load_config(args.config, args.overrides)
    uvicorn.run(app_for(args.run, cfg), host=cfg.host, port=cfg.port, log_level="warning")
    return 0


if __name__ == "__main__":
    from pipelines.cli import run_cli

    run_cli(main)
