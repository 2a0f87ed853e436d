"""The marts: monthly values (pandas and the SQL view), the zone evaluation, the R&D subsidy, method.toml.

Every expected number below was worked out by hand from the inputs (the working is in the
comments), not by running the code under test.
"""

from __future__ import annotations

import dataclasses
import math
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd
import pytest
import sqlalchemy as sa
from pydantic import SecretStr

from marts.evaluation import evaluate, evaluation_columns, grade_composites, missing_inputs
from marts.method import MethodError, load_method
from marts.monthly import MONTHLY_COLUMNS, ZONE_MONTHLY_VIEW_SQL, zone_monthly
from marts.rd_subsidy import RD_SUBSIDY_COLUMNS, rd_subsidy
from warehouse import marts as marts_store
from warehouse import schema
from warehouse.store import Warehouse
from zonestats.catalog import Catalog, shipped_catalog
from zonestats.config import WarehouseSettings

T0 = datetime(2026, 5, 6, 1, 0, tzinfo=UTC)
NAN = math.nan


def _row(
    zone: str,
    indicator: str,
    period: str,
    value: float | None,
    revision: int = 1,
    status: str | None = None,
) -> dict[str, object]:
    """One obs_zone row; frequency and unit come from the catalog, a None value has status M."""
    ind = shipped_catalog().indicator("zone", indicator)
    assert ind is not None
    return {
        "zone_code": zone,
        "indicator_code": indicator,
        "period": period,
        "frequency": ind.frequency,
        "revision": revision,
        "value": value,
        "unit": ind.unit,
        "status": status or ("M" if value is None else "A"),
    }


def _same(actual: object, expected: float) -> bool:
    """Equal within float noise, NaN equal to NaN (a NULL must stay NULL)."""
    if expected != expected:  # NaN
        return actual is None or actual != actual  # type: ignore[comparison-overlap]
    return actual == pytest.approx(expected, rel=1e-12, abs=1e-12)


# --- zone_monthly ---------------------------------------------------------------------------

# TY01 revenue (万元, cumulative from January):
#   2024: 02 100, 03 250, 04 —, 05 500, 06 not reported (M), 12 1500
#   2025: 02 120, 03 300, 04 —, 05 560, 06 700, 07 not reported (M), 08 900
# TY01 foreign_capital_used (万美元): 2024-02 0, 2025-02 50 (a zero base)
# DT01 revenue: 2025-02 80 (another zone: TY01's 2024-02 is not its base)
MONTHLY_ROWS = [
    _row("TY01", "revenue", "2024-02", 100.0),
    _row("TY01", "revenue", "2024-03", 250.0),
    _row("TY01", "revenue", "2024-05", 500.0),
    _row("TY01", "revenue", "2024-06", None),
    _row("TY01", "revenue", "2024-12", 1500.0),
    _row("TY01", "revenue", "2025-02", 120.0),
    _row("TY01", "revenue", "2025-03", 300.0),
    _row("TY01", "revenue", "2025-05", 560.0),
    _row("TY01", "revenue", "2025-06", 700.0),
    _row("TY01", "revenue", "2025-07", None),
    _row("TY01", "revenue", "2025-08", 900.0),
    _row("TY01", "foreign_capital_used", "2024-02", 0.0),
    _row("TY01", "foreign_capital_used", "2025-02", 50.0),
    _row("DT01", "revenue", "2025-02", 80.0),
    # not monthly ytd figures: a rate, a stock, a quarterly flow — none may appear
    _row("TY01", "industrial_va_growth", "2025-03", 5.0),
    _row("TY01", "above_scale_enterprises", "2025-03", 40.0),
    _row("TY01", "rd_expenditure", "2025-Q1", 30.0),
]

# (zone, indicator, period): (ytd_value, month_value, yoy_pct)
MONTHLY_EXPECTED: dict[tuple[str, str, str], tuple[float, float, float]] = {
    # 1–2月 is the month value itself; no 2023 base
    ("TY01", "revenue", "2024-02"): (100.0, 100.0, NAN),
    # 250 − 100
    ("TY01", "revenue", "2024-03"): (250.0, 150.0, NAN),
    # 2024-04 missing: 500 − 250 would be two months, so NULL
    ("TY01", "revenue", "2024-05"): (500.0, NAN, NAN),
    ("TY01", "revenue", "2024-06"): (NAN, NAN, NAN),
    # 2024-11 missing
    ("TY01", "revenue", "2024-12"): (1500.0, NAN, NAN),
    # not 120 − 1500 (December of the year before); 120 / 100 − 1 = 20 %
    ("TY01", "revenue", "2025-02"): (120.0, 120.0, 20.0),
    # 300 − 120 = 180; 300 / 250 − 1 = 20 %
    ("TY01", "revenue", "2025-03"): (300.0, 180.0, 20.0),
    # 2025-04 missing; 560 / 500 − 1 = 12 %
    ("TY01", "revenue", "2025-05"): (560.0, NAN, 12.0),
    # 700 − 560 = 140; the base 2024-06 was not reported
    ("TY01", "revenue", "2025-06"): (700.0, 140.0, NAN),
    ("TY01", "revenue", "2025-07"): (NAN, NAN, NAN),
    # 2025-07 not reported; no 2024-08
    ("TY01", "revenue", "2025-08"): (900.0, NAN, NAN),
    ("TY01", "foreign_capital_used", "2024-02"): (0.0, 0.0, NAN),
    # base 0: no growth rate
    ("TY01", "foreign_capital_used", "2025-02"): (50.0, 50.0, NAN),
    ("DT01", "revenue", "2025-02"): (80.0, 80.0, NAN),
}


