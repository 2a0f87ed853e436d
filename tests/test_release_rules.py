"""The release, cross-period and cross-dataset rules, each fed a passing and a failing release.

Every release goes the real way: pages written by ``RawSpool`` -> ``check_release`` with the
zone's loaded observations as ``history`` -> the staged Parquet files read back. The assertions
are on the quarantine rows, the observations staged for the load and the counts the ledger gets.
The passing cases start from a complete, consistent release, so only the rule under test fires.
"""

from __future__ import annotations

import csv
import itertools
import json
import shutil
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

import zonestats
from tasks.normalize import canonical_json
from tasks.validate import check_release
from validation.codes import uscc_check_char
from validation.registry import RuleSet, load_rules
from validation.release_rules import HISTORY_COLUMNS
from warehouse.staging import RawSpool
from zonestats.catalog import Catalog, load_catalog, shipped_catalog
from zonestats.models import FetchedRelease, ReleaseRef, ValidatedRelease
from zonestats.periods import infer_frequency
from zonestats.sources.base import Page

ZONE = "TY01"
MONTH = "2026-10"
QUARTER = "2026-Q3"
YEAR = "2025"
Row = tuple[int, str, str, str]

# A zone's complete Jan–Oct release: the 8 mandatory monthly indicators, figures that agree with
# each other (canonical units). Values are strings, as the zones' systems send them.
MONTHLY: dict[str, str] = {
    "revenue": "12000",
    "industrial_output": "9000",
    "industrial_va_growth": "6.5",
    "fixed_asset_investment": "3000",
    "tax_revenue": "800",
    "energy_consumption": "50000",
    "electricity_consumption": "6000",
    "above_scale_enterprises": "118",
}
# The quarterly and annual releases below also repeat the monthly revenue cumulative, as they
# may, so that quarter_month_mismatch always has a figure to look at (releases without one:
# test_a_release_with_nothing_to_compare_is_checked).
# A complete Q3 release: the 5 mandatory quarterly indicators (+ revenue of Jan–Sep).
QUARTERLY: dict[str, str] = {
    "industrial_value_added": "2800",
    "rd_expenditure": "450",
    "employees": "15000",
    "co2_emissions": "120000",
    "leading_industry_revenue": "7000",
    "revenue": "12000",
}
# A complete annual release: the 4 mandatory annual indicators (industrial ≤ developed ≤ planned)
# (+ revenue of Jan–Dec).
ANNUAL: dict[str, str] = {
    "planned_area": "9000",
    "developed_area": "6000",
    "industrial_land_area": "4000",
    "high_tech_enterprises": "35",
    "revenue": "14400",
}


def unit_of(code: str, dataset: str = "zone") -> str:
    """The catalog's canonical unit of an indicator."""
    ind = shipped_catalog().indicator(dataset, code)
    assert ind is not None, code
    return ind.unit


def zrec(indicator: str, value: Any, unit: str | None = None, **extra: Any) -> dict[str, Any]:
    """A zone record, in the indicator's canonical unit unless told otherwise."""
    return {"indicator": indicator, "value": value, "unit": unit or unit_of(indicator), **extra}


def release(base: Mapping[str, str], **changes: Any) -> list[dict[str, Any]]:
    """The records of a base release; ``code=value`` changes a figure, ``code=None`` drops it."""
    values: dict[str, Any] = {**base, **changes}
    return [zrec(code, value) for code, value in values.items() if value is not None]


def monthly(**changes: Any) -> list[dict[str, Any]]:
    """The complete monthly release 2026-10, changed as told."""
    return release(MONTHLY, **changes)


def quarterly(**changes: Any) -> list[dict[str, Any]]:
    """The complete quarterly release 2026-Q3, changed as told."""
    return release(QUARTERLY, **changes)


def annual(**changes: Any) -> list[dict[str, Any]]:
    """The complete annual release 2025, changed as told."""
    return release(ANNUAL, **changes)


def history(*obs: tuple[Any, ...]) -> pd.DataFrame:
    """The zone's loaded observations: (indicator, period, value[, status]) each."""
    rows = [
        (code, period, infer_frequency(period), float(value), rest[0] if rest else "A")
        for code, period, value, *rest in obs
    ]
    return pd.DataFrame(rows, columns=HISTORY_COLUMNS).astype({"value": "float64"})


NO_HISTORY = history()


