"""Where the chat bot's sessions live: SQLite by default (standard library), Redis for several server replicas.

    store = open_store("runs/X/sessions.sqlite3", ttl_s=1800, max_sessions=10_000)   # or "redis://host:6379/0"
    with store.lock(session_id):               # one turn of a session at a time
        session = store.get(session_id)        # read inside the lock
        engine.reply(session, text)
        store.save(session)                    # one transaction

Both stores hold nothing per session in this process, so memory stays flat however many sessions come and go,
and both bound what they hold on disk:
- expiry: a session expires `ttl_s` after its last turn; asked for then, it answers `SessionExpired` (the bot
  says so) and is deleted. Sessions nobody asks for again are deleted in bulk once twice the ttl has passed
  (SQLite: one DELETE when a session is created, at most once a minute; Redis: each key expires then); after
  that their id is unknown (`KeyError`), like an id never issued.
- a cap: `new()` raises `SessionLimit` when `max_sessions` unexpired sessions exist (the server answers 503).
- ids are 128 random bits in hex; any other id is unknown, so a request can reach no session but its own.

SQLite: one file (mode 0600: sessions hold what users typed), WAL journal, one transaction per turn, so a process
killed mid-turn leaves every finished turn intact. A turn is locked per session within the process (striped locks,
a fixed number), so run one server process per SQLite file. Redis (the way Rasa's tracker and lock stores work):
one key per session and a Redis lock per turn, so several replicas can share sessions.
"""

from __future__ import annotations

import json
import os
import sqlite3
import threading
import time
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict
from pathlib import Path
from typing import Any, Protocol

from pipelines.methods.chat import SESSION_ID, Session, SessionExpired

SWEEP_EVERY_S = 60.0
STRIPES = 64


class SessionLimit(RuntimeError):
    """`max_sessions` live sessions exist: no new one until some expire."""


class SessionStore(Protocol):
    ttl_s: float
    max_sessions: int

    def new(self) -> Session: ...

    def get(self, session_id: str) -> Session: ...

    def save(self, session: Session) -> None: ...

    def drop(self, session_id: str) -> None: ...

    def live(self) -> int: ...

    def lock(self, session_id: str) -> Any: ...


def check_id(session_id: Any) -> str:
    if not isinstance(session_id, str) or not SESSION_ID.match(session_id):
        raise KeyError("unknown session id")
    return session_id


def decode(raw: str | bytes, session_id: str) -> Session:
    try:
        return Session(**json.loads(raw))
    except (ValueError, TypeError):  # another version's layout: treated as unknown
        raise KeyError(session_id) from None


def unexpired(store: SessionStore, raw: str | bytes, session_id: str) -> Session:
    """The stored session, or SessionExpired (and it is deleted) when its last turn is older than the ttl."""
    session = decode(raw, session_id)
    if time.time() - session.updated > store.ttl_s:
        store.drop(session_id)
        raise SessionExpired(session_id)
    return session


class SqliteSessionStore:
    """Sessions in one SQLite file (`path`), or in memory for `path=None` (tests, a one-off chat)."""

    def __init__(self, path: str | Path | None = None, ttl_s: float = 1800.0, max_sessions: int = 10_000) -> None:
        self.path, self.ttl_s, self.max_sessions = (Path(path) if path else None), ttl_s, max_sessions
        if self.path is not None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            os.close(os.open(self.path, os.O_CREAT | os.O_RDWR, 0o600))  # private before SQLite writes to it
            os.chmod(self.path, 0o600)  # WAL and shared-memory files take the database file's mode
        # one connection shared by the server's threads, each use under `_db_lock`
        self._db = sqlite3.connect(str(self.path) if self.path else ":memory:", check_same_thread=False,
                                   isolation_level=None, timeout=30.0)
        self._db_lock = threading.Lock()
        self._stripes = [threading.Lock() for _ in range(STRIPES)]
        with self._db_lock:
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")  # WAL: a power cut may lose the last turns, never corrupt
            self._db.execute("CREATE TABLE IF NOT EXISTS sessions (id TEXT PRIMARY KEY, updated REAL NOT NULL, "
                             "data TEXT NOT NULL)")
            self._db.execute("CREATE INDEX IF NOT EXISTS sessions_updated ON sessions (updated)")
        self._swept = 0.0
        self.sweep()

    def sweep(self) -> int:
        """Delete the sessions that expired a ttl ago or more; how many went."""
        now = time.time()
        with self._db_lock:
            gone = self._db.execute("DELETE FROM sessions WHERE updated < ?", (now - 2 * self.ttl_s,)).rowcount
        self._swept = now
        return gone

    def live(self) -> int:
        with self._db_lock:
            return self._db.execute("SELECT COUNT(*) FROM sessions WHERE updated >= ?",
                                    (time.time() - self.ttl_s,)).fetchone()[0]

    def new(self) -> Session:
        if time.time() - self._swept > SWEEP_EVERY_S:
            self.sweep()
        if self.live() >= self.max_sessions:
            raise SessionLimit(f"{self.max_sessions} sessions are live (max_sessions): try again later")
        return Session.new()

    def get(self, session_id: str) -> Session:
        """The session; KeyError for an unknown id, SessionExpired for one older than the ttl (then deleted)."""
        check_id(session_id)
        with self._db_lock:
            row = self._db.execute("SELECT data FROM sessions WHERE id = ?", (session_id,)).fetchone()
        if row is None:
            raise KeyError(session_id)
        return unexpired(self, row[0], session_id)

    def save(self, session: Session) -> None:
        """One transaction: the whole session or, if the process dies first, the previous turn's."""
        session.updated = time.time()
        with self._db_lock:
            self._db.execute("INSERT INTO sessions (id, updated, data) VALUES (?, ?, ?) ON CONFLICT(id) DO UPDATE "
                             "SET updated = excluded.updated, data = excluded.data",
                             (session.id, session.updated, json.dumps(asdict(session))))

    def drop(self, session_id: str) -> None:
        with self._db_lock:
            self._db.execute("DELETE FROM sessions WHERE id = ?", (session_id,))

    @contextmanager
    def lock(self, session_id: str) -> Iterator[None]:
        with self._stripes[zlib.crc32(session_id.encode()) % STRIPES]:
            yield

    def close(self) -> None:
        with self._db_lock:
            self._db.close()


