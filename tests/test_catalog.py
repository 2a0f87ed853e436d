"""The zone registry and indicator catalog shipped in the package, and the parser behind them."""

from __future__ import annotations

import re
from fractions import Fraction
from pathlib import Path

import pytest

from zonestats.catalog import (
    Catalog,
    CatalogError,
    Indicator,
    load_catalog,
    parse_indicators,
    parse_zones,
)

ZONE_CODES = [
    "TY01",
    "DT01",
    "YQ01",
    "CZ01",
    "JC01",
    "SZ01",
    "JZ01",
    "YC01",
    "XZ01",
    "LF01",
    "LL01",
]
FORM_ZONES = {"YQ01", "SZ01", "XZ01"}

ZONE_INDICATORS = {
    "M": [
        "revenue",
        "industrial_output",
        "industrial_va_growth",
        "fixed_asset_investment",
        "tax_revenue",
        "profit_total",
        "foreign_capital_used",
        "import_export",
        "energy_consumption",
        "electricity_consumption",
        "green_electricity",
        "above_scale_enterprises",
    ],
    "Q": [
        "industrial_value_added",
        "rd_expenditure",
        "employees",
        "co2_emissions",
        "leading_industry_revenue",
    ],
    "A": [
        "planned_area",
        "developed_area",
        "industrial_land_area",
        "high_tech_enterprises",
        "specialized_smes",
        "rd_platforms",
        "cod_emissions",
    ],
}
ENTERPRISE_INDICATORS = [
    "revenue",
    "industrial_output",
    "tax_revenue",
    "rd_expenditure",
    "energy_consumption",
    "electricity_consumption",
    "employees",
    "land_area",
]

HEADER = "dataset,code,name_zh,name_en,unit,frequency,basis,min,max,mandatory,integer,alt_units"


@pytest.fixture(scope="module")
def catalog() -> Catalog:
    return load_catalog()


def row(**changes: str) -> dict[str, str]:
    """One valid indicators.csv row, with some fields changed."""
    base = {
        "dataset": "zone",
        "code": "revenue",
        "name_zh": "营业收入",
        "name_en": "Operating revenue",
        "unit": "万元",
        "frequency": "M",
        "basis": "ytd",
        "min": "0",
        "max": "",
        "mandatory": "Y",
        "integer": "N",
        "alt_units": "元=0.0001;千元=0.1;亿元=10000",
    }
    return {**base, **changes}


# --- the shipped catalog -------------------------------------------------------------------


def test_shipped_registry_has_the_eleven_zones_in_file_order(catalog: Catalog) -> None:
    assert list(catalog.zones) == ZONE_CODES
    ty = catalog.zones["TY01"]
    assert ty.name_zh == "太原中北高新技术产业开发区"
    assert ty.city_admin_code == "140100"
    assert ty.adapter == "api-v1"
    assert {c for c, z in catalog.zones.items() if z.adapter == "form-xlsx"} == FORM_ZONES
    assert all(z.adapter in ("api-v1", "form-xlsx") for z in catalog.zones.values())
    assert all(re.fullmatch(r"[A-Z]{2}\d{2}", code) for code in catalog.zones)


def test_shipped_catalog_has_every_zone_and_enterprise_indicator(catalog: Catalog) -> None:
    zone = catalog.for_dataset("zone")
    enterprise = catalog.for_dataset("enterprise")
    assert len(zone) == 24
    assert len(enterprise) == 8
    assert len(catalog.indicators) == 32
    for freq, codes in ZONE_INDICATORS.items():
        assert [i.code for i in zone if i.frequency == freq] == codes
    assert [i.code for i in enterprise] == ENTERPRISE_INDICATORS
    assert all(i.frequency == "M" for i in enterprise)


def test_indicator_lookup_is_per_dataset(catalog: Catalog) -> None:
    zone_emp = catalog.indicator("zone", "employees")
    ent_emp = catalog.indicator("enterprise", "employees")
    assert zone_emp is not None
    assert ent_emp is not None
    assert (zone_emp.frequency, ent_emp.frequency) == ("Q", "M")
    # the zone indicator may arrive in 万人, the enterprise one only in 人
    assert set(zone_emp.unit_factors) == {"人", "万人"}
    assert set(ent_emp.unit_factors) == {"人"}
    assert catalog.indicator("enterprise", "industrial_va_growth") is None
    assert catalog.indicator("zone", "gdp") is None


