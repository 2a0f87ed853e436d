"""When releases are published: periods of a year, publication times and natural revisions."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from zonesim.rng import stable_unit
from zonestats.periods import Period, parse_period

# Asia/Shanghai has had no daylight saving time since 1991, so a fixed offset is exact and
# spares a dependency on the system's tz database.
CST = timezone(timedelta(hours=8), "CST")
PUBLICATION_HOUR = 10
# Day of the month after the period in which M and Q releases come out.
MONTHLY_DAY = 15
QUARTERLY_DAY = 20
REVISION_DELAY = timedelta(days=7)
# About one release in this many is revised once, REVISION_DELAY after its first publication.
REVISED_ONE_IN = 12
FREQUENCY_ORDER = {"M": 0, "Q": 1, "A": 2}

Timeline = list[tuple[int, datetime]]


def to_cst(moment: datetime) -> datetime:
    """Return the moment in +08:00; a naive datetime is taken to be Beijing time already."""
    if moment.tzinfo is None:
        return moment.replace(tzinfo=CST)
    return moment.astimezone(CST)


def iso(moment: datetime) -> str:
    """Format a moment the way the zones do: ISO 8601, seconds, +08:00."""
    return to_cst(moment).isoformat(timespec="seconds")


def periods_of_year(year: int, frequencies: tuple[str, ...]) -> list[Period]:
    """Return the periods of one year for the given frequencies (no YYYY-01: Jan goes with Feb)."""
    texts: list[tuple[str, str]] = []
    if "M" in frequencies:
        texts += [(f"{year}-{month:02d}", "M") for month in range(2, 13)]
    if "Q" in frequencies:
        texts += [(f"{year}-Q{quarter}", "Q") for quarter in range(1, 5)]
    if "A" in frequencies:
        texts.append((str(year), "A"))
    return [parse_period(text, freq) for text, freq in texts]


def first_published_at(period: Period) -> datetime:
    """Return when revision 1 of a period comes out: M on the 15th, Q on the 20th of the month
    after the period, A on April 30 of the next year, all at 10:00 Beijing time."""
    if period.frequency == "A":
        return datetime(period.year + 1, 4, 30, PUBLICATION_HOUR, tzinfo=CST)
    day = MONTHLY_DAY if period.frequency == "M" else QUARTERLY_DAY
    year, month = (
        (period.year + 1, 1) if period.end_month == 12 else (period.year, period.end_month + 1)
    )
    return datetime(year, month, day, PUBLICATION_HOUR, tzinfo=CST)


def is_revised(seed: int, zone_code: str, dataset: str, period_text: str) -> bool:
    """Whether this release gets a natural revision 2 (deterministic, about 1 in 12)."""
    return stable_unit(seed, zone_code, dataset, period_text, "revised") < 1 / REVISED_ONE_IN


def natural_timeline(seed: int, zone_code: str, dataset: str, period: Period) -> Timeline:
    """Return the (revision, published_at) pairs a release gets without outside intervention."""
    first = first_published_at(period)
    timeline = [(1, first)]
    if is_revised(seed, zone_code, dataset, period.text):
        timeline.append((2, first + REVISION_DELAY))
    return timeline
