"""Chat session stores: SQLite (the default) and Redis (several replicas), against the same contract; nothing
grows without bound; a process killed mid-turn loses no finished turn. The Redis cases run against a real
`redis-server` that the fixture starts on a free loopback port (skipped where the Debian package is missing;
.ci/run installs it)."""

import os
import shutil
import signal
import socket
import sqlite3
import stat
import subprocess
import sys
import textwrap
import time

import pytest

from pipelines.inference.sessions import RedisSessionStore, SessionLimit, SqliteSessionStore, open_store
from pipelines.methods.chat import Session, SessionExpired


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def redis_url():
    exe = shutil.which("redis-server")
    if exe is None:
        pytest.skip("redis-server is not installed (apt-get install redis-server)")
    pytest.importorskip("redis")
    port = free_port()
    proc = subprocess.Popen([exe, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"redis://127.0.0.1:{port}/0"
    import redis

    for _ in range(100):
        try:
            redis.Redis.from_url(url).ping()
            break
        except redis.ConnectionError:
            time.sleep(0.05)
    else:
        proc.kill()
        pytest.fail("redis-server did not start")
    yield url
    proc.terminate()
    proc.wait(timeout=10)


@pytest.fixture(params=["sqlite", "redis"])
def make_store(request, tmp_path):
    """A factory: each call is a new store over the same database (a restarted server, or another replica)."""
    if request.param == "sqlite":
        return lambda **kw: SqliteSessionStore(tmp_path / "sessions.sqlite3", **kw)
    url = request.getfixturevalue("redis_url")
    import redis

    redis.Redis.from_url(url).flushdb()
    return lambda **kw: RedisSessionStore(url, **kw)


def test_sessions_round_trip_survive_a_restart_and_refuse_other_ids(make_store):
    store = make_store(ttl_s=60)
    a = store.new()
    a.state = {"movie": "paper tigers"}
    store.save(a)
    again = make_store(ttl_s=60).get(a.id)
    assert again.state == {"movie": "paper tigers"} and again.id == a.id
    for bad in ("../" + a.id, a.id.upper(), "", "0" * 31, 5, "x" * 10_000):
        with pytest.raises(KeyError):
            store.get(bad)
    with pytest.raises(KeyError):
        store.get(Session.new().id)  # well formed, never saved


def test_expired_sessions_are_refused_then_deleted(make_store, monkeypatch):
    store = make_store(ttl_s=60)
    a, b = store.new(), store.new()
    store.save(a)
    store.save(b)
    assert store.live() == 2
    later = time.time() + 61
    monkeypatch.setattr(time, "time", lambda: later)
    with pytest.raises(SessionExpired):
        store.get(a.id)
    with pytest.raises(KeyError):
        store.get(a.id)  # gone once seen expired
    assert store.live() == 0
    with pytest.raises(SessionExpired):
        store.get(b.id)  # still stored a ttl after it expired: the bot can say so
    c = store.new()
    store.save(c)
    much_later = later + 121
    monkeypatch.setattr(time, "time", lambda: much_later)
    if isinstance(store, SqliteSessionStore):  # the bulk sweep removes what nobody asked for again
        assert store.sweep() == 1
        assert store._db.execute("SELECT COUNT(*) FROM sessions").fetchone()[0] == 0
    else:
        store.live()
        assert store.client.zcard(store.index) == 0


def test_a_cap_on_live_sessions(make_store):
    store = make_store(ttl_s=60, max_sessions=3)
    for _ in range(3):
        store.save(store.new())
    with pytest.raises(SessionLimit, match="max_sessions"):
        store.new()


def test_turns_of_one_session_are_locked_across_replicas(redis_url):
    a_store, b_store = RedisSessionStore(redis_url), RedisSessionStore(redis_url)
    session = a_store.new()
    a_store.save(session)
    with a_store.lock(session.id):
        other = b_store.client.lock(f"{b_store.prefix}lock:{session.id}", timeout=5, blocking_timeout=0.2)
        assert not other.acquire()  # another replica waits for this turn
    assert other.acquire()
    other.release()


def test_memory_stays_flat_and_the_file_is_private(tmp_path):
    store = SqliteSessionStore(tmp_path / "s.db", ttl_s=60, max_sessions=100_000)
    held = lambda: sum(len(v) for v in vars(store).values() if isinstance(v, (dict, list, set)))  # noqa: E731
    before = held()
    for _ in range(500):
        store.save(store.new())
    assert held() == before and store.live() == 500
    assert stat.S_IMODE(os.stat(tmp_path / "s.db").st_mode) == 0o600
    assert open_store("", 60).live() == 0 and isinstance(open_store(tmp_path / "t.db"), SqliteSessionStore)


def test_a_process_killed_mid_turn_loses_no_finished_turn(tmp_path):
    """A writer saves turns as fast as it can and is killed with SIGKILL; every turn it reported finished is
    there, whole, and the database passes SQLite's integrity check."""
    db = tmp_path / "s.db"
    script = textwrap.dedent(f"""
        import sys
        from pipelines.inference.sessions import SqliteSessionStore
        store = SqliteSessionStore({str(db)!r}, ttl_s=3600)
        s = store.new()
        for turn in range(1, 10**9):
            s.turns = turn
            s.history.append("user : turn %d " % turn + "x" * 500)
            store.save(s)
            print(s.id, turn, flush=True)
    """)
    proc = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True,
                            cwd=os.getcwd(), env={**os.environ, "PYTHONPATH": os.getcwd()})
    lines = []
    for line in proc.stdout:
        lines.append(line.split())
        if len(lines) >= 300:
            break
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=10)
    sid, finished = lines[-1][0], int(lines[-1][1])
    assert sqlite3.connect(db).execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    session = SqliteSessionStore(db, ttl_s=3600).get(sid)
    assert session.turns >= finished and len(session.history) == session.turns
