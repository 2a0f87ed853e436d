"""The Great Expectations data-quality checkpoint over the current observation tables.

The suites are built from the catalog (indicator codes, canonical units, bounds, integer flags), so
a new indicator in ``indicators.csv`` is checked without touching this file. Per-indicator rules
(unit, bounds, integrality) become a few derived columns on a copy of the frame, compared by
column-pair expectations: a handful of vectorized expectations instead of one per indicator.

A checkpoint is a ``CheckpointSession``: built once (GX's import, context and suites: the seconds
of fixed cost), it validates the rows chunk by chunk — every check is per row or per key, and a
chunk never splits a release, whose zone and period are part of every key — and adds the chunks
up into one validation result per table, the one the Data Docs show.

Great Expectations is imported inside the functions only: importing it takes seconds.
"""

from __future__ import annotations

import ast
import html
import json
import logging
import os
import re
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from zonestats.catalog import Catalog

if TYPE_CHECKING:
    from great_expectations.data_context import AbstractDataContext

ZONE_TABLE = "obs_zone_current"
ENTERPRISE_TABLE = "obs_enterprise_current"
#: table -> catalog dataset; also the order in which the tables are validated
TABLE_DATASETS: dict[str, str] = {ZONE_TABLE: "zone", ENTERPRISE_TABLE: "enterprise"}
STATUSES = ("A", "P", "E", "M")
USCC_REGEX = r"^[0-9A-HJ-NPQRTUWXY]{18}$"
SITE_NAME = "zonestats_dq"
OBSERVED_MAX_CHARS = 500
DETAILS_MAX_CHARS = 300
# how many unexpected values an ExpectationResult quotes; the Data Docs show GX's own sample
SAMPLE_VALUES = 5
# where our readable id travels inside GX (an expectation's meta survives into its result)
_ID_META = "zonestats_id"

# Derived columns added to a copy of the frame: the catalog's view of each row's indicator.
CATALOG_UNIT = "catalog_unit"
CATALOG_MIN = "catalog_min"
CATALOG_MAX = "catalog_max"
# the fractional part of a value whose indicator counts things (else null, which GX skips)
INTEGER_REMAINDER = "integer_remainder"


@dataclass(frozen=True)
class ExpectationResult:
    """The outcome of one expectation over one table."""

    table: str  # "obs_zone_current" | "obs_enterprise_current"
    expectation: str  # a readable id, e.g. "obs_zone_current.key_unique"
    expectation_type: str  # the GX type, e.g. "expect_compound_columns_to_be_unique"
    success: bool
    observed_value: str  # short text: "0 unexpected of 1234", or GX's observed_value as JSON
    details: str  # short: the column(s) and other arguments


@dataclass(frozen=True)
class DqOutcome:
    """The outcome of a checkpoint run: overall success, every expectation, the Data Docs."""

    success: bool
    results: list[ExpectationResult]
    docs_index: Path | None  # the Data Docs index.html written


@dataclass(frozen=True)
class _Check:
    """One expectation, declared without Great Expectations so that suites build cheaply."""

    name: str  # the short id; the table is prefixed to it
    type: str  # GX snake-case expectation type
    kwargs: dict[str, Any]
    # (column, operator, value): only rows meeting it are checked (GX row_condition)
    where: tuple[str, str, Any] | None = None
    notes: str = ""


def zone_checks(catalog: Catalog) -> list[_Check]:
    """The expectations of obs_zone_current, from the zone catalog."""
    inds = catalog.for_dataset("zone")
    key = ["zone_code", "indicator_code", "period"]
    checks = [
        _Check(
            "key_unique",
            "expect_compound_columns_to_be_unique",
            {"column_list": key},
            notes="one current figure per zone, indicator and period",
        ),
        _Check(
            "zone_known",
            "expect_column_values_to_be_in_set",
            {"column": "zone_code", "value_set": sorted(catalog.zones)},
            notes="a zone of zones.csv",
        ),
        _Check(
            "indicator_known",
            "expect_column_values_to_be_in_set",
            {"column": "indicator_code", "value_set": [i.code for i in inds]},
            notes="an indicator of the zone catalog",
        ),
        _Check(
            "status_valid",
            "expect_column_values_to_be_in_set",
            {"column": "status", "value_set": list(STATUSES)},
            notes="A, P, E or M",
        ),
    ]
    for column in ("zone_code", "indicator_code", "period", "frequency", "unit", "status"):
        checks.append(
            _Check(
                f"{column}_not_null",
                "expect_column_values_to_not_be_null",
                {"column": column},
            )
        )
    checks += _catalog_checks(catalog, "zone")
    checks.append(
        _Check(
            "value_present",
            "expect_column_values_to_not_be_null",
            {"column": "value"},
            where=("status", "!=", "M"),
            notes="a figure unless its status is M (not reported)",
        )
    )
    return checks


