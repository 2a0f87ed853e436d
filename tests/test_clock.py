"""The clock the warehouse records by can be set, so no test depends on today's date."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from typing import Any

from flows.zones import run_date
from zonestats.models import utcnow

CST = timezone(timedelta(hours=8))


def test_travel_sets_the_clock_and_it_runs_on(travel: Any) -> None:
    moment = datetime(2026, 4, 17, 21, 0, tzinfo=CST)
    travel(moment)
    now = utcnow()
    assert now.tzinfo == UTC
    assert moment <= now < moment + timedelta(minutes=1)
    assert utcnow() >= now  # it runs on from there
    # the run's date follows it: 21:00 on the 17th in Beijing is still the 17th
    assert run_date() == moment.date()
    travel(datetime(2026, 4, 17, 16, 30, tzinfo=UTC))  # 00:30 on the 18th in Beijing
    assert run_date().isoformat() == "2026-04-18"
