"""Normalize: numbers parsed as the zones send them, units converted exactly, nothing dropped."""

from __future__ import annotations

import json
import math
from typing import Any

import pandas as pd
import pytest

from tasks.normalize import canonical_json, parse_values, zone_records_frame
from zonestats.catalog import Catalog, load_catalog

NaN = float("nan")


@pytest.fixture(scope="module")
def catalog() -> Catalog:
    return load_catalog()


def frame_of(
    records: list[Any],
    catalog: Catalog,
    *,
    first_record_no: int = 1,
    frequency: str = "M",
    period: str = "2026-10",
    page: int = 1,
) -> pd.DataFrame:
    items = [(page, "TY01", r) for r in records]
    return zone_records_frame(
        items,
        first_record_no=first_record_no,
        zone_code="TY01",
        period=period,
        frequency=frequency,
        catalog=catalog,
    )


# --- parse_values ----------------------------------------------------------------------------

# (value as received, number or None, missing, unparsable)
VALUE_CASES = [
    pytest.param(1234.5, 1234.5, False, False, id="json-float"),
    pytest.param(12, 12.0, False, False, id="json-int"),
    pytest.param(0, 0.0, False, False, id="json-zero"),
    pytest.param(-3.25, -3.25, False, False, id="json-negative"),
    pytest.param("1,234,567.8", 1234567.8, False, False, id="thousands"),
    pytest.param(" 12 ", 12.0, False, False, id="spaces"),
    pytest.param("-7.5", -7.5, False, False, id="negative-text"),
    pytest.param("+5", 5.0, False, False, id="plus-sign"),
    pytest.param(".5", 0.5, False, False, id="leading-dot"),
    pytest.param("1e3", 1000.0, False, False, id="exponent"),
    pytest.param("１２，３４５", 12345.0, False, False, id="full-width-grouped"),
    pytest.param("１．５", 1.5, False, False, id="full-width-decimal"),
    pytest.param("\u300012\u3000", 12.0, False, False, id="ideographic-spaces"),
    pytest.param("", None, True, False, id="empty"),
    pytest.param("   ", None, True, False, id="blank"),
    pytest.param("-", None, True, False, id="dash"),
    pytest.param("--", None, True, False, id="double-dash"),
    pytest.param("—", None, True, False, id="em-dash"),
    pytest.param("－", None, True, False, id="full-width-dash"),
    pytest.param(None, None, True, False, id="null"),
    pytest.param(True, None, False, True, id="true"),
    pytest.param(False, None, False, True, id="false"),
    pytest.param("12,3a", None, False, True, id="letters"),
    pytest.param("1,23", None, False, True, id="bad-grouping-short"),
    pytest.param("1,2345", None, False, True, id="bad-grouping-long"),
    pytest.param(",123", None, False, True, id="leading-comma"),
    pytest.param("1 000", None, False, True, id="space-grouping"),
    pytest.param("1_000", None, False, True, id="underscore-grouping"),
    pytest.param("0x10", None, False, True, id="hex"),
    pytest.param("nan", None, False, True, id="nan-text"),
    pytest.param("NaN", None, False, True, id="NaN-text"),
    pytest.param("inf", None, False, True, id="inf-text"),
    pytest.param("-Infinity", None, False, True, id="infinity-text"),
    pytest.param(math.inf, None, False, True, id="json-infinity"),
    pytest.param("1e999", None, False, True, id="overflow"),
    pytest.param("12%", None, False, True, id="percent-sign"),
    pytest.param("万", None, False, True, id="chinese"),
    pytest.param([1], None, False, True, id="list"),
]


