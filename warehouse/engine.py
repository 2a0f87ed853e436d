"""The SQLAlchemy engine of a warehouse URL: SQLite tuned for bulk loads, PostgreSQL in its schema.

SQLite has one writer at a time. Transactions take the write lock up front (``BEGIN IMMEDIATE``)
so that writers queue instead of failing. Threads of one process also take their turn on an
in-process lock before that: SQLite's own busy handler sleeps in growing steps (up to 100 ms)
between tries, so with four zone threads queued the database sat idle between one commit and
the next writer's wake-up. The in-process turn wakes the next writer as the previous one commits;
other processes still queue on the busy timeout, and a turn is never waited for longer than it.
"""

from __future__ import annotations

import os
import sqlite3
import threading
import time
import weakref
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.engine import make_url

#: SQLite's busy timeout, and the longest an in-process writer waits for its turn
BUSY_TIMEOUT_S = 60.0

# one turn per database file per process, whichever engine opened it
_TURNS: dict[str, threading.Lock] = {}
_TURNS_LOCK = threading.Lock()


def _turn(path: str) -> threading.Lock:
    key = os.path.realpath(path) if path and path != ":memory:" else f"memory:{id(path)}"
    with _TURNS_LOCK:
        return _TURNS.setdefault(key, threading.Lock())


def _wal(cur: Any) -> None:
    """Switch a SQLite database to WAL; two first connections at once may have to wait their turn.

    The switch needs the database to itself and SQLite answers "database is locked" at once,
    without its busy handler, when another connection is opening it at the same moment.
    """
    for _ in range(100):
        try:
            cur.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc):
                raise
            time.sleep(0.05)
    cur.execute("PRAGMA journal_mode=WAL")


def _sqlite_engine(url: str) -> Engine:
    path = url.split("///", 1)[1] if "///" in url else ""
    if path and path != ":memory:":
        Path(path).parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(
        url, connect_args={"timeout": BUSY_TIMEOUT_S, "check_same_thread": False}
    )
    turn = _turn(path)

    @event.listens_for(engine, "connect")
    def _sqlite_connect(dbapi_conn: Any, _: Any) -> None:
        # let SQLAlchemy own BEGIN (see _sqlite_begin)
        dbapi_conn.isolation_level = None
        cur = dbapi_conn.cursor()
        cur.execute(f"PRAGMA busy_timeout={int(BUSY_TIMEOUT_S * 1000)}")
        _wal(cur)
        # bulk loads: a page cache that holds a release's key range and the B-tree's upper
        # levels (per connection, so moderate), and sorts and temp B-trees in memory
        cur.execute("PRAGMA cache_size=-16384")
        cur.execute("PRAGMA temp_store=MEMORY")
        # a commit appends to the WAL without waiting for the disk; what readers of Parquet
        # see is made durable first (publishing.Publisher.durable), outside the write lock
        cur.execute("PRAGMA synchronous=NORMAL")
        # checkpoints (each syncs the WAL and the database) every 32 MiB of WAL, not 4 MiB:
        # a bulk load's commits would otherwise each run one
        cur.execute("PRAGMA wal_autocheckpoint=8192")
        cur.close()

    # per connection holding the turn, what gives it back: once, at the transaction's end, or
    # when the connection is dropped without one (an invalidated or forgotten connection)
    holders: dict[int, weakref.finalize[Any, Any]] = {}

    def _give_back(key: int) -> None:
        holders.pop(key, None)
        turn.release()

    def _end_turn(conn: Connection) -> None:
        give_back = holders.get(id(conn))
        if give_back is not None:
            give_back()

    @event.listens_for(engine, "begin")
    def _sqlite_begin(conn: Connection) -> None:
        # a thread that already holds the turn through another connection (it would wait for
        # itself) gives up waiting after the busy timeout and queues on SQLite's lock as before
        if turn.acquire(timeout=BUSY_TIMEOUT_S):
            holders[id(conn)] = weakref.finalize(conn, _give_back, id(conn))
        try:
            conn.exec_driver_sql("BEGIN IMMEDIATE")
        except BaseException:
            _end_turn(conn)
            raise

    # the turn ends as the transaction does, however it ends
    event.listen(engine, "commit", _end_turn)
    event.listen(engine, "rollback", _end_turn)

    return engine


def make_engine(url: str) -> Engine:
    """A new engine for a warehouse URL (SQLite or PostgreSQL), set up for this project's loads."""
    if url.startswith("sqlite"):
        return _sqlite_engine(url)
    from warehouse.migrate import SCHEMA

    parsed = make_url(url)
    if parsed.get_backend_name() != "postgresql":
        return create_engine(url, pool_pre_ping=True)
    # Every object lives in schema zonestats; the unqualified SQL everywhere (views, COPY, text())
    # finds it through the search path, set at connect time so it costs no round trip. libpq
    # takes `options` from the URL or else from $PGOPTIONS, so both are kept, and a search_path
    # the operator set there explicitly wins.
    given = parsed.query.get("options") or os.environ.get("PGOPTIONS", "")
    options = " ".join(given) if isinstance(given, tuple) else given
    if "search_path" not in options:
        options = f"{options} -c search_path={SCHEMA}".strip()
    return create_engine(
        parsed.difference_update_query(["options"]),
        pool_pre_ping=True,
        connect_args={"options": options},
    )
