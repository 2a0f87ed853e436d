"""A release turning overdue is a Prefect event, emitted once, and deploy's automation reacts.

Against the test session's Prefect server (``prefect_harness``): the nightly runs as Prefect flow
runs, the events are read back from the server's event store, and the automation
``zonestats deploy`` creates fires for each.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

from cli.app import main
from warehouse.calendar import overdue_notices
from warehouse.store import Warehouse
from zonesim.faults import Faults
from zonestats.catalog import shipped_catalog
from zonestats.config import load_config
from zonestats.events import OVERDUE_EVENT

CST = timezone(timedelta(hours=8))
ZONE = "TY01"
RESOURCE = f"zonestats.release.{ZONE}.zone.2026-04"


def cst(text: str) -> datetime:
    """A moment written in Beijing time."""
    return datetime.fromisoformat(text).replace(tzinfo=CST)


def _events(since: datetime, **match: list[str]) -> list[dict[str, Any]]:
    """The events the server stored since a moment that match a filter (event names, resources)."""
    from prefect.client.orchestration import get_client

    query: dict[str, Any] = {"occurred": {"since": since.isoformat()}}
    if "names" in match:
        query["event"] = {"name": match["names"]}
    if "prefixes" in match:
        query["event"] = {"prefix": match["prefixes"]}
    if "resources" in match:
        query["resource"] = {"id": match["resources"]}
    with get_client(sync_client=True) as client:
        found = client.request("POST", "/events/filter", json={"filter": query, "limit": 50})
    events: list[dict[str, Any]] = found.json()["events"]
    return sorted(events, key=lambda e: e["occurred"])


def _until(read: Callable[[], list[dict[str, Any]]], count: int, settle_s: float = 0) -> list[Any]:
    """Poll the server until ``count`` events are stored (then ``settle_s`` more: no extra one)."""
    from prefect.events.worker import EventsWorker

    EventsWorker.drain_all(timeout=30)  # what this process emitted is sent
    deadline = time.monotonic() + 60
    got = read()
    while len(got) < count and time.monotonic() < deadline:
        time.sleep(0.5)
        got = read()
    if settle_s:
        time.sleep(settle_s)  # the server stores events in batches: give an extra one its chance
        got = read()
    return got


@pytest.fixture
def late_zone(
    warehouse_url: str, tmp_path: Path, write_config: Any, monkeypatch: pytest.MonkeyPatch
) -> Iterator[tuple[Any, Path, Warehouse]]:
    from zonesim import Simulator

    # TY01 never publishes 2026-04 (due 2026-05-16 12:00, overdue 5 days later)
    sim = Simulator(seed=2026, as_of=cst("2026-05-17 20:00"), start_year=2026).start()
    try:
        monkeypatch.setenv(sim.token_env(ZONE), sim.token(ZONE))
        sim.set_faults(ZONE, Faults(withheld_periods=("2026-04",)))
        cfg = write_config(
            tmp_path / "zonestats.toml",
            sim,
            warehouse_url,
            tmp_path / "data",
            [ZONE],
            datasets=("zone",),
            zone_keys={"first_period": "2026-02"},
        )
        yield sim, cfg, Warehouse(load_config(cfg, shipped_catalog()).warehouse)
    finally:
        sim.stop()


@pytest.mark.prefect
@pytest.mark.slow
def test_a_release_turning_overdue_is_announced_once_and_the_automation_reacts(
    prefect_harness: None,
    late_zone: tuple[Any, Path, Warehouse],
    capsys: pytest.CaptureFixture[str],
) -> None:
    from deployments.nightly import OVERDUE_AUTOMATION, ensure_overdue_automation

    sim, cfg, wh = late_zone
    since = datetime.now(UTC) - timedelta(seconds=1)  # the server's clock: the events of this test
    automation = ensure_overdue_automation()  # what `zonestats deploy` creates

    def run(day: str) -> str:
        sim.as_of = cst(f"{day} 20:00")
        capsys.readouterr()
        assert main(["run", "--today", day, "--config", str(cfg)]) == 0
        return capsys.readouterr().out

    def overdue() -> list[dict[str, Any]]:
        return _events(since, names=[OVERDUE_EVENT], resources=[RESOURCE])

    # 05-17: 2026-04 is missing (1 d 12 h past its deadline), not overdue: nothing announced
    assert "announced overdue" not in run("2026-05-17")
    # 05-24: 8 d 12 h past it: overdue. This run announces it
    out = run("2026-05-24")
    assert f"announced overdue (Prefect event): {ZONE} zone 2026-04" in out
    [event] = _until(overdue, 1)
    assert event["resource"]["zonestats.zone"] == ZONE
    assert event["resource"]["zonestats.period"] == "2026-04"
    assert event["resource"]["zonestats.dataset"] == "zone"
    assert event["payload"]["deadline_local"] == "2026-05-16 12:00"
    assert event["payload"]["days_late"] == 9
    assert event["payload"]["extended"] is False
    # the run that emitted it is related to it (it ran as a Prefect flow run)
    roles = {r["prefect.resource.role"] for r in event["related"]}
    assert {"zone", "flow-run"} <= roles

    # the next run sees it overdue still, and announces nothing
    assert "announced overdue" not in run("2026-05-24")
    assert len(_until(overdue, 1, settle_s=6)) == 1
    notices = overdue_notices(wh)
    assert len(notices) == 1
    assert notices.loc[0, "event_id"] == event["id"]

    # an extension moves the deadline: overdue again past the new one is a new turn
    argv = ["deadline", "extend", "--zone", ZONE, "--dataset", "zone", "--period", "2026-04"]
    reason = ["--reason", "市统计局同意", "--config", str(cfg)]
    assert main([*argv, "--until", "2026-05-18 12:00", *reason]) == 0
    out = run("2026-05-25")  # 7 d 12 h past 05-18 12:00
    assert f"announced overdue (Prefect event): {ZONE} zone 2026-04" in out
    first, second = _until(overdue, 2)
    assert first["id"] == event["id"]
    assert (second["payload"]["deadline_local"], second["payload"]["extended"]) == (
        "2026-05-18 12:00",
        True,
    )
    assert len(overdue_notices(wh)) == 2

    # deploy's automation reacted to each, and still exists once when deployed again
    assert ensure_overdue_automation() == automation
    actions = _until(
        lambda: _events(
            since,
            names=["prefect.automation.action.executed"],
            resources=[f"prefect.automation.{automation}"],
        ),
        2,
    )
    assert len(actions) == 2, [a["event"] for a in actions]
    from prefect.client.orchestration import get_client

    with get_client(sync_client=True) as client:
        [found] = client.read_automations_by_name(OVERDUE_AUTOMATION)
    assert found.trigger.expect == {OVERDUE_EVENT}


@pytest.mark.prefect
def test_the_overdue_automation_refuses_an_unknown_notification_block(
    prefect_harness: None,
) -> None:
    from deployments.nightly import UnknownBlock, ensure_overdue_automation

    with pytest.raises(UnknownBlock, match="no notification block 'slack-webhook/nobody'"):
        ensure_overdue_automation("slack-webhook/nobody")