@dataclass(frozen=True)
class Checked:
    """A release as check_release left it: the result and its staged files read back."""

    v: ValidatedRelease
    q: pd.DataFrame
    obs: pd.DataFrame

    def rows(self, *, without: Sequence[str] = ()) -> list[Row]:
        """The quarantine rows as (record_no, record_key, rule, severity), sorted."""
        q = self.q[~self.q["rule"].isin(list(without))]
        return sorted(
            zip(
                q["record_no"].astype(int),
                q["record_key"].astype(str),
                q["rule"].astype(str),
                q["severity"].astype(str),
                strict=True,
            )
        )

    def message(self, rule: str) -> str:
        """The one message of a rule."""
        messages = self.q.loc[self.q["rule"] == rule, "message"].tolist()
        assert len(messages) == 1, messages
        return str(messages[0])

    @property
    def counts(self) -> tuple[int, int, int, int]:
        """(received, loaded, quarantined, warned), checked to balance."""
        v = self.v
        assert v.records_received == v.records_loaded + v.records_quarantined
        return (v.records_received, v.records_loaded, v.records_quarantined, v.records_warned)

    @property
    def loaded(self) -> dict[str, float]:
        """Zone dataset: the staged observations as indicator -> value."""
        return dict(zip(self.obs["indicator_code"], self.obs["value"], strict=True))


def spool(
    directory: Path,
    pages: Sequence[Sequence[Any]],
    *,
    dataset: str = "zone",
    period: str = MONTH,
    frequency: str = "M",
) -> FetchedRelease:
    """Write the pages of a release of TY01 to a spool, as an adapter would."""
    ref = ReleaseRef(
        ZONE, dataset, period, frequency, 1, datetime(2026, 11, 16, 3, 30, tzinfo=UTC), None
    )
    path = directory / "staging" / "spool.jsonl"
    with RawSpool(path) as sink:
        for n, records in enumerate(pages, start=1):
            sink.write(Page(n, ZONE, dataset, period, 1, list(records), 1000))
    return FetchedRelease(ref, path, sink.pages, sink.records, sink.sha256)


_RUNS = itertools.count(1)


def check(
    tmp_path: Path,
    records: Sequence[Any],
    hist: pd.DataFrame = NO_HISTORY,
    *,
    period: str = MONTH,
    dataset: str = "zone",
    rules: RuleSet | None = None,
    catalog: Catalog | None = None,
    pages: Sequence[Sequence[Any]] | None = None,
) -> Checked:
    """Spool the records as one page (or the pages), run check_release, read the stage back."""
    run = next(_RUNS)  # a test may check several releases: each gets a staging directory
    frequency = infer_frequency(period)
    assert frequency is not None
    fetched = spool(
        tmp_path / f"run{run}",
        pages if pages is not None else [records],
        dataset=dataset,
        period=period,
        frequency=frequency,
    )
    v = check_release(
        fetched,
        shipped_catalog() if catalog is None else catalog,
        load_rules() if rules is None else rules,
        f"load-{run}",
        history=hist,
    )
    return Checked(v, pd.read_parquet(v.quarantine), pd.read_parquet(v.obs))


def prefix(key: str, no: int = 0, period: str = MONTH) -> str:
    """The start of a message: which release, which record."""
    where = f"#{no} {key}" if no else key
    return f"[{ZONE} {period} r1 {where}] "


def assert_clean(c: Checked, records: int) -> None:
    """Nothing found: every record loads, nothing is incomplete or rejected."""
    assert c.rows() == []
    assert c.counts == (records, records, 0, 0)
    assert len(c.obs) == records
    assert (c.v.incomplete, c.v.rejection) == ((), None)


def test_the_complete_releases_pass_every_rule(tmp_path: Path) -> None:
    assert_clean(check(tmp_path, monthly()), 8)
    assert_clean(check(tmp_path, quarterly(), period=QUARTER), 6)
    assert_clean(check(tmp_path, annual(), period=YEAR), 5)
    c = check(tmp_path, monthly())
    assert c.loaded == {code: float(value) for code, value in MONTHLY.items()}
    assert set(c.obs["period"]) == {MONTH}


# A regression: when none of the release's good rows was one quarter_month_mismatch or
# yoy_out_of_range compares (a quarterly or annual release repeating no monthly cumulative; a
# release with no reported level), the empty lookup kept the string dtype under pandas 3 and
# check_release crashed with a TypeError.
@pytest.mark.parametrize(
    ("records", "period"),
    [
        pytest.param(release(QUARTERLY, revenue=None), QUARTER, id="Q-without-monthly-figure"),
        pytest.param(release(ANNUAL, revenue=None), YEAR, id="A-without-monthly-figure"),
        pytest.param([zrec("industrial_va_growth", "6.5")], MONTH, id="M-growth-rate-only"),
    ],
)
def test_a_release_with_nothing_to_compare_is_checked(
    tmp_path: Path, records: list[dict[str, Any]], period: str
) -> None:
    c = check(tmp_path, records, period=period)
    assert c.rows(without=["mandatory_missing"]) == []
    assert c.counts == (len(records), len(records), 0, 0)
    assert c.v.rejection is None


# --- mandatory_missing ----------------------------------------------------------------------