@pytest.mark.parametrize(("value", "number", "missing", "unparsable"), VALUE_CASES)
def test_parse_values(value: Any, number: float | None, missing: bool, unparsable: bool) -> None:
    # surrounded by ordinary values so that the vectorized path sees a mixed object column
    values = pd.Series(["1", value, 2.5], dtype=object)
    out = parse_values(values)
    assert list(out.columns) == ["number", "missing", "unparsable", "mantissa", "scale"]
    got = out.iloc[1]
    assert bool(got["missing"]) is missing
    assert bool(got["unparsable"]) is unparsable
    if number is None:
        assert math.isnan(got["number"])
    else:
        assert got["number"] == number
    # the neighbours are untouched
    assert out["number"].iloc[0] == 1.0
    assert out["number"].iloc[2] == 2.5
    assert not out["missing"].iloc[[0, 2]].any()
    assert not out["unparsable"].iloc[[0, 2]].any()


def test_parse_values_keeps_the_index_and_dtypes() -> None:
    values = pd.Series(["1,000", None, "x", 7], index=[40, 41, 42, 43], dtype=object)
    out = parse_values(values)
    assert list(out.index) == [40, 41, 42, 43]
    assert str(out["number"].dtype) == "float64"
    assert out["missing"].dtype == bool
    assert out["unparsable"].dtype == bool
    assert out["number"].tolist()[::3] == [1000.0, 7.0]
    assert out["missing"].tolist() == [False, True, False, False]
    assert out["unparsable"].tolist() == [False, False, True, False]


def test_parse_values_all_numbers_column() -> None:
    out = parse_values(pd.Series([1.5, 2.0, NaN]))
    assert out["number"].tolist()[:2] == [1.5, 2.0]
    assert out["missing"].tolist() == [False, False, True]
    assert not out["unparsable"].any()


def test_missing_and_unparsable_never_both() -> None:
    values = pd.Series([c.values[0] for c in VALUE_CASES], dtype=object)
    out = parse_values(values)
    assert not (out["missing"] & out["unparsable"]).any()
    # a number is there exactly when the value is neither missing nor unparsable
    assert (out["number"].notna() == ~(out["missing"] | out["unparsable"])).all()


# --- canonical_json --------------------------------------------------------------------------


def test_canonical_json_sorts_keys_and_keeps_chinese() -> None:
    a = canonical_json({"unit": "万元", "indicator": "revenue", "value": "1,234"})
    b = canonical_json({"value": "1,234", "indicator": "revenue", "unit": "万元"})
    assert a == b == '{"indicator":"revenue","unit":"万元","value":"1,234"}'
    assert canonical_json("junk") == '"junk"'
    assert canonical_json(None) == "null"


# --- zone_records_frame ----------------------------------------------------------------------


CONVERSIONS = [
    pytest.param("revenue", 12345, "元", 1.2345, id="yuan-to-wan-yuan"),
    pytest.param("revenue", "12,345", "元", 1.2345, id="yuan-text-to-wan-yuan"),
    pytest.param("revenue", "1234.5", "千元", 123.45, id="qian-yuan"),
    pytest.param("revenue", "1.5", "亿元", 15000.0, id="yi-yuan"),
    pytest.param("revenue", "1,234,567.8", "万元", 1234567.8, id="canonical"),
    pytest.param("revenue", 3, "元", 0.0003, id="three-yuan"),
    pytest.param("foreign_capital_used", 2500, "美元", 0.25, id="us-dollar"),
    pytest.param("electricity_consumption", 123456, "千瓦时", 12.3456, id="kwh"),
    pytest.param("energy_consumption", "0.12", "万吨标准煤", 1200.0, id="wan-tce"),
    pytest.param("employees", 1.5, "万人", 15000.0, id="wan-ren"),
    pytest.param("planned_area", 2, "平方公里", 3000.0, id="sq-km-to-mu"),
    pytest.param("planned_area", "120.5", "公顷", 1807.5, id="hectare-to-mu"),
    pytest.param("planned_area", 2000, "平方米", 3.0, id="sq-m-to-mu"),
]


@pytest.fixture(scope="module")
def converted(catalog: Catalog) -> pd.DataFrame:
    """All conversion cases in one batch (as a release would send them), record n = case n."""
    records = [
        {"indicator": i, "value": v, "unit": u} for i, v, u, _ in (c.values for c in CONVERSIONS)
    ]
    return frame_of(records, catalog, first_record_no=1).set_index("record_no")


