"""What each zone owes and how it stands: the rows of release_calendar, as of a moment.

A pure computation over what the warehouse knows of each release (when it was first listed,
loaded, handed in by hand) and the deadlines of the reporting calendar (calendar.md), with the
operators' extensions. Nothing that happened after the moment counts, so the same facts give
the calendar of any earlier day.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

import pandas as pd

from zonestats.calendar import ReportingCalendar, period_of
from zonestats.models import utc
from zonestats.periods import Period, PeriodError

STATES = ("pending", "on_time", "late", "missing", "overdue")
#: what is past its deadline and not handed in: what `zonestats late` lists
OUTSTANDING = ("missing", "overdue")
CALENDAR_COLUMNS = [
    "zone_code",
    "dataset",
    "period",
    "frequency",
    "due_at",
    "extended_until",
    "deadline",
    "first_published_at",
    "first_loaded_at",
    "arrived_at",
    "state",
    "days_late",
    "as_of",
]
_DAY_S = 86400.0


@dataclass(frozen=True)
class Owed:
    """One dataset a zone publishes: at which frequencies, from which period (None: first seen)."""

    zone_code: str
    dataset: str
    frequencies: tuple[str, ...]
    first_period: str | None = None


def days_after(moment: datetime, deadline: datetime) -> int:
    """Whole days begun since a deadline (an hour after it is 1 day; at or before it, 0)."""
    seconds = (moment - deadline).total_seconds()
    return max(0, math.ceil(seconds / _DAY_S))


def release_state(
    deadline: datetime, arrived_at: datetime | None, as_of: datetime, overdue_after_days: int
) -> tuple[str, int | None]:
    """The state of a release and its days late, by calendar.md.

    Handed in at or before the deadline: on_time (0 days); after it: late (the days begun after
    the deadline). Not handed in: pending until the deadline, then missing, and overdue once
    more than ``overdue_after_days`` days have passed since it (days late counted to as_of).
    """
    if arrived_at is not None and arrived_at <= as_of:
        if arrived_at <= deadline:
            return "on_time", 0
        return "late", days_after(arrived_at, deadline)
    if as_of <= deadline:
        return "pending", None
    overdue = (as_of - deadline).total_seconds() > overdue_after_days * _DAY_S
    return ("overdue" if overdue else "missing"), days_after(as_of, deadline)


def _moment(value: object) -> datetime | None:
    if value is None or pd.isna(value):
        return None
    if isinstance(value, pd.Timestamp):
        return utc(value.to_pydatetime())
    assert isinstance(value, datetime)
    return utc(value)


def _by_release(frame: pd.DataFrame) -> dict[tuple[str, str, str], dict[str, object]]:
    return {
        (str(r["zone_code"]), str(r["dataset"]), str(r["period"])): r
        for r in frame.to_dict("records")
    }


def _first_seen(facts: dict[tuple[str, str, str], dict[str, object]], owed: Owed) -> Period | None:
    """The earliest period (by the month it ends) the warehouse knows of a zone's dataset."""
    periods = []
    for zone, dataset, text in facts:
        if (zone, dataset) != (owed.zone_code, owed.dataset):
            continue
        try:
            periods.append(period_of(text))
        except PeriodError:
            continue
    return min(periods, key=lambda p: (p.year, p.end_month), default=None)


def _earlier(*moments: datetime | None) -> datetime | None:
    known = [m for m in moments if m is not None]
    return min(known) if known else None