def _assert_monthly(frame: pd.DataFrame) -> None:
    assert list(frame.columns) == MONTHLY_COLUMNS
    assert len(frame) == len(MONTHLY_EXPECTED)  # one row per figure: no join fan-out
    got = {(r.zone_code, r.indicator_code, r.period): r for r in frame.itertuples()}
    assert set(got) == set(MONTHLY_EXPECTED)
    for key, (ytd, month, yoy) in MONTHLY_EXPECTED.items():
        r = got[key]
        assert (r.year, r.month) == (int(key[2][:4]), int(key[2][5:])), key
        assert _same(r.ytd_value, ytd), (key, "ytd_value", r.ytd_value)
        assert _same(r.month_value, month), (key, "month_value", r.month_value)
        assert _same(r.yoy_pct, yoy), (key, "yoy_pct", r.yoy_pct)
        assert r.unit == ("万美元" if key[1] == "foreign_capital_used" else "万元")


def test_zone_monthly_hand_worked_series() -> None:
    result = zone_monthly(pd.DataFrame(MONTHLY_ROWS), shipped_catalog())
    _assert_monthly(result)
    assert result["year"].dtype == "int64"
    assert result["month"].dtype == "int64"


def test_zone_monthly_refuses_two_revisions_of_one_figure() -> None:
    # obs_zone (every revision) instead of obs_zone_current would subtract the wrong months
    rows = [*MONTHLY_ROWS, {**MONTHLY_ROWS[1], "revision": 2, "value": 260.0}]
    with pytest.raises(ValueError, match="TY01 revenue 2024-03 more than once"):
        zone_monthly(pd.DataFrame(rows), shipped_catalog())


def test_zone_monthly_view_equals_pandas(warehouse_url: str, tmp_path: Path) -> None:
    # TY01 2025-03 was published twice: revision 1 said revenue 280 (which would give
    # month 160 and yoy 12 %), revision 2 says 300; the view must read revision 2 only.
    republished = {("TY01", "2025-03")}
    rows = [
        dict(r, revision=2) if (r["zone_code"], r["period"]) in republished else r
        for r in MONTHLY_ROWS
    ]
    rows += [
        _row("TY01", "revenue", "2025-03", 280.0, revision=1),
        _row("TY01", "industrial_va_growth", "2025-03", 4.0, revision=1),
        _row("TY01", "above_scale_enterprises", "2025-03", 39.0, revision=1),
    ]
    releases = sorted({(r["zone_code"], r["period"], r["frequency"], r["revision"]) for r in rows})
    catalog = shipped_catalog()
    # the warehouse as every run makes it: migrations (the view included) and the catalog rows
    assert schema.VIEWS["zone_monthly"] == ZONE_MONTHLY_VIEW_SQL
    wh = Warehouse(WarehouseSettings(SecretStr(warehouse_url), tmp_path / "data"))
    wh.ensure_schema(catalog)
    engine = wh.engine
    try:
        with engine.begin() as conn:
            conn.execute(
                sa.insert(schema.load_ledger),
                [
                    {
                        "zone_code": zone,
                        "dataset": "zone",
                        "period": period,
                        "revision": rev,
                        "frequency": freq,
                        "status": "loaded",
                        "attempts": 1,
                        "load_id": f"{zone}-{period}-r{rev}",
                        "started_at": T0,
                    }
                    for zone, period, freq, rev in releases
                ],
            )
            conn.execute(
                sa.insert(schema.obs_zone),
                [
                    {
                        **r,
                        "load_id": f"{r['zone_code']}-{r['period']}-r{r['revision']}",
                        "loaded_at": T0,
                    }
                    for r in rows
                ],
            )
        with engine.connect() as conn:
            view = pd.read_sql(sa.text("SELECT * FROM zone_monthly"), conn)
            current = pd.read_sql(sa.text("SELECT * FROM obs_zone_current"), conn)
    finally:
        engine.dispose()

    assert list(view.columns) == MONTHLY_COLUMNS
    _assert_monthly(view)  # the view alone gives the hand-worked numbers
    expected = zone_monthly(current, catalog)
    _assert_monthly(expected)
    view = view.sort_values(["zone_code", "indicator_code", "period"]).reset_index(drop=True)
    view = view.astype(
        {"year": "int64", "month": "int64", "ytd_value": "float64", "month_value": "float64"}
    ).astype({"yoy_pct": "float64"})
    pd.testing.assert_frame_equal(
        view.astype({c: "object" for c in ("zone_code", "indicator_code", "period", "unit")}),
        expected.astype({c: "object" for c in ("zone_code", "indicator_code", "period", "unit")}),
        check_exact=False,
        rtol=1e-12,
    )


