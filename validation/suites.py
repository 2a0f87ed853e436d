"""The Great Expectations suites of the current observation tables, built from the catalog.

The suites are built from the catalog (indicator codes, canonical units, bounds, integer flags), so
a new indicator in ``indicators.csv`` is checked without touching this file. Per-indicator rules
(unit, bounds, integrality) become a few derived columns on a copy of the frame, compared by
column-pair expectations: a handful of vectorized expectations instead of one per indicator.

A check is declared without Great Expectations (cheap to build and to test); ``gx_expectation``
turns one into GX's object, importing GX only then.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from zonestats.catalog import Catalog

if TYPE_CHECKING:
    pass
ZONE_TABLE = "obs_zone_current"
ENTERPRISE_TABLE = "obs_enterprise_current"
#: table -> catalog dataset; also the order in which the tables are validated
TABLE_DATASETS: dict[str, str] = {ZONE_TABLE: "zone", ENTERPRISE_TABLE: "enterprise"}
STATUSES = ("A", "P", "E", "M")
USCC_REGEX = r"^[0-9A-HJ-NPQRTUWXY]{18}$"
# where our readable id travels inside GX (an expectation's meta survives into its result)
ID_META = "zonestats_id"

# Derived columns added to a copy of the frame: the catalog's view of each row's indicator.
CATALOG_UNIT = "catalog_unit"
CATALOG_MIN = "catalog_min"
CATALOG_MAX = "catalog_max"
# the fractional part of a value whose indicator counts things (else null, which GX skips)
INTEGER_REMAINDER = "integer_remainder"


@dataclass(frozen=True)
class Check:
    """One expectation, declared without Great Expectations so that suites build cheaply."""

    name: str  # the short id; the table is prefixed to it
    type: str  # GX snake-case expectation type
    kwargs: dict[str, Any]
    # (column, operator, value): only rows meeting it are checked (GX row_condition)
    where: tuple[str, str, Any] | None = None
    notes: str = ""


def zone_checks(catalog: Catalog) -> list[Check]:
    """The expectations of obs_zone_current, from the zone catalog."""
    inds = catalog.for_dataset("zone")
    key = ["zone_code", "indicator_code", "period"]
    checks = [
        Check(
            "key_unique",
            "expect_compound_columns_to_be_unique",
            {"column_list": key},
            notes="one current figure per zone, indicator and period",
        ),
        Check(
            "zone_known",
            "expect_column_values_to_be_in_set",
            {"column": "zone_code", "value_set": sorted(catalog.zones)},
            notes="a zone of zones.csv",
        ),
        Check(
            "indicator_known",
            "expect_column_values_to_be_in_set",
            {"column": "indicator_code", "value_set": [i.code for i in inds]},
            notes="an indicator of the zone catalog",
        ),
        Check(
            "status_valid",
            "expect_column_values_to_be_in_set",
            {"column": "status", "value_set": list(STATUSES)},
            notes="A, P, E or M",
        ),
    ]
    for column in ("zone_code", "indicator_code", "period", "frequency", "unit", "status"):
        checks.append(
            Check(
                f"{column}_not_null",
                "expect_column_values_to_not_be_null",
                {"column": column},
            )
        )
    checks += _catalog_checks(catalog, "zone")
    checks.append(
        Check(
            "value_present",
            "expect_column_values_to_not_be_null",
            {"column": "value"},
            where=("status", "!=", "M"),
            notes="a figure unless its status is M (not reported)",
        )
    )
    return checks


def enterprise_checks(catalog: Catalog) -> list[Check]:
    """The expectations of obs_enterprise_current, from the enterprise catalog."""
    inds = catalog.for_dataset("enterprise")
    checks = [
        Check(
            "key_unique",
            "expect_compound_columns_to_be_unique",
            {"column_list": ["zone_code", "uscc", "period", "indicator_code"]},
            notes="one current figure per enterprise, period and indicator",
        ),
        Check(
            "uscc_format",
            "expect_column_values_to_match_regex",
            {"column": "uscc", "regex": USCC_REGEX},
            notes="18 characters of 0-9A-HJ-NPQRTUWXY (GB 32100-2015)",
        ),
        Check(
            "indicator_known",
            "expect_column_values_to_be_in_set",
            {"column": "indicator_code", "value_set": [i.code for i in inds]},
            notes="an indicator of the enterprise catalog",
        ),
    ]
    # the regex skips nulls, so a missing credit code needs its own expectation
    for column in ("zone_code", "uscc", "period", "indicator_code", "unit", "value"):
        checks.append(
            Check(
                f"{column}_not_null",
                "expect_column_values_to_not_be_null",
                {"column": column},
            )
        )
    return checks + _catalog_checks(catalog, "enterprise")


def _catalog_checks(catalog: Catalog, dataset: str) -> list[Check]:
    """Unit, bounds and integrality against the derived catalog columns (see ``prepare_frame``)."""
    inds = catalog.for_dataset(dataset)
    # rows of an unknown indicator have no catalog columns: indicator_known reports them once
    pair = {"ignore_row_if": "either_value_is_missing"}
    checks = [
        Check(
            "unit_canonical",
            "expect_column_pair_values_to_be_equal",
            {"column_A": "unit", "column_B": CATALOG_UNIT, **pair},
            notes="values are stored in the catalog's canonical unit",
        )
    ]
    if any(i.min is not None for i in inds):
        checks.append(
            Check(
                "value_at_least_min",
                "expect_column_pair_values_a_to_be_greater_than_b",
                {"column_A": "value", "column_B": CATALOG_MIN, "or_equal": True, **pair},
                notes="value ≥ the indicator's min in the catalog",
            )
        )
    if any(i.max is not None for i in inds):
        checks.append(
            Check(
                "value_at_most_max",
                "expect_column_pair_values_a_to_be_greater_than_b",
                {"column_A": CATALOG_MAX, "column_B": "value", "or_equal": True, **pair},
                notes="value ≤ the indicator's max in the catalog",
            )
        )
    if any(i.integer for i in inds):
        checks.append(
            Check(
                "value_integer",
                "expect_column_values_to_be_in_set",
                {"column": INTEGER_REMAINDER, "value_set": [0.0]},
                notes="indicators that count (enterprises, people) have whole values",
            )
        )
    return checks


def checked_columns(table: str, catalog: Catalog) -> tuple[str, ...]:
    """The observation columns that a table's expectations read (what a reader must fetch)."""
    derived = {CATALOG_UNIT, CATALOG_MIN, CATALOG_MAX, INTEGER_REMAINDER}
    # indicator_code and value feed the derived columns, which the checks name instead
    names: dict[str, None] = {"indicator_code": None, "value": None}
    for check in CHECKS_BY_TABLE[table](catalog):
        kwargs = check.kwargs
        found = [kwargs.get("column"), kwargs.get("column_A"), kwargs.get("column_B")]
        found += list(kwargs.get("column_list") or [])
        if check.where is not None:
            found.append(check.where[0])
        names.update({n: None for n in found if isinstance(n, str) and n not in derived})
    return tuple(names)


