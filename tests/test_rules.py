"""The audit rules of validation/rules.toml, each fed a passing and a failing record.

Every record goes the real way: ``normalize_zone`` -> ``conflict`` column ->
``Validator(load_rules(), "zone").validate_batch``; duplicates go through ``check_release``
on a spool written by ``RawSpool``. The assertions are on the quarantine rows that come out.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from tasks.normalize import canonical_json, frame_to_pandas, normalize_zone
from tasks.validate import check_release, conflicting_keys
from validation.checks import CHECKS
from validation.engine import QUARANTINE_COLUMNS, RegistryMismatch, Validator
from validation.registry import RuleError, RuleSet, load_rules, parse_rules
from validation.release_rules import RELEASE_CHECKS
from warehouse.staging import RawSpool
from zonestats.catalog import Catalog, load_catalog
from zonestats.models import FetchedRelease, ReleaseRef, ValidatedRelease
from zonestats.sources.base import Page

CONTEXT = {"zone": "TY01", "period": "2026-10", "revision": 1}
Item = tuple[int, str, Any]


@dataclass(frozen=True)
class Result:
    """A validated batch as pandas frames, to assert on."""

    good: pd.DataFrame  # with each record's raw text
    quarantine: pd.DataFrame
    errored_records: int
    warned_records: int


@pytest.fixture(scope="module")
def catalog() -> Catalog:
    return load_catalog()


@pytest.fixture(scope="module")
def rules() -> RuleSet:
    return load_rules()


def validate(
    items: list[Item],
    catalog: Catalog,
    rules: RuleSet,
    *,
    frequency: str = "M",
    period: str = "2026-10",
    conflicts: frozenset[str] = frozenset(),
) -> tuple[pd.DataFrame, Result]:
    frame = normalize_zone(
        items,
        first_record_no=1,
        zone_code="TY01",
        period=period,
        frequency=frequency,
        catalog=catalog,
    )
    frame["conflict"] = np.isin(frame["record_key"], list(conflicts))
    context = {**CONTEXT, "period": period}
    result = Validator(rules, "zone").validate_batch(frame, context)
    return frame_to_pandas(frame), Result(
        frame_to_pandas(result.good),
        result.quarantine.to_pandas(),
        result.errored_records,
        result.warned_records,
    )


def on_page(records: list[Any], page: int = 1, zone: str = "TY01") -> list[Item]:
    return [(page, zone, r) for r in records]


def rows(result: Result) -> list[tuple[int, str, str, str]]:
    q = result.quarantine
    assert list(q.columns) == QUARANTINE_COLUMNS
    return sorted(
        zip(
            q["record_no"].astype(int),
            q["record_key"].astype(str),
            q["rule"].astype(str),
            q["severity"].astype(str),
            strict=True,
        )
    )


def assert_good_are_records_without_error(frame: pd.DataFrame, result: Result) -> None:
    q = result.quarantine
    errored = set(q.loc[q["severity"] == "error", "record_no"].astype(int))
    expected = [n for n in frame["record_no"].tolist() if n not in errored]
    assert result.good["record_no"].tolist() == expected
    assert result.errored_records == len(errored)


# --- one passing and one failing record per rule ---------------------------------------------


def rec(
    indicator: str = "revenue", value: Any = "1,234.5", unit: Any = "万元", **extra: Any
) -> Any:
    out: dict[str, Any] = {"indicator": indicator, "value": value}
    if unit is not None:
        out["unit"] = unit
    return {**out, **extra}


# rule, passing record, failing record, key of the failing record, a fragment of the failing
# record's message; all in the monthly release 2026-10 of TY01
CASES = [
    pytest.param(
        "record_malformed",
        rec(),
        "revenue,1234.5,万元",
        "record:1",
        "record 1 is not a complete record",
        id="record_malformed-text",
    ),
    pytest.param(
        "record_malformed",
        rec(),
        {"value": "1", "unit": "万元"},
        "record:1",
        "record 1 is not a complete record",
        id="record_malformed-no-indicator",
    ),
    pytest.param(
        "record_malformed",
        rec(),
        {"indicator": 12, "value": "1", "unit": "万元"},
        "record:1",
        "record 1 is not a complete record",
        id="record_malformed-numeric-indicator",
    ),
    pytest.param(
        "indicator_unknown",
        rec("import_export"),
        rec("gdp"),
        "gdp",
        "indicator gdp is not in the catalog",
        id="indicator_unknown",
    ),
    pytest.param(
        "indicator_unknown",
        rec("tax_revenue"),
        rec("uscc"),
        "uscc",
        "indicator uscc is not in the catalog",
        id="indicator_unknown-enterprise-field",
    ),
    pytest.param(
        "frequency_mismatch",
        rec("industrial_va_growth", "6.5", "%"),
        rec("rd_expenditure"),
        "rd_expenditure",
        "indicator rd_expenditure is reported at frequency Q, not in the M release 2026-10",
        id="frequency_mismatch-Q-in-M",
    ),
    pytest.param(
        "frequency_mismatch",
        rec("above_scale_enterprises", 118, "个"),
        rec("planned_area", 9000, "亩"),
        "planned_area",
        "reported at frequency A, not in the M release",
        id="frequency_mismatch-A-in-M",
    ),
    pytest.param(
        "unit_not_allowed",
        rec(unit="亿元"),
        rec(unit="美元"),
        "revenue",
        "unit '美元' is not allowed for revenue (allowed: 万元、元、千元、亿元)",
        id="unit_not_allowed-foreign-unit",
    ),
    pytest.param(
        "unit_not_allowed",
        rec(unit="元"),
        rec(unit=None),
        "revenue",
        "is not allowed for revenue (allowed: 万元、元、千元、亿元)",
        id="unit_not_allowed-missing-unit",
    ),
    pytest.param(
        "unit_not_allowed",
        rec("electricity_consumption", "12.5", "亿千瓦时"),
        rec("electricity_consumption", "12.5", "万元"),
        "electricity_consumption",
        "unit '万元' is not allowed for electricity_consumption",
        id="unit_not_allowed-other-indicators-unit",
    ),
    pytest.param(
        "value_unparsable",
        rec(value="1,234,567.8"),
        rec(value="12,3a"),
        "revenue",
        "value '12,3a' of revenue is not a number",
        id="value_unparsable",
    ),
    pytest.param(
        "value_unparsable",
        rec(value=" 12 "),
        rec(value=True),
        "revenue",
        "of revenue is not a number",
        id="value_unparsable-boolean",
    ),
    pytest.param(
        "value_below_min",
        rec(value="0"),
        rec(value="-5"),
        "revenue",
        "value -5 of revenue is below its minimum 0",
        id="value_below_min",
    ),
    pytest.param(
        "growth_rate_out_of_bounds",
        rec("industrial_va_growth", "-100", "%"),
        rec("industrial_va_growth", "-100.5", "%"),
        "industrial_va_growth",
        "published growth rate industrial_va_growth = -100.5% is outside its bounds [-100, 300]",
        id="growth_rate_out_of_bounds-low",
    ),
    pytest.param(
        "growth_rate_out_of_bounds",
        rec("industrial_va_growth", 300, "%"),
        rec("industrial_va_growth", 301, "%"),
        "industrial_va_growth",
        "published growth rate industrial_va_growth = 301% is outside its bounds [-100, 300]",
        id="growth_rate_out_of_bounds-high",
    ),
    pytest.param(
        "value_not_integer",
        rec("above_scale_enterprises", "12", "个"),
        rec("above_scale_enterprises", "12.5", "个"),
        "above_scale_enterprises",
        "above_scale_enterprises must be a whole number, got 12.5",
        id="value_not_integer",
    ),
    pytest.param(
        "status_invalid",
        rec(status="E"),
        rec(status="X"),
        "revenue",
        "status 'X' of revenue is not one of A, P, E, M",
        id="status_invalid",
    ),
    pytest.param(
        "status_invalid",
        rec(status="P"),
        rec(status="a"),
        "revenue",
        "status 'a' of revenue is not one of A, P, E, M",
        id="status_invalid-lowercase",
    ),
    pytest.param(
        "status_value_mismatch",
        rec("green_electricity", None, "万千瓦时", status="M"),
        rec("green_electricity", "5", "万千瓦时", status="M"),
        "green_electricity",
        "status M of green_electricity disagrees with value '5'",
        id="status_value_mismatch-M-with-value",
    ),
    pytest.param(
        "status_value_mismatch",
        rec(value="-", status="M"),
        rec(value=None, status="A"),
        "revenue",
        "status A of revenue disagrees with value",
        id="status_value_mismatch-A-with-null",
    ),
    pytest.param(
        "status_value_mismatch",
        rec(value="8", status="P"),
        rec(value="", unit="万元"),
        "revenue",
        "status A of revenue disagrees with value",
        id="status_value_mismatch-absent-status-empty-value",
    ),
]


# The passing records of every case go through validation together (one batch keeps the set
# fast); each case then asserts on its own record. The failing records go one batch each.
NUMBERED = [pytest.param(n, *c.values, id=c.id) for n, c in enumerate(CASES, start=1)]


@pytest.fixture(scope="module")
def passing(catalog: Catalog, rules: RuleSet) -> Result:
    records = [c.values[1] for c in CASES]
    return validate(on_page(records), catalog, rules)[1]


def test_the_passing_records_give_no_quarantine_row(passing: Result) -> None:
    assert rows(passing) == []
    assert passing.good["record_no"].tolist() == list(range(1, len(CASES) + 1))
    assert (passing.errored_records, passing.warned_records) == (0, 0)


@pytest.mark.parametrize(("record_no", "rule", "good", "bad", "key", "fragment"), NUMBERED)
def test_rule_passes_a_good_record(
    record_no: int,
    rule: str,
    good: Any,
    bad: Any,
    key: str,
    fragment: str,
    passing: Result,
) -> None:
    q = passing.quarantine
    assert q[q["record_no"] == record_no].empty
    loaded = passing.good[passing.good["record_no"] == record_no]
    assert len(loaded) == 1
    assert loaded["raw"].iloc[0] == canonical_json(good)


@pytest.mark.parametrize(("rule", "good", "bad", "key", "fragment"), CASES)
def test_rule_fails_a_bad_record(
    rule: str,
    good: Any,
    bad: Any,
    key: str,
    fragment: str,
    catalog: Catalog,
    rules: RuleSet,
) -> None:
    _, result = validate(on_page([bad]), catalog, rules)
    assert rows(result) == [(1, key, rule, "error")]
    assert result.good.empty
    assert (result.errored_records, result.warned_records) == (1, 0)
    q = result.quarantine.iloc[0]
    message = q["message"]
    assert message.startswith(f"[TY01 2026-10 r1 #1 {key}] ")
    assert fragment in message
    assert " | " in message  # Chinese, then English
    assert q["raw"] == canonical_json(bad)


def test_frequency_mismatch_passes_a_quarterly_indicator_in_a_quarterly_release(
    catalog: Catalog, rules: RuleSet
) -> None:
    records = [rec("rd_expenditure", "3,210.5"), rec("employees", "1.5", "万人")]
    _, result = validate(on_page(records), catalog, rules, frequency="Q", period="2026-Q3")
    assert rows(result) == []
    assert result.good["value"].tolist() == [3210.5, 15000.0]
    # an annual indicator cannot be in a quarterly release; a monthly cumulative may be repeated
    bad = [rec("planned_area", "9000", "亩"), rec()]
    _, result = validate(on_page(bad), catalog, rules, frequency="Q", period="2026-Q3")
    assert rows(result) == [(1, "planned_area", "frequency_mismatch", "error")]
    assert "not in the Q release 2026-Q3" in result.quarantine["message"].iloc[0]
    assert result.good["indicator"].tolist() == ["revenue"]


def test_bounds_apply_to_the_value_in_the_canonical_unit(catalog: Catalog, rules: RuleSet) -> None:
    # -1 元 is -0.0001 万元: still below the minimum 0
    _, result = validate(on_page([rec(value="-1", unit="元")]), catalog, rules)
    assert rows(result) == [(1, "revenue", "value_below_min", "error")]


def test_value_not_integer_accepts_a_whole_count_given_in_an_alternative_unit(
    catalog: Catalog, rules: RuleSet
) -> None:
    # 12.3456 万人 = 123456 人, a whole number of people
    records = [rec("employees", "12.3456", "万人")]
    _, result = validate(on_page(records), catalog, rules, frequency="Q", period="2026-Q3")
    assert rows(result) == []
    assert result.good["value"].tolist() == [123456.0]


def test_value_not_integer_rejects_a_fraction_of_a_person(catalog: Catalog, rules: RuleSet) -> None:
    records = [rec("employees", "1.23456", "万人")]  # 12345.6 人
    _, result = validate(on_page(records), catalog, rules, frequency="Q", period="2026-Q3")
    assert rows(result) == [(1, "employees", "value_not_integer", "error")]


def test_one_cause_per_failure(catalog: Catalog, rules: RuleSet) -> None:
    """A record broken at the root fails that rule only, not every rule after it."""
    records = [
        rec(),  # 1 good
        "junk",  # 2 malformed only
        rec("gdp", "abc", "斤", status="Z"),  # 3 unknown indicator (+ unparsable, bad status)
        rec("rd_expenditure", "-5", "美元"),  # 4 frequency and unit, not value_below_min
        rec("revenue", "-5", "美元"),  # 5 unit only: no canonical value, no bound checked
        rec("above_scale_enterprises", "-1.5", "个"),  # 6 below min AND not integer
        rec("tax_revenue", "7", "万元"),  # 7 good
    ]
    frame, result = validate(on_page(records), catalog, rules)
    assert rows(result) == [
        (2, "record:2", "record_malformed", "error"),
        (3, "gdp", "indicator_unknown", "error"),
        (3, "gdp", "status_invalid", "error"),
        (3, "gdp", "value_unparsable", "error"),
        (4, "rd_expenditure", "frequency_mismatch", "error"),
        (4, "rd_expenditure", "unit_not_allowed", "error"),
        (5, "revenue", "unit_not_allowed", "error"),
        (6, "above_scale_enterprises", "value_below_min", "error"),
        (6, "above_scale_enterprises", "value_not_integer", "error"),
    ]
    # errors count records, not quarantine rows
    assert result.errored_records == 5
    assert result.good["record_no"].tolist() == [1, 7]
    assert_good_are_records_without_error(frame, result)


def test_duplicate_conflict_in_the_validator_holds_out_every_flagged_copy(
    catalog: Catalog, rules: RuleSet
) -> None:
    records = [rec(), rec("tax_revenue", "1"), rec("tax_revenue", "2"), rec("import_export")]
    _, result = validate(on_page(records), catalog, rules, conflicts=frozenset({"tax_revenue"}))
    assert rows(result) == [
        (2, "tax_revenue", "duplicate_conflict", "error"),
        (3, "tax_revenue", "duplicate_conflict", "error"),
    ]
    assert result.good["record_no"].tolist() == [1, 4]
    assert all(
        m.startswith(f"[TY01 2026-10 r1 #{n} tax_revenue] ") and "every copy is held out" in m
        for n, m in zip((2, 3), result.quarantine["message"], strict=True)
    )


# --- page_zone_mismatch ----------------------------------------------------------------------


def test_page_zone_mismatch_passes_pages_of_the_release_zone(
    catalog: Catalog, rules: RuleSet
) -> None:
    items = on_page([rec(), rec("tax_revenue")], page=1) + on_page([rec("import_export")], page=2)
    _, result = validate(items, catalog, rules)
    assert rows(result) == []
    assert result.good["record_no"].tolist() == [1, 2, 3]


def test_page_zone_mismatch_holds_out_the_whole_page_as_one_row(
    catalog: Catalog, rules: RuleSet
) -> None:
    foreign = [rec("tax_revenue", "99"), "junk", rec("gdp"), rec(value="-5")]
    items = (
        on_page([rec()], page=1)
        + on_page(foreign, page=2, zone="DT01")
        + on_page([rec("import_export", "-1")], page=3)
    )
    _, result = validate(items, catalog, rules)
    # one row for page 2, whatever is wrong inside it; record 6 (page 3) fails on its own
    assert rows(result) == [
        (0, "page:2", "page_zone_mismatch", "error"),
        (6, "import_export", "value_below_min", "error"),
    ]
    page_row = result.quarantine[result.quarantine["rule"] == "page_zone_mismatch"].iloc[0]
    message = page_row["message"]
    assert message.startswith("[TY01 2026-10 r1 page:2, 4 records] ")
    assert "page 2 is of zone DT01, not TY01" in message
    assert page_row["raw"] == "[" + ",".join(canonical_json(r) for r in foreign) + "]"
    # every record of the page counts as errored
    assert result.errored_records == 4 + 1
    assert result.good["record_no"].tolist() == [1]


def test_two_foreign_pages_give_two_rows(catalog: Catalog, rules: RuleSet) -> None:
    items = (
        on_page([rec()], page=1, zone="DT01")
        + on_page([rec("tax_revenue")], page=2)
        + on_page([rec("import_export"), rec("profit_total", "-3")], page=3, zone="CZ01")
    )
    _, result = validate(items, catalog, rules)
    assert rows(result) == [
        (0, "page:1", "page_zone_mismatch", "error"),
        (0, "page:3", "page_zone_mismatch", "error"),
    ]
    assert result.errored_records == 3
    assert result.good["record_no"].tolist() == [2]


def test_a_batch_of_foreign_pages_only(catalog: Catalog, rules: RuleSet) -> None:
    _, result = validate(on_page([rec(), rec("tax_revenue")], zone="DT01"), catalog, rules)
    assert rows(result) == [(0, "page:1", "page_zone_mismatch", "error")]
    assert result.good.empty
    assert result.errored_records == 2


# --- severity overrides ------------------------------------------------------------------------


def test_warning_override_loads_the_record_and_quarantines_it_as_warning(
    catalog: Catalog,
) -> None:
    rules = load_rules({"value_below_min": "warning"})
    assert rules["value_below_min"].severity == "warning"
    assert rules["value_above_max"].severity == "error"
    _, result = validate(on_page([rec(value="-5"), rec("tax_revenue")]), catalog, rules)
    assert rows(result) == [(1, "revenue", "value_below_min", "warning")]
    assert result.good["record_no"].tolist() == [1, 2]
    assert result.good["value"].tolist()[0] == -5.0
    assert (result.errored_records, result.warned_records) == (0, 1)


def test_error_wins_over_warning_on_the_same_record(catalog: Catalog) -> None:
    rules = load_rules({"status_invalid": "warning"})
    records = [rec(value="abc", status="X"), rec(status="X")]
    _, result = validate(on_page(records), catalog, rules)
    assert rows(result) == [
        (1, "revenue", "status_invalid", "warning"),
        (1, "revenue", "value_unparsable", "error"),
        (2, "revenue", "status_invalid", "warning"),
    ]
    assert result.good["record_no"].tolist() == [2]
    assert (result.errored_records, result.warned_records) == (1, 1)


def test_page_rule_as_warning_loads_the_page_and_counts_its_records_warned(
    catalog: Catalog,
) -> None:
    rules = load_rules({"page_zone_mismatch": "warning"})
    items = on_page([rec()], page=1) + on_page(
        [rec("tax_revenue"), rec("import_export")], 2, "DT01"
    )
    _, result = validate(items, catalog, rules)
    assert rows(result) == [(0, "page:2", "page_zone_mismatch", "warning")]
    assert result.good["record_no"].tolist() == [1, 2, 3]
    assert result.errored_records == 0
    # the two records of page 2 were loaded with a warning
    assert result.warned_records == 2


# --- duplicate_conflict through check_release --------------------------------------------------


def spool_release(tmp_path: Path, pages: list[tuple[str, list[Any]]]) -> FetchedRelease:
    ref = ReleaseRef(
        "TY01", "zone", "2026-10", "M", 1, datetime(2026, 11, 16, 3, 30, tzinfo=UTC), 12
    )
    spool = tmp_path / "staging" / "spool.jsonl"
    with RawSpool(spool) as sink:
        for n, (zone, records) in enumerate(pages, start=1):
            sink.write(Page(n, zone, "zone", "2026-10", 1, records, 1000))
    return FetchedRelease(ref, spool, sink.pages, sink.records, sink.sha256)


def assert_counts_balance(v: ValidatedRelease) -> None:
    assert v.records_received == v.records_loaded + v.records_quarantined


def test_duplicate_conflict_quarantines_every_copy(
    tmp_path: Path, catalog: Catalog, rules: RuleSet
) -> None:
    tax_a = rec("tax_revenue", "310.5")
    tax_b = rec("tax_revenue", "315.0")
    fetched = spool_release(
        tmp_path,
        [
            ("TY01", [rec(), tax_a]),
            ("TY01", [rec("import_export", "88"), tax_b]),
        ],
    )
    assert conflicting_keys(fetched.spool, "zone", "TY01") == {"tax_revenue"}
    v = check_release(fetched, catalog, rules.at_levels("page", "record"), "load-1")
    assert (v.records_received, v.records_loaded, v.records_quarantined, v.records_warned) == (
        4,
        2,
        2,
        0,
    )
    assert_counts_balance(v)
    assert v.rules_broken == {"duplicate_conflict": 2}
    q = pd.read_parquet(v.quarantine)
    assert sorted(zip(q["record_no"], q["record_key"], q["rule"], q["severity"], strict=True)) == [
        (2, "tax_revenue", "duplicate_conflict", "error"),
        (4, "tax_revenue", "duplicate_conflict", "error"),
    ]
    assert sorted(q["raw"]) == sorted([canonical_json(tax_a), canonical_json(tax_b)])
    assert all(
        "tax_revenue appears more than once in the release with different content" in m
        for m in q["message"]
    )
    assert all(m.startswith("[TY01 2026-10 r1 #") for m in q["message"])
    obs = pd.read_parquet(v.obs)
    assert sorted(obs["indicator_code"]) == ["import_export", "revenue"]


def test_verbatim_repeat_on_another_page_is_one_record(
    tmp_path: Path, catalog: Catalog, rules: RuleSet
) -> None:
    revenue = rec(value="1,234.5", status="A")
    # the same record, keys in another order: word for word the same content
    again = {"status": "A", "unit": "万元", "value": "1,234.5", "indicator": "revenue"}
    fetched = spool_release(
        tmp_path,
        [("TY01", [revenue, rec("tax_revenue", "7")]), ("TY01", [again, rec("import_export")])],
    )
    assert conflicting_keys(fetched.spool, "zone", "TY01") == set()
    v = check_release(fetched, catalog, rules.at_levels("page", "record"), "load-2")
    assert (v.records_received, v.records_loaded, v.records_quarantined) == (3, 3, 0)
    assert_counts_balance(v)
    assert v.rules_broken == {}
    assert pd.read_parquet(v.quarantine).empty
    obs = pd.read_parquet(v.obs)
    assert obs["indicator_code"].tolist() == ["revenue", "tax_revenue", "import_export"]
    assert obs["value"].tolist()[0] == 1234.5
    assert set(obs["zone_code"]) == {"TY01"}
    assert set(obs["period"]) == {"2026-10"}


def test_repeat_and_conflict_together(tmp_path: Path, catalog: Catalog, rules: RuleSet) -> None:
    first = rec("tax_revenue", "7")
    fetched = spool_release(
        tmp_path,
        [("TY01", [rec(), first]), ("TY01", [dict(first)]), ("TY01", [rec("tax_revenue", "8")])],
    )
    v = check_release(fetched, catalog, rules.at_levels("page", "record"), "load-3")
    # revenue, tax 7 (once), tax 8: both distinct tax copies are held out
    assert (v.records_received, v.records_loaded, v.records_quarantined) == (3, 1, 2)
    assert_counts_balance(v)
    assert v.rules_broken == {"duplicate_conflict": 2}


def test_check_release_counts_balance_with_page_and_record_errors(
    tmp_path: Path, catalog: Catalog, rules: RuleSet
) -> None:
    fetched = spool_release(
        tmp_path,
        [
            ("TY01", [rec(), rec("gdp")]),
            ("DT01", [rec("tax_revenue"), rec("import_export")]),
            ("TY01", [rec("profit_total", "-12")]),  # profit may be negative
        ],
    )
    v = check_release(fetched, catalog, rules.at_levels("page", "record"), "load-4")
    assert (v.records_received, v.records_loaded, v.records_quarantined) == (5, 2, 3)
    assert_counts_balance(v)
    assert v.rules_broken == {"indicator_unknown": 1, "page_zone_mismatch": 1}
    q = pd.read_parquet(v.quarantine)
    assert sorted(q["record_key"]) == ["gdp", "page:2"]


def test_check_release_with_a_warning_override(tmp_path: Path, catalog: Catalog) -> None:
    rules = load_rules({"value_below_min": "warning"})
    fetched = spool_release(tmp_path, [("TY01", [rec(value="-5"), rec("tax_revenue", "x")])])
    v = check_release(fetched, catalog, rules.at_levels("page", "record"), "load-5")
    assert (v.records_received, v.records_loaded, v.records_quarantined, v.records_warned) == (
        2,
        1,
        1,
        1,
    )
    assert_counts_balance(v)
    q = pd.read_parquet(v.quarantine)
    assert sorted(zip(q["record_key"], q["rule"], q["severity"], strict=True)) == [
        ("revenue", "value_below_min", "warning"),
        ("tax_revenue", "value_unparsable", "error"),
    ]
    obs = pd.read_parquet(v.obs)
    assert obs[["indicator_code", "value"]].values.tolist() == [["revenue", -5.0]]


# --- the registry --------------------------------------------------------------------------


def test_every_declared_rule_has_a_check_and_every_check_is_declared(rules: RuleSet) -> None:
    record_level = {r for r, rule in rules.rules.items() if rule.level in ("page", "record")}
    assert record_level == set(CHECKS)
    assert set(rules.rules) - record_level == set(RELEASE_CHECKS)


def test_shipped_rules_by_level_and_severity(rules: RuleSet) -> None:
    assert [r.id for r in rules.for_dataset("zone", "page")] == ["page_zone_mismatch"]
    assert len(rules.for_dataset("zone", "record")) == 12
    # every record rule of the zone dataset keeps data out
    assert all(r.severity == "error" for r in rules.for_dataset("zone", "record"))
    assert sorted(r.id for r in rules.rules.values() if r.severity == "warning") == [
        "above_scale_invalid",
        "enterprise_coverage_low",
        "mandatory_missing",
        "quarter_month_mismatch",
        "yoy_out_of_range",
    ]
    assert {r.id for r in rules.for_dataset("enterprise", "cross-dataset")} == {
        "enterprise_sum_exceeds_zone",
        "enterprise_coverage_low",
    }
    assert all(r.message_zh and r.message_en for r in rules.rules.values())
    # what an operator may accept: figures a zone can explain, never a record without a number
    assert not rules["value_unparsable"].acceptable
    assert not rules["duplicate_conflict"].acceptable
    assert rules["value_below_min"].acceptable
    assert rules["ytd_decreased"].acceptable


def test_a_declared_rule_without_a_check_is_a_registry_mismatch() -> None:
    doc = {
        "made_up": {
            "severity": "error",
            "level": "record",
            "datasets": ["zone"],
            "message_zh": "编造",
            "message_en": "made up",
        }
    }
    with pytest.raises(RegistryMismatch, match="made_up"):
        Validator(parse_rules(doc), "zone")


GOOD_DECL = {
    "severity": "error",
    "level": "record",
    "datasets": ["zone"],
    "message_zh": "指标 {indicator} 有误",
    "message_en": "{indicator} is wrong",
}


@pytest.mark.parametrize(
    ("decl", "fragment"),
    [
        pytest.param({**GOOD_DECL, "severity": "fatal"}, "severity 'fatal'", id="bad-severity"),
        pytest.param({**GOOD_DECL, "severity": None}, "severity None", id="no-severity"),
        pytest.param({**GOOD_DECL, "level": "field"}, "level 'field' is unknown", id="bad-level"),
        pytest.param({k: v for k, v in GOOD_DECL.items() if k != "level"}, "level", id="no-level"),
        pytest.param(
            {k: v for k, v in GOOD_DECL.items() if k != "message_zh"},
            "message_zh is missing",
            id="no-message-zh",
        ),
        pytest.param({**GOOD_DECL, "message_en": ""}, "message_en is missing", id="empty-en"),
        pytest.param({**GOOD_DECL, "message_en": 5}, "message_en is missing", id="en-not-text"),
        pytest.param("error", "expected a table", id="not-a-table"),
    ],
)
def test_parse_rules_rejects_a_bad_declaration(decl: Any, fragment: str) -> None:
    with pytest.raises(RuleError) as exc:
        parse_rules({"value_below_min": GOOD_DECL, "my_rule": decl})
    assert str(exc.value).startswith("rule my_rule: ")
    assert fragment in str(exc.value)


def test_parse_rules_rejects_an_override_of_an_unknown_rule() -> None:
    with pytest.raises(RuleError, match="severity override for unknown rule value_too_big"):
        parse_rules({"value_below_min": GOOD_DECL}, {"value_too_big": "warning"})
    with pytest.raises(RuleError, match="severity override for unknown rule nope"):
        load_rules({"nope": "warning"})


def test_parse_rules_rejects_an_override_to_a_bad_severity() -> None:
    with pytest.raises(RuleError, match=r"rule value_below_min: severity 'info'"):
        load_rules({"value_below_min": "info"})


def test_parse_rules_builds_rules_in_order() -> None:
    rules = parse_rules(
        {
            "b": GOOD_DECL,
            "a": {**GOOD_DECL, "severity": "warning", "datasets": ["zone", "enterprise"]},
        },
        {"b": "warning"},
    )
    assert list(rules.rules) == ["b", "a"]
    assert rules["b"].severity == "warning"
    assert rules["a"].datasets == ("zone", "enterprise")
    assert [r.id for r in rules.for_dataset("enterprise")] == ["a"]
    assert rules["a"].message({"indicator": "revenue"}) == "指标 revenue 有误 | revenue is wrong"
    # an unknown placeholder shows as "?" rather than failing the run
    assert rules["a"].message({}) == "指标 ? 有误 | ? is wrong"