def enterprise_checks(catalog: Catalog) -> list[_Check]:
    """The expectations of obs_enterprise_current, from the enterprise catalog."""
    inds = catalog.for_dataset("enterprise")
    checks = [
        _Check(
            "key_unique",
            "expect_compound_columns_to_be_unique",
            {"column_list": ["zone_code", "uscc", "period", "indicator_code"]},
            notes="one current figure per enterprise, period and indicator",
        ),
        _Check(
            "uscc_format",
            "expect_column_values_to_match_regex",
            {"column": "uscc", "regex": USCC_REGEX},
            notes="18 characters of 0-9A-HJ-NPQRTUWXY (GB 32100-2015)",
        ),
        _Check(
            "indicator_known",
            "expect_column_values_to_be_in_set",
            {"column": "indicator_code", "value_set": [i.code for i in inds]},
            notes="an indicator of the enterprise catalog",
        ),
    ]
    # the regex skips nulls, so a missing credit code needs its own expectation
    for column in ("zone_code", "uscc", "period", "indicator_code", "unit", "value"):
        checks.append(
            _Check(
                f"{column}_not_null",
                "expect_column_values_to_not_be_null",
                {"column": column},
            )
        )
    return checks + _catalog_checks(catalog, "enterprise")


def _catalog_checks(catalog: Catalog, dataset: str) -> list[_Check]:
    """Unit, bounds and integrality against the derived catalog columns (see ``prepare_frame``)."""
    inds = catalog.for_dataset(dataset)
    # rows of an unknown indicator have no catalog columns: indicator_known reports them once
    pair = {"ignore_row_if": "either_value_is_missing"}
    checks = [
        _Check(
            "unit_canonical",
            "expect_column_pair_values_to_be_equal",
            {"column_A": "unit", "column_B": CATALOG_UNIT, **pair},
            notes="values are stored in the catalog's canonical unit",
        )
    ]
    if any(i.min is not None for i in inds):
        checks.append(
            _Check(
                "value_at_least_min",
                "expect_column_pair_values_a_to_be_greater_than_b",
                {"column_A": "value", "column_B": CATALOG_MIN, "or_equal": True, **pair},
                notes="value ≥ the indicator's min in the catalog",
            )
        )
    if any(i.max is not None for i in inds):
        checks.append(
            _Check(
                "value_at_most_max",
                "expect_column_pair_values_a_to_be_greater_than_b",
                {"column_A": CATALOG_MAX, "column_B": "value", "or_equal": True, **pair},
                notes="value ≤ the indicator's max in the catalog",
            )
        )
    if any(i.integer for i in inds):
        checks.append(
            _Check(
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


def prepare_gx() -> None:
    """Keep GX offline and quiet; call before importing great_expectations (idempotent)."""
    # GX's usage statistics would try the internet; an operator's explicit setting still wins
    os.environ.setdefault("GX_ANALYTICS_ENABLED", "False")
    gx_logger = logging.getLogger("great_expectations")
    # GX logs ~200 INFO lines while importing (its docs registry) and more per run; a level the
    # operator set is left alone
    if gx_logger.level == logging.NOTSET:
        gx_logger.setLevel(logging.WARNING)
    # its import pulls in the stdlib's deprecated sre_parse/sre_constants: nothing we can act on.
    # A process-wide filter narrowed to GX's modules, because catch_warnings is not thread-safe
    # and Prefect runs tasks in threads.
    warnings.filterwarnings("ignore", category=DeprecationWarning, module=r"great_expectations\b")


def _ephemeral_context(docs_dir: Path) -> AbstractDataContext:
    """An in-memory GX context, offline, without progress bars, with one filesystem docs site."""
    import great_expectations as gx
    from great_expectations.data_context.types.base import (
        DataContextConfig,
        InMemoryStoreBackendDefaults,
        ProgressBarsConfig,
    )

    config = DataContextConfig(
        store_backend_defaults=InMemoryStoreBackendDefaults(init_temp_docs_sites=False),
        analytics_enabled=False,
        progress_bars=ProgressBarsConfig(globally=False, metric_calculations=False),
        data_docs_sites={
            SITE_NAME: {
                "class_name": "SiteBuilder",
                "store_backend": {
                    "class_name": "TupleFilesystemStoreBackend",
                    "base_directory": str(docs_dir),
                },
                "site_index_builder": {"class_name": "DefaultSiteIndexBuilder"},
            }
        },
    )
    return gx.get_context(mode="ephemeral", project_config=config)


def _gx_expectation(table: str, check: _Check) -> Any:
    """The GX expectation object of a declared check, tagged with its readable id."""
    from great_expectations.expectations.registry import get_expectation_impl
    from great_expectations.expectations.row_conditions import Column

    kwargs: dict[str, Any] = dict(check.kwargs)
    if check.where is not None:
        column, op, value = check.where
        operators = {"==": Column.__eq__, "!=": Column.__ne__}
        kwargs["row_condition"] = operators[op](Column(column), value)
    expectation_id = f"{table}.{check.name}"
    meta = {_ID_META: expectation_id}
    notes = f"{expectation_id}: {check.notes}" if check.notes else expectation_id
    return get_expectation_impl(check.type)(**kwargs, meta=meta, notes=notes)


@dataclass
class _Suite:
    """One table's suite in a GX context, and the batch definition its chunks come through."""

    checks: list[_Check]
    suite: Any  # great_expectations.core.ExpectationSuite
    batch: Any  # great_expectations.core.batch_definition.BatchDefinition


class CheckpointSession:
    """A GX context with the suites built: validates chunks of rows, then writes the Data Docs.

    Building it is the expensive, data-free part of a checkpoint (importing GX, the context, the
    suites), so a worker can build it while the run still fetches. Each ``validate`` call is one
    chunk of one table; ``finish`` adds a table's chunks up into one validation result per table,
    as if GX had seen the rows at once, stores it and renders only those pages.
    """

    def __init__(self, catalog: Catalog, docs_dir: Path) -> None:
        prepare_gx()
        from great_expectations.core import ExpectationSuite

        self.catalog = catalog
        self.docs_dir = Path(docs_dir).resolve()
        self._context = _ephemeral_context(self.docs_dir)
        source = self._context.data_sources.add_pandas("zonestats")
        self._suites: dict[str, _Suite] = {}
        for table in TABLE_DATASETS:
            checks = CHECKS_BY_TABLE[table](catalog)
            batch = source.add_dataframe_asset(table).add_batch_definition_whole_dataframe(table)
            suite = self._context.suites.add(ExpectationSuite(name=table))
            for check in checks:
                suite.add_expectation(_gx_expectation(table, check))
            self._suites[table] = _Suite(checks=checks, suite=suite, batch=batch)
        self._suite_pages_written = False

    def validate(self, table: str, frame: pd.DataFrame) -> Any:
        """Validate one chunk of a table's rows; returns GX's suite result, to hand to ``finish``."""
        entry = self._suites[table]
        prepared = prepare_frame(frame, self.catalog, TABLE_DATASETS[table])
        batch = entry.batch.get_batch(batch_parameters={"dataframe": prepared})
        return batch.validate(entry.suite)

    def write_suite_pages(self) -> None:
        """Render the suites' Data Docs pages (they depend on the catalog only, not on the rows)."""
        from great_expectations.data_context.types.resource_identifiers import (
            ExpectationSuiteIdentifier,
        )

        ids = [ExpectationSuiteIdentifier(name=t) for t in self._suites]
        self._build_docs(ids, build_index=False)
        self._suite_pages_written = True

    def finish(self, chunks: Mapping[str, Sequence[Any]], run_name: str) -> DqOutcome:
        """Add each table's chunk results up, store them, write their Data Docs; the outcome."""
        from great_expectations.core.run_identifier import RunIdentifier
        from great_expectations.data_context.types.resource_identifiers import (
            ExpectationSuiteIdentifier,
            ValidationResultIdentifier,
        )

        tables = [t for t in TABLE_DATASETS if chunks.get(t)]
        if not tables:
            return DqOutcome(success=True, results=[], docs_index=None)
        # one run id for both tables: the Data Docs index lists them under the run's name
        run_id = RunIdentifier(run_name=run_name, run_time=datetime.now(UTC))
        results: list[ExpectationResult] = []
        resources: list[Any] = []
        if not self._suite_pages_written:
            resources += [ExpectationSuiteIdentifier(name=t) for t in self._suites]
        store = self._context.validation_results_store
        for table in tables:
            combined = combine_results(list(chunks[table]))
            combined.meta["run_id"] = run_id
            combined.meta["validation_time"] = run_id.run_time
            combined.meta["zonestats_chunks"] = len(chunks[table])
            # GX's page reads the asset's name from the batch spec, which a dataframe's lacks
            spec = combined.meta.get("batch_spec") or {}
            combined.meta["batch_spec"] = {**dict(spec), "data_asset_name": table}
            key = ValidationResultIdentifier(
                expectation_suite_identifier=ExpectationSuiteIdentifier(name=table),
                run_id=run_id,
                batch_identifier=_batch_id(combined, table),
            )
            store.store_validation_results(
                suite_validation_result=combined, suite_validation_result_identifier=key
            )
            resources.append(key)
            results += _collect(table, self._suites[table].checks, list(combined.results))
        docs_index = self._build_docs(resources, build_index=True)
        self._suite_pages_written = True
        return DqOutcome(
            success=all(r.success for r in results), results=results, docs_index=docs_index
        )

    def _build_docs(self, resources: list[Any], build_index: bool) -> Path | None:
        """Render these resources' pages (and the index), then make what was written offline."""
        self._context.build_data_docs(
            site_names=[SITE_NAME], resource_identifiers=resources, build_index=build_index
        )
        pages = [_page_path(self._context, r) for r in resources]
        index = self.docs_dir / "index.html"
        if build_index:
            pages.append(index)
        make_offline(self.docs_dir, [p for p in pages if p is not None])
        return index if build_index and index.exists() else None


def _batch_id(result: Any, table: str) -> str:
    """The batch id GX gave a table's rows (the same for every chunk of a whole-frame asset)."""
    for r in result.results:
        batch_id = (r.expectation_config.kwargs or {}).get("batch_id")
        if batch_id:
            return str(batch_id)
    return f"zonestats-{table}"


def _page_path(context: AbstractDataContext, resource: Any) -> Path | None:
    """Where the docs site wrote a resource's page."""
    from urllib.parse import unquote, urlparse

    urls = context.get_docs_sites_urls(
        resource_identifier=resource, site_name=SITE_NAME, only_if_exists=False
    )
    url = urls[0].get("site_url") if urls else None
    if not url:
        return None
    parsed = urlparse(url)
    return Path(unquote(parsed.path)) if parsed.scheme in ("", "file") else None


def combine_results(parts: list[Any]) -> Any:
    """One GX suite result from the results of a table's chunks, as GX would give for all rows.

    Counts add up; the sample of unexpected values is the first 20 across chunks (GX's partial
    list); a chunk's error is the expectation's error. Every check here is a map expectation
    without ``mostly``, so an expectation holds over all rows exactly when it holds in each chunk.
    """
    from great_expectations.core import ExpectationSuiteValidationResult

    if len(parts) == 1:
        return parts[0]
    first = parts[0]
    by_chunk = [{_result_id(r): r for r in part.results} for part in parts]
    combined = []
    for template in first.results:
        rid = _result_id(template)
        same = [chunk[rid] for chunk in by_chunk if rid in chunk]
        combined.append(_combine_one(same))
    passed = sum(1 for r in combined if r.success)
    return ExpectationSuiteValidationResult(
        success=all(r.success for r in combined),
        results=combined,
        suite_name=first.suite_name,
        suite_parameters=first.suite_parameters,
        statistics={
            "evaluated_expectations": len(combined),
            "successful_expectations": passed,
            "unsuccessful_expectations": len(combined) - passed,
            "success_percent": 100.0 * passed / len(combined) if combined else None,
        },
        meta=dict(first.meta),
    )


def _result_id(result: Any) -> str:
    meta = result.expectation_config.meta or {}
    return str(meta.get(_ID_META) or result.expectation_config.type)


# GX's default partial_unexpected_count (result_format SUMMARY)
_PARTIAL = 20


def _combine_one(results: list[Any]) -> Any:
    """One expectation's result over several chunks."""
    from great_expectations.core import ExpectationValidationResult

    template = results[0]
    for r in results:
        if _exception_message(r.exception_info) is not None:
            return r  # an error in any chunk is the expectation's error
    parts = [r.result or {} for r in results]
    if not all("unexpected_count" in p for p in parts):
        # not a map expectation: nothing to add up, the first failing chunk speaks for all
        return next((r for r in results if not r.success), template)
    element = sum(int(p.get("element_count") or 0) for p in parts)
    unexpected = sum(int(p.get("unexpected_count") or 0) for p in parts)
    missing = sum(int(p.get("missing_count") or 0) for p in parts)
    nonmissing = element - missing
    sample = [v for p in parts for v in p.get("partial_unexpected_list") or []][:_PARTIAL]
    summary: dict[str, Any] = {
        "element_count": element,
        "unexpected_count": unexpected,
        "unexpected_percent": 100.0 * unexpected / nonmissing if nonmissing else None,
        "partial_unexpected_list": sample,
        "missing_count": missing,
        "missing_percent": 100.0 * missing / element if element else None,
        "unexpected_percent_total": 100.0 * unexpected / element if element else None,
        "unexpected_percent_nonmissing": 100.0 * unexpected / nonmissing if nonmissing else None,
        "partial_unexpected_counts": _value_counts(sample),
        # (GX's partial_unexpected_index_list is left out: a chunk's row numbers mean nothing
        # once the chunks are added up)
    }
    return ExpectationValidationResult(
        success=all(bool(r.success) for r in results),
        expectation_config=template.expectation_config,
        result=summary,
        meta=template.meta,
        exception_info=template.exception_info,
    )


def _value_counts(values: list[Any]) -> list[dict[str, Any]]:
    """GX's partial_unexpected_counts: each distinct value of the sample and how often it occurs."""
    counts: dict[str, tuple[Any, int]] = {}
    for v in values:
        key = _json(_plain(v))
        counts[key] = (v, counts.get(key, (v, 0))[1] + 1)
    ordered = sorted(counts.values(), key=lambda vc: -vc[1])
    return [{"value": v, "count": n} for v, n in ordered]


def run_checkpoint(
    frames: Mapping[str, pd.DataFrame | Sequence[pd.DataFrame]],
    catalog: Catalog,
    docs_dir: Path,
    run_name: str,
) -> DqOutcome:
    """Run the expectation suites over the given rows of each table; Data Docs under docs_dir.

    A table's rows are one frame or a sequence of chunks (validated one by one, added up).
    """
    chunked = {
        t: [f for f in ([v] if isinstance(v, pd.DataFrame) else list(v)) if not f.empty]
        for t, v in frames.items()
        if t in TABLE_DATASETS
    }
    if not any(chunked.values()):
        return DqOutcome(success=True, results=[], docs_index=None)
    session = CheckpointSession(catalog, docs_dir)
    results = {t: [session.validate(t, f) for f in fs] for t, fs in chunked.items() if fs}
    return session.finish(results, run_name)


def _collect(table: str, checks: list[_Check], gx_results: list[Any]) -> list[ExpectationResult]:
    """Our records of a table's GX results, in the order the checks were declared."""
    by_id = {}
    for gx_result in gx_results:
        meta = gx_result.expectation_config.meta or {}
        by_id[meta.get(_ID_META)] = gx_result
    collected = []
    for check in checks:
        expectation_id = f"{table}.{check.name}"
        gx_result = by_id.get(expectation_id)
        if gx_result is None:
            # GX answers every expectation of a suite; a gap means it failed before evaluating
            observed, success = "error: no result from Great Expectations", False
        else:
            observed, success = _observed(gx_result), bool(gx_result.success)
        collected.append(
            ExpectationResult(
                table=table,
                expectation=expectation_id,
                expectation_type=check.type,
                success=success,
                observed_value=observed,
                details=_trim(_details(check), DETAILS_MAX_CHARS),
            )
        )
    return collected


def _observed(gx_result: Any) -> str:
    """What GX saw, short: the unexpected count with a few values, or its observed_value."""
    error = _exception_message(gx_result.exception_info)
    if error is not None:
        return _trim(f"error: {error}", OBSERVED_MAX_CHARS)
    result = gx_result.result or {}
    if "unexpected_count" in result:
        text = f"{result['unexpected_count']} unexpected of {result.get('element_count')}"
        # distinct values: an enterprise's bad credit code repeats on each of its rows
        sample = {_json(_plain(v)): None for v in result.get("partial_unexpected_list") or []}
        # a sample of nulls (expect_..._not_be_null) says nothing the count does not
        if set(sample) - {"null"}:
            text += f": [{', '.join(list(sample)[:SAMPLE_VALUES])}]"
        return _trim(text, OBSERVED_MAX_CHARS)
    return _trim(_json(_plain(result.get("observed_value"))), OBSERVED_MAX_CHARS)


def _exception_message(info: Any) -> str | None:
    """The message of an exception GX caught while evaluating, if it caught one."""
    if not isinstance(info, Mapping):
        return None
    if "raised_exception" in info:
        return str(info.get("exception_message")) if info["raised_exception"] else None
    # per-metric form: {metric id: {"raised_exception": ..., "exception_message": ...}}
    for value in info.values():
        message = _exception_message(value)
        if message is not None:
            return message
    return None


def _plain(value: Any) -> Any:
    """NaN as None (JSON null), tuples and lists recursively; other values as they are."""
    if isinstance(value, float) and np.isnan(value):
        return None
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value


def _details(check: _Check) -> str:
    """The arguments of a check; long value sets are counted instead of listed."""
    parts = []
    for key, value in check.kwargs.items():
        if isinstance(value, list | tuple) and len(value) > SAMPLE_VALUES:
            parts.append(f"{key}=<{len(value)} values>")
        else:
            parts.append(f"{key}={_json(value)}")
    if check.where is not None:
        column, op, value = check.where
        parts.append(f"where {column} {op} {_json(value)}")
    return ", ".join(parts)


def _json(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, default=str)


def _trim(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def make_offline(docs_dir: Path, pages: Sequence[Path]) -> None:
    """Rewrite the given Data Docs pages (and GX's stylesheets) to work without internet.

    Only the pages this run wrote: the site keeps every earlier run's pages, already rewritten.
    """
    for page in pages:
        if page.suffix == ".html" and page.is_file():
            text = page.read_text(encoding="utf-8")
            text = _static_links_from(page, Path(docs_dir), offline_html(text))
            page.write_text(text, encoding="utf-8")
    # GX copies its stylesheets again on every build; the pages inline theirs, but a copy may be
    # opened on its own
    for sheet in (docs_dir / "static").rglob("*.css"):
        text = sheet.read_text(encoding="utf-8")
        offline = _EXTERNAL_CSS_URL.sub("none", text)
        if offline != text:
            sheet.write_text(offline, encoding="utf-8")


_STATIC_REF = re.compile(r"""\b(src|href)="((?:\.\./|\./)*)static/""")


def _static_links_from(page: Path, docs_dir: Path, text: str) -> str:
    """Point the page's links to the site's static/ folder at it, from wherever the page is.

    GX counts the levels of a validation page one short (its favicon link ends in
    ``validations/static/``), so the path is worked out from the page's own place.
    """
    up = os.path.relpath(docs_dir.resolve() / "static", page.parent.resolve())
    return _STATIC_REF.sub(lambda m: f'{m[1]}="{Path(up).as_posix()}/', text)


# --- making GX's pages work offline --------------------------------------------------------------
# GX's pages load Bootstrap, jQuery, bootstrap-table, Font Awesome and Vega from CDNs and its logo
# from S3 (with the context id appended). Statisticians open the docs without internet, so every
# external reference goes, the one JS-drawn table (the index) is written as static HTML, and a
# small stylesheet and a jQuery-free "Failed Only" filter are put inline.

_OFFLINE_MARK = '<style id="zonestats-offline">'
_EXTERNAL = r"""["']https?://[^"']*["']"""
_SCRIPT = re.compile(r"<script\b[^>]*>.*?</script>\s*", re.I | re.S)
_EXTERNAL_LINK = re.compile(rf"<link\b[^>]*\bhref={_EXTERNAL}[^>]*>\s*", re.I)
_EXTERNAL_IMG = re.compile(rf"<img\b[^>]*\bsrc={_EXTERNAL}[^>]*>", re.I | re.S)
_EXTERNAL_ANCHOR = re.compile(rf"<a\b[^>]*\bhref={_EXTERNAL}[^>]*>(.*?)</a>", re.I | re.S)
_EXTERNAL_CSS_URL = re.compile(r"""url\(\s*["']?https?://[^)]*\)""", re.I)
_ANY_EXTERNAL_ATTR = re.compile(rf"\b(src|href)\s*=\s*{_EXTERNAL}", re.I)
_FOOTER = re.compile(r"<footer\b.*?</footer>\s*", re.I | re.S)
_CLEAR_FILTERS = re.compile(r"<button\b[^>]*clearTableFilters[^>]*>.*?</button>\s*", re.I | re.S)
# bootstrap-table: an empty <table data-toggle="table"> that a later script fills from its rows
_BOOTSTRAP_TABLE = re.compile(
    r"""<table\s+id="(?P<id>[^"]+)"[^>]*?data-toggle="table"\s*>\s*</table>"""
    r"""(?:\s*<script>.*?</script>)*?\s*"""
    r"""<script>\s*\$\('#(?P=id)'\)\.bootstrapTable\((?P<args>.*?)\);.*?</script>""",
    re.S,
)

OFFLINE_STYLE = """
:root { color-scheme: light; }
body { font-family: system-ui, -apple-system, "Segoe UI", "Noto Sans CJK SC", "Microsoft YaHei",
       sans-serif; margin: 0; color: #212529; background: #fff; font-size: 14px; line-height: 1.45; }
a { color: #0b5ed7; }
nav.navbar { display: flex; align-items: center; padding: 0 1.5rem; border-bottom: 1px solid #dee2e6;
             background: #f8f9fa; height: auto !important; min-height: 3rem; }
nav.navbar nav { display: flex; align-items: center; }
.zs-brand { font-weight: 600; font-size: 1.1rem; color: #212529; }
.breadcrumb { list-style: none; display: flex; gap: .4rem; margin: 0 0 0 1rem; padding: 0; }
.breadcrumb-item + .breadcrumb-item::before { content: "/"; padding-right: .4rem; color: #6c757d; }
.container-fluid { padding: 1rem 1.5rem; }
.row { display: flex; flex-wrap: wrap; gap: 1rem 1.5rem; }
.row > .col-12 { flex: 1 1 100%; }
.row > .col-6 { flex: 1 1 40%; }
.col-md-2 { flex: 0 0 15rem; max-width: 15rem; }
.col-md-10 { flex: 1 1 30rem; min-width: 0; }
.d-none { display: none; }
.d-md-block { display: block; }
.d-md-inline-flex { display: inline-flex; }
[hidden] { display: none !important; }
h1, h2, h3, h4, h5, h6 { margin: .6rem 0 .4rem; font-weight: 600; }
.lead { color: #495057; }
.alert { padding: .5rem .75rem; border-radius: 4px; margin: .5rem 0; }
.alert-secondary { background: #e9ecef; border: 1px solid #dee2e6; }
.card { border: 1px solid #dee2e6; border-radius: 4px; margin-bottom: 1rem; }
.card-header { background: #f1f3f5; padding: .4rem .6rem; border-bottom: 1px solid #dee2e6; }
.card-body { padding: .6rem; }
.collapse:not(.show) { display: none; }
[data-toggle="collapse"] { cursor: pointer; }
.collapse [style*="color:red"] { color: #495057 !important; }
.nav { list-style: none; padding: 0; margin: 0; }
.nav-tabs { display: flex; gap: 1rem; border-bottom: 1px solid #dee2e6; margin: .5rem 0; }
.nav-tabs .nav-link { display: inline-block; padding: .3rem .2rem; text-decoration: none; }
.tab-pane { margin-bottom: 1.5rem; }
.btn { display: inline-block; padding: .2rem .6rem; margin: .1rem; border: 1px solid #0b5ed7;
       border-radius: 4px; background: #fff; color: #0b5ed7; cursor: pointer; }
.btn-group input { margin-right: .3rem; }
table { border-collapse: collapse; width: 100%; margin: .4rem 0 .8rem; }
th, td { border: 1px solid #dee2e6; padding: .3rem .5rem; text-align: left; vertical-align: top; }
th { background: #f1f3f5; font-weight: 600; }
tbody tr:nth-child(even) > td { background: #fafbfc; }
.table-responsive { overflow-x: auto; }
.badge { display: inline-block; padding: 0 .35rem; border-radius: 3px; background: #e9ecef;
         font-family: ui-monospace, monospace; font-size: 90%; }
code, pre { background: #f6f8fa; padding: 0 .25rem; border-radius: 3px; white-space: pre-wrap; }
.text-danger { color: #b02a37; } .text-success { color: #146c43; } .text-info { color: #087990; }
i.fas, i.far, i.fa { font-style: normal; }
.fa-check-circle::before, .fa-check::before { content: "✔"; }
.fa-times::before, .fa-times-circle::before { content: "✘"; }
.fa-comment::before { content: "✎"; }
.fa-question-circle::before { content: "?"; }
.ge-success-icon::after { content: " passed"; }
.ge-failed-icon::after { content: " failed"; }
@media (prefers-color-scheme: dark) {
  .table { color: #212529 !important; background-color: transparent; }
}
"""

# GX's "Show All" / "Failed Only" buttons and its collapsed blocks; its own code needs jQuery
OFFLINE_SCRIPT = """
function zonestatsShowSucceeded(show) {
  var display = show ? "" : "none";
  document.querySelectorAll(".hide-succeeded-validation-target-child").forEach(function (el) {
    el.parentElement.style.display = display;
  });
  document.querySelectorAll(".hide-succeeded-validation-target").forEach(function (el) {
    el.style.display = display;
  });
  document.querySelectorAll(".hide-succeeded-validations-column-section-target-child")
    .forEach(function (el) {
      var section = el.parentElement.parentElement;
      section.style.display = display;
      document.querySelectorAll('a[href="#' + section.id + '"]').forEach(function (a) {
        a.style.display = display;
      });
    });
}
function showAllValidations() { zonestatsShowSucceeded(true); }
function hideSucceededValidations() { zonestatsShowSucceeded(false); }
// "Show more info..." and the notes icons open the collapsed block beside them; GX repeats
// one collapse id across a section, so the block is found by nearness, not by its id
document.addEventListener("click", function (event) {
  var toggle = event.target.closest('[data-toggle="collapse"]');
  for (var el = toggle && toggle.parentElement; el; el = el.parentElement) {
    var block = Array.prototype.find.call(el.querySelectorAll(".collapse"), function (c) {
      return !c.contains(toggle);
    });
    if (block) {
      event.preventDefault();
      block.classList.toggle("show");
      return;
    }
  }
});
"""


def offline_html(text: str) -> str:
    """A Data Docs page with no http(s) reference left: static tables, inline style, no CDN."""
    if _OFFLINE_MARK in text:
        return text  # a page of an earlier run, already rewritten
    text = _BOOTSTRAP_TABLE.sub(_static_table, text)
    text = _CLEAR_FILTERS.sub("", text)
    # every script left needs jQuery or a CDN library, none of which is there offline
    text = _SCRIPT.sub("", text)
    text = _EXTERNAL_LINK.sub("", text)
    text = _FOOTER.sub("", text)  # a fixed newsletter footer
    text = _EXTERNAL_IMG.sub('<span class="zs-brand">zonestats · data quality</span>', text)
    text = _EXTERNAL_ANCHOR.sub(r"\1", text)
    text = _EXTERNAL_CSS_URL.sub("none", text)
    # whatever a later GX template adds: the page must not reach out
    text = _ANY_EXTERNAL_ATTR.sub(r'\1="#"', text)
    head = f"{_OFFLINE_MARK}{OFFLINE_STYLE}</style>\n<script>{OFFLINE_SCRIPT}</script>\n</head>"
    return text.replace("</head>", head, 1)


def _static_table(match: re.Match[str]) -> str:
    """The table a bootstrap-table script would have drawn, from the columns and rows it holds."""
    args = match["args"]
    columns = _literal_array(args, "columns")
    rows = _literal_array(args, "data")
    if columns is None or rows is None:
        return match[0]  # not the shape we know: left for the general clean-up
    shown = [c for c in columns if isinstance(c, dict) and c.get("visible", True)]
    head = "".join(
        f"<th>{html.escape(str(c.get('title', c.get('field', ''))))}</th>" for c in shown
    )
    body = []
    for row in rows:
        cells = [_cell(row.get(c.get("field"))) for c in shown]
        link = row.get("_table_row_link_path")
        # the script made the whole row a link; offline the first cell links (unless it does)
        if link and cells and "<a " not in cells[0]:
            cells[0] = f'<a href="{html.escape(str(link))}">{cells[0] or "open"}</a>'
        body.append("<tr>" + "".join(f"<td>{c}</td>" for c in cells) + "</tr>")
    return (
        f'<table id="{html.escape(match["id"])}" class="table zs-static-table">'
        f"<thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"
    )


def _cell(value: Any) -> str:
    """A cell as GX rendered it (already HTML), or escaped text for a plain value."""
    if value is None:
        return ""
    return value if isinstance(value, str) else html.escape(_json(value))


def _literal_array(args: str, key: str) -> list[Any] | None:
    """The array after ``key:`` in a bootstrap-table option object (JSON or a Python repr)."""
    found = re.search(rf"\b{key}:\s*\[", args)
    if found is None:
        return None
    start = found.end() - 1
    end = _closing_bracket(args, start)
    if end is None:
        return None
    literal = args[start : end + 1]
    try:
        parsed = json.loads(literal)
    except ValueError:
        try:
            # Jinja writes the column list as Python's repr: single quotes, True/False
            parsed = ast.literal_eval(literal)
        except (ValueError, SyntaxError):
            return None
    return parsed if isinstance(parsed, list) else None


def _closing_bracket(text: str, start: int) -> int | None:
    """The index of the bracket that closes the one at ``start``, skipping quoted strings."""
    depth, quote, escaped = 0, "", False
    for i in range(start, len(text)):
        ch = text[i]
        if quote:
            if escaped:
                escaped = False
            elif ch == "\\":
                escaped = True
            elif ch == quote:
                quote = ""
        elif ch in "\"'":
            quote = ch
        elif ch in "[{":
            depth += 1
        elif ch in "]}":
            depth -= 1
            if depth == 0:
                return i
    return None