def test_shipped_indicator_facts(catalog: Catalog) -> None:
    growth = catalog.indicator("zone", "industrial_va_growth")
    assert growth is not None
    assert (growth.unit, growth.basis, growth.min, growth.max) == ("%", "ytd_rate", -100.0, 300.0)
    assert growth.unit_factors == {"%": Fraction(1)}
    profit = catalog.indicator("zone", "profit_total")
    assert profit is not None
    assert (profit.min, profit.max, profit.mandatory) == (None, None, False)
    count = catalog.indicator("zone", "above_scale_enterprises")
    assert count is not None
    assert (count.integer, count.basis, count.unit) == (True, "stock", "个")


def test_mandatory_codes_per_frequency(catalog: Catalog) -> None:
    assert catalog.mandatory("zone", "M") == [
        "revenue",
        "industrial_output",
        "industrial_va_growth",
        "fixed_asset_investment",
        "tax_revenue",
        "energy_consumption",
        "electricity_consumption",
        "above_scale_enterprises",
    ]
    assert catalog.mandatory("zone", "A") == [
        "planned_area",
        "developed_area",
        "industrial_land_area",
        "high_tech_enterprises",
    ]
    assert catalog.mandatory("enterprise", "Q") == []


@pytest.mark.parametrize(
    ("dataset", "code", "unit", "factor"),
    [
        ("zone", "revenue", "万元", Fraction(1)),
        ("zone", "revenue", "元", Fraction(1, 10000)),
        ("zone", "revenue", "千元", Fraction(1, 10)),
        ("zone", "revenue", "亿元", Fraction(10000)),
        ("zone", "foreign_capital_used", "美元", Fraction(1, 10000)),
        ("zone", "energy_consumption", "万吨标准煤", Fraction(10000)),
        ("zone", "electricity_consumption", "千瓦时", Fraction(1, 10000)),
        ("zone", "employees", "万人", Fraction(10000)),
        ("zone", "planned_area", "公顷", Fraction(15)),
        ("zone", "planned_area", "平方公里", Fraction(1500)),
        ("zone", "planned_area", "平方米", Fraction(3, 2000)),
        ("enterprise", "land_area", "公顷", Fraction(15)),
    ],
)
def test_unit_factors_are_exact_fractions(
    catalog: Catalog, dataset: str, code: str, unit: str, factor: Fraction
) -> None:
    ind = catalog.indicator(dataset, code)
    assert ind is not None
    got = ind.unit_factors[unit]
    assert type(got) is Fraction
    assert got == factor


def test_every_indicator_accepts_its_canonical_unit_at_factor_one(catalog: Catalog) -> None:
    for ind in catalog.indicators.values():
        assert ind.unit_factors[ind.unit] == 1, ind.code
        assert all(f > 0 for f in ind.unit_factors.values()), ind.code


def test_units_frame_holds_every_accepted_unit_as_num_den(catalog: Catalog) -> None:
    units = catalog.units_frame
    assert list(units.columns) == ["dataset", "indicator", "unit", "factor_num", "factor_den"]
    assert str(units["factor_num"].dtype) == "int64"
    assert str(units["factor_den"].dtype) == "int64"
    # 70 (dataset, indicator, unit) triples for the zone dataset, 26 for enterprises
    assert len(units) == 96
    assert (units["dataset"] == "zone").sum() == 70
    assert not units.duplicated(["dataset", "indicator", "unit"]).any()
    yuan = units[(units["dataset"] == "zone") & (units["indicator"] == "revenue")]
    assert yuan.set_index("unit")[["factor_num", "factor_den"]].to_dict("index") == {
        "万元": {"factor_num": 1, "factor_den": 1},
        "元": {"factor_num": 1, "factor_den": 10000},
        "千元": {"factor_num": 1, "factor_den": 10},
        "亿元": {"factor_num": 10000, "factor_den": 1},
    }
    sqm = units[(units["indicator"] == "land_area") & (units["unit"] == "平方米")]
    assert sqm[["factor_num", "factor_den"]].values.tolist() == [[3, 2000]]