def test_mandatory_missing_when_an_indicator_is_absent(tmp_path: Path) -> None:
    c = check(tmp_path, monthly(tax_revenue=None))
    assert c.rows() == [(0, "tax_revenue", "mandatory_missing", "warning")]
    message = c.message("mandatory_missing")
    assert message.startswith(prefix("tax_revenue"))
    assert "必报指标 tax_revenue 在 2026-10 报期中缺报，该报期不完整 | " in message
    assert "mandatory indicator tax_revenue is absent in release 2026-10" in message
    # the release loads what it has; the ledger learns that it is incomplete
    assert c.counts == (7, 7, 0, 0)
    assert c.v.incomplete == ("tax_revenue",)
    assert c.v.rejection is None


def test_mandatory_missing_when_an_error_held_the_indicator_out(tmp_path: Path) -> None:
    c = check(tmp_path, monthly(revenue="-5"))
    assert c.rows() == [
        (0, "revenue", "mandatory_missing", "warning"),
        (1, "revenue", "value_below_min", "error"),
    ]
    message = c.message("mandatory_missing")
    assert message.startswith(prefix("revenue"))
    assert "未通过审核被剔除" in message
    assert "mandatory indicator revenue is held out by an error in release 2026-10" in message
    assert c.counts == (8, 7, 1, 0)
    assert "revenue" not in c.loaded
    assert c.v.incomplete == ("revenue",)


def test_mandatory_missing_lists_every_missing_indicator_of_the_frequency(tmp_path: Path) -> None:
    # a monthly release asks for the monthly indicators only; the optional ones may be absent
    c = check(tmp_path, [*monthly(revenue="x", energy_consumption=None), zrec("import_export", 5)])
    assert c.rows() == [
        (0, "energy_consumption", "mandatory_missing", "warning"),
        (0, "revenue", "mandatory_missing", "warning"),
        (1, "revenue", "value_unparsable", "error"),
    ]
    assert c.v.incomplete == ("revenue", "energy_consumption")  # in catalog order
    assert c.counts == (8, 7, 1, 0)


# --- part / whole (表内审核) -------------------------------------------------------------------


def test_green_exceeds_electricity_passes_at_equality(tmp_path: Path) -> None:
    c = check(tmp_path, [*monthly(), zrec("green_electricity", "6000")])
    assert_clean(c, 9)
    # compared in the canonical unit: 0.6 亿千瓦时 is 6000 万千瓦时
    c = check(tmp_path, [*monthly(), zrec("green_electricity", "0.6", "亿千瓦时")])
    assert_clean(c, 9)


def test_green_exceeds_electricity_holds_out_the_part(tmp_path: Path) -> None:
    green = zrec("green_electricity", "6000.01")
    c = check(tmp_path, [*monthly(), green])
    assert c.rows() == [(9, "green_electricity", "green_exceeds_electricity", "error")]
    assert c.q["raw"].tolist() == [canonical_json(green)]  # the record as received
    message = c.message("green_exceeds_electricity")
    assert message.startswith(prefix("green_electricity", 9))
    assert "绿电消费量 6000.01 大于用电量 6000（万千瓦时）" in message
    assert "green electricity 6000.01 exceeds electricity consumption 6000 (万千瓦时)" in message
    assert c.counts == (9, 8, 1, 0)
    # the part is held out, the whole loads
    assert "green_electricity" not in c.loaded
    assert c.loaded["electricity_consumption"] == 6000.0
    assert c.v.incomplete == ()  # green electricity is not mandatory


def test_industrial_land_exceeds_developed_passes_at_equality(tmp_path: Path) -> None:
    assert_clean(check(tmp_path, annual(industrial_land_area="6000"), period=YEAR), 5)


def test_industrial_land_exceeds_developed_holds_out_the_part(tmp_path: Path) -> None:
    c = check(tmp_path, annual(industrial_land_area="6000.5"), period=YEAR)
    # mandatory_missing left aside: see test_a_mandatory_indicator_held_out_by_a_release_rule…
    assert c.rows(without=["mandatory_missing"]) == [
        (3, "industrial_land_area", "industrial_land_exceeds_developed", "error")
    ]
    message = c.message("industrial_land_exceeds_developed")
    assert message.startswith(prefix("industrial_land_area", 3, YEAR))
    assert "industrial land area 6000.5 exceeds developed area 6000 (亩)" in message
    assert c.counts == (5, 4, 1, 0)
    assert c.loaded == {
        "planned_area": 9000.0,
        "developed_area": 6000.0,
        "high_tech_enterprises": 35.0,
        "revenue": 14400.0,
    }


def test_developed_exceeds_planned_passes_at_equality(tmp_path: Path) -> None:
    assert_clean(check(tmp_path, annual(developed_area="9000"), period=YEAR), 5)


def test_developed_exceeds_planned_holds_out_the_part(tmp_path: Path) -> None:
    c = check(tmp_path, annual(developed_area="9000.5"), period=YEAR)
    assert c.rows(without=["mandatory_missing"]) == [
        (2, "developed_area", "developed_exceeds_planned", "error")
    ]
    message = c.message("developed_exceeds_planned")
    assert message.startswith(prefix("developed_area", 2, YEAR))
    assert "已开发面积 9000.5 大于规划面积 9000（亩）" in message
    assert "developed area 9000.5 exceeds planned area 9000 (亩)" in message
    assert c.counts == (5, 4, 1, 0)
    assert set(c.loaded) == {
        "planned_area",
        "industrial_land_area",
        "high_tech_enterprises",
        "revenue",
    }


