"""A dead zone costs a bounded number of requests; a run's deadline stops new releases."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from cli.app import main
from flows.limits import NOT_ATTEMPTED_DEADLINE, RunDeadline, ZoneBreaker
from warehouse.store import Warehouse
from zonestats.catalog import shipped_catalog
from zonestats.config import load_config
from zonestats.models import ReleaseKey, ReleaseOutcome

KEY = ReleaseKey("TY01", "zone", "2026-02", 1)
DOWN = ReleaseOutcome(KEY, "failed", error="gave up", unavailable="HTTP 500")
BAD_PAGE = ReleaseOutcome(KEY, "failed", error="malformed JSON")
LOADED = ReleaseOutcome(KEY, "loaded")


def test_the_breaker_opens_after_consecutive_server_failures_only() -> None:
    breaker = ZoneBreaker("TY01", 3)
    for outcome in (DOWN, DOWN, BAD_PAGE, DOWN, DOWN):  # a data failure breaks the streak
        breaker.record(outcome)
    assert not breaker.open
    breaker.record(DOWN)
    assert breaker.open
    assert breaker.reason() == (
        "not attempted: TY01 unavailable after 3 consecutive failures (last: HTTP 500)"
    )


def test_a_release_that_gets_through_resets_the_breaker() -> None:
    breaker = ZoneBreaker("TY01", 2)
    for outcome in (DOWN, LOADED, DOWN, ReleaseOutcome(KEY, "skipped")):
        breaker.record(outcome)  # a skipped release was not attempted: it counts for nothing
    assert (breaker.open, breaker.consecutive) == (False, 1)


@dataclass
class FakeClock:
    """A clock that moves only when told."""

    now: datetime

    def __call__(self) -> datetime:
        return self.now


def test_the_deadline_passes_on_the_injected_clock() -> None:
    clock = FakeClock(datetime(2026, 12, 3, 18, 0, tzinfo=UTC))
    deadline = RunDeadline.after(3600, clock)
    clock.now += timedelta(minutes=59)
    assert not deadline.passed
    clock.now += timedelta(minutes=1)
    assert deadline.passed


def _data_requests(sim: Any, zone: str) -> int:
    return sum(1 for r in sim.requests if r.zone == zone and "/releases" not in r.path)


@pytest.mark.prefect
def test_a_dead_zone_costs_at_most_breaker_times_attempts_and_reruns_once_healed(
    prefect_harness: None,
    simulator: Any,
    tmp_path: Path,
    write_config: Any,
    warehouse_url: str,
    capsys: pytest.CaptureFixture[str],
) -> None:
    from zonesim import Faults

    cfg = write_config(
        tmp_path / "z.toml", simulator, warehouse_url, tmp_path / "d", ["TY01", "DT01"]
    )
    config = load_config(cfg, shipped_catalog())
    wh = Warehouse(config.warehouse)
    simulator.set_faults("TY01", Faults(data_error_500=True))
    simulator.clear_requests()
    assert main(["run", "--config", str(cfg)]) == 1
    out = capsys.readouterr().out

    limit = config.run.zone_breaker_failures * config.http.max_attempts
    assert 0 < _data_requests(simulator, "TY01") <= limit
    ledger = wh.ledger()
    ty, dt = ledger[ledger["zone_code"] == "TY01"], ledger[ledger["zone_code"] == "DT01"]
    listed = len(simulator.releases("TY01")) + len(simulator.releases("TY01", "enterprise"))
    assert len(ty) == listed
    assert (ty["status"] == "failed").all()
    tried = ty[ty["attempts"] > 0]
    assert len(tried) == config.run.zone_breaker_failures
    assert tried["last_error"].str.contains(r"HTTP 500\)").all()
    held = ty[ty["attempts"] == 0]
    reason = "not attempted: TY01 unavailable after 3 consecutive failures (last: HTTP 500)"
    assert (held["last_error"] == reason).all()
    assert len(held) == listed - 3
    assert (dt["status"] == "loaded").all()
    assert len(dt) > 0
    # the summary says it in one line, not one per release
    line = f"TY01: {listed - 3} releases not attempted: TY01 unavailable after 3 consecutive"
    assert out.count(line) == 1
    assert out.count("not attempted") == 1

    simulator.clear_faults()
    assert (
        main(
            [
                "rerun",
                "--failed",
                "--zone",
                "TY01",
                "--reason",
                "zone db back",
                "--config",
                str(cfg),
            ]
        )
        == 0
    )
    after = wh.ledger()
    assert (after["status"] == "loaded").all()
    assert len(after[after["zone_code"] == "TY01"]) == listed


@pytest.mark.prefect
def test_no_release_starts_after_the_deadline(
    prefect_harness: None,
    simulator: Any,
    tmp_path: Path,
    write_config: Any,
    capsys: pytest.CaptureFixture[str],
) -> None:
    from zonesim import Faults

    cfg = write_config(
        tmp_path / "z.toml", simulator, f"sqlite:///{tmp_path}/w.db", tmp_path / "d", ["TY01"]
    )
    with cfg.open("a", encoding="utf-8") as f:
        f.write("\n[run]\ndeadline_s = 2\n")
    simulator.set_faults("TY01", Faults(slow_s=0.3))  # each release takes longer than that
    assert main(["run", "--config", str(cfg)]) == 1
    out = capsys.readouterr().out
    ledger = Warehouse(load_config(cfg, shipped_catalog()).warehouse).ledger()
    late = ledger[ledger["last_error"] == NOT_ATTEMPTED_DEADLINE]
    assert len(late) > 0
    assert (late["attempts"] == 0).all()
    assert (late["status"] == "failed").all()
    # what started before the deadline finished: loaded whole, never half
    others = ledger[ledger["last_error"] != NOT_ATTEMPTED_DEADLINE]
    assert (others["status"] == "loaded").all()
    assert (
        others["records_received"] == others["records_loaded"] + others["records_quarantined"]
    ).all()
    assert f"TY01: {len(late)} release" in out
    assert "not attempted: run deadline" in out