NUMBERED_CONVERSIONS = [
    pytest.param(n, *c.values, id=c.id) for n, c in enumerate(CONVERSIONS, start=1)
]


@pytest.mark.parametrize(
    ("record_no", "indicator", "value", "unit", "expected"), NUMBERED_CONVERSIONS
)
def test_conversion_to_the_canonical_unit_is_exact(
    record_no: int, indicator: str, value: Any, unit: str, expected: float, converted: pd.DataFrame
) -> None:
    row = converted.loc[record_no]
    assert row["indicator"] == indicator
    assert row["value"] == expected  # equal as floats, not approximately
    assert row["unit_ok"]
    assert row["unit"] == unit  # the unit as received is kept


def test_people_given_in_wan_ren_convert_to_whole_people(catalog: Catalog) -> None:
    # 12.3456 万人 is exactly 123456 人; the product of floats 12.3456 * 10000 is 123455.99999999999
    values = ["1.0003", "12.3456", "0.0029"]
    frame = frame_of(
        [{"indicator": "employees", "value": v, "unit": "万人"} for v in values],
        catalog,
        frequency="Q",
        period="2026-Q3",
    )
    assert frame["value"].tolist() == [10003.0, 123456.0, 29.0]


def test_frame_carries_the_catalog_facts(catalog: Catalog) -> None:
    frame = frame_of(
        [
            {"indicator": "industrial_va_growth", "value": "5.2", "unit": "%", "status": "P"},
            {"indicator": "above_scale_enterprises", "value": 120, "unit": "个"},
        ],
        catalog,
    )
    growth, count = frame.iloc[0], frame.iloc[1]
    assert (growth["canonical_unit"], growth["ind_frequency"], growth["basis"]) == (
        "%",
        "M",
        "ytd_rate",
    )
    assert (growth["min"], growth["max"]) == (-100.0, 300.0)
    assert growth["allowed_units"] == "%"
    assert bool(count["integer"]) is True
    assert bool(growth["integer"]) is False
    assert frame["known"].all()
    assert (frame["zone_code"] == "TY01").all()
    assert (frame["period"] == "2026-10").all()
    assert (frame["release_frequency"] == "M").all()
    assert frame["status"].tolist() == ["P", "A"]


def test_status_absent_or_null_is_A_and_is_stripped(catalog: Catalog) -> None:
    records = [
        {"indicator": "revenue", "value": 1, "unit": "万元"},
        {"indicator": "revenue", "value": 1, "unit": "万元", "status": None},
        {"indicator": "revenue", "value": 1, "unit": "万元", "status": " E "},
        {"indicator": "revenue", "value": None, "unit": "万元", "status": "M"},
        {"indicator": "revenue", "value": 1, "unit": "万元", "status": "x"},
    ]
    assert frame_of(records, catalog)["status"].tolist() == ["A", "A", "E", "M", "x"]


def test_unknown_indicator_and_bad_or_missing_unit(catalog: Catalog) -> None:
    frame = frame_of(
        [
            {"indicator": "gdp", "value": 1, "unit": "万元"},
            {"indicator": "revenue", "value": 1, "unit": "美元"},
            {"indicator": "revenue", "value": 1},
            {"indicator": "revenue", "value": 1, "unit": 10000},
            {"indicator": " revenue ", "value": 1, "unit": " 万元 "},
        ],
        catalog,
    )
    assert frame["known"].tolist() == [False, True, True, True, True]
    assert frame["unit_ok"].tolist() == [False, False, False, False, True]
    assert frame["value"].iloc[:4].isna().all()  # no canonical value without a known factor
    assert frame["value"].iloc[4] == 1.0
    assert frame["record_key"].tolist() == ["gdp", "revenue", "revenue", "revenue", "revenue"]
    assert frame["allowed_units"].iloc[1] == "万元、元、千元、亿元"