# --- evaluation -----------------------------------------------------------------------------

Y = 2025
# Three zones, year 2025 (monthly flows at 2025-12, quarterly at 2025-Q4, areas at 2025).
# YQ01 did not report developed_area (status M) and reported electricity_consumption 0.
ZONE_DATA: dict[str, dict[str, float | None]] = {
    "TY01": {
        "industrial_land_area": 100, "developed_area": 250, "planned_area": 500,
        "tax_revenue": 2000, "revenue": 10000, "industrial_value_added": 5000,
        "leading_industry_revenue": 6000, "rd_expenditure": 300, "fixed_asset_investment": 1050,
        "industrial_va_growth": 8, "energy_consumption": 5000, "co2_emissions": 15000,
        "green_electricity": 30, "electricity_consumption": 100,
    },
    "DT01": {
        "industrial_land_area": 100, "developed_area": 500, "planned_area": 500,
        "tax_revenue": 1000, "revenue": 20000, "industrial_value_added": 4000,
        "leading_industry_revenue": 8000, "rd_expenditure": 200, "fixed_asset_investment": 1200,
        "industrial_va_growth": 8, "energy_consumption": 8000, "co2_emissions": 4000,
        "green_electricity": 20, "electricity_consumption": 100,
    },
    "YQ01": {
        "industrial_land_area": 200, "developed_area": None, "planned_area": 1000,
        "tax_revenue": 3000, "revenue": 30000, "industrial_value_added": 6000,
        "leading_industry_revenue": 15000, "rd_expenditure": 600, "fixed_asset_investment": 900,
        "industrial_va_growth": 8, "energy_consumption": 9000, "co2_emissions": 15000,
        "green_electricity": 10, "electricity_consumption": 0,
    },
}  # fmt: skip
PREV_DATA = {
    "TY01": {"revenue": 8000, "fixed_asset_investment": 1000},
    "DT01": {"revenue": 20000, "fixed_asset_investment": 1000},
    "YQ01": {"revenue": 25000, "fixed_asset_investment": 1000},
}
LAST = {"M": f"{Y}-12", "Q": f"{Y}-Q4", "A": f"{Y}"}


def _year_rows(year: int, data: dict[str, dict[str, float | None]]) -> list[dict[str, object]]:
    last = {"M": f"{year}-12", "Q": f"{year}-Q4", "A": f"{year}"}
    catalog = shipped_catalog()
    rows = []
    for zone, values in data.items():
        for code, value in values.items():
            ind = catalog.indicator("zone", code)
            assert ind is not None
            rows.append(_row(zone, code, last[ind.frequency], value))
    return rows


def _evaluation_obs() -> pd.DataFrame:
    rows = _year_rows(Y, ZONE_DATA) + _year_rows(Y - 1, PREV_DATA)
    rows += [
        # not the year's last period: must not replace 2025-12
        _row("TY01", "revenue", f"{Y}-11", 1.0),
        _row("TY01", "rd_expenditure", f"{Y}-Q3", 1.0),
        # a zone not evaluated, with a far better tax per mu (1000): it must not stretch the scale
        *_year_rows(Y, {"CZ01": {"tax_revenue": 100000, "industrial_land_area": 100}}),
    ]
    return pd.DataFrame(rows)


