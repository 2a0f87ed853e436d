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
