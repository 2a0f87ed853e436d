"""The SQLite engine's in-process writer turn: writers take turns, and no ending of a
transaction (commit, rollback, an error, a dropped connection) leaves the turn taken."""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path

import pytest
from sqlalchemy import Engine, exc, text

from warehouse import engine as engine_mod


@pytest.fixture
def engine(tmp_path: Path) -> Engine:
    eng = engine_mod.make_engine(f"sqlite:///{tmp_path / 'wh.db'}")
    with eng.begin() as conn:
        conn.execute(text("CREATE TABLE t (n INTEGER)"))
    return eng


def _writes_within(engine: Engine, seconds: float) -> bool:
    """True when another thread gets a write transaction through within ``seconds``."""
    done = threading.Event()

    def write() -> None:
        with engine.begin() as conn:
            conn.execute(text("INSERT INTO t VALUES (1)"))
        done.set()

    threading.Thread(target=write, daemon=True).start()
    return done.wait(seconds)


def test_every_end_of_a_transaction_gives_the_turn_back(engine: Engine) -> None:
    """Commit, rollback, an exception in the block, an invalidated connection."""
    with engine.begin() as conn:
        conn.execute(text("INSERT INTO t VALUES (0)"))
    assert _writes_within(engine, 5)

    conn = engine.connect()
    conn.execute(text("INSERT INTO t VALUES (0)"))
    conn.rollback()
    conn.close()
    assert _writes_within(engine, 5)

    def fail_inside() -> None:
        with engine.begin() as conn:
            conn.execute(text("INSERT INTO t VALUES (0)"))
            raise ZeroDivisionError

    with pytest.raises(ZeroDivisionError):
        fail_inside()
    assert _writes_within(engine, 5)

    conn = engine.connect()
    conn.execute(text("INSERT INTO t VALUES (0)"))
    conn.invalidate()
    conn.close()
    assert _writes_within(engine, 5)


def test_writers_of_two_threads_take_turns(engine: Engine) -> None:
    """The second writer waits while the first holds the turn, then goes as it commits."""
    first = engine.connect()
    first.execute(text("INSERT INTO t VALUES (1)"))
    assert not _writes_within(engine, 0.5)  # waiting for the turn, not failing
    first.commit()
    first.close()
    with engine.connect() as conn:
        deadline = threading.Event()
        for _ in range(50):
            if conn.execute(text("SELECT count(*) FROM t")).scalar_one() == 2:
                break
            conn.rollback()
            deadline.wait(0.1)
        assert conn.execute(text("SELECT count(*) FROM t")).scalar_one() == 2


def test_a_thread_waiting_for_itself_is_told_not_wedged(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A second transaction opened inside the first fails after the timeout, never hangs."""
    monkeypatch.setattr(engine_mod, "BUSY_TIMEOUT_S", 0.3)
    eng = engine_mod.make_engine(f"sqlite:///{tmp_path / 'wh.db'}")
    with eng.begin() as outer:
        outer.execute(text("CREATE TABLE t (n INTEGER)"))
        with pytest.raises(exc.OperationalError) as err, eng.begin() as inner:
            inner.execute(text("INSERT INTO t VALUES (1)"))
        assert isinstance(err.value.orig, sqlite3.OperationalError)
        assert "locked" in str(err.value.orig)
    # and the outer one's turn ends as it commits
    assert _writes_within(eng, 5)
