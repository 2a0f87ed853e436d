"""The warehouse server goes away: PostgreSQL restarts in the middle of a nightly run.

On a private cluster (the shared server serves the other test workers): the nightly flow loads
two zones' releases from the simulator, and when an enterprise release is being copied into the
warehouse the cluster is restarted (``pg_ctl restart -m fast`` terminates every session). The run
must end on its own, what was in flight ends failed with a message naming it or is retried and
loaded, nothing partial is left in SQL or Parquet, and the next run heals it all.
"""

from __future__ import annotations

import contextvars
import socket
import subprocess
import sys
import threading
import time
import traceback
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
import requests
from conftest import CST
from helpers.pgcluster import PgCluster, PgClusterError
from sqlalchemy import create_engine, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.pool import NullPool

pytestmark = [pytest.mark.postgres, pytest.mark.slow, pytest.mark.prefect]

SEED = 2026
AS_OF = datetime(2026, 7, 6, 9, 0, tzinfo=CST)  # four enterprise releases a zone (2026-02..05)
START_YEAR = 2026
# ~8,500 enterprises in JZ01: each of its enterprise releases takes a few seconds end to end and
# its COPY long enough to be caught in the act; DT01 (~1,400) keeps a second zone going meanwhile
SCALE = 4
ZONES = ["JZ01", "DT01"]
LEASE_S = 2
RUN_TIMEOUT_S = 120  # a run that has not ended by then hangs
DATABASE = "zonestats"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class SimulatorProcess:
    """The simulator in a process of its own, so that serving pages does not take the GIL."""

    def __init__(self) -> None:
        from zonesim import Simulator

        port = _free_port()
        exe = Path(sys.executable).with_name("zonesim")
        self.proc = subprocess.Popen(
            [
                str(exe),
                *("--port", str(port), "--seed", str(SEED)),
                *("--as-of", AS_OF.isoformat(), "--start-year", str(START_YEAR)),
                *("--enterprise-scale", str(SCALE)),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        # the same simulator, not serving: ground truth, tokens and base URLs for that port
        self.truth = Simulator(
            seed=SEED, as_of=AS_OF, start_year=START_YEAR, port=port, enterprise_scale=SCALE
        )
        code = ZONES[0]
        deadline = time.monotonic() + 60
        while True:
            try:
                requests.get(
                    self.truth.base_url(code) + "/releases",
                    params={"dataset": "zone"},
                    headers={"Authorization": f"Bearer {self.truth.token(code)}"},
                    timeout=5,
                )
                return
            except requests.ConnectionError:
                if time.monotonic() > deadline or self.proc.poll() is not None:
                    self.stop()
                    raise
                time.sleep(0.2)

    def stop(self) -> None:
        """Stop the process."""
        self.proc.terminate()
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=30)


@pytest.fixture
def pg_cluster() -> Iterator[PgCluster]:
    """A private, running PostgreSQL cluster; a missing server binary fails, never skips."""
    try:
        cluster = PgCluster()
    except PgClusterError as exc:
        pytest.fail(f"cannot run a private PostgreSQL cluster: {exc}")
    try:
        cluster.create()
        yield cluster
    except PgClusterError as exc:
        pytest.fail(f"cannot run a private PostgreSQL cluster: {exc}")
    finally:
        cluster.close()


@pytest.fixture
def warehouse_db(pg_cluster: PgCluster) -> Iterator[str]:
    """An empty warehouse database in the private cluster; its pooled engine dropped afterwards."""
    from warehouse.store import _ENGINES

    admin = create_engine(pg_cluster.url(), isolation_level="AUTOCOMMIT", poolclass=NullPool)
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{DATABASE}"'))
    admin.dispose()
    url = pg_cluster.url(DATABASE)
    yield url
    engine = _ENGINES.pop(url, None)
    if engine is not None:
        engine.dispose()


@pytest.fixture
def zone_sim(monkeypatch: pytest.MonkeyPatch) -> Iterator[SimulatorProcess]:
    """The simulator process, its zones' tokens in the environment."""
    sim = SimulatorProcess()
    for code in ZONES:
        monkeypatch.setenv(sim.truth.token_env(code), sim.truth.token(code))
    try:
        yield sim
    finally:
        sim.stop()


class Run:
    """The nightly flow in a thread of its own, so that a hang is a failure and not a stuck test."""

    def __init__(self, config: Path) -> None:
        self.config = config
        self.state: Any = None
        self.error: BaseException | None = None
        # the flow's thread needs the harness's Prefect settings, which live in the context
        ctx = contextvars.copy_context()
        self.thread = threading.Thread(
            target=ctx.run, args=(self._body,), name="nightly-under-test", daemon=True
        )
        self.started = time.monotonic()
        self.thread.start()

    def _body(self) -> None:
        from flows.nightly import nightly

        try:
            self.state = nightly(config_path=str(self.config), return_state=True)
        except BaseException as exc:  # the run crashed instead of ending in a state
            self.error = exc

    @property
    def done(self) -> bool:
        """True once the flow has returned."""
        return not self.thread.is_alive()

    def result(self) -> tuple[Any, Any]:
        """Wait for the run; its final state and summary. A hang or a crash fails the test."""
        self.thread.join(timeout=max(0.0, RUN_TIMEOUT_S - (time.monotonic() - self.started)))
        if self.thread.is_alive():
            frames = sys._current_frames()
            stacks = "\n".join(
                f"--- {t.name}\n" + "".join(traceback.format_stack(frames[t.ident]))
                for t in threading.enumerate()
                if t.ident in frames
            )
            pytest.fail(f"the nightly run did not end within {RUN_TIMEOUT_S}s:\n{stacks[-8000:]}")
        assert self.error is None, "".join(traceback.format_exception(self.error))
        from flows.nightly import RunFailed

        if self.state.is_completed():
            return self.state, self.state.result()
        exc = self.state.result(raise_on_failure=False)
        assert isinstance(exc, RunFailed), f"the run crashed: {exc!r}"
        return self.state, exc.summary


def _query(url: str, sql: str) -> list[Any]:
    """Rows of a query on its own connection (tests must not lean on the product's pool)."""
    engine = create_engine(url, poolclass=NullPool)
    try:
        with engine.connect() as conn:
            return list(conn.execute(text(sql)).all())
    finally:
        engine.dispose()


class Interrupter:
    """Waits for an enterprise load to be in its COPY, then restarts the cluster under it."""

    def __init__(self, cluster: PgCluster, url: str, run: Run) -> None:
        self.cluster, self.url, self.run = cluster, url, run
        self.in_flight: list[tuple[str, str, str, int, str]] = []  # ledger rows 'running'
        self.copying: list[str] = []
        self.restart_s = 0.0

    def wait_and_restart(self, timeout_s: float = 60) -> None:
        """Restart (fast) once a release has loaded and an enterprise COPY is under way."""
        engine = create_engine(self.url, isolation_level="AUTOCOMMIT", poolclass=NullPool)
        deadline = time.monotonic() + timeout_s
        try:
            while time.monotonic() < deadline and not self.run.done:
                try:
                    with engine.connect() as conn:
                        loaded = conn.execute(
                            text(
                                "SELECT count(*) FROM zonestats.load_ledger "
                                "WHERE status = 'loaded' AND dataset = 'enterprise'"
                            )
                        ).scalar_one()
                        copying = conn.execute(
                            text(
                                "SELECT query FROM pg_stat_activity WHERE state = 'active' "
                                "AND query LIKE 'COPY \"obs_enterprise%'"
                            )
                        ).all()
                        running = conn.execute(
                            text(
                                "SELECT zone_code, dataset, period, revision, load_id "
                                "FROM zonestats.load_ledger WHERE status = 'running'"
                            )
                        ).all()
                except DBAPIError:  # the schema is not there yet
                    time.sleep(0.05)
                    continue
                if loaded and copying:
                    self.in_flight = [tuple(r) for r in running]
                    self.copying = [r[0] for r in copying]
                    started = time.monotonic()
                    self.cluster.restart("fast")
                    self.restart_s = time.monotonic() - started
                    return
                time.sleep(0.02)
        finally:
            engine.dispose()
        if self.run.done:
            _, summary = self.run.result()
            pytest.fail(f"the run ended before an enterprise COPY was seen: {summary.failures()}")
        pytest.fail(f"no enterprise COPY was seen within {timeout_s}s")


def _write_config(tmp_path: Path, sim: SimulatorProcess, url: str) -> Path:
    from zonestats.config import RunSettings

    lines = [
        "[warehouse]",
        f'url = "{url}"',
        f'data_dir = "{(tmp_path / "data").as_posix()}"',
        "",
        "[http]",
        "page_size = 1000",
        "backoff_base_s = 0.01",
        "backoff_max_s = 0.05",
        "max_attempts = 4",
        "",
        "[run]",
        # short: a claim the interrupted run could not release must not block the next run long
        f"lease_s = {LEASE_S}",
    ]
    if "heartbeat_s" in RunSettings.__dataclass_fields__:
        # claims are renewed by a heartbeat of at most half the lease (being added alongside)
        lines.append(f"heartbeat_s = {LEASE_S // 2}")
    for code in ZONES:
        lines += [
            "",
            "[[zones]]",
            f'code = "{code}"',
            'adapter = "api-v1"',
            f'base_url = "{sim.truth.base_url(code)}"',
            f'token_env = "{sim.truth.token_env(code)}"',
            'datasets = ["zone", "enterprise"]',
        ]
    path = tmp_path / "zonestats.toml"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def _frame(url: str, sql: str) -> pd.DataFrame:
    engine = create_engine(url, poolclass=NullPool)
    try:
        with engine.connect() as conn:
            return pd.read_sql_query(text(sql), conn)
    finally:
        engine.dispose()


def _parquet_counts(data_dir: Path, table: str) -> dict[str, int]:
    root = data_dir / "parquet" / table
    if not root.exists():
        return {}
    frame = pd.read_parquet(root, columns=["load_id"])
    return {str(k): int(v) for k, v in frame["load_id"].value_counts().items()}


def assert_nothing_partial(url: str, data_dir: Path) -> pd.DataFrame:
    """Each loaded release whole in SQL and Parquet; no row of any other attempt; the ledger."""
    ledger = _frame(url, "SELECT * FROM zonestats.load_ledger")
    loaded = ledger[ledger["status"] == "loaded"]
    per_load = {
        "obs_zone": _frame(
            url,
            "SELECT load_id, count(*) AS n, count(*) AS records FROM zonestats.obs_zone "
            "GROUP BY load_id",
        ),
        # long: one row per enterprise and indicator; a record is an enterprise
        "obs_enterprise": _frame(
            url,
            "SELECT load_id, count(*) AS n, count(DISTINCT uscc) AS records "
            "FROM zonestats.obs_enterprise GROUP BY load_id",
        ),
        "quarantine": _frame(
            url,
            "SELECT load_id, count(*) AS n, 0 AS records FROM zonestats.quarantine "
            "GROUP BY load_id",
        ),
    }
    loaded_ids = set(loaded["load_id"])
    for table, counts in per_load.items():
        strays = counts[~counts["load_id"].isin(loaded_ids)]
        assert strays.empty, f"{table} holds rows of attempts that did not load: {strays}"
        # Parquet mirrors SQL exactly: the same loads, the same number of rows each
        sql_counts = dict(zip(counts["load_id"], counts["n"].astype(int), strict=True))
        assert _parquet_counts(data_dir, table) == sql_counts, table
    records = {
        ds: dict(zip(per_load[t]["load_id"], per_load[t]["records"].astype(int), strict=True))
        for ds, t in (("zone", "obs_zone"), ("enterprise", "obs_enterprise"))
    }
    for row in loaded.itertuples():
        assert records[row.dataset].get(row.load_id, 0) == row.records_loaded, row
        assert row.records_received == row.records_loaded + row.records_quarantined, row
    assert not list(data_dir.glob("parquet/**/.*.tmp")), "temp Parquet files left behind"
    return ledger


def _name(key: tuple[str, str, str, int]) -> str:
    return "{} {} {} r{}".format(*key)


def test_a_warehouse_restart_mid_run_fails_or_retries_cleanly_and_the_next_run_heals(
    prefect_harness: None,
    pg_cluster: PgCluster,
    warehouse_db: str,
    zone_sim: SimulatorProcess,
    tmp_path: Path,
) -> None:
    config = _write_config(tmp_path, zone_sim, warehouse_db)
    data_dir = tmp_path / "data"

    run = Run(config)
    interrupter = Interrupter(pg_cluster, warehouse_db, run)
    interrupter.wait_and_restart()
    state, summary = run.result()  # it ends, in a state: neither hangs nor crashes
    assert pg_cluster.is_running()
    in_flight = {(z, ds, p, int(r)) for z, ds, p, r, _ in interrupter.in_flight}
    assert any(ds == "enterprise" for _, ds, _, _ in in_flight), interrupter.in_flight
    outcomes = {
        (r.key.zone_code, r.key.dataset, r.key.period, r.key.revision): r
        for z in summary.zones
        for r in z.releases
    }
    print(
        f"\nrestart -m fast took {interrupter.restart_s:.2f}s during {interrupter.copying[0][:30]}; "
        f"in flight: {', '.join(map(_name, sorted(in_flight)))}; first run "
        f"{state.type.value}, exit {summary.exit_code}; failures: {summary.failures()}"
    )

    # nothing partial, whatever the in-flight releases came to
    ledger = assert_nothing_partial(warehouse_db, data_dir)
    by_key = {(r.zone_code, r.dataset, r.period, int(r.revision)): r for r in ledger.itertuples()}
    for key in in_flight:
        row, outcome = by_key[key], outcomes.get(key)
        print(
            f"  {_name(key)}: ledger {row.status} (attempts {row.attempts}, "
            f"{row.last_error!r}); run summary: {outcome.status if outcome else None}"
        )
        # loaded (a retry) or failed with a message, and the summary says the same
        assert row.status in ("loaded", "failed"), (key, row.status, row.last_error)
        assert outcome is not None, key
        assert outcome.status == row.status, (key, outcome)
        if row.status == "failed":
            # the run's summary (and so the flow's failure message) names the release and why
            assert row.last_error, key
            assert any(f.startswith(f"{_name(key)} failed: ") for f in summary.failures()), (
                _name(key),
                summary.failures(),
            )
    if any(by_key[k].status == "failed" for k in in_flight):
        assert state.is_failed(), "a run that failed a release passed"
        assert summary.exit_code == 1
    assert not summary.dq_failed, summary.dq_failed

    # the next run, once any claim the interrupted run left has expired, loads all the rest
    time.sleep(LEASE_S + 0.5)
    state2, summary2 = Run(config).result()
    assert state2.is_completed(), summary2.failures()
    assert summary2.exit_code == 0
    ledger = assert_nothing_partial(warehouse_db, data_dir)
    healed = {(r.zone_code, r.dataset, r.period, int(r.revision)): r for r in ledger.itertuples()}
    for key in in_flight:
        row = healed[key]
        print(f"  after the second run, {_name(key)}: {row.status} ({row.last_error!r})")
    not_loaded = ledger[ledger["status"] != "loaded"]
    assert not_loaded.empty, not_loaded[
        ["zone_code", "dataset", "period", "revision", "status", "last_error"]
    ]
    for code in ZONES:
        for dataset in ("zone", "enterprise"):
            listed = {(r["period"], r["revision"]) for r in zone_sim.truth.releases(code, dataset)}
            mine = ledger[(ledger["zone_code"] == code) & (ledger["dataset"] == dataset)]
            assert set(zip(mine["period"], mine["revision"], strict=True)) == listed, (
                code,
                dataset,
            )
    # no duplicates: each release's rows come from one load only
    for table in ("obs_zone", "obs_enterprise", "quarantine"):
        dup = _frame(
            warehouse_db,
            f"SELECT zone_code, period, revision FROM zonestats.{table} "
            "GROUP BY zone_code, period, revision"
            + (", dataset" if table == "quarantine" else "")
            + " HAVING count(DISTINCT load_id) > 1",
        )
        assert dup.empty, (table, dup)
