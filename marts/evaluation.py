"""The annual comprehensive evaluation of the zones (item 20), per evaluation.md and method.toml."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from marts.method import Method, Metric

#: how many decimals of the composite count when comparing zones: float noise in the weighted
#: sums (1e-14) must neither break a tie nor drop a zone from 80 to B
COMPOSITE_DECIMALS = 6
_OBS_COLUMNS = ("zone_code", "indicator_code", "period", "frequency", "value", "status")


def last_period(year: int, frequency: str) -> str:
    """The period whose ytd value is the year's figure: Y-12, Y-Q4 or Y."""
    return {"M": f"{year}-12", "Q": f"{year}-Q4", "A": f"{year}"}[frequency]


def missing_inputs(year: int, loaded_periods: set[str], method: Method) -> list[str]:
    """The year-end periods the method needs for a year that no zone has loaded (none: evaluable)."""
    return [
        p for p in (last_period(year, f) for f in method.inputs.year_end) if p not in loaded_periods
    ]


def evaluation_columns(method: Method) -> list[str]:
    """The columns of mart_zone_evaluation for a method, in order."""
    return [
        "year",
        "zone_code",
        *(m.code for m in method.metrics),
        *(f"score_{p.code}" for p in method.pillars),
        "composite",
        "rank",
        "grade",
        "watchlist",
        "transition_candidate",
        "missing_metrics",
        "method_version",
    ]


def _year_levels(obs: pd.DataFrame, year: int, zones: list[str]) -> pd.DataFrame:
    """Zones × indicators: the value of the year's last period, NaN where not reported."""
    ends = {f: last_period(year, f) for f in ("M", "Q", "A")}
    rows = obs.loc[
        obs["zone_code"].isin(zones) & (obs["period"] == obs["frequency"].map(ends)),
        ["zone_code", "indicator_code", "period", "value", "status"],
    ]
    dup = rows.duplicated(["zone_code", "indicator_code"])
    if dup.any():
        first = rows.loc[dup].iloc[0]
        raise ValueError(
            f"obs holds {first['zone_code']} {first['indicator_code']} {first['period']} more "
            "than once; pass the rows of obs_zone_current (one revision per release)"
        )
    # status M is "not reported" even should a value come with it
    value = pd.to_numeric(rows["value"], errors="raise").astype("float64")
    rows = rows.assign(value=value.where(rows["status"] != "M"))
    wide = rows.pivot(index="zone_code", columns="indicator_code", values="value")
    return wide.reindex(index=pd.Index(zones, name="zone_code")).astype("float64")


def _column(levels: pd.DataFrame, code: str) -> pd.Series:
    if code in levels.columns:
        return levels[code]
    return pd.Series(np.nan, index=levels.index, dtype="float64")


def _nonzero(series: pd.Series) -> pd.Series:
    # a zero denominator makes the metric missing rather than infinite
    return series.where(series != 0)


def _metric_values(metric: Metric, cur: pd.DataFrame, prev: pd.DataFrame) -> pd.Series:
    if metric.kind == "ratio":
        assert metric.numerator is not None
        assert metric.denominator is not None
        num = _column(cur, metric.numerator)
        return num / _nonzero(_column(cur, metric.denominator)) * metric.multiplier
    assert metric.indicator is not None
    if metric.kind == "growth":
        now = _column(cur, metric.indicator)
        return now / _nonzero(_column(prev, metric.indicator)) * 100 - 100
    return _column(cur, metric.indicator)  # reported


def _score(values: pd.Series, better: str) -> pd.Series:
    """Min–max to 0–100 over the zones that have the metric; a missing metric scores 0."""
    low, high = values.min(), values.max()
    if values.notna().any() and high == low:
        scored = values.where(values.isna(), 100.0)
    elif better == "higher":
        scored = (values - low) / (high - low) * 100
    else:
        scored = (high - values) / (high - low) * 100
    return scored.fillna(0.0)


def grade_composites(composite: pd.Series, method: Method) -> pd.Series:
    """The grade of each composite: the first band whose minimum it reaches, else the lowest."""
    rounded = composite.round(COMPOSITE_DECIMALS)
    bands = method.grading.bands
    grades = np.select(
        [rounded >= b.min for b in bands],
        [b.grade for b in bands],
        default=method.grading.otherwise,
    )
    return pd.Series(grades, index=composite.index, dtype="str")


def _previous_grades(previous: pd.DataFrame | None, year: int) -> pd.Series:
    if previous is None or previous.empty:
        return pd.Series(dtype="str")
    if "year" in previous.columns and (previous["year"] != year - 1).any():
        raise ValueError(f"previous must be the evaluation of {year - 1}")
    if previous["zone_code"].duplicated().any():
        raise ValueError("previous holds a zone more than once")
    return previous.set_index("zone_code")["grade"]


def evaluate(
    year: int,
    obs: pd.DataFrame,
    zones: Sequence[str],
    method: Method,
    previous: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """Score, rank and grade the zones with year-end figures from obs_zone_current rows."""
    zone_list = list(zones)
    if len(set(zone_list)) != len(zone_list):
        raise ValueError("zones lists a zone more than once")
    absent = [c for c in _OBS_COLUMNS if c not in obs.columns]
    if absent:
        raise ValueError(f"obs lacks the column {absent[0]!r} (expected obs_zone_current)")
    cur = _year_levels(obs, year, zone_list)
    # a zone with no figure at the year's end has no grade that year (no row of zeros graded
    # D): a D made from nothing would put it on next year's watchlist
    cur = cur.loc[cur.notna().any(axis=1)]
    prev = _year_levels(obs, year - 1, zone_list).reindex(cur.index)

    out = pd.DataFrame(index=cur.index)
    scores = pd.DataFrame(index=cur.index)
    for metric in method.metrics:
        out[metric.code] = _metric_values(metric, cur, prev)
        scores[metric.code] = _score(out[metric.code], metric.better)

    weights = pd.Series({m.code: m.weight for m in method.metrics})
    for pillar in method.pillars:
        codes = [m.code for m in method.metrics_of(pillar.code)]
        w = weights[codes]
        out[f"score_{pillar.code}"] = scores[codes].mul(w).sum(axis=1) / w.sum()
    out["composite"] = scores.mul(weights).sum(axis=1) / 100

    rounded = out["composite"].round(COMPOSITE_DECIMALS)
    out["rank"] = rounded.rank(method="min", ascending=False).astype("int64")
    out["grade"] = grade_composites(out["composite"], method)
    lowest = method.grading.otherwise
    # a zone without a grade in Y-1 (not in previous) was not D then: not on the watchlist
    before = out.index.to_series().map(_previous_grades(previous, year))
    out["watchlist"] = ((out["grade"] == lowest) & (before == lowest).fillna(False)).astype(bool)

    t = method.transition
    share = _column(cur, t.numerator) / _nonzero(_column(cur, t.denominator)) * 100
    candidate = (share < t.below_pct).astype("boolean")
    candidate[share.isna()] = pd.NA
    out["transition_candidate"] = candidate

    missing = out[[m.code for m in method.metrics]].isna()
    out["missing_metrics"] = [
        ",".join(code for code, gone in row.items() if gone) for _, row in missing.iterrows()
    ]
    out["year"] = year
    out["method_version"] = method.version
    return out.reset_index()[evaluation_columns(method)].astype({"year": "int64"})