class RedisSessionStore:
    """Sessions in Redis (`redis://host:port/db`): a JSON value per session whose key expires a ttl after it does,
    a sorted set of ids by last turn (for the cap), and a Redis lock per turn, so replicas can share sessions."""

    def __init__(self, url: str, ttl_s: float = 1800.0, max_sessions: int = 10_000, prefix: str = "nlp:") -> None:
        try:
            import redis
        except ImportError as err:
            raise ImportError("session_store=redis://... needs the redis package: pip install redis") from err
        self.client = redis.Redis.from_url(url)
        self.client.ping()  # fail at start-up, not on the first chat
        self.ttl_s, self.max_sessions, self.prefix = ttl_s, max_sessions, prefix
        self.index = f"{prefix}sessions"

    def key(self, session_id: str) -> str:
        return f"{self.prefix}session:{session_id}"

    def live(self) -> int:
        now = time.time()
        pipe = self.client.pipeline()
        pipe.zremrangebyscore(self.index, "-inf", now - 2 * self.ttl_s)  # as their keys expire
        pipe.zcount(self.index, now - self.ttl_s, "+inf")
        return int(pipe.execute()[1])

    def new(self) -> Session:
        if self.live() >= self.max_sessions:
            raise SessionLimit(f"{self.max_sessions} sessions are live (max_sessions): try again later")
        return Session.new()

    def get(self, session_id: str) -> Session:
        raw = self.client.get(self.key(check_id(session_id)))
        if raw is None:  # never issued, or expired long ago and gone with its key
            raise KeyError(session_id)
        return unexpired(self, raw, session_id)

    def save(self, session: Session) -> None:
        session.updated = time.time()
        pipe = self.client.pipeline()  # MULTI/EXEC: value and index together
        pipe.set(self.key(session.id), json.dumps(asdict(session)), px=max(1, int(2 * self.ttl_s * 1000)))
        pipe.zadd(self.index, {session.id: session.updated})
        pipe.execute()

    def drop(self, session_id: str) -> None:
        pipe = self.client.pipeline()
        pipe.delete(self.key(session_id))
        pipe.zrem(self.index, session_id)
        pipe.execute()

    def lock(self, session_id: str) -> Any:
        """A Redis lock on the session (held at most 60 s, waited for at most 30 s), shared by every replica."""
        return self.client.lock(f"{self.prefix}lock:{session_id}", timeout=60, blocking_timeout=30)

    def close(self) -> None:
        self.client.close()


def open_store(spec: str | Path | None, ttl_s: float = 1800.0, max_sessions: int = 10_000) -> SessionStore:
    """`redis://...` / `rediss://...` -> Redis; a file path -> SQLite; None or '' -> SQLite in memory."""
    if isinstance(spec, str) and spec.startswith(("redis://", "rediss://", "unix://")):
        return RedisSessionStore(spec, ttl_s, max_sessions)
    return SqliteSessionStore(spec or None, ttl_s, max_sessions)