def test_indicators_frame_one_row_per_indicator(catalog: Catalog) -> None:
    frame = catalog.indicators_frame
    assert list(frame.columns) == [
        "dataset",
        "indicator",
        "canonical_unit",
        "ind_frequency",
        "basis",
        "min",
        "max",
        "integer",
        "mandatory",
    ]
    assert frame.shape == (32, 9)
    assert not frame.duplicated(["dataset", "indicator"]).any()
    assert str(frame["min"].dtype) == "float64"
    assert str(frame["max"].dtype) == "float64"
    growth = frame[(frame["dataset"] == "zone") & (frame["indicator"] == "industrial_va_growth")]
    assert growth[["min", "max"]].values.tolist() == [[-100.0, 300.0]]
    # no bound is NaN, not 0
    revenue = frame[(frame["dataset"] == "zone") & (frame["indicator"] == "revenue")].iloc[0]
    assert revenue["min"] == 0.0
    assert revenue["max"] != revenue["max"]  # NaN
    assert frame["integer"].sum() == 6  # above_scale, employees, 3 counts; enterprise employees


# --- parse errors ----------------------------------------------------------------------------


def test_parse_indicators_builds_an_indicator() -> None:
    parsed = parse_indicators([row(), row(dataset="enterprise", mandatory="N", integer="Y")])
    assert list(parsed) == [("zone", "revenue"), ("enterprise", "revenue")]
    ind = parsed[("zone", "revenue")]
    assert isinstance(ind, Indicator)
    assert (ind.min, ind.max, ind.mandatory, ind.integer) == (0.0, None, True, False)
    assert ind.unit_factors == {
        "万元": Fraction(1),
        "元": Fraction(1, 10000),
        "千元": Fraction(1, 10),
        "亿元": Fraction(10000),
    }
    ent = parsed[("enterprise", "revenue")]
    assert (ent.mandatory, ent.integer) == (False, True)


def test_parse_indicators_tolerates_spaces_and_empty_alt_units() -> None:
    parsed = parse_indicators(
        [row(alt_units=" 元 = 1/10000 ; ; 亿元=10000 "), row(code="x", alt_units="")]
    )
    assert parsed[("zone", "revenue")].unit_factors == {
        "万元": 1,
        "元": Fraction(1, 10000),
        "亿元": 10000,
    }
    assert parsed[("zone", "x")].unit_factors == {"万元": 1}


@pytest.mark.parametrize(
    ("bad", "fragment"),
    [
        pytest.param({"frequency": "W"}, "unknown frequency 'W'", id="frequency"),
        pytest.param({"frequency": "m"}, "unknown frequency 'm'", id="frequency-lowercase"),
        pytest.param({"dataset": "firm"}, "unknown dataset 'firm'", id="dataset"),
        pytest.param({"basis": "flow"}, "unknown basis 'flow'", id="basis"),
        pytest.param({"mandatory": "yes"}, "expected Y or N, got 'yes'", id="mandatory-flag"),
        pytest.param({"integer": ""}, "expected Y or N, got ''", id="integer-flag"),
        pytest.param(
            {"alt_units": "元"}, "alt_units entry '元' is not unit=factor", id="no-equals"
        ),
        pytest.param(
            {"alt_units": "=0.1"}, "alt_units entry '=0.1' is not unit=factor", id="no-unit"
        ),
        pytest.param({"alt_units": "元=abc"}, "factor 'abc' is not a number", id="factor-text"),
        pytest.param({"alt_units": "元=1/0"}, "factor '1/0' is not a number", id="factor-div0"),
        pytest.param({"alt_units": "元=0"}, "factor '0' must be positive", id="factor-zero"),
        pytest.param({"alt_units": "元=-0.0001"}, "must be positive", id="factor-negative"),
    ],
)
def test_parse_indicators_rejects_a_bad_row_naming_its_line(
    bad: dict[str, str], fragment: str
) -> None:
    rows = [row(code="revenue"), row(code="tax_revenue"), row(code="broken", **bad)]
    with pytest.raises(CatalogError) as exc:
        parse_indicators(rows)
    message = str(exc.value)
    # the third data row is line 4 of the file (line 1 is the header)
    assert message.startswith("indicators.csv line 4 (broken): ")
    assert fragment in message