def release_calendar(
    owed: Iterable[Owed],
    releases: pd.DataFrame,
    extensions: pd.DataFrame,
    calendar: ReportingCalendar,
    as_of: datetime,
) -> pd.DataFrame:
    """One row per (zone, dataset, period) owed by as_of: deadline, arrival, state, days late.

    ``releases``: zone_code, dataset, period, first_published_at (the zone's system listed it),
    first_loaded_at, manual_loaded_at (an operator's submission loaded). ``extensions``:
    zone_code, dataset, period, until. A release arrives at its first published_at, or at a
    manual submission's load if that came first; what happened after as_of is unknown then.
    """
    moment = utc(as_of)
    facts = _by_release(releases)
    extended = {k: _moment(r["until"]) for k, r in _by_release(extensions).items()}
    rows: list[dict[str, object]] = []
    for o in owed:
        first = period_of(o.first_period) if o.first_period else _first_seen(facts, o)
        if first is None:
            continue  # nothing configured, nothing seen: what it owes is unknown
        for period in calendar.periods_owed(o.frequencies, first, moment):
            key = (o.zone_code, o.dataset, period.text)
            fact = facts.get(key, {})

            def known(column: str, fact: dict[str, object] = fact) -> datetime | None:
                at = _moment(fact.get(column))
                return at if at is not None and at <= moment else None

            published, loaded = known("first_published_at"), known("first_loaded_at")
            arrived = _earlier(published, known("manual_loaded_at"))
            due = calendar.deadline(period)
            until = extended.get(key)
            deadline = until if until is not None else due
            state, days = release_state(deadline, arrived, moment, calendar.overdue_after_days)
            rows.append(
                {
                    "zone_code": o.zone_code,
                    "dataset": o.dataset,
                    "period": period.text,
                    "frequency": period.frequency,
                    "due_at": utc(due),
                    "extended_until": until,
                    "deadline": utc(deadline),
                    "first_published_at": published,
                    "first_loaded_at": loaded,
                    "arrived_at": arrived,
                    "state": state,
                    "days_late": days,
                    "as_of": moment,
                }
            )
    frame = pd.DataFrame(rows, columns=CALENDAR_COLUMNS)
    for column in ("due_at", "extended_until", "deadline", "first_published_at",
                   "first_loaded_at", "arrived_at", "as_of"):  # fmt: skip
        frame[column] = pd.to_datetime(frame[column], utc=True)
    frame["days_late"] = frame["days_late"].astype("Int64")
    return frame.sort_values(
        ["zone_code", "dataset", "due_at", "period"], kind="stable"
    ).reset_index(drop=True)


def outstanding(calendar_rows: pd.DataFrame) -> pd.DataFrame:
    """The rows past their deadline and not handed in (missing, overdue), most days late first."""
    rows = calendar_rows[calendar_rows["state"].isin(OUTSTANDING)]
    return rows.sort_values(
        ["zone_code", "days_late", "dataset", "period"],
        ascending=[True, False, True, True],
        kind="stable",
    ).reset_index(drop=True)


PUNCTUALITY_COLUMNS = [
    "zone_code",
    "due",
    "on_time",
    "late",
    "missing",
    "overdue",
    "on_time_pct",
    "mean_days_late",
]


def punctuality(calendar_rows: pd.DataFrame, year: int) -> pd.DataFrame:
    """Per zone, of the releases of a year's periods past their deadline: how many were on time.

    ``due`` counts on_time, late, missing and overdue (pending ones are not due yet);
    ``on_time_pct`` = on_time / due × 100; ``mean_days_late`` is over the releases late, missing
    or overdue (NaN when there are none).
    """
    rows = calendar_rows[
        calendar_rows["period"].astype(str).str[:4].eq(str(year))
        & calendar_rows["state"].ne("pending")
    ]
    out = []
    for zone, group in rows.groupby("zone_code", sort=True):
        counts = group["state"].value_counts()
        behind = group[group["state"].isin(("late", *OUTSTANDING))]
        due = len(group)
        out.append(
            {
                "zone_code": zone,
                "due": due,
                **{s: int(counts.get(s, 0)) for s in ("on_time", "late", "missing", "overdue")},
                "on_time_pct": int(counts.get("on_time", 0)) / due * 100,
                "mean_days_late": (
                    float(behind["days_late"].astype("float64").mean()) if len(behind) else math.nan
                ),
            }
        )
    return pd.DataFrame(out, columns=PUNCTUALITY_COLUMNS)