# metric values, worked by hand:
#   tax_per_mu              TY01 2000/100=20   DT01 1000/100=10   YQ01 3000/200=15
#   revenue_per_mu          10000/100=100      20000/100=200      30000/200=150
#   va_per_mu               5000/100=50        4000/100=40        6000/200=30
#   leading_industry_share  6000/10000=60 %    8000/20000=40 %    15000/30000=50 %
#   land_development_rate   250/500=50 %       500/500=100 %      missing (developed_area M)
#   rd_intensity            300/10000=3 %      200/20000=1 %      600/30000=2 %
#   revenue_growth          10000/8000→25 %    20000/20000→0 %    30000/25000→20 %
#   investment_growth       1050/1000→5 %      1200/1000→20 %     900/1000→−10 %
#   industrial_va_growth    8                  8                  8
#   energy_per_va (lower)   5000/5000=1        8000/4000=2        9000/6000=1.5
#   co2_per_va (lower)      15000/5000=3       4000/4000=1        15000/6000=2.5
#   green_power_share       30/100=30 %        20/100=20 %        missing (0 electricity)
METRICS = {
    "TY01": [20, 100, 50, 60, 50, 3, 25, 5, 8, 1, 3, 30],
    "DT01": [10, 200, 40, 40, 100, 1, 0, 20, 8, 2, 1, 20],
    "YQ01": [15, 150, 30, 50, NAN, 2, 20, -10, 8, 1.5, 2.5, NAN],
}
# scores (min–max over the zones that have the metric; a missing one scores 0):
#   tax 100/0/50, rev_mu 0/100/50, va_mu 100/50/0, leading 100/0/50, land 0/100/0,
#   rd 100/0/50, rev_g 100/0/80 (20/25), inv_g 50/100/0 ((5+10)/30), va_g 100/100/100 (all equal),
#   energy 100/0/50 (lower: (2−1.5)/1), co2 0/100/25 (lower: (3−2.5)/2), green 100/0/0
# weighted (weights 15 10 5 | 10 5 5 | 10 10 10 | 8 6 6):
#   TY01 mujun (1500+0+500)/30 = 66.67  jiju (1000+0+500)/20 = 75
#        zengliang (1000+500+1000)/30 = 83.33  jiantan (800+0+600)/20 = 70
#        composite 7400/100 = 74 → B
#   DT01 mujun (0+1000+250)/30 = 41.67  jiju (0+500+0)/20 = 25
#        zengliang (0+1000+1000)/30 = 66.67  jiantan (0+600+0)/20 = 30
#        composite 4350/100 = 43.5 → D
#   YQ01 mujun (750+500+0)/30 = 41.67  jiju (500+0+250)/20 = 37.5
#        zengliang (800+0+1000)/30 = 60  jiantan (400+150+0)/20 = 27.5
#        composite 4350/100 = 43.5 → D, tied with DT01: ranks 1, 2, 2 (not 3)
PILLARS = {
    "TY01": [2000 / 30, 75, 2500 / 30, 70],
    "DT01": [1250 / 30, 25, 2000 / 30, 30],
    "YQ01": [1250 / 30, 37.5, 60, 27.5],
}
COMPOSITE = {"TY01": 74.0, "DT01": 43.5, "YQ01": 43.5}


def test_evaluate_three_zones_by_hand() -> None:
    method = load_method()
    # 2024: TY01 and DT01 were D; YQ01 was not evaluated (unknown → not on the watchlist)
    previous = pd.DataFrame(
        {"year": [2024, 2024], "zone_code": ["TY01", "DT01"], "grade": ["D", "D"]}
    )
    result = evaluate(Y, _evaluation_obs(), ["TY01", "DT01", "YQ01"], method, previous)

    assert list(result.columns) == evaluation_columns(method)
    assert list(result["zone_code"]) == ["TY01", "DT01", "YQ01"]
    codes = [m.code for m in method.metrics]
    assert codes[:3] == ["tax_per_mu", "revenue_per_mu", "va_per_mu"]
    by_zone = result.set_index("zone_code")
    for zone, values in METRICS.items():
        for code, expected in zip(codes, values, strict=True):
            assert _same(by_zone.at[zone, code], expected), (zone, code, by_zone.at[zone, code])
        got = [by_zone.at[zone, f"score_{p}"] for p in ("mujun", "jiju", "zengliang", "jiantan")]
        assert got == pytest.approx(PILLARS[zone], rel=1e-12), zone
        assert by_zone.at[zone, "composite"] == pytest.approx(COMPOSITE[zone], rel=1e-12)
    assert by_zone["rank"].to_dict() == {"TY01": 1, "DT01": 2, "YQ01": 2}
    assert by_zone["grade"].to_dict() == {"TY01": "B", "DT01": "D", "YQ01": "D"}
    # D in 2025 and in 2024 → DT01 only; TY01 improved; YQ01's 2024 is unknown
    assert by_zone["watchlist"].to_dict() == {"TY01": False, "DT01": True, "YQ01": False}
    # industrial land / developed: 100/250 = 40 % no; 100/500 = 20 % yes; YQ01 unknown
    tc = by_zone["transition_candidate"]
    # bool() of pd.NA raises, so these also prove the value is known
    assert bool(tc["TY01"]) is False
    assert bool(tc["DT01"]) is True
    assert tc["YQ01"] is pd.NA
    assert by_zone["missing_metrics"].to_dict() == {
        "TY01": "",
        "DT01": "",
        "YQ01": "land_development_rate,green_power_share",
    }
    assert set(result["method_version"]) == {"2024-59.1"}
    assert set(result["year"]) == {Y}


def test_evaluate_zone_without_data_gets_no_grade_and_changes_nobody() -> None:
    method = load_method()
    # LL01 has no figure at all, JZ01 only status M at the year's end, and a figure of
    # November (not the year's last period): none of them is graded, none shifts a scale
    obs = pd.DataFrame(
        [
            *_evaluation_obs().to_dict("records"),
            _row("JZ01", "revenue", f"{Y}-12", None),
            _row("JZ01", "revenue", f"{Y}-11", 500.0),
        ]
    )
    result = evaluate(Y, obs, ["TY01", "DT01", "YQ01", "LL01", "JZ01"], method)
    by_zone = result.set_index("zone_code")
    assert list(result["zone_code"]) == ["TY01", "DT01", "YQ01"]
    for zone, composite in COMPOSITE.items():
        assert by_zone.at[zone, "composite"] == pytest.approx(composite, rel=1e-12)
    assert by_zone["rank"].to_dict() == {"TY01": 1, "DT01": 2, "YQ01": 2}
    # no previous evaluation: nobody can have been D twice
    assert not result["watchlist"].any()


