"""Which rows an export holds: the releases that end with the requested period, in export order."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import pandas as pd

from zonestats.catalog import load_catalog
from zonestats.periods import PeriodError, infer_frequency, parse_period

FREQUENCY_ORDER = ("M", "Q", "A")

OBS_COLUMNS = (
    "zone_code",
    "indicator_code",
    "period",
    "frequency",
    "revision",
    "value",
    "unit",
    "status",
)


def periods_for_export(period: str) -> dict[str, str]:
    """Map frequency -> the release of that frequency that ends exactly when ``period`` ends.

    P itself comes first; then, in M, Q, A order, the last finer release inside P
    (P='2026' → 2026-12 and 2026-Q4) and every coarser release P completes (P='2026-03' →
    2026-Q1; P='2026-12' → 2026-Q4 and 2026). A month that completes no quarter (2026-02)
    yields only itself: a quarterly figure that ends later would describe a different period
    from the month's, so it does not belong on a summary "as at the end of P".
    """
    freq = infer_frequency(period) if isinstance(period, str) else None
    if freq is None:
        hint = (
            " (January is reported with February as YYYY-02)" if str(period).endswith("-01") else ""
        )
        raise ValueError(
            f"period {period!r} is not a month YYYY-MM (02–12), a quarter YYYY-Qn (n 1–4) "
            f"or a year YYYY{hint}"
        )
    try:
        parsed = parse_period(period, freq)
    except PeriodError as exc:
        raise ValueError(str(exc)) from None
    year, end = parsed.year, parsed.end_month
    ends = {"M": f"{year}-{end:02d}", "Q": f"{year}-Q{end // 3}", "A": f"{year}"}
    out = {freq: period}
    for f in FREQUENCY_ORDER:
        if f == freq:
            continue
        finer = FREQUENCY_ORDER.index(f) < FREQUENCY_ORDER.index(freq)
        # a finer release always ends inside P's last month; a coarser one only if P completes it
        if finer or (f == "Q" and end % 3 == 0) or (f == "A" and end == 12):
            out[f] = ends[f]
    return out


def zone_indicators(indicators: pd.DataFrame) -> dict[str, dict[str, Any]]:
    """code -> row of the zone dataset's indicators, in catalog order."""
    frame = indicators[indicators["dataset"] == "zone"] if len(indicators) else indicators
    position = catalog_order()
    catalog = load_catalog().for_dataset("zone")
    integer = {ind.code: ind.integer for ind in catalog}
    additive = {ind.code: ind.additive for ind in catalog}
    rows = [dict(r) for r in frame.to_dict("records")]
    # dim_indicator comes from SQL without a guaranteed order; the packaged catalog is the order
    # statisticians know, and what it does not know keeps the frame's order after it
    rows.sort(key=lambda r: position.get(r["code"], len(position)))
    out: dict[str, dict[str, Any]] = {}
    for r in rows:
        r["integer"] = integer.get(r["code"], False)
        # a code the catalog does not know gets no total: a sum is only shown when it means one
        r["additive"] = additive.get(r["code"], False)
        out[r["code"]] = r
    return out


def zone_names(zones: pd.DataFrame) -> dict[str, dict[str, Any]]:
    """zone_code -> dim_zone row."""
    return {r["zone_code"]: dict(r) for r in zones.to_dict("records")} if len(zones) else {}


def select_rows(obs: pd.DataFrame, periods: Iterable[str]) -> pd.DataFrame:
    """The rows of the wanted periods, one per (zone, indicator, period): the latest revision."""
    if obs.empty:
        return pd.DataFrame({c: pd.Series(dtype="object") for c in OBS_COLUMNS})
    absent = [c for c in OBS_COLUMNS if c not in obs.columns]
    if absent:
        raise ValueError(f"obs lacks the column(s) {', '.join(absent)} of obs_zone_current")
    rows = obs[obs["period"].isin(list(periods))]
    # obs_zone_current has one revision per release already; if a caller hands in obs_zone
    # itself, the latest revision is the figure in force rather than a duplicate row
    rows = rows.sort_values("revision", kind="stable")
    return rows.drop_duplicates(["zone_code", "indicator_code", "period"], keep="last")


def catalog_order() -> dict[str, int]:
    """Zone indicator code -> position in the packaged catalog (indicators.csv)."""
    return {ind.code: n for n, ind in enumerate(load_catalog().for_dataset("zone"))}


def ordered(rows: pd.DataFrame, periods: dict[str, str], order: dict[str, int]) -> pd.DataFrame:
    """Rows in export order: release (as in ``periods``), zone_code, indicator ``order``."""
    if rows.empty:
        return rows
    by_period = {p: n for n, p in enumerate(periods.values())}
    keyed = rows.assign(
        _p=rows["period"].map(by_period),
        _i=rows["indicator_code"].map(lambda c: order.get(c, len(order))),
    )
    keyed = keyed.sort_values(["_p", "zone_code", "_i", "indicator_code"], kind="stable")
    return keyed.drop(columns=["_p", "_i"])
