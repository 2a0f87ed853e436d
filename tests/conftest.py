"""Shared fixtures: a Prefect harness per session, SQLite and PostgreSQL warehouses, the simulator."""

from __future__ import annotations

import os
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from helpers.s3 import S3Server

# Prefect reads its settings when first imported; these must be in place before any test module
# imports it. PREFECT_HOME in a temp dir keeps the developer's own Prefect database out of tests.
os.environ["PREFECT_HOME"] = tempfile.mkdtemp(prefix="zonestats-prefect-")
os.environ["PREFECT_SERVER_ANALYTICS_ENABLED"] = "false"
os.environ["DO_NOT_TRACK"] = "1"
os.environ["GX_ANALYTICS_ENABLED"] = "False"
os.environ["PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS"] = "180"
os.environ.pop("PREFECT_API_URL", None)
os.environ.pop("ZONESTATS_CONFIG", None)
os.environ.pop("ZONESTATS_WAREHOUSE_URL", None)
os.environ.pop("ZONESTATS_DATA_DIR", None)

CST = timezone(timedelta(hours=8))
# Early May: 2025 complete (its annual release is out on April 30) plus 2026's first releases —
# every frequency, a year boundary and a few revisions, in ~19 releases a zone.
AS_OF = datetime(2026, 5, 6, 9, 0, tzinfo=CST)
START_YEAR = 2025
PG_ADMIN = os.environ.get(
    "ZONESTATS_TEST_PG", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
)


@pytest.fixture(scope="session")
def prefect_harness() -> Iterator[None]:
    """One ephemeral Prefect server for the whole session (it takes ~12 s to start)."""
    from prefect.testing.utilities import prefect_test_harness

    with prefect_test_harness(server_startup_timeout=180):
        yield


