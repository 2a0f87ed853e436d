"""The vectorized check behind each rule id: a function of the normalized frame, True = passes.

Checks of a rule whose inputs are missing pass (a malformed record fails ``record_malformed``
only, not every rule after it), so each failure points at one cause.
"""

from __future__ import annotations

from collections.abc import Callable

import pandas as pd

from validation.codes import industry_code_valid, uscc_valid

Check = Callable[[pd.DataFrame], pd.Series]

CHECKS: dict[str, Check] = {}


def check(rule_id: str) -> Callable[[Check], Check]:
    """Register the check of a rule id."""

    def register(fn: Check) -> Check:
        CHECKS[rule_id] = fn
        return fn

    return register


def _usable(df: pd.DataFrame) -> pd.Series:
    return ~df["malformed"] & df["known"]


@check("page_zone_mismatch")
def page_zone(df: pd.DataFrame) -> pd.Series:
    """The page a record came on names the release's zone."""
    return (df["page_zone"] == df["zone_code"]).fillna(False).astype(bool)


@check("record_malformed")
def well_formed(df: pd.DataFrame) -> pd.Series:
    """The record is an object with an indicator code."""
    return ~df["malformed"]


@check("indicator_unknown")
def known_indicator(df: pd.DataFrame) -> pd.Series:
    """The indicator is in the catalog of the dataset."""
    return df["malformed"] | df["known"]


# a quarterly or annual release may repeat a monthly indicator's cumulative (reported both
# ways, then compared by quarter_month_mismatch); a monthly release cannot hold a quarterly one
_FREQUENCY_RANK = {"M": 0, "Q": 1, "A": 2}


@check("frequency_mismatch")
def frequency(df: pd.DataFrame) -> pd.Series:
    """The indicator's frequency is the release's or a shorter one (no quarterly figure monthly)."""
    ind = df["ind_frequency"].map(_FREQUENCY_RANK)
    rel = df["release_frequency"].map(_FREQUENCY_RANK)
    return ~_usable(df) | (ind <= rel).fillna(False).astype(bool)


@check("unit_not_allowed")
def unit_allowed(df: pd.DataFrame) -> pd.Series:
    """The unit is the indicator's or one of its alternative units (a missing unit is not)."""
    return ~_usable(df) | df["unit_ok"]


@check("value_unparsable")
def parsable(df: pd.DataFrame) -> pd.Series:
    """A reported value reads as a finite number."""
    return df["malformed"] | ~df["value_unparsable"]


def _is_rate(df: pd.DataFrame) -> pd.Series:
    if "basis" not in df.columns:
        return pd.Series(False, index=df.index)
    return (df["basis"] == "ytd_rate").fillna(False).astype(bool)


def _within(df: pd.DataFrame) -> tuple[pd.Series, pd.Series]:
    lo = (df["value"].isna() | df["min"].isna() | (df["value"] >= df["min"])).astype(bool)
    hi = (df["value"].isna() | df["max"].isna() | (df["value"] <= df["max"])).astype(bool)
    return lo, hi


@check("value_below_min")
def above_min(df: pd.DataFrame) -> pd.Series:
    """The value in the canonical unit is at least the catalog minimum (rates: their own rule)."""
    return _is_rate(df) | _within(df)[0]


@check("value_above_max")
def below_max(df: pd.DataFrame) -> pd.Series:
    """The value in the canonical unit is at most the catalog maximum (rates: their own rule)."""
    return _is_rate(df) | _within(df)[1]


@check("growth_rate_out_of_bounds")
def rate_bounds(df: pd.DataFrame) -> pd.Series:
    """A published growth rate lies within its catalog bounds (−100 % cannot shrink further)."""
    lo, hi = _within(df)
    return ~_is_rate(df) | (lo & hi)


@check("value_not_integer")
def whole(df: pd.DataFrame) -> pd.Series:
    """Counts (people, enterprises) are whole numbers in the canonical unit."""
    return (~df["integer"] | df["value"].isna() | (df["value"] % 1 == 0)).astype(bool)


@check("status_invalid")
def status_known(df: pd.DataFrame) -> pd.Series:
    """The observation status is one of SDMX's A, P, E, M."""
    return df["malformed"] | df["status"].isin(["A", "P", "E", "M"]).fillna(False).astype(bool)


@check("status_value_mismatch")
def status_agrees(df: pd.DataFrame) -> pd.Series:
    """Status M goes with no value; A, P and E go with a value."""
    reported = ~df["value_missing"]
    valid_status = df["status"].isin(["A", "P", "E", "M"]).fillna(False).astype(bool)
    is_m = df["status"] == "M"
    agree = (is_m & ~reported) | (~is_m & reported)
    return (df["malformed"] | ~valid_status | agree).fillna(True).astype(bool)


@check("duplicate_conflict")
def no_conflict(df: pd.DataFrame) -> pd.Series:
    """No other copy of this record key in the release has different content."""
    return ~df["conflict"]


@check("uscc_invalid")
def credit_code(df: pd.DataFrame) -> pd.Series:
    """The unified social credit code is well formed with the right check character.

    Codes on the configured allow-list (real codes known to fail the check) pass.
    """
    return df["malformed"] | uscc_valid(df["uscc"]) | df["uscc_allowed"]


@check("industry_code_invalid")
def industry_code(df: pd.DataFrame) -> pd.Series:
    """The industry code is a GB/T 4754-2017 code whose division lies in its section."""
    return df["malformed"] | industry_code_valid(df["industry_code"])


@check("above_scale_invalid")
def above_scale_flag(df: pd.DataFrame) -> pd.Series:
    """The above-scale flag is a boolean (or absent)."""
    return df["malformed"] | df["above_scale_ok"]