def test_non_objects_are_malformed_with_a_record_number_key(catalog: Catalog) -> None:
    records: list[Any] = [
        {"indicator": "revenue", "value": "1", "unit": "万元"},
        "revenue,1,万元",
        None,
        [1, 2],
        {"value": 3, "unit": "万元"},
        {"indicator": 5, "value": 3, "unit": "万元"},
        {"indicator": "tax_revenue", "value": "2", "unit": "万元"},
    ]
    frame = frame_of(records, catalog, first_record_no=101)
    assert len(frame) == len(records)  # nothing dropped
    assert frame["record_no"].tolist() == list(range(101, 108))
    assert frame["malformed"].tolist() == [False, True, True, True, True, True, False]
    assert frame["record_key"].tolist() == [
        "revenue",
        "record:102",
        "record:103",
        "record:104",
        "record:105",
        "record:106",
        "tax_revenue",
    ]
    assert frame["raw"].tolist() == [canonical_json(r) for r in records]
    assert json.loads(frame["raw"].iloc[3]) == [1, 2]


def test_only_non_objects(catalog: Catalog) -> None:
    frame = frame_of(["a", 1], catalog, first_record_no=7)
    assert frame["record_key"].tolist() == ["record:7", "record:8"]
    assert frame["malformed"].all()
    assert frame["value_missing"].all()


def test_record_numbers_and_pages_follow_the_items(catalog: Catalog) -> None:
    items = [
        (3, "TY01", {"indicator": "revenue", "value": 1, "unit": "万元"}),
        (3, "TY01", {"indicator": "tax_revenue", "value": 2, "unit": "万元"}),
        (4, "DT01", {"indicator": "import_export", "value": 3, "unit": "万元"}),
    ]
    frame = zone_records_frame(
        items,
        first_record_no=501,
        zone_code="TY01",
        period="2026-10",
        frequency="M",
        catalog=catalog,
    )
    assert frame["record_no"].tolist() == [501, 502, 503]
    assert frame["page"].tolist() == [3, 3, 4]
    assert frame["page_zone"].tolist() == ["TY01", "TY01", "DT01"]
    assert frame["indicator"].tolist() == ["revenue", "tax_revenue", "import_export"]
    assert frame["number"].tolist() == [1.0, 2.0, 3.0]
    assert list(frame.index) == [0, 1, 2]


def test_value_text_and_flags(catalog: Catalog) -> None:
    frame = frame_of(
        [
            {"indicator": "revenue", "value": "1,234.5", "unit": "万元"},
            {"indicator": "revenue", "value": None, "unit": "万元", "status": "M"},
            {"indicator": "revenue", "value": "abc", "unit": "万元"},
            {"indicator": "revenue", "value": "-", "unit": "万元", "status": "M"},
        ],
        catalog,
    )
    assert frame["value_text"].iloc[0] == "1,234.5"
    assert pd.isna(frame["value_text"].iloc[1])
    assert frame["value_missing"].tolist() == [False, True, False, True]
    assert frame["value_unparsable"].tolist() == [False, False, True, False]
    assert frame["number"].iloc[0] == 1234.5
    assert frame["value"].iloc[1:].isna().all()


def test_empty_batch(catalog: Catalog) -> None:
    frame = frame_of([], catalog)
    assert frame.empty
    for col in ("record_no", "record_key", "malformed", "known", "unit_ok", "value", "raw"):
        assert col in frame.columns


def test_a_figure_that_overflows_in_the_canonical_unit_is_unparsable(catalog: Catalog) -> None:
    # 1e308 亿元 is 1e312 万元, past the largest double: it must not load as infinity (revenue
    # has no max to hold it out)
    frame = frame_of(
        [
            {"indicator": "revenue", "value": 1e308, "unit": "亿元"},
            {"indicator": "revenue", "value": "1e308", "unit": "亿元"},
            {"indicator": "revenue", "value": 1e308, "unit": "万元"},
        ],
        catalog,
    )
    assert frame["value_unparsable"].tolist() == [True, True, False]
    assert frame["value"].iloc[:2].isna().all()
    assert frame["value"].iloc[2] == 1e308