def test_evaluate_without_any_figure_is_empty() -> None:
    method = load_method()
    result = evaluate(Y, pd.DataFrame(_year_rows(Y - 1, PREV_DATA)), ["TY01", "DT01"], method)
    assert result.empty
    assert list(result.columns) == evaluation_columns(method)


# --- the watchlist on a warehouse: only real grades count ------------------------------------

# Two kinds of zone-year, chosen so that min–max scoring makes the grades plain:
# TOP has the best value of every metric, BOTTOM the worst (land 100 mu in both).
#   tax/mu 20 vs 5, revenue/mu 200 vs 50, va/mu 50 vs 10, leading share 50 vs 20 %,
#   land development 100 vs 20 %, R&D 3 vs 1 %, va growth 10 vs 2, energy/va 0.5 vs 2 (lower),
#   co2/va 1 vs 3 (lower), green power 50 vs 10 %
TOP: dict[str, float | None] = {
    "industrial_land_area": 100, "developed_area": 500, "planned_area": 500,
    "tax_revenue": 2000, "revenue": 20000, "industrial_value_added": 5000,
    "leading_industry_revenue": 10000, "rd_expenditure": 600, "fixed_asset_investment": 2000,
    "industrial_va_growth": 10, "energy_consumption": 2500, "co2_emissions": 5000,
    "green_electricity": 50, "electricity_consumption": 100,
}  # fmt: skip
BOTTOM: dict[str, float | None] = {
    "industrial_land_area": 100, "developed_area": 100, "planned_area": 500,
    "tax_revenue": 500, "revenue": 5000, "industrial_value_added": 1000,
    "leading_industry_revenue": 1000, "rd_expenditure": 50, "fixed_asset_investment": 1000,
    "industrial_va_growth": 2, "energy_consumption": 2000, "co2_emissions": 3000,
    "green_electricity": 10, "electricity_consumption": 100,
}  # fmt: skip
# 2024 (no 2023: both growth metrics missing for everyone, 0 points):
#   TY01 BOTTOM → 0 → D;  DT01 TOP, CZ01 TOP → 100 on the other ten metrics = 80 → A;
#   YQ01 reports nothing → no grade
# 2025 (growth on 2024): revenue / investment growth TY01 0 / 0 %, DT01 −75 / −50 %, CZ01 0 / 0 %,
#   YQ01 missing (no 2024): TY01 scores 100 on both growths only → 20 → D;
#   DT01 0 → D;  YQ01 0 → D;  CZ01 100 → A
WATCH_2024 = {"TY01": BOTTOM, "DT01": TOP, "CZ01": TOP}
WATCH_2025 = {"TY01": BOTTOM, "DT01": BOTTOM, "YQ01": BOTTOM, "CZ01": TOP}


def _load_zone_rows(wh: Warehouse, rows: list[dict[str, object]]) -> None:
    """Rows into obs_zone with a loaded ledger row per release, as a run leaves them."""
    releases: dict[tuple[str, str], dict[str, object]] = {}
    for r in rows:
        key = (str(r["zone_code"]), str(r["period"]))
        releases.setdefault(key, {"frequency": r["frequency"], "rows": 0})
        releases[key]["rows"] = int(releases[key]["rows"]) + 1  # type: ignore[call-overload]
    with wh.engine.begin() as conn:
        conn.execute(
            sa.insert(schema.load_ledger),
            [
                {
                    "zone_code": zone,
                    "dataset": "zone",
                    "period": period,
                    "revision": 1,
                    "frequency": rel["frequency"],
                    "status": "loaded",
                    "attempts": 1,
                    "load_id": f"{zone}-{period}-r1",
                    "records_received": rel["rows"],
                    "records_loaded": rel["rows"],
                    "records_quarantined": 0,
                    "started_at": T0,
                }
                for (zone, period), rel in releases.items()
            ],
        )
        conn.execute(
            sa.insert(schema.obs_zone),
            [{**r, "load_id": f"{r['zone_code']}-{r['period']}-r1", "loaded_at": T0} for r in rows],
        )


def _built_evaluation(
    warehouse_url: str, tmp_path: Path, rows: list[dict[str, object]], years: list[int]
) -> dict[int, pd.DataFrame]:
    from tasks.marts import build_year

    catalog = shipped_catalog()
    settings = WarehouseSettings(SecretStr(warehouse_url), tmp_path / "data")
    wh = Warehouse(settings)
    wh.ensure_schema(catalog)
    _load_zone_rows(wh, rows)
    out = {}
    for year in years:
        build_year(settings, catalog, load_method(), year)
        out[year] = marts_store.mart_rows(wh, "mart_zone_evaluation", year).set_index("zone_code")
    return out