def test_part_whole_rules_use_the_canonical_unit(tmp_path: Path) -> None:
    # 6 平方公里 = 9000 亩 = the planned area: equal, passes; 600.1 公顷 = 9001.5 亩: above
    c = check(
        tmp_path,
        [*annual(developed_area=None), zrec("developed_area", "6", "平方公里")],
        period=YEAR,
    )
    assert c.rows() == []
    c = check(
        tmp_path,
        [*annual(developed_area=None), zrec("developed_area", "600.1", "公顷")],
        period=YEAR,
    )
    assert c.rows(without=["mandatory_missing"]) == [
        (5, "developed_area", "developed_exceeds_planned", "error")
    ]
    assert "developed area 9001.5 exceeds planned area 9000 (亩)" in c.message(
        "developed_exceeds_planned"
    )


# leading_exceeds_revenue: a quarter's leading-industry revenue against the zone's revenue as
# loaded for the quarter's last month (September for Q3)
SEPTEMBER_REVENUE = history(("revenue", "2026-09", 12000), ("revenue", "2026-06", 8000))


def test_leading_exceeds_revenue_passes_at_equality(tmp_path: Path) -> None:
    c = check(
        tmp_path, quarterly(leading_industry_revenue="12000"), SEPTEMBER_REVENUE, period=QUARTER
    )
    assert_clean(c, 6)


def test_leading_exceeds_revenue_holds_out_the_part(tmp_path: Path) -> None:
    c = check(
        tmp_path, quarterly(leading_industry_revenue="12000.5"), SEPTEMBER_REVENUE, period=QUARTER
    )
    assert c.rows(without=["mandatory_missing"]) == [
        (5, "leading_industry_revenue", "leading_exceeds_revenue", "error")
    ]
    message = c.message("leading_exceeds_revenue")
    assert message.startswith(prefix("leading_industry_revenue", 5, QUARTER))
    assert "主导产业营业收入 12000.5 大于 2026-09 营业收入 12000（万元）" in message
    assert (
        "leading-industry revenue 12000.5 exceeds the revenue of 2026-09, 12000 (万元)" in message
    )
    assert c.counts == (6, 5, 1, 0)
    assert "leading_industry_revenue" not in c.loaded


def test_leading_exceeds_revenue_passes_when_the_month_is_not_loaded(tmp_path: Path) -> None:
    # only June is loaded (and a September marked M, no value): nothing to compare with
    hist = history(("revenue", "2026-06", 8000), ("revenue", "2026-09", float("nan"), "M"))
    c = check(tmp_path, quarterly(leading_industry_revenue="99999"), hist, period=QUARTER)
    assert_clean(c, 6)


def test_leading_exceeds_revenue_ignores_the_revenue_repeated_in_the_quarter(
    tmp_path: Path,
) -> None:
    # the whole is the loaded monthly figure, not a revenue repeated in the quarterly release
    # (repeated 0.45% lower: within quarter_month_mismatch's tolerance)
    records = quarterly(leading_industry_revenue="11000", revenue="10950")
    c = check(tmp_path, records, history(("revenue", "2026-09", 11000)), period=QUARTER)
    assert_clean(c, 6)


# --- ytd_decreased ---------------------------------------------------------------------------


def test_ytd_decreased_passes_between_its_loaded_neighbours(tmp_path: Path) -> None:
    hist = history(
        ("import_export", "2026-08", 4500),
        ("import_export", "2026-09", 5000),
        ("import_export", "2026-11", 5100),
    )
    # equal to the month before and to the month after: both allowed
    assert_clean(check(tmp_path, [*monthly(), zrec("import_export", "5000")], hist), 9)
    assert_clean(check(tmp_path, [*monthly(), zrec("import_export", "5100")], hist), 9)


def test_ytd_decreased_against_an_earlier_month(tmp_path: Path) -> None:
    hist = history(("import_export", "2026-08", 4500), ("import_export", "2026-09", 5000))
    c = check(tmp_path, [*monthly(), zrec("import_export", "4999.5")], hist)
    assert c.rows() == [(9, "import_export", "ytd_decreased", "error")]
    message = c.message("ytd_decreased")
    assert message.startswith(prefix("import_export", 9))
    # the nearest earlier month is the one named
    assert "累计值 import_export = 4999.5 与同年 2026-09 的累计值 5000 相比减少" in message
    assert (
        "cumulative import_export = 4999.5 is inconsistent with 5000 of 2026-09 in the same year"
        in message
    )
    assert c.counts == (9, 8, 1, 0)
    assert "import_export" not in c.loaded


