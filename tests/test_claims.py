"""Zone and release claims kept alive by a heartbeat; a dead run's claims are taken over."""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from pydantic import SecretStr
from sqlalchemy import select

from warehouse import schema
from warehouse.claims import RunClaims, ZoneBusy
from warehouse.store import Warehouse
from zonestats.catalog import shipped_catalog
from zonestats.config import WarehouseSettings
from zonestats.models import ReleaseRef, utc, utcnow

REF = ReleaseRef(
    zone_code="TY01",
    dataset="zone",
    period="2026-02",
    frequency="M",
    revision=1,
    published_at=datetime(2026, 3, 15, 2, 0),
)


@dataclass
class Clock:
    """A clock a test moves by hand."""

    now: datetime

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def settings(warehouse_url: str, tmp_path: Path) -> WarehouseSettings:
    """A migrated, empty warehouse."""
    s = WarehouseSettings(url=SecretStr(warehouse_url), data_dir=tmp_path)
    Warehouse(s).ensure_schema(shipped_catalog())
    return s


def _row(settings: WarehouseSettings, table: object) -> dict[str, object]:
    with Warehouse(settings).connect() as conn:
        return dict(conn.execute(select(table)).mappings().one())  # type: ignore[call-overload]


def test_a_live_holder_keeps_the_zone_and_is_named(settings: WarehouseSettings) -> None:
    a = RunClaims(settings, "nightly", "run-a")
    b = RunClaims(settings, "rerun", "run-b")
    assert a.try_zone("TY01") == (True, None)
    assert a.try_zone("TY01") == (True, None)  # held already: still ours
    with pytest.raises(ZoneBusy) as busy:
        b.acquire_zone("TY01", wait_s=0.3)
    message = str(busy.value)
    assert "TY01: busy, held by nightly run run-a (pid " in message
    assert "gave up after waiting" in message
    a.stop()  # gives the zone back
    assert b.acquire_zone("TY01", wait_s=0) is None


def test_a_dead_runs_zone_and_release_claims_are_taken_over(settings: WarehouseSettings) -> None:
    wh = Warehouse(settings)
    past = Clock(utcnow() - timedelta(minutes=5))
    dead = RunClaims(settings, "nightly", "run-dead", lease_s=60, clock=past)
    assert dead.try_zone("TY01") == (True, None)  # its lease ran out four minutes ago
    # its release claim was made after its last beat: by itself it would still hold a while
    load = wh.begin_release(REF, "run-dead", timedelta(seconds=60), holder=dead.token)
    assert load is not None
    successor = RunClaims(settings, "nightly", "run-next")
    assert wh.begin_release(REF, "run-next", timedelta(seconds=60), successor.token) is None

    note = successor.acquire_zone("TY01", wait_s=0)
    assert note is not None
    assert note.startswith("TY01: taken over from nightly run run-dead (pid ")
    assert _row(settings, schema.zone_claim)["holder"] == successor.token
    # the dead run's release claim died with its zone claim
    again = wh.begin_release(REF, "run-next", timedelta(seconds=60), successor.token)
    assert again is not None
    ledger = _row(settings, schema.load_ledger)
    assert ledger["attempts"] == 2
    assert ledger["claim_holder"] == successor.token
    assert str(ledger["last_error"]).startswith("taken over from run run-dead")


def test_the_heartbeat_moves_every_claim_of_its_run(settings: WarehouseSettings) -> None:
    wh = Warehouse(settings)
    clock = Clock(utcnow())
    run = RunClaims(settings, "nightly", "run-a", lease_s=60, clock=clock)
    run.try_zone("TY01")
    assert wh.begin_release(REF, "run-a", timedelta(seconds=60), run.token) is not None
    clock.now += timedelta(seconds=45)
    run.beat()
    zone, ledger = _row(settings, schema.zone_claim), _row(settings, schema.load_ledger)
    assert utc(zone["lease_until"]) == clock.now + timedelta(seconds=60)  # type: ignore[arg-type]
    assert utc(ledger["lease_until"]) == clock.now + timedelta(seconds=60)  # type: ignore[arg-type]
    # another run's claims are not its to move
    other = RunClaims(settings, "nightly", "run-b", clock=Clock(clock.now + timedelta(hours=1)))
    other.beat()
    assert _row(settings, schema.zone_claim)["lease_until"] == zone["lease_until"]


def test_the_heartbeat_thread_renews_until_stopped(settings: WarehouseSettings) -> None:
    run = RunClaims(settings, "nightly", None, lease_s=2, heartbeat_s=0.05)
    run.try_zone("TY01")
    with run:
        deadline = utcnow() + timedelta(seconds=10)
        while run.beats < 3 and utcnow() < deadline:
            time.sleep(0.02)
        assert run.beats >= 3
    with Warehouse(settings).connect() as conn:
        assert conn.execute(select(schema.zone_claim)).first() is None  # given back


def test_status_names_the_holder_of_a_zone(
    settings: WarehouseSettings, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from cli.app import main

    cfg = tmp_path / "z.toml"
    cfg.write_text(
        f'[warehouse]\nurl = "{settings.url.get_secret_value()}"\n'
        f'data_dir = "{settings.data_dir.as_posix()}"\n',
        encoding="utf-8",
    )
    RunClaims(settings, "backfill", "run-7").try_zone("DT01")
    RunClaims(settings, "nightly", "run-0", clock=Clock(utcnow() - timedelta(hours=1))).try_zone(
        "TY01"
    )
    assert main(["status", "--config", str(cfg)]) == 0
    out = capsys.readouterr().out
    assert "DT01: backfill run run-7 (pid" in out
    assert "; live" in out
    assert "TY01: nightly run run-0" in out
    assert "expired (its run died" in out


def test_a_retry_takes_its_own_claim_back_but_never_another_live_one(
    settings: WarehouseSettings,
) -> None:
    wh = Warehouse(settings)
    mine, other = RunClaims(settings, "nightly", "run-a"), RunClaims(settings, "rerun", "run-b")
    first = wh.begin_release(REF, "run-a", timedelta(seconds=60), mine.token)
    # the attempt could not record its end (the warehouse was away): its retry goes on
    again = wh.begin_release(REF, "run-a", timedelta(seconds=60), mine.token)
    assert first is not None
    assert again is not None
    assert again != first
    assert wh.begin_release(REF, "run-b", timedelta(seconds=60), other.token) is None
    assert _row(settings, schema.load_ledger)["attempts"] == 2