def test_watchlist_needs_a_real_grade_the_year_before(warehouse_url: str, tmp_path: Path) -> None:
    rows = _year_rows(2024, WATCH_2024) + _year_rows(2025, WATCH_2025)
    ev = _built_evaluation(warehouse_url, tmp_path, rows, [2024, 2025])

    # 2024: graded from its own figures; YQ01 and the zones without figures have no grade
    assert ev[2024]["grade"].to_dict() == {"CZ01": "A", "DT01": "A", "TY01": "D"}
    assert ev[2024]["composite"].to_dict() == pytest.approx({"CZ01": 80, "DT01": 80, "TY01": 0})
    # 2023 has no data: nobody was D in it, so nobody is on the watchlist of 2024
    assert not ev[2024]["watchlist"].any()

    assert ev[2025]["grade"].to_dict() == {"CZ01": "A", "DT01": "D", "TY01": "D", "YQ01": "D"}
    assert ev[2025]["composite"].to_dict() == pytest.approx(
        {"CZ01": 100, "DT01": 0, "TY01": 20, "YQ01": 0}
    )
    # D in 2025 and in 2024: TY01 only. DT01 was A in 2024; YQ01 had no grade in 2024 (no
    # figures), nor had the seven zones without any figure, which have no row at all
    assert ev[2025]["watchlist"].to_dict() == {
        "CZ01": False,
        "DT01": False,
        "TY01": True,
        "YQ01": False,
    }


def test_watchlist_of_the_first_year_with_data_is_empty(warehouse_url: str, tmp_path: Path) -> None:
    # the warehouse's data start in 2025: 2024 is not graded, so no 2025 D is a second D
    ev = _built_evaluation(warehouse_url, tmp_path, _year_rows(2025, WATCH_2025), [2025])
    assert ev[2025]["grade"].to_dict() == {"CZ01": "A", "DT01": "D", "TY01": "D", "YQ01": "D"}
    assert not ev[2025]["watchlist"].any()


def test_evaluate_tie_through_float_noise() -> None:
    # only the 亩均 metrics have figures (land 1 mu each), the other nine are missing for all.
    # tax / revenue / value added: TY01 0/0/3, DT01 0/1/1, YQ01 0/0/0, CZ01 7/7/7, so
    #   TY01 scores 0, 0, 300/7 → composite 5 × 300/7 / 100 = 15/7
    #   DT01 scores 0, 100/7, 100/7 → composite (10 × 100/7 + 5 × 100/7) / 100 = 15/7
    # equal by hand, but the float sums differ in the last bit: they must still share rank 2,
    # and YQ01 (0) comes 4th, after CZ01 (15 + 10 + 5 = 30) and the two tied zones
    data = {"TY01": (0, 0, 3), "DT01": (0, 1, 1), "YQ01": (0, 0, 0), "CZ01": (7, 7, 7)}
    rows = _year_rows(
        Y,
        {
            zone: {
                "tax_revenue": tax,
                "revenue": revenue,
                "industrial_value_added": va,
                "industrial_land_area": 1,
            }
            for zone, (tax, revenue, va) in data.items()
        },
    )
    result = evaluate(Y, pd.DataFrame(rows), list(data), load_method()).set_index("zone_code")
    assert result["composite"].to_list() == pytest.approx([15 / 7, 15 / 7, 0, 30], rel=1e-12)
    assert result["rank"].to_dict() == {"TY01": 2, "DT01": 2, "YQ01": 4, "CZ01": 1}


def test_evaluate_previous_must_be_the_year_before() -> None:
    previous = pd.DataFrame({"year": [2023], "zone_code": ["TY01"], "grade": ["D"]})
    with pytest.raises(ValueError, match="evaluation of 2024"):
        evaluate(Y, _evaluation_obs(), ["TY01"], load_method(), previous)


def test_grades_at_the_boundaries() -> None:
    composites = pd.Series([100, 80, 80 - 1e-10, 79.99, 65, 64.999, 50, 49.99, 0.0])
    # 80 − 1e-10 is float noise of a sum that is 80 by hand: it rounds to 80.000000 → A
    assert list(grade_composites(composites, load_method())) == list("AAABBCCDD")


# --- R&D subsidy ----------------------------------------------------------------------------


def _ent(
    zone: str, uscc: str, period: str, value: float | None, code: str = "rd_expenditure"
) -> dict[str, object]:
    return {
        "zone_code": zone,
        "uscc": uscc,
        "period": period,
        "revision": 1,
        "indicator_code": code,
        "value": value,
        "unit": "万元",
    }


U = {n: f"91140100MA0000{n:03d}X" for n in range(1, 10)}