def test_ytd_decreased_against_a_later_month_already_loaded(tmp_path: Path) -> None:
    # a revision of October arrives after November was loaded: October cannot exceed November
    hist = history(
        ("import_export", "2026-09", 5000),
        ("import_export", "2026-11", 5100),
        ("import_export", "2026-12", 5500),
    )
    c = check(tmp_path, [*monthly(), zrec("import_export", "5200")], hist)
    assert c.rows() == [(9, "import_export", "ytd_decreased", "error")]
    message = c.message("ytd_decreased")
    # the nearest later month is the one named
    assert "cumulative import_export = 5200 is inconsistent with 5100 of 2026-11" in message
    assert c.counts == (9, 8, 1, 0)


def test_ytd_decreased_is_not_applied_across_years(tmp_path: Path) -> None:
    # February's cumulative restarts the year: below last December's is normal
    hist = history(("import_export", "2025-12", 60000), ("import_export", "2025-11", 55000))
    c = check(tmp_path, [*release(MONTHLY), zrec("import_export", "900")], hist, period="2026-02")
    assert_clean(c, 9)


def test_ytd_decreased_is_not_applied_to_stocks_rates_or_signed_figures(tmp_path: Path) -> None:
    hist = history(
        ("above_scale_enterprises", "2026-09", 125),  # a stock: enterprises leave
        ("industrial_va_growth", "2026-09", 8.1),  # a rate: slows down
        ("profit_total", "2026-09", 300),  # may be negative: losses reduce the cumulative
    )
    c = check(tmp_path, [*monthly(), zrec("profit_total", "-20")], hist)
    assert_clean(c, 9)


def test_ytd_decreased_compares_with_the_same_frequency_only(tmp_path: Path) -> None:
    # a monthly cumulative repeated in a quarterly release is not checked against the monthly
    # releases here (quarter_month_mismatch compares it with the quarter's last month)
    hist = history(("revenue", "2026-08", 12500), ("rd_expenditure", "2026-Q2", 300))
    assert_clean(check(tmp_path, quarterly(), hist, period=QUARTER), 6)
    c = check(tmp_path, quarterly(), history(("rd_expenditure", "2026-Q4", 400)), period=QUARTER)
    # rd_expenditure is mandatory: held out, it also leaves the release incomplete
    assert c.rows() == [
        (0, "rd_expenditure", "mandatory_missing", "warning"),
        (2, "rd_expenditure", "ytd_decreased", "error"),
    ]
    assert "rd_expenditure = 450 is inconsistent with 400 of 2026-Q4" in c.message("ytd_decreased")


# --- quarter_month_mismatch --------------------------------------------------------------------


def test_quarter_month_mismatch_passes_within_one_percent(tmp_path: Path) -> None:
    hist = history(("revenue", "2026-09", 12000), ("tax_revenue", "2026-09", 800))
    # +1% exactly and −0.5%: within the tolerance
    records = [*quarterly(revenue="12120"), zrec("tax_revenue", "796")]
    assert_clean(check(tmp_path, records, hist, period=QUARTER), 7)


@pytest.mark.parametrize("revenue", ["12240", "11760"], ids=["+2%", "-2%"])
def test_quarter_month_mismatch_warns_two_percent_off(tmp_path: Path, revenue: str) -> None:
    hist = history(("revenue", "2026-09", 12000), ("revenue", "2026-08", 10000))
    c = check(tmp_path, quarterly(revenue=revenue), hist, period=QUARTER)
    assert c.rows() == [(6, "revenue", "quarter_month_mismatch", "warning")]
    message = c.message("quarter_month_mismatch")
    assert message.startswith(prefix("revenue", 6, QUARTER))
    assert f"revenue 的 2026-Q3 累计值 {revenue} 与月报 2026-09 的累计值 12000 相差 2%" in message
    assert (
        f"revenue of 2026-Q3 = {revenue} differs from the monthly cumulative 12000 of 2026-09 "
        "by 2% (more than 1%)" in message
    )
    # a warning: the record loads, and counts as warned
    assert c.counts == (6, 6, 0, 1)
    assert c.loaded["revenue"] == float(revenue)
    assert c.v.incomplete == ()


def test_quarter_month_mismatch_passes_when_the_month_is_not_loaded(tmp_path: Path) -> None:
    hist = history(("revenue", "2026-08", 10000))
    assert_clean(check(tmp_path, quarterly(revenue="20000"), hist, period=QUARTER), 6)


# --- yoy_out_of_range --------------------------------------------------------------------------

LAST_OCTOBER = history(("revenue", "2025-10", 10000))


@pytest.mark.parametrize("revenue", ["5000", "20000", "12000"], ids=["-50%", "+100%", "+20%"])
def test_yoy_out_of_range_passes_inside_the_band(tmp_path: Path, revenue: str) -> None:
    assert_clean(check(tmp_path, monthly(revenue=revenue), LAST_OCTOBER), 8)


