"""`zonestats run` killed with SIGKILL mid-release, and at once another: it takes over and finishes.

The two runs share the config, the warehouse and the Prefect home, as consecutive nightly runs on
one machine do. Nothing the dead run held (its zone, its release claim, a Prefect slot) may wedge
the successor: the claims expire within a lease because the heartbeat stopped with the process.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pyarrow.dataset as pads
import pytest
from helpers.zoneserver import ZoneServer
from sqlalchemy import Engine, create_engine, text

ZONE = "JZ01"  # the largest zone: ×10 gives about 21,000 enterprises in one release
# a lease of a few heartbeats keeps the test short; the default (60 s / 15 s) works the same way
LEASE_S, HEARTBEAT_S = 10, 2
SUCCESSOR_LIMIT_S = 180


@pytest.fixture(scope="module")
def big_zone() -> object:
    """One zone release and one ~21,000-enterprise release (February 2026) of JZ01."""
    server = ZoneServer(10, as_of="2026-03-20", start_year=2026)
    yield server
    server.stop()


def _config(path: Path, server: ZoneServer, url: str, data_dir: Path) -> Path:
    path.write_text(
        "\n".join(
            [
                "[warehouse]",
                f'url = "{url}"',
                f'data_dir = "{data_dir.as_posix()}"',
                "[http]",
                "page_size = 1000",
                "timeout_s = 120.0",
                "[run]",
                f"lease_s = {LEASE_S}",
                f"heartbeat_s = {HEARTBEAT_S}",
                "[[zones]]",
                f'code = "{ZONE}"',
                'adapter = "api-v1"',
                f'base_url = "{server.base_url(ZONE)}"',
                f'token_env = "{server.token_env(ZONE)}"',
            ]
        )
        + "\n",
        encoding="utf-8",
    )
    return path


def _run(cfg: Path, env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    exe = Path(sys.executable).with_name("zonestats")
    # a session of its own: SIGKILL goes to the whole process group (the run, its Prefect server)
    return subprocess.Popen(
        [str(exe), "run", "--config", str(cfg)],
        env=env,
        stdout=log.open("wb"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )


def _engine(url: str) -> Engine:
    """A plain engine on the warehouse (on PostgreSQL its tables are in schema zonestats)."""
    if url.startswith("postgresql"):
        return create_engine(url, connect_args={"options": "-c search_path=zonestats"})
    return create_engine(url)


def _enterprise_running(url: str) -> bool:
    try:
        engine = _engine(url)
        try:
            with engine.connect() as conn:
                return bool(
                    conn.execute(
                        text(
                            "SELECT count(*) FROM load_ledger "
                            "WHERE dataset = 'enterprise' AND status = 'running'"
                        )
                    ).scalar_one()
                )
        finally:
            engine.dispose()
    except Exception:
        return False  # not created yet


@pytest.mark.slow
@pytest.mark.parametrize("db", ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def test_a_run_killed_mid_release_is_finished_by_the_next_one_at_once(
    db: str, big_zone: ZoneServer, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    url = (
        f"sqlite:///{(tmp_path / 'w.db').as_posix()}"
        if db == "sqlite"
        else str(request.getfixturevalue("pg_url"))
    )
    data_dir = tmp_path / "data"
    cfg = _config(tmp_path / "zonestats.toml", big_zone, url, data_dir)
    env = {
        **os.environ,
        "PREFECT_HOME": str(tmp_path / "prefect-home"),  # shared by both runs
        big_zone.token_env(ZONE): big_zone.token(ZONE),
    }
    env.pop("PREFECT_API_URL", None)

    victim = _run(cfg, env, tmp_path / "victim.log")
    try:
        deadline = time.monotonic() + 150
        while not _enterprise_running(url):  # it has claimed the big release
            assert victim.poll() is None, (tmp_path / "victim.log").read_text()[-3000:]
            assert time.monotonic() < deadline, "the first run never started the big release"
            time.sleep(0.2)
        delay = random.uniform(0.0, 8.0)  # somewhere in fetch, validate or load
        print(f"killing the first run {delay:.1f}s into the big release")
        time.sleep(delay)
    finally:
        os.killpg(victim.pid, signal.SIGKILL)
        victim.wait(timeout=30)

    started = time.monotonic()
    successor = _run(cfg, env, tmp_path / "successor.log")
    try:
        rc = successor.wait(timeout=SUCCESSOR_LIMIT_S)
    except subprocess.TimeoutExpired:
        os.killpg(successor.pid, signal.SIGKILL)
        successor.wait(timeout=30)
        pytest.fail(f"the second run did not end within {SUCCESSOR_LIMIT_S}s")
    took = time.monotonic() - started
    out = (tmp_path / "successor.log").read_text(errors="replace")
    assert rc == 0, out[-4000:]
    print(f"the second run ended in {took:.0f}s")

    engine = _engine(url)
    try:
        with engine.connect() as conn:
            ledger = (
                conn.execute(
                    text(
                        "SELECT dataset, status, attempts, last_error, load_id, records_loaded "
                        "FROM load_ledger"
                    )
                )
                .mappings()
                .all()
            )
            [ent] = [r for r in ledger if r["dataset"] == "enterprise"]
            assert {r["status"] for r in ledger} == {"loaded"}
            if ent["attempts"] == 2:  # it died holding the claim: the ledger names the takeover
                assert "taken over from" in (ent["last_error"] or ""), ent
            rows = conn.execute(
                text(
                    "SELECT uscc, indicator_code, value, load_id FROM obs_enterprise "
                    "ORDER BY uscc, indicator_code"
                )
            ).all()
            keys = conn.execute(
                text(
                    "SELECT count(*) FROM (SELECT DISTINCT zone_code, period, revision, uscc, "
                    "indicator_code FROM obs_enterprise) k"
                )
            ).scalar_one()
            claims = conn.execute(text("SELECT count(*) FROM zone_claim")).scalar_one()
    finally:
        engine.dispose()
    assert ent["records_loaded"] >= 20_000
    assert {r.load_id for r in rows} == {ent["load_id"]}  # one load, nothing of the dead one
    assert keys == len(rows)  # no duplicates
    assert claims == 0  # given back at the end

    parquet = pads.dataset(data_dir / "parquet" / "obs_enterprise", format="parquet").to_table(
        columns=["uscc", "indicator_code", "value", "load_id"]
    )
    got = sorted(
        zip(
            parquet["uscc"].to_pylist(),
            parquet["indicator_code"].to_pylist(),
            [float(v) if v is not None else None for v in parquet["value"].to_pylist()],
            parquet["load_id"].to_pylist(),
            strict=True,
        )
    )
    want = sorted(
        (r.uscc, r.indicator_code, float(r.value) if r.value is not None else None, r.load_id)
        for r in rows
    )
    assert got == want  # Parquet = SQL, row for row
    # a temp file the dead run left is hidden from readers (*.parquet never matches it) and is
    # removed by a later run's repair once it is stale (tasks.load.STALE_WORK_FILES)
    assert all(p.name.startswith(".") for p in data_dir.glob("parquet/**/*.tmp"))
    assert not [p for p in data_dir.glob("parquet/**/*.parquet") if ".tmp" in p.name]