@pytest.fixture(scope="session")
def pg_admin() -> Iterator[object]:
    """An engine on the server's maintenance database; a missing server fails, never skips."""
    from sqlalchemy import create_engine, text

    engine = create_engine(PG_ADMIN, isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
    except Exception as exc:
        pytest.fail(
            f"PostgreSQL is not reachable at {PG_ADMIN} ({type(exc).__name__}); "
            "start it (.ci/run does) — the warehouse tests must run on PostgreSQL too"
        )
    yield engine
    engine.dispose()


@pytest.fixture
def pg_url(pg_admin: object) -> Iterator[str]:
    """A fresh, empty PostgreSQL database for one test, dropped afterwards."""
    from sqlalchemy import text

    from warehouse.store import _ENGINES

    name = f"zonestats_test_{uuid.uuid4().hex[:12]}"
    with pg_admin.connect() as conn:  # type: ignore[attr-defined]
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    url = PG_ADMIN.rsplit("/", 1)[0] + f"/{name}"
    yield url
    engine = _ENGINES.pop(url, None)
    if engine is not None:
        engine.dispose()
    with pg_admin.connect() as conn:  # type: ignore[attr-defined]
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def warehouse_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """The same test on the embedded SQLite warehouse and on PostgreSQL."""
    if request.param == "sqlite":
        return f"sqlite:///{(tmp_path / 'warehouse.db').as_posix()}"
    return str(request.getfixturevalue("pg_url"))


@pytest.fixture
def simulator(monkeypatch: pytest.MonkeyPatch) -> Iterator[object]:
    """The zone simulator on a free loopback port, clock fixed, tokens in the environment."""
    from zonesim import Simulator
    from zonestats.catalog import shipped_catalog

    sim = Simulator(seed=2026, as_of=AS_OF, start_year=START_YEAR).start()
    for code in shipped_catalog().zones:
        monkeypatch.setenv(sim.token_env(code), sim.token(code))
    yield sim
    sim.stop()


# --- the simulator in-process, for the tests of zonesim itself ---------------------------------
# A test module of the simulator sets SIMULATOR (the Simulator's keyword arguments; FRESH_SIMULATOR
# when its fresh one differs) and marks itself pytest.mark.usefixtures("healthy_sim").


def _simulator_options(request: pytest.FixtureRequest, name: str) -> dict[str, object]:
    options = getattr(request.module, name, None)
    if options is None and name == "FRESH_SIMULATOR":
        options = getattr(request.module, "SIMULATOR", None)
    if options is None:
        pytest.fail(f"{request.module.__name__} uses the sim fixtures but sets no SIMULATOR")
    return dict(options)


@pytest.fixture(scope="module")
def sim(request: pytest.FixtureRequest) -> Iterator[object]:
    """The module's shared simulator (its SIMULATOR options); tests that change time or
    revisions use ``fresh`` instead."""
    from zonesim import Simulator

    with Simulator(**_simulator_options(request, "SIMULATOR")) as s:  # type: ignore[arg-type]
        yield s


@pytest.fixture
def fresh(request: pytest.FixtureRequest) -> Iterator[object]:
    """A simulator of this test's own (FRESH_SIMULATOR options, else SIMULATOR)."""
    from zonesim import Simulator

    with Simulator(**_simulator_options(request, "FRESH_SIMULATOR")) as s:  # type: ignore[arg-type]
        yield s


@pytest.fixture(scope="module")
def http() -> Iterator[object]:
    """One HTTP session for a module's requests to the simulator."""
    import requests

    with requests.Session() as session:
        yield session


@pytest.fixture
def healthy_sim(sim: object) -> Iterator[None]:
    """The shared simulator without faults and with no requests recorded, before and after."""
    sim.clear_faults()  # type: ignore[attr-defined]
    sim.clear_requests()  # type: ignore[attr-defined]
    yield
    sim.clear_faults()  # type: ignore[attr-defined]


@pytest.fixture
def sqlite_sim_config(
    prefect_harness: None, simulator: object, tmp_path: Path
) -> Callable[..., Path]:
    """Write tmp_path/z.toml: the given zones at the simulator, a SQLite warehouse tmp_path/w.db
    and data in tmp_path/d (keywords as for write_config); return its path."""

    def write(zones: list[str], **options: object) -> Path:
        return _write_config(
            tmp_path / "z.toml",
            simulator,
            f"sqlite:///{tmp_path}/w.db",
            tmp_path / "d",
            zones,
            **options,  # type: ignore[arg-type]
        )

    return write


@pytest.fixture
def travel() -> Iterator[Callable[[datetime], None]]:
    """Set the clock the warehouse records by (``utcnow``) to a moment, from which it runs on.

    Loads, accepts and audit rows then carry moments of the test's choosing, not today's.
    """
    from zonestats.models import set_clock

    def to(moment: datetime) -> None:
        start = time.monotonic()
        set_clock(lambda: moment + timedelta(seconds=time.monotonic() - start))

    yield to
    set_clock(None)


@pytest.fixture
def write_config() -> object:
    """Write a zonestats.toml pointing the given zones at the simulator; return its path."""
    return _write_config


def _write_config(
    path: Path,
    sim: object,
    warehouse_url: str,
    data_dir: Path,
    zones: list[str],
    http: dict[str, object] | None = None,
    datasets: tuple[str, ...] = ("zone", "enterprise"),
    adapters: dict[str, str] | None = None,
    zone_keys: dict[str, object] | None = None,
) -> Path:
    """Write a zonestats.toml pointing the given zones at the simulator (``zone_keys``: more keys
    of every [[zones]] entry, e.g. first_period)."""
    http = {"backoff_base_s": 0.01, "backoff_max_s": 0.05, "max_attempts": 4, **(http or {})}
    lines = [
        "[warehouse]",
        f'url = "{warehouse_url}"',
        f'data_dir = "{data_dir.as_posix()}"',
        "",
        "[http]",
    ]
    lines += [f"{k} = {v!r}" for k, v in http.items()]
    for code in zones:
        lines += [
            "",
            "[[zones]]",
            f'code = "{code}"',
            f'adapter = "{(adapters or {}).get(code, "api-v1")}"',
            f'base_url = "{sim.base_url(code)}"',  # type: ignore[attr-defined]
            f'token_env = "{sim.token_env(code)}"',  # type: ignore[attr-defined]
            f"datasets = {list(datasets)!r}",
            *(f"{k} = {v!r}" for k, v in (zone_keys or {}).items()),
        ]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


@pytest.fixture(scope="session")
def s3_server() -> Iterator[S3Server]:
    """moto's S3 server on loopback for the session, with credentials made up for this run.

    A missing moto is an ImportError here: the test fails, never skips.
    """
    from helpers.s3 import S3Server

    server = S3Server()
    yield server
    server.stop()


@pytest.fixture
def s3_lake(s3_server: S3Server, monkeypatch: pytest.MonkeyPatch) -> str:
    """A fresh bucket's ``s3://bucket/zonestats``; this process's AWS variables point at it.

    Those variables are where zonestats takes endpoint, region and credentials from (only).
    """
    bucket = s3_server.create_bucket(f"zs-{uuid.uuid4().hex[:16]}")
    for name, value in s3_server.env.items():
        monkeypatch.setenv(name, value)
    return s3_server.uri(bucket=bucket)