@pytest.mark.parametrize(
    ("revenue", "growth"), [("4900", "-51.0"), ("20100", "101.0")], ids=["-51%", "+101%"]
)
def test_yoy_out_of_range_warns_outside_the_band(tmp_path: Path, revenue: str, growth: str) -> None:
    c = check(tmp_path, monthly(revenue=revenue), LAST_OCTOBER)
    assert c.rows() == [(1, "revenue", "yoy_out_of_range", "warning")]
    message = c.message("yoy_out_of_range")
    assert message.startswith(prefix("revenue", 1))
    assert f"revenue 同比增长 {growth}%（2025-10: 10000 → 2026-10: {revenue}）" in message
    assert (
        f"revenue grew {growth}% on the year (2025-10: 10000 → 2026-10: {revenue}), "
        "outside [-50%, 100%]; please verify" in message
    )
    assert c.counts == (8, 8, 0, 1)
    assert c.loaded["revenue"] == float(revenue)


@pytest.mark.parametrize(
    "hist",
    [
        history(("revenue", "2025-10", 0)),
        history(("revenue", "2025-10", float("nan"), "M")),
        history(("revenue", "2025-09", 10)),  # another month of last year is no base
        history(("revenue", "2025-Q4", 10)),  # nor another frequency
        NO_HISTORY,
    ],
    ids=["base-0", "base-M", "other-month", "other-frequency", "no-base"],
)
def test_yoy_out_of_range_passes_without_a_base(tmp_path: Path, hist: pd.DataFrame) -> None:
    assert_clean(check(tmp_path, monthly(revenue="99999"), hist), 8)


def test_yoy_out_of_range_checks_stocks_but_not_rates(tmp_path: Path) -> None:
    # 118 enterprises on 50 is +136%; the growth rate 6.5 on 2 is no level to compare
    hist = history(
        ("above_scale_enterprises", "2025-10", 50), ("industrial_va_growth", "2025-10", 2)
    )
    c = check(tmp_path, monthly(), hist)
    assert c.rows() == [(8, "above_scale_enterprises", "yoy_out_of_range", "warning")]
    assert c.counts == (8, 8, 0, 1)


def test_a_severity_override_makes_the_yoy_warning_an_error(tmp_path: Path) -> None:
    rules = load_rules({"yoy_out_of_range": "error"})
    hist = history(("import_export", "2025-10", 1000))
    c = check(tmp_path, [*monthly(), zrec("import_export", "2010")], hist, rules=rules)
    assert c.rows() == [(9, "import_export", "yoy_out_of_range", "error")]
    assert "import_export grew 101.0% on the year" in c.message("yoy_out_of_range")
    # an error holds the record out: quarantined, not warned, not staged
    assert c.counts == (9, 8, 1, 0)
    assert "import_export" not in c.loaded
    assert c.v.rejection is None  # a record's error, not the release's
    # inside the band it still loads
    assert_clean(check(tmp_path, [*monthly(), zrec("import_export", "2000")], hist, rules=rules), 9)


# A mandatory indicator that a release-level error holds out is not loaded either, so the release
# is as incomplete as when a record rule holds it out (ValidatedRelease.incomplete: "mandatory
# indicators absent or held out"): mandatory_missing runs after the other release rules.
@pytest.mark.parametrize(
    ("records", "hist", "period", "rule", "key"),
    [
        pytest.param(
            annual(developed_area="9000.5"),
            NO_HISTORY,
            YEAR,
            "developed_exceeds_planned",
            "developed_area",
            id="developed_exceeds_planned",
        ),
        pytest.param(
            quarterly(leading_industry_revenue="12000.5"),
            SEPTEMBER_REVENUE,
            QUARTER,
            "leading_exceeds_revenue",
            "leading_industry_revenue",
            id="leading_exceeds_revenue",
        ),
        pytest.param(
            monthly(revenue="11000"),
            history(("revenue", "2026-09", 11500)),
            MONTH,
            "ytd_decreased",
            "revenue",
            id="ytd_decreased",
        ),
    ],
)
def test_a_mandatory_indicator_held_out_by_a_release_rule_makes_the_release_incomplete(
    tmp_path: Path,
    records: list[dict[str, Any]],
    hist: pd.DataFrame,
    period: str,
    rule: str,
    key: str,
) -> None:
    c = check(tmp_path, records, hist, period=period)
    no = next(n for n, r in enumerate(records, start=1) if r["indicator"] == key)
    assert key not in c.loaded
    assert c.rows() == sorted([(0, key, "mandatory_missing", "warning"), (no, key, rule, "error")])
    assert "held out by an error" in c.message("mandatory_missing")
    assert c.v.incomplete == (key,)


# --- value_above_max (the shipped catalog has no maximum outside the growth rate) ---------------


