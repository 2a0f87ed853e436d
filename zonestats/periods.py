"""Period strings of zone-api.md: ``2026-10`` (Jan–Oct cumulative), ``2026-Q3``, ``2026``."""

from __future__ import annotations

import re
from dataclasses import dataclass

import pandas as pd

# There is no YYYY-01: January is reported together with February as 2026-02 (1–2月).
# ASCII digits only and matched whole (\Z, not $): these strings end up in file names.
PERIOD_PATTERNS = {
    "M": r"^(?P<year>[0-9]{4})-(?P<month>0[2-9]|1[0-2])\Z",
    "Q": r"^(?P<year>[0-9]{4})-Q(?P<quarter>[1-4])\Z",
    "A": r"^(?P<year>[0-9]{4})\Z",
}
YEAR_RANGE = (1990, 2100)
_COMPILED = {f: re.compile(p) for f, p in PERIOD_PATTERNS.items()}


class PeriodError(ValueError):
    """A period string that is not valid for its frequency."""


@dataclass(frozen=True, order=True)
class Period:
    """A parsed period: its year, frequency and the last month it covers."""

    year: int
    end_month: int
    frequency: str
    text: str

    @property
    def months(self) -> tuple[int, int]:
        """The first and last month the cumulative covers (always from January)."""
        return (1, self.end_month)


def parse_period(text: str, frequency: str) -> Period:
    """Parse a period string for a frequency, raising PeriodError when it does not fit."""
    pattern = _COMPILED.get(frequency)
    if pattern is None:
        raise PeriodError(f"unknown frequency {frequency!r}")
    if not isinstance(text, str):
        raise PeriodError(f"period {text!r} is not a string")
    m = pattern.match(text)
    if m is None:
        hint = " (January is reported with February as YYYY-02)" if text.endswith("-01") else ""
        raise PeriodError(f"period {text!r} is not a valid {frequency} period{hint}")
    year = int(m["year"])
    if not YEAR_RANGE[0] <= year <= YEAR_RANGE[1]:
        raise PeriodError(f"period {text!r} has an implausible year")
    if frequency == "M":
        end = int(m["month"])
    elif frequency == "Q":
        end = int(m["quarter"]) * 3
    else:
        end = 12
    return Period(year=year, end_month=end, frequency=frequency, text=text)


def infer_frequency(text: str) -> str | None:
    """Return the frequency a period string is written in, or None."""
    for freq, pattern in _COMPILED.items():
        if pattern.match(text):
            return freq
    return None


def valid_for_frequency(periods: pd.Series, frequencies: pd.Series) -> pd.Series:
    """Vectorized: True where the period string is valid for the row's frequency."""
    ok = pd.Series(False, index=periods.index)
    text = periods.astype("string")
    for freq, pattern in PERIOD_PATTERNS.items():
        rows = frequencies == freq
        if rows.any():
            ok[rows] = text[rows].str.match(pattern).fillna(False).astype(bool)
    years = pd.to_numeric(text.str[:4], errors="coerce")
    return ok & years.between(*YEAR_RANGE).fillna(False).astype(bool)