def prepare_frame(frame: pd.DataFrame, catalog: Catalog, dataset: str) -> pd.DataFrame:
    """The frame GX validates: text as categoricals, plus each row's indicator as the catalog has it.

    Categoricals because every text column here repeats a few values (16 thousand credit codes
    over a million rows): GX's set, regex and uniqueness checks then work on small integer codes.
    The catalog columns are computed once per indicator and taken by code, not mapped per row.
    """
    out = frame.copy(deep=False)
    for name in out.columns:
        column = out[name]
        if name != "value" and (column.dtype == object or pd.api.types.is_string_dtype(column)):
            out[name] = column.astype("category")
    if "value" in out.columns and not pd.api.types.is_float_dtype(out["value"]):
        # a figure that is not a number counts as missing (value_not_null, value_present)
        out["value"] = pd.to_numeric(out["value"], errors="coerce").astype("float64")
    # a missing column must fail the expectations that name it, not crash the run here
    codes = out["indicator_code"] if "indicator_code" in out.columns else None
    if codes is None or not isinstance(codes.dtype, pd.CategoricalDtype):
        codes = pd.Series(pd.Categorical([None] * len(out)), index=out.index)
    categories = [str(c) for c in codes.cat.categories]
    # position -1 (a null or unknown code) takes the sentinel appended to each per-code array
    at = codes.cat.codes.to_numpy()
    by = catalog.lookup(dataset).by_indicator

    def numbers(field: str) -> np.ndarray:
        per_code = [by[field].get(c) for c in categories]
        values = [np.nan if v is None else float(v) for v in per_code] + [np.nan]
        return np.asarray(values, dtype="float64")[at]

    units = [by["canonical_unit"].get(c) for c in categories]
    unit = out["unit"] if "unit" in out.columns else None
    if unit is not None and isinstance(unit.dtype, pd.CategoricalDtype):
        # the two unit columns share their categories: GX compares them with ==, which pandas
        # allows between categoricals only when their categories are the same
        shared = pd.Index(
            list(dict.fromkeys([*map(str, unit.cat.categories), *filter(None, units)]))
        )
        out["unit"] = unit.cat.set_categories(shared)
        position = {u: i for i, u in enumerate(shared)}
        unit_codes = np.asarray([position.get(u, -1) if u else -1 for u in units] + [-1])[at]
        out[CATALOG_UNIT] = pd.Categorical.from_codes(unit_codes, categories=shared)
    else:
        out[CATALOG_UNIT] = np.asarray([*units, None], dtype=object)[at]
    out[CATALOG_MIN] = numbers("min")
    out[CATALOG_MAX] = numbers("max")
    counts = np.asarray([bool(by["integer"].get(c)) for c in categories] + [False])[at]
    if "value" in out.columns:
        value = out["value"].to_numpy(dtype="float64", na_value=np.nan)
    else:
        value = np.full(len(out), np.nan)
    out[INTEGER_REMAINDER] = np.where(counts, np.abs(value - np.round(value)), np.nan)
    return out


CHECKS_BY_TABLE = {ZONE_TABLE: zone_checks, ENTERPRISE_TABLE: enterprise_checks}


def gx_expectation(table: str, check: Check) -> Any:
    """The GX expectation object of a declared check, tagged with its readable id."""
    from great_expectations.expectations.registry import get_expectation_impl
    from great_expectations.expectations.row_conditions import Column

    kwargs: dict[str, Any] = dict(check.kwargs)
    if check.where is not None:
        column, op, value = check.where
        operators = {"==": Column.__eq__, "!=": Column.__ne__}
        kwargs["row_condition"] = operators[op](Column(column), value)
    expectation_id = f"{table}.{check.name}"
    meta = {ID_META: expectation_id}
    notes = f"{expectation_id}: {check.notes}" if check.notes else expectation_id
    return get_expectation_impl(check.type)(**kwargs, meta=meta, notes=notes)