@pytest.fixture(scope="module")
def capped_catalog(tmp_path_factory: pytest.TempPathFactory) -> Catalog:
    """The shipped catalog with a maximum of 100,000 吨标准煤 on the zones' energy consumption."""
    directory = tmp_path_factory.mktemp("catalog")
    for path in (Path(zonestats.__file__).parent / "data").glob("*.csv"):
        shutil.copy(path, directory / path.name)
    path = directory / "indicators.csv"
    with path.open(encoding="utf-8", newline="") as fh:
        rows = list(csv.DictReader(fh))
    [energy_row] = [r for r in rows if (r["dataset"], r["code"]) == ("zone", "energy_consumption")]
    energy_row["max"] = "100000"
    with path.open("w", encoding="utf-8", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(rows[0]), lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
    catalog = load_catalog(directory)
    energy = catalog.indicator("zone", "energy_consumption")
    assert energy is not None
    assert energy.max == 100000.0
    return catalog


def test_value_above_max_passes_at_the_maximum(tmp_path: Path, capped_catalog: Catalog) -> None:
    c = check(tmp_path, monthly(energy_consumption="100000"), catalog=capped_catalog)
    assert_clean(c, 8)
    # 10 万吨标准煤 is 100,000 吨标准煤: the bound applies in the canonical unit
    records = [*monthly(energy_consumption=None), zrec("energy_consumption", "10", "万吨标准煤")]
    assert_clean(check(tmp_path, records, catalog=capped_catalog), 8)


def test_value_above_max_holds_out_the_record(tmp_path: Path, capped_catalog: Catalog) -> None:
    c = check(tmp_path, monthly(energy_consumption="100000.5"), catalog=capped_catalog)
    assert c.rows() == [
        (0, "energy_consumption", "mandatory_missing", "warning"),
        (6, "energy_consumption", "value_above_max", "error"),
    ]
    message = c.message("value_above_max")
    assert message.startswith(prefix("energy_consumption", 6))
    assert "指标 energy_consumption 的数值 100000.5 高于上限 100000" in message
    assert "value 100000.5 of energy_consumption is above its maximum 100000" in message
    assert "held out by an error" in c.message("mandatory_missing")
    assert c.counts == (8, 7, 1, 0)
    assert c.v.incomplete == ("energy_consumption",)
    # the shipped catalog has no such bound
    assert_clean(check(tmp_path, monthly(energy_consumption="100000.5")), 8)


# --- cross-dataset: enterprises against the zone totals ------------------------------------------


def uscc(n: int) -> str:
    """A valid unified social credit code (GB 32100-2015), distinct for each n."""
    first17 = f"91140100MA{n:07d}"
    return first17 + uscc_check_char(first17)


def enterprise(n: int, revenue: str, **values: str) -> dict[str, Any]:
    """An enterprise record of the release, its figures in the catalog's canonical units."""
    return {
        "uscc": uscc(n),
        "name": f"企业{n}",
        "industry_code": "C3011",
        "above_scale": True,
        "values": {
            "revenue": revenue,
            "tax_revenue": "200",
            "electricity_consumption": "1000",
            "energy_consumption": "10000",
            "employees": "300",
            **values,
        },
    }


def enterprises(revenue_total: int, count: int = 4) -> list[dict[str, Any]]:
    """Enterprises sharing a revenue total equally (tax 80%, electricity 67%, energy 80% of zone)."""
    share = revenue_total / count
    return [enterprise(n, f"{share:g}") for n in range(1, count + 1)]


# the zone's own release of the same period, as loaded
ZONE_TOTALS = history(
    ("revenue", MONTH, 100000),
    ("tax_revenue", MONTH, 1000),
    ("electricity_consumption", MONTH, 6000),
    ("energy_consumption", MONTH, 50000),
    ("revenue", "2026-09", 1),  # another period's total is no reference
)


def check_enterprises(tmp_path: Path, records: list[dict[str, Any]], hist: pd.DataFrame) -> Checked:
    """Check an enterprise release of TY01 2026-10."""
    return check(tmp_path, records, hist, dataset="enterprise")


def test_enterprise_sum_within_the_tolerance_passes(tmp_path: Path) -> None:
    c = check_enterprises(tmp_path, enterprises(100400), ZONE_TOTALS)  # 0.4% above
    assert c.rows() == []
    assert c.counts == (4, 4, 0, 0)
    assert c.v.rejection is None
    assert len(c.obs) == 4 * 5
    assert c.obs.loc[c.obs["indicator_code"] == "revenue", "value"].sum() == 100400.0


def test_enterprise_sum_exceeds_zone_rejects_the_release(tmp_path: Path) -> None:
    c = check_enterprises(tmp_path, enterprises(100600), ZONE_TOTALS)  # 0.6% above
    assert c.rows() == [(0, "revenue", "enterprise_sum_exceeds_zone", "error")]
    message = c.message("enterprise_sum_exceeds_zone")
    assert message.startswith(prefix("revenue"))
    assert (
        "企业 revenue 合计 100600 超过园区总量 100000 的 0.60%（允许 0.5%），企业报期整体退回"
        in message
    )
    assert (
        "the enterprises' revenue sums to 100600, 0.60% above the zone total 100000 "
        "(tolerance 0.5%); the enterprise release is rejected" in message
    )
    assert c.v.rejection is not None
    assert "revenue" in c.v.rejection
    assert c.v.rejection == message
    # a finding about the release: its raw is the figures it rests on
    raw = json.loads(c.q["raw"].iloc[0])
    assert (raw["enterprise_sum"], raw["zone_total"]) == ("100600", "100000")
    # no enterprise is at fault: the counts are the records', the release as a whole is refused
    assert c.counts == (4, 4, 0, 0)


def test_enterprise_sums_leave_out_held_out_enterprises(tmp_path: Path) -> None:
    bad = {**enterprise(9, "900000"), "uscc": "91350203M0001QAY9B"}  # wrong check character
    c = check_enterprises(tmp_path, [*enterprises(100400), bad], ZONE_TOTALS)
    assert c.rows() == [(5, "91350203M0001QAY9B", "uscc_invalid", "error")]
    assert c.counts == (5, 4, 1, 0)
    assert c.v.rejection is None


def test_enterprise_coverage_low_warns_below_half(tmp_path: Path) -> None:
    c = check_enterprises(tmp_path, enterprises(49000), ZONE_TOTALS)
    assert c.rows() == [(0, "revenue", "enterprise_coverage_low", "warning")]
    message = c.message("enterprise_coverage_low")
    assert message.startswith(prefix("revenue"))
    assert "企业 revenue 合计 49000 仅占园区总量 100000 的 49.0%（应不低于 50%）" in message
    assert (
        "the enterprises' revenue sums to 49000, only 49.0% of the zone total 100000 "
        "(expected at least 50%)" in message
    )
    # a warning about the release: it is not rejected, and no record is counted as warned
    assert c.v.rejection is None
    assert c.counts == (4, 4, 0, 0)


def test_enterprise_coverage_at_half_passes(tmp_path: Path) -> None:
    c = check_enterprises(tmp_path, enterprises(50000), ZONE_TOTALS)
    assert c.rows() == []
    assert c.v.rejection is None


def test_enterprise_release_without_zone_totals_is_not_reconciled(tmp_path: Path) -> None:
    # far above and far below any total, but the zone's release of 2026-10 is not loaded yet
    hist = history(("revenue", "2026-09", 100), ("revenue", "2025-10", 100))
    for records in (enterprises(10_000_000), enterprises(4)):
        c = check_enterprises(tmp_path, records, hist)
        assert c.rows() == []
        assert c.counts == (4, 4, 0, 0)
        assert c.v.rejection is None
    c = check_enterprises(tmp_path, enterprises(10_000_000), NO_HISTORY)
    assert (c.rows(), c.v.rejection) == ([], None)


# --- a large enterprise release ------------------------------------------------------------------

LARGE = 50_000


def large_release() -> tuple[list[list[dict[str, Any]]], int, int, int]:
    """50,000 generated enterprises on pages of 1,000, a few hundred broken.

    Returns the pages, the number of enterprises held out, the number warned, and the revenue
    of the good ones (whole 万元, so the sum is exact).
    """
    pages: list[list[dict[str, Any]]] = []
    held = warned = revenue = 0
    page: list[dict[str, Any]] = []
    for i in range(LARGE):
        rec = enterprise(i, str(100 + i % 900))
        # disjoint breakages: i % 500 == 13 is never i % 200 == 7, nor i % 1000 == 21
        if i % 200 == 7:
            rec["uscc"] = rec["uscc"][:17] + ("0" if rec["uscc"][17] != "0" else "1")
            held += 1
        elif i % 500 == 13:
            rec["values"] = {**rec["values"], "revenue": "-1"}
            held += 1
        else:
            if i % 1000 == 21:
                rec["above_scale"] = "是"
                warned += 1
            revenue += 100 + i % 900
        page.append(rec)
        if len(page) == 1000:
            pages.append(page)
            page = []
    return pages, held, warned, revenue


@pytest.mark.slow
def test_a_50k_enterprise_release(tmp_path: Path) -> None:
    pages, held, warned, revenue = large_release()
    assert (held, warned) == (350, 50)
    # zone totals the good enterprises cover well, within the tolerance
    hist = history(
        ("revenue", MONTH, revenue * 1.2),
        ("tax_revenue", MONTH, (LARGE - held) * 200),
        ("electricity_consumption", MONTH, (LARGE - held) * 1000 * 1.5),
    )
    start = time.perf_counter()
    c = check(tmp_path, [], hist, dataset="enterprise", pages=pages)
    elapsed = time.perf_counter() - start
    print(f"\ncheck_release of {LARGE} enterprises: {elapsed:.2f} s")
    assert c.counts == (LARGE, LARGE - held, held, warned)
    assert c.v.rules_broken == {
        "uscc_invalid": 250,
        "value_below_min": 100,
        "above_scale_invalid": 50,
    }
    assert len(c.q) == 400
    assert c.v.rejection is None
    assert len(c.obs) == (LARGE - held) * 5
    assert c.obs.loc[c.obs["indicator_code"] == "revenue", "value"].sum() == revenue