def test_rd_subsidy_cases() -> None:
    obs = pd.DataFrame(
        [
            # U1 grows 1000 → 1500: stock 1000, increment 500, cap 3 %·1000 + 10 %·500 = 30 + 50 = 80
            _ent("TY01", U[1], "2024-12", 1000),
            _ent("TY01", U[1], "2025-12", 1500),
            _ent("TY01", U[1], "2025-12", 99999, code="revenue"),  # another indicator: ignored
            # U2 declines 2000 → 1200: stock 1200, increment 0, cap 3 %·1200 = 36
            _ent("TY01", U[2], "2024-12", 2000),
            _ent("TY01", U[2], "2025-12", 1200),
            # U3 below the threshold, 500 → 800: no provincial cap, the city may use the rates
            _ent("DT01", U[3], "2024-12", 500),
            _ent("DT01", U[3], "2025-12", 800),
            # U4 exactly 1000, no 2024: E₀ = 0, stock 0, increment 1000, cap 10 %·1000 = 100
            _ent("DT01", U[4], "2025-12", 1000),
            # U5 moved from TY01 to YQ01, 2000 → 2200: stock 2000, increment 200, cap 60 + 20 = 80
            _ent("TY01", U[5], "2024-12", 2000),
            _ent("YQ01", U[5], "2025-12", 2200),
            # U6 1111.11111 new: to the yuan 1111.1111, cap 10 %·1111.1111 = 111.11111 → 111.1111
            _ent("YQ01", U[6], "2025-12", 1111.11111),
            # U7 only 2024, U8 only November, U9 not reported in December: no row for any
            _ent("YQ01", U[7], "2024-12", 3000),
            _ent("YQ01", U[8], "2025-11", 5000),
            _ent("YQ01", U[9], "2025-12", None),
        ]
    )
    enterprises = pd.DataFrame(
        {"uscc": [U[n] for n in range(1, 6)], "name": [f"企业{n}" for n in range(1, 6)]}
    )
    result = rd_subsidy(2025, obs, enterprises, load_method())

    assert list(result.columns) == RD_SUBSIDY_COLUMNS
    # sorted by zone then uscc; U5 counts in YQ01, where it reported 2025
    assert list(zip(result["zone_code"], result["uscc"], strict=True)) == [
        ("DT01", U[3]),
        ("DT01", U[4]),
        ("TY01", U[1]),
        ("TY01", U[2]),
        ("YQ01", U[5]),
        ("YQ01", U[6]),
    ]
    r = result.set_index("uscc")
    cols = ["rd_expense", "rd_expense_prev", "stock", "increment", "provincial_cap"]
    expected = {
        U[1]: [1500, 1000, 1000, 500, 80],
        U[2]: [1200, 2000, 1200, 0, 36],
        U[3]: [800, 500, 500, 300, 0],
        U[4]: [1000, 0, 0, 1000, 100],
        U[5]: [2200, 2000, 2000, 200, 80],
        U[6]: [1111.1111, 0, 0, 1111.1111, 111.1111],
    }
    for uscc, values in expected.items():
        assert list(r.loc[uscc, cols]) == pytest.approx(values, abs=1e-9), uscc
    assert r["prev_reported"].to_dict() == {
        U[1]: True, U[2]: True, U[3]: True, U[4]: False, U[5]: True, U[6]: False
    }  # fmt: skip
    assert r["city_reference"].to_dict() == {
        U[1]: False, U[2]: False, U[3]: True, U[4]: False, U[5]: False, U[6]: False
    }  # fmt: skip
    assert r.at[U[1], "name"] == "企业1"
    assert pd.isna(r.at[U[6], "name"])  # not in dim_enterprise: no name, still a row
    assert set(result["year"]) == {2025}
    assert set(result["method_version"]) == {"2024-59.1"}


def test_rd_subsidy_refuses_an_enterprise_reported_twice() -> None:
    obs = pd.DataFrame([_ent("TY01", U[1], "2025-12", 1500), _ent("DT01", U[1], "2025-12", 1400)])
    with pytest.raises(ValueError, match="more than once"):
        rd_subsidy(2025, obs, pd.DataFrame({"uscc": [], "name": []}), load_method())


def test_rd_subsidy_uses_the_method_rates() -> None:
    # halved rates and a 2000 threshold: U1 1500 no longer qualifies, U2 2500 over 1000 does:
    # stock 1000 × 1.5 % = 15, increment 1500 × 5 % = 75 → 90
    base = load_method()
    method = dataclasses.replace(
        base,
        rd_subsidy=dataclasses.replace(
            base.rd_subsidy, threshold=2000, stock_rate_pct=1.5, increment_rate_pct=5
        ),
    )
    obs = pd.DataFrame(
        [
            _ent("TY01", U[1], "2025-12", 1500),
            _ent("TY01", U[2], "2024-12", 1000),
            _ent("TY01", U[2], "2025-12", 2500),
        ]
    )
    r = rd_subsidy(2025, obs, pd.DataFrame({"uscc": [], "name": []}), method).set_index("uscc")
    assert r.at[U[1], "provincial_cap"] == 0
    assert bool(r.at[U[1], "city_reference"])
    assert r.at[U[2], "provincial_cap"] == pytest.approx(90)


