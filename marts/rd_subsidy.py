"""The provincial R&D subsidy estimate per enterprise (item 7), per evaluation.md and method.toml."""

from __future__ import annotations

import numpy as np
import pandas as pd

from marts.method import Method

#: money is in 万元; four decimals are the yuan
MONEY_DECIMALS = 4

RD_SUBSIDY_COLUMNS = [
    "year",
    "zone_code",
    "uscc",
    "name",
    "rd_expense",
    "rd_expense_prev",
    "prev_reported",
    "stock",
    "increment",
    "provincial_cap",
    "city_reference",
    "method_version",
]


def _expense(obs: pd.DataFrame, indicator: str, period: str) -> pd.DataFrame:
    """uscc, zone_code, value of one indicator at one period; enterprises without a value left out."""
    rows = obs.loc[
        (obs["indicator_code"] == indicator) & (obs["period"] == period),
        ["uscc", "zone_code", "value"],
    ]
    rows = rows.assign(value=pd.to_numeric(rows["value"], errors="raise").astype("float64"))
    rows = rows.loc[rows["value"].notna()]
    # an enterprise reported by two zones (or twice) has no single E: guessing which one would
    # pay a subsidy twice or on the wrong figure, so the mart refuses
    dup = rows["uscc"].duplicated(keep=False)
    if dup.any():
        raise ValueError(
            f"{indicator} {period} is reported more than once for {rows.loc[dup, 'uscc'].iloc[0]} "
            "(two zones or two revisions); pass the rows of obs_enterprise_current"
        )
    return rows


def rd_subsidy(
    year: int, obs: pd.DataFrame, enterprises: pd.DataFrame, method: Method
) -> pd.DataFrame:
    """The provincial R&D subsidy cap per enterprise with R&D expense in December of the year."""
    params = method.rd_subsidy
    now = _expense(obs, params.indicator, f"{year}-12")
    before = _expense(obs, params.indicator, f"{year - 1}-12")
    # E₀ follows the enterprise, not the zone: one that moved zones keeps its base year
    out = now.rename(columns={"value": "e"}).merge(
        before[["uscc", "value"]].rename(columns={"value": "e0"}),
        on="uscc",
        how="left",
        validate="one_to_one",
    )
    out["prev_reported"] = out["e0"].notna()
    e = out["e"].round(MONEY_DECIMALS)
    e0 = out["e0"].fillna(0.0).round(MONEY_DECIMALS)
    stock = np.minimum(e, e0)
    increment = (e - e0).clip(lower=0.0)
    # decided on E as shown (to the yuan) so that the row reads consistently
    eligible = e >= params.threshold
    cap = stock * params.stock_rate_pct / 100 + increment * params.increment_rate_pct / 100
    out["rd_expense"] = e
    out["rd_expense_prev"] = e0
    out["stock"] = stock.round(MONEY_DECIMALS)
    out["increment"] = increment.round(MONEY_DECIMALS)
    out["provincial_cap"] = cap.where(eligible, 0.0).round(MONEY_DECIMALS)
    out["city_reference"] = ~eligible

    names = enterprises.drop_duplicates("uscc").set_index("uscc")["name"]
    out["name"] = out["uscc"].map(names)
    out["year"] = year
    out["method_version"] = method.version
    return (
        out[RD_SUBSIDY_COLUMNS]
        .astype({"year": "int64", "prev_reported": bool, "city_reference": bool})
        .sort_values(["zone_code", "uscc"], kind="stable")
        .reset_index(drop=True)
    )
