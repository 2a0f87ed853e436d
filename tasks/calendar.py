"""The reporting calendar's steps: what each zone owes, and release_calendar kept current."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, tzinfo
from pathlib import Path

import pandas as pd

from marts.release_calendar import Owed, outstanding, release_calendar
from warehouse import calendar as store
from warehouse.store import Warehouse
from zonestats.catalog import Catalog
from zonestats.config import AppConfig, WarehouseSettings
from zonestats.events import can_emit, emit_overdue
from zonestats.steps import step
from zonestats.summary import LateRelease


@dataclass(frozen=True)
class CalendarBuild:
    """release_calendar as a run left it: its rows, its Parquet file, what is missing or overdue."""

    rows: pd.DataFrame
    path: Path | None
    late: list[LateRelease]


def owed_by(config: AppConfig, catalog: Catalog, zones: list[str] | None = None) -> list[Owed]:
    """What the enabled zones (or those named) owe: each dataset they publish, at its frequencies."""
    return [
        Owed(z.code, dataset, catalog.frequencies(dataset), z.first_period)
        for z in config.select(zones)
        for dataset in z.datasets
    ]


def calendar_as_of(catalog: Catalog, today: date | None, now: datetime) -> datetime:
    """The moment a calendar is computed at: the end of ``today`` when given, else ``now``."""
    return catalog.calendar.end_of_day(today) if today is not None else now


def compute_calendar(
    settings: WarehouseSettings, catalog: Catalog, owed: list[Owed], as_of: datetime
) -> pd.DataFrame:
    """The release calendar as of a moment, from what the warehouse knows (nothing written)."""
    facts = store.calendar_facts(Warehouse(settings))
    return release_calendar(owed, facts.releases, facts.extensions, catalog.calendar, as_of)


def late_releases(rows: pd.DataFrame, tz: tzinfo) -> list[LateRelease]:
    """The missing and overdue rows of a calendar as the run summary lists them."""
    return [
        LateRelease(
            zone_code=str(r["zone_code"]),
            dataset=str(r["dataset"]),
            period=str(r["period"]),
            state=str(r["state"]),
            deadline=f"{r['deadline'].astimezone(tz):%Y-%m-%d %H:%M}",
            days_late=int(r["days_late"]),
            extended=bool(pd.notna(r["extended_until"])),
        )
        for r in outstanding(rows).to_dict("records")
    ]


def refresh_release_calendar(
    settings: WarehouseSettings, catalog: Catalog, owed: list[Owed], as_of: datetime
) -> CalendarBuild:
    """Rewrite release_calendar (SQL and Parquet) as of a moment; what is missing or overdue."""
    rows = compute_calendar(settings, catalog, owed, as_of)
    path = store.replace_release_calendar(Warehouse(settings), rows)
    return CalendarBuild(rows=rows, path=path, late=late_releases(rows, catalog.calendar.tz))


refresh_calendar = step(name="release-calendar")(refresh_release_calendar)


def overdue_notices(rows: pd.DataFrame, tz: tzinfo) -> list[dict[str, object]]:
    """The overdue rows of a calendar as notices to announce (zone, dataset, period, deadline…)."""
    return [
        {
            "zone_code": str(r["zone_code"]),
            "dataset": str(r["dataset"]),
            "period": str(r["period"]),
            "deadline": r["deadline"].to_pydatetime(),
            "deadline_local": f"{r['deadline'].astimezone(tz):%Y-%m-%d %H:%M}",
            "days_late": int(r["days_late"]),
            "extended": bool(pd.notna(r["extended_until"])),
            "as_of": r["as_of"].to_pydatetime(),
        }
        for r in rows[rows["state"] == "overdue"].to_dict("records")
    ]


def announce_overdue_releases(
    settings: WarehouseSettings, catalog: Catalog, rows: pd.DataFrame, run_id: str | None
) -> list[str]:
    """Emit a Prefect event for each release this calendar first shows overdue; which they are.

    Once per release and deadline, whichever run sees it first (``overdue_notice``); a run that
    cannot reach a Prefect server sends nothing and leaves it to the next that can.
    """
    notices = overdue_notices(rows, catalog.calendar.tz)
    if not notices or not can_emit():
        return []
    done = store.record_overdue(Warehouse(settings), notices, run_id, emit_overdue)
    return [f"{n['zone_code']} {n['dataset']} {n['period']}" for n in done]


announce_overdue = step(name="announce-overdue")(announce_overdue_releases)


def grant_extension(
    settings: WarehouseSettings,
    zone_code: str,
    dataset: str,
    period: str,
    until: datetime,
    reason: str,
    operator: str,
    at: datetime,
) -> datetime | None:
    """Record an operator's extension of one release's deadline, audited; the one it replaced."""
    return store.extend_deadline(
        Warehouse(settings), zone_code, dataset, period, until, reason, operator, at
    )
