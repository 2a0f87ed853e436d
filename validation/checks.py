"""The vectorized check behind each rule id: a function of the normalized columns, True = passes.

A batch is normalized into a ``Frame`` of numpy columns (tasks.normalize); each check reads the
columns it needs and returns one boolean per row. Checks of a rule whose inputs are missing pass
(a malformed record fails ``record_malformed`` only, not every rule after it), so each failure
points at one cause.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from validation.codes import industry_code_valid, uscc_valid

Bools = npt.NDArray[np.bool_]

# the observation statuses of SDMX, as codes: a status column holds their index, -1 for others
STATUSES = ("A", "P", "E", "M")
STATUS_M = STATUSES.index("M")
# a quarterly or annual release may repeat a monthly indicator's cumulative (reported both
# ways, then compared by quarter_month_mismatch); a monthly release cannot hold a quarterly one
FREQUENCY_RANK = {"M": 0, "Q": 1, "A": 2}


class Frame:
    """Named numpy columns of one length: a normalized batch as the checks read it.

    A derived column is a lookup table indexed by another column (a catalog fact by indicator
    position): it is made when read, so a batch carries what its messages might name for free.
    """

    __slots__ = ("_cols", "_derived", "_len")

    def __init__(
        self,
        columns: Mapping[str, np.ndarray],
        length: int | None = None,
        derived: Mapping[str, tuple[str, np.ndarray]] | None = None,
    ) -> None:
        self._cols = dict(columns)
        self._derived = dict(derived or {})
        self._len = (
            length if length is not None else len(next(iter(self._cols.values()), np.empty(0)))
        )
        for name, col in self._cols.items():
            if len(col) != self._len:
                raise ValueError(f"column {name}: {len(col)} rows, not {self._len}")

    def __getitem__(self, name: str) -> Any:
        col = self._cols.get(name)
        if col is not None:
            return col
        if name in self._derived:
            source, table = self._derived[name]
            return table[self._cols[source]]
        raise KeyError(name)

    def __setitem__(self, name: str, values: np.ndarray) -> None:
        if len(values) != self._len:
            raise ValueError(f"column {name}: {len(values)} rows, not {self._len}")
        self._cols[name] = values

    def __contains__(self, name: object) -> bool:
        return name in self._cols or name in self._derived

    def __len__(self) -> int:
        return self._len

    def __iter__(self) -> Iterator[str]:
        return iter(self.columns)

    @property
    def columns(self) -> list[str]:
        """The column names, in order (derived ones last)."""
        return [*self._cols, *(d for d in self._derived if d not in self._cols)]

    def take(self, rows: np.ndarray, columns: Sequence[str] | None = None) -> Frame:
        """The rows at some positions (or where a mask is true), in that order; all columns or
        some (and the derived ones they feed)."""
        if rows.dtype == np.bool_:
            rows = np.flatnonzero(rows)
        names = self._cols if columns is None else columns
        derived = {k: v for k, v in self._derived.items() if v[0] in names}
        return Frame({k: self._cols[k][rows] for k in names}, len(rows), derived)

    def to_pandas(self) -> pd.DataFrame:
        """The columns as a pandas frame (for tests and the operators' one-record paths)."""
        return pd.DataFrame({c: self[c] for c in self.columns}, index=pd.RangeIndex(self._len))


Check = Callable[[Frame], Bools]

CHECKS: dict[str, Check] = {}


def check(rule_id: str) -> Callable[[Check], Check]:
    """Register the check of a rule id."""

    def register(fn: Check) -> Check:
        CHECKS[rule_id] = fn
        return fn

    return register


def _usable(df: Frame) -> Bools:
    return ~df["malformed"] & df["known"]


@check("page_zone_mismatch")
def page_zone(df: Frame) -> Bools:
    """The page a record came on names the release's zone."""
    return np.asarray(df["page_zone"] == df["zone_code"], dtype=bool)


@check("record_malformed")
def well_formed(df: Frame) -> Bools:
    """The record is an object with an indicator code."""
    return ~df["malformed"]


@check("indicator_unknown")
def known_indicator(df: Frame) -> Bools:
    """The indicator is in the catalog of the dataset."""
    return df["malformed"] | df["known"]


@check("frequency_mismatch")
def frequency(df: Frame) -> Bools:
    """The indicator's frequency is the release's or a shorter one (no quarterly figure monthly)."""
    ind, rel = df["freq_rank"], df["release_rank"]
    return ~_usable(df) | ((ind >= 0) & (rel >= 0) & (ind <= rel))


@check("unit_not_allowed")
def unit_allowed(df: Frame) -> Bools:
    """The unit is the indicator's or one of its alternative units (a missing unit is not)."""
    return ~_usable(df) | df["unit_ok"]


@check("value_unparsable")
def parsable(df: Frame) -> Bools:
    """A reported value reads as a finite number."""
    return df["malformed"] | ~df["value_unparsable"]


def _within(df: Frame) -> tuple[Bools, Bools]:
    value, low, high = df["value"], df["min"], df["max"]
    unknown = np.isnan(value)
    with np.errstate(invalid="ignore"):
        lo = unknown | np.isnan(low) | (value >= low)
        hi = unknown | np.isnan(high) | (value <= high)
    return lo, hi


@check("value_below_min")
def above_min(df: Frame) -> Bools:
    """The value in the canonical unit is at least the catalog minimum (rates: their own rule)."""
    return df["is_rate"] | _within(df)[0]


@check("value_above_max")
def below_max(df: Frame) -> Bools:
    """The value in the canonical unit is at most the catalog maximum (rates: their own rule)."""
    return df["is_rate"] | _within(df)[1]


@check("growth_rate_out_of_bounds")
def rate_bounds(df: Frame) -> Bools:
    """A published growth rate lies within its catalog bounds (−100 % cannot shrink further)."""
    lo, hi = _within(df)
    return ~df["is_rate"] | (lo & hi)


@check("value_not_integer")
def whole(df: Frame) -> Bools:
    """Counts (people, enterprises) are whole numbers in the canonical unit."""
    ok = ~df["integer"]
    counts = np.flatnonzero(~ok)
    value = df["value"][counts]
    ok[counts] = np.isnan(value) | (np.mod(value, 1) == 0)
    return ok


@check("status_invalid")
def status_known(df: Frame) -> Bools:
    """The observation status is one of SDMX's A, P, E, M."""
    return df["malformed"] | (df["status_code"] >= 0)


@check("status_value_mismatch")
def status_agrees(df: Frame) -> Bools:
    """Status M goes with no value; A, P and E go with a value."""
    reported = ~df["value_missing"]
    code = df["status_code"]
    is_m = code == STATUS_M
    agree = (is_m & ~reported) | (~is_m & reported)
    return df["malformed"] | (code < 0) | agree


@check("duplicate_conflict")
def no_conflict(df: Frame) -> Bools:
    """No other copy of this record key in the release has different content."""
    return ~df["conflict"]


@check("uscc_invalid")
def credit_code(df: Frame) -> Bools:
    """The unified social credit code is well formed with the right check character.

    Codes on the configured allow-list (real codes known to fail the check) pass.
    """
    return df["malformed"] | uscc_valid(df["uscc"]) | df["uscc_allowed"]


@check("industry_code_invalid")
def industry_code(df: Frame) -> Bools:
    """The industry code is a GB/T 4754-2017 code whose division lies in its section."""
    return df["malformed"] | industry_code_valid(df["industry_code"])


@check("above_scale_invalid")
def above_scale_flag(df: Frame) -> Bools:
    """The above-scale flag is a boolean (or absent)."""
    return df["malformed"] | df["above_scale_ok"]
