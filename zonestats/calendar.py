"""The reporting calendar as data (``data/calendar.toml``): when each period of a frequency is due.

Pure arithmetic on periods and moments: which periods a zone owes between its first period and a
moment, and each one's deadline. What a release's state is lives in ``marts/release_calendar``.
"""

from __future__ import annotations

import calendar as _months
import re
import tomllib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, timezone
from importlib import resources
from pathlib import Path
from typing import Any

from zonestats.declared import checked_table
from zonestats.periods import Period, PeriodError, infer_frequency, parse_period

FREQUENCIES = ("M", "Q", "A")
_TOP_KEYS = {"utc_offset", "overdue_after_days", "due"}
_DUE_KEYS = {"frequency", "months_after", "day", "time"}
_OFFSET = re.compile(r"^([+-])([01][0-9]|2[0-3]):([0-5][0-9])\Z")
_TIME = re.compile(r"^([01][0-9]|2[0-3]):([0-5][0-9])\Z")


class CalendarError(ValueError):
    """A calendar.toml that cannot be used; the message names the key."""


@dataclass(frozen=True)
class Due:
    """When a period of one frequency is due: a day and time some months after its last month."""

    frequency: str
    months_after: int
    day: int
    at: time


@dataclass(frozen=True)
class ReportingCalendar:
    """The deadlines of every frequency, the province's time zone and when missing is overdue."""

    tz: timezone
    overdue_after_days: int
    due: Mapping[str, Due]

    def deadline(self, period: Period) -> datetime:
        """The moment a period is due (a day past the month's end falls on its last day)."""
        rule = self.due[period.frequency]
        year, month0 = divmod(period.year * 12 + period.end_month - 1 + rule.months_after, 12)
        month = month0 + 1
        day = min(rule.day, _months.monthrange(year, month)[1])
        return datetime.combine(date(year, month, day), rule.at, tzinfo=self.tz)

    def period_end(self, period: Period) -> datetime:
        """The first moment after a period: midnight starting the month after its last month."""
        year, month0 = divmod(period.year * 12 + period.end_month, 12)
        return datetime(year, month0 + 1, 1, tzinfo=self.tz)

    def end_of_day(self, day: date) -> datetime:
        """The last moment of a day in the province's time (what "as of that day" means)."""
        return datetime.combine(day + timedelta(days=1), time(0), tzinfo=self.tz) - timedelta(
            microseconds=1
        )

    def periods_owed(
        self, frequencies: Iterable[str], first: Period, as_of: datetime
    ) -> list[Period]:
        """The periods of some frequencies from the month ``first`` ends in that ended by as_of."""
        start = first.year * 12 + first.end_month
        out: list[Period] = []
        for frequency in frequencies:
            for year in range(first.year, as_of.astimezone(self.tz).year + 1):
                for period in periods_of_year(year, frequency):
                    if (
                        period.year * 12 + period.end_month >= start
                        and self.period_end(period) <= as_of
                    ):
                        out.append(period)
        return out


def periods_of_year(year: int, frequency: str) -> list[Period]:
    """The periods of one year at one frequency, in order (no YYYY-01: January goes with February)."""
    if frequency == "M":
        texts = [f"{year}-{m:02d}" for m in range(2, 13)]
    elif frequency == "Q":
        texts = [f"{year}-Q{q}" for q in range(1, 5)]
    else:
        texts = [str(year)]
    return [parse_period(t, frequency) for t in texts]


def period_of(text: str) -> Period:
    """Parse a period string of any frequency (PeriodError when it is none)."""
    frequency = infer_frequency(text)
    if frequency is None:
        raise PeriodError(f"{text!r} is not a period (2026-10, 2026-Q3 or 2026)")
    return parse_period(text, frequency)


def _int(value: Any, where: str, low: int, high: int) -> int:
    # bool is an int in Python; `day = true` is a typo, not 1
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise CalendarError(f"{where}: expected a whole number {low}–{high}, got {value!r}")
    return value


def _keys(table: Any, where: str, allowed: set[str]) -> Mapping[str, Any]:
    return checked_table(table, where, allowed, allowed, CalendarError)


def parse_calendar(
    doc: Mapping[str, Any], frequencies: Iterable[str] = FREQUENCIES
) -> ReportingCalendar:
    """Build and check a calendar from a parsed calendar.toml; every frequency must have a rule."""
    _keys(doc, "calendar", _TOP_KEYS)
    offset = _OFFSET.match(str(doc["utc_offset"]))
    if offset is None:
        raise CalendarError(f"calendar.utc_offset: expected ±HH:MM, got {doc['utc_offset']!r}")
    sign = -1 if offset[1] == "-" else 1
    tz = timezone(sign * timedelta(hours=int(offset[2]), minutes=int(offset[3])))
    if not isinstance(doc["due"], list):
        raise CalendarError("calendar.due: expected [[due]] entries")
    due: dict[str, Due] = {}
    for n, raw in enumerate(doc["due"]):
        where = f"due[{n}]"
        entry = _keys(raw, where, _DUE_KEYS)
        frequency = entry["frequency"]
        if frequency not in FREQUENCIES:
            raise CalendarError(f"{where}.frequency: expected one of {', '.join(FREQUENCIES)}")
        if frequency in due:
            raise CalendarError(f"{where}.frequency: {frequency} has a rule already")
        at = _TIME.match(str(entry["time"]))
        if at is None:
            raise CalendarError(f"{where}.time: expected HH:MM, got {entry['time']!r}")
        due[frequency] = Due(
            frequency=frequency,
            # a deadline inside the period's own last month would fall before the period ends
            months_after=_int(entry["months_after"], f"{where}.months_after", 1, 24),
            day=_int(entry["day"], f"{where}.day", 1, 31),
            at=time(int(at[1]), int(at[2])),
        )
    for frequency in frequencies:
        if frequency not in due:
            raise CalendarError(f"calendar.due: no rule for frequency {frequency}")
    return ReportingCalendar(
        tz=tz,
        overdue_after_days=_int(doc["overdue_after_days"], "calendar.overdue_after_days", 0, 366),
        due=due,
    )


def load_calendar(
    path: Path | None = None, frequencies: Iterable[str] = FREQUENCIES
) -> ReportingCalendar:
    """Load calendar.toml from a path, by default the copy shipped in the package."""
    if path is not None:
        text = path.read_text(encoding="utf-8")
    else:
        text = resources.files("zonestats").joinpath("data", "calendar.toml").read_text("utf-8")
    try:
        doc = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise CalendarError(f"calendar.toml: {exc}") from None
    return parse_calendar(doc, frequencies)