# --- method.toml ----------------------------------------------------------------------------

SHIPPED = (Path(__file__).parent.parent / "marts" / "method.toml").read_text(encoding="utf-8")


def test_shipped_method() -> None:
    method = load_method()
    assert method.version == "2024-59.1"
    assert [(p.code, p.name_zh) for p in method.pillars] == [
        ("mujun", "亩均效益"),
        ("jiju", "集聚集约"),
        ("zengliang", "增量增速"),
        ("jiantan", "减污降碳"),
    ]
    weights = {m.code: m.weight for m in method.metrics}
    assert weights == {
        "tax_per_mu": 15, "revenue_per_mu": 10, "va_per_mu": 5,
        "leading_industry_share": 10, "land_development_rate": 5, "rd_intensity": 5,
        "revenue_growth": 10, "investment_growth": 10, "industrial_va_growth": 10,
        "energy_per_va": 8, "co2_per_va": 6, "green_power_share": 6,
    }  # fmt: skip
    lower = {m.code for m in method.metrics if m.better == "lower"}
    assert lower == {"energy_per_va", "co2_per_va"}
    by_code = {m.code: m for m in method.metrics}
    assert (by_code["rd_intensity"].numerator, by_code["rd_intensity"].denominator) == (
        "rd_expenditure",
        "revenue",
    )
    assert by_code["rd_intensity"].multiplier == 100
    assert by_code["revenue_growth"].kind == "growth"
    assert by_code["industrial_va_growth"].kind == "reported"
    assert [(b.grade, b.min) for b in method.grading.bands] == [("A", 80), ("B", 65), ("C", 50)]
    assert method.transition.below_pct == 30
    assert (method.rd_subsidy.threshold, method.rd_subsidy.stock_rate_pct) == (1000, 3)
    assert method.rd_subsidy.increment_rate_pct == 10
    assert method.inputs.year_end == ("M", "Q", "A")


def test_a_year_is_evaluable_only_with_its_year_end_figures() -> None:
    method = load_method()
    loaded = {"2025-12", "2025-Q4", "2025", "2026-10", "2026-Q3"}
    assert missing_inputs(2025, loaded, method) == []
    # data to 2026-10: December, Q4 and the annual figures are what 2026 lacks
    assert missing_inputs(2026, loaded, method) == ["2026-12", "2026-Q4", "2026"]
    assert missing_inputs(1999, loaded, method) == ["1999-12", "1999-Q4", "1999"]


@pytest.mark.parametrize(
    ("old", "new", "message"),
    [
        ("weight = 15", "weight = 16", "metrics.weight: the weights sum to 101, not 100"),
        (
            'numerator = "tax_revenue"',
            'numerator = "tax_income"',
            "metrics[0] (tax_per_mu).numerator: 'tax_income' is not an indicator",
        ),
        ('pillar = "jiantan"', 'pillar = "carbon"', "metrics[9] (energy_per_va).pillar"),
        ('better = "lower"', 'better = "less"', "metrics[9] (energy_per_va).better"),
        (
            'indicator = "rd_expenditure"',
            'indicator = "rd_spend"',
            "rd_subsidy.indicator: 'rd_spend' is not an indicator of the enterprise catalog",
        ),
        ("min = 65", "min = 85", "grading.bands[1].min"),
        (
            'indicator = "revenue"',
            'indicator = "revenue"\nnumerator = "revenue"',
            "metrics[6] (revenue_growth).numerator: not used by kind 'growth'",
        ),
        ('code = "jiju"', 'code = "juji"', "pillars[1].code: unknown pillar 'juji'"),
        ('year_end = ["M", "Q", "A"]', 'year_end = ["M", "H"]', "inputs.year_end[1]: expected"),
        ('year_end = ["M", "Q", "A"]', "year_end = []", "inputs.year_end: expected a non-empty"),
    ],
)
def test_method_errors_name_the_key(tmp_path: Path, old: str, new: str, message: str) -> None:
    assert old in SHIPPED
    path = tmp_path / "method.toml"
    path.write_text(SHIPPED.replace(old, new, 1), encoding="utf-8")
    with pytest.raises(MethodError) as exc:
        load_method(path)
    assert message in str(exc.value)
    assert "\n" not in str(exc.value)


def test_method_checks_the_catalog_it_is_given() -> None:
    # a catalog without green_electricity: the shipped method cannot be computed with it
    full = shipped_catalog()
    catalog = Catalog(
        zones=full.zones,
        indicators={k: v for k, v in full.indicators.items() if k != ("zone", "green_electricity")},
    )
    with pytest.raises(MethodError, match=r"green_power_share\)\.numerator: 'green_electricity'"):
        load_method(catalog=catalog)