def test_parse_indicators_rejects_a_duplicate_naming_the_second_line() -> None:
    rows = [row(), row(code="tax_revenue"), row(name_zh="营业收入（重复）")]
    with pytest.raises(CatalogError, match=r"^indicators\.csv line 4 \(revenue\): .*listed twice"):
        parse_indicators(rows)


def test_same_code_in_two_datasets_is_not_a_duplicate() -> None:
    parsed = parse_indicators([row(), row(dataset="enterprise")])
    assert len(parsed) == 2


def test_parse_indicators_rejects_a_bound_that_is_not_a_number_naming_the_line() -> None:
    # a typo in min/max must be a CatalogError naming the line like every other bad field
    rows = [row(), row(code="tax_revenue", min="O")]  # letter O, not zero
    with pytest.raises(CatalogError, match=r"^indicators\.csv line 3 \(tax_revenue\)"):
        parse_indicators(rows)


def test_parse_indicators_rejects_alt_units_redefining_the_canonical_unit() -> None:
    # 万元 is the canonical unit (factor 1 by definition); "万元=0.5" contradicts it and would
    # silently halve every value reported in the canonical unit
    with pytest.raises(CatalogError, match=r"^indicators\.csv line 2 \(revenue\)"):
        parse_indicators([row(alt_units="元=0.0001;万元=0.5")])


def test_parse_zones_rejects_a_zone_listed_twice() -> None:
    zone = {
        "zone_code": "TY01",
        "name_zh": "太原",
        "name_en": "Taiyuan",
        "city_zh": "太原市",
        "city_admin_code": "140100",
        "adapter": "api-v1",
    }
    assert list(parse_zones([zone, {**zone, "zone_code": " DT01 "}])) == ["TY01", "DT01"]
    with pytest.raises(CatalogError, match=r"zones\.csv: TY01 is listed twice"):
        parse_zones([zone, {**zone, "zone_code": "TY01 ", "name_zh": "又一个"}])


def test_load_catalog_from_a_directory(tmp_path: Path) -> None:
    (tmp_path / "zones.csv").write_text(
        "zone_code,name_zh,name_en,city_zh,city_admin_code,adapter\n"
        "TY01,太原中北高新技术产业开发区,Taiyuan,太原市,140100,api-v1\n",
        encoding="utf-8",
    )
    (tmp_path / "indicators.csv").write_text(
        HEADER + "\nzone,revenue,营业收入,Operating revenue,万元,M,ytd,0,,Y,N,元=0.0001\n",
        encoding="utf-8",
    )
    catalog = load_catalog(tmp_path)
    assert list(catalog.zones) == ["TY01"]
    assert list(catalog.indicators) == [("zone", "revenue")]
    assert catalog.units_frame[["unit", "factor_num", "factor_den"]].values.tolist() == [
        ["万元", 1, 1],
        ["元", 1, 10000],
    ]


def test_load_catalog_error_names_the_file_line(tmp_path: Path) -> None:
    (tmp_path / "zones.csv").write_text(
        "zone_code,name_zh,name_en,city_zh,city_admin_code,adapter\n", encoding="utf-8"
    )
    (tmp_path / "indicators.csv").write_text(
        HEADER
        + "\nzone,revenue,营业收入,Operating revenue,万元,M,ytd,0,,Y,N,"
        + "\nzone,employees,从业人员期末人数,Employees,人,Q,stock,0,,Y,X,万人=10000\n",
        encoding="utf-8",
    )
    with pytest.raises(
        CatalogError, match=r"^indicators\.csv line 3 \(employees\): expected Y or N"
    ):
        load_catalog(tmp_path)
