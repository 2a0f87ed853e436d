"""Monthly values of the cumulative (ytd) monthly zone indicators: the month alone and year on year.

A zone reports each monthly flow indicator as a cumulative from January (there is no YYYY-01
release: 1–2月 arrives as YYYY-02). ``month_value`` is the month alone: the cumulative minus the
previous month's of the same year, and the cumulative itself for YYYY-02. Where the previous
month is missing or not reported the month alone is unknown, so it is NULL: subtracting an older
month would put two or more months under one. ``yoy_pct`` compares the cumulative with the same
period a year earlier, from levels.

The same definition exists twice, as pandas (``zone_monthly``) and as a portable SQL view
(``ZONE_MONTHLY_VIEW_SQL``); tests hold the two equal on SQLite and PostgreSQL.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from zonestats.catalog import Catalog

#: the columns of the pandas frame and of the view, in this order
MONTHLY_COLUMNS = [
    "zone_code",
    "indicator_code",
    "period",
    "year",
    "month",
    "ytd_value",
    "month_value",
    "yoy_pct",
    "unit",
]

_KEYS = ["zone_code", "indicator_code", "year", "month"]
_MONTHLY_PERIOD = r"[0-9]{4}-(?:0[2-9]|1[0-2])"

# Self-joins instead of LAG(): the same text runs on SQLite and PostgreSQL, and joining on the
# month numbers finds "the previous month" without formatting a period string per dialect.
# The CASE around the casts keeps PostgreSQL from casting a quarterly 'YYYY-Q3' should the
# planner evaluate the expression before the frequency filter.
ZONE_MONTHLY_VIEW_SQL = """\
CREATE VIEW zone_monthly AS
WITH m AS (
    SELECT o.zone_code, o.indicator_code, o.period,
           CASE WHEN o.frequency = 'M' THEN CAST(SUBSTR(o.period, 1, 4) AS INTEGER) END AS yr,
           CASE WHEN o.frequency = 'M' THEN CAST(SUBSTR(o.period, 6, 2) AS INTEGER) END AS mo,
           o.value, o.unit
    FROM obs_zone_current o
    JOIN dim_indicator d ON d.dataset = 'zone' AND d.code = o.indicator_code
    WHERE o.frequency = 'M' AND d.frequency = 'M' AND d.basis = 'ytd'
)
SELECT c.zone_code, c.indicator_code, c.period,
       c.yr AS year, c.mo AS month,
       c.value AS ytd_value,
       CASE WHEN c.mo = 2 THEN c.value ELSE c.value - p.value END AS month_value,
       CASE WHEN b.value <> 0 THEN (c.value / b.value - 1) * 100 ELSE NULL END AS yoy_pct,
       c.unit
FROM m c
LEFT JOIN m p ON p.zone_code = c.zone_code AND p.indicator_code = c.indicator_code
             AND p.yr = c.yr AND p.mo = c.mo - 1
LEFT JOIN m b ON b.zone_code = c.zone_code AND b.indicator_code = c.indicator_code
             AND b.yr = c.yr - 1 AND b.mo = c.mo"""


def _empty() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "zone_code": pd.Series(dtype="str"),
            "indicator_code": pd.Series(dtype="str"),
            "period": pd.Series(dtype="str"),
            "year": pd.Series(dtype="int64"),
            "month": pd.Series(dtype="int64"),
            "ytd_value": pd.Series(dtype="float64"),
            "month_value": pd.Series(dtype="float64"),
            "yoy_pct": pd.Series(dtype="float64"),
            "unit": pd.Series(dtype="str"),
        }
    )


def zone_monthly(obs: pd.DataFrame, catalog: Catalog) -> pd.DataFrame:
    """Month-alone values and year-on-year growth of the monthly ytd zone indicators."""
    codes = [i.code for i in catalog.for_dataset("zone") if i.frequency == "M" and i.basis == "ytd"]
    rows = obs.loc[
        (obs["frequency"] == "M") & obs["indicator_code"].isin(codes),
        ["zone_code", "indicator_code", "period", "value", "unit"],
    ]
    if rows.empty:
        return _empty()
    # two revisions of one figure would each find a "previous month": demand the current view
    dup = rows.duplicated(["zone_code", "indicator_code", "period"])
    if dup.any():
        first = rows.loc[dup].iloc[0]
        raise ValueError(
            f"obs holds {first['zone_code']} {first['indicator_code']} {first['period']} more "
            "than once; pass the rows of obs_zone_current (one revision per release)"
        )
    period = rows["period"].astype("str")
    bad = ~period.str.fullmatch(_MONTHLY_PERIOD)
    if bad.any():
        raise ValueError(f"monthly period {period[bad].iloc[0]!r} is not YYYY-MM (02–12)")

    cur = pd.DataFrame(
        {
            "zone_code": rows["zone_code"],
            "indicator_code": rows["indicator_code"],
            "period": period,
            "year": period.str.slice(0, 4).astype("int64"),
            "month": period.str.slice(5, 7).astype("int64"),
            "ytd_value": pd.to_numeric(rows["value"], errors="raise").astype("float64"),
            "unit": rows["unit"],
        }
    )
    levels = cur[[*_KEYS, "ytd_value"]]
    # shift the keys forward so that each row meets the month before it / the year before it
    prev = levels.assign(month=levels["month"] + 1).rename(columns={"ytd_value": "prev_ytd"})
    base = levels.assign(year=levels["year"] + 1).rename(columns={"ytd_value": "base_ytd"})
    out = cur.merge(prev, on=_KEYS, how="left", validate="one_to_one").merge(
        base, on=_KEYS, how="left", validate="one_to_one"
    )
    ytd = out["ytd_value"]
    # NaN propagates: a missing or null previous month leaves the month alone unknown
    out["month_value"] = np.where(out["month"] == 2, ytd, ytd - out["prev_ytd"])
    with np.errstate(divide="ignore", invalid="ignore"):
        yoy = (ytd / out["base_ytd"] - 1) * 100
    out["yoy_pct"] = yoy.where(out["base_ytd"] != 0)
    return (
        out[MONTHLY_COLUMNS]
        .sort_values(["zone_code", "indicator_code", "period"], kind="stable")
        .reset_index(drop=True)
    )
