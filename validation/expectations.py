"""The Great Expectations checkpoint run over the current observation tables.

A checkpoint is a ``CheckpointSession``: built once (GX's import, context and suites — see
``validation.suites`` — the seconds of fixed cost), it validates the rows chunk by chunk — every
check is per row or per key, and a chunk never splits a release, whose zone and period are part
of every key — and adds the chunks up into one validation result per table, the one the Data Docs
show (made to work offline by ``validation.data_docs``).

Great Expectations is imported inside the functions only: importing it takes seconds.
"""

from __future__ import annotations

import json
import logging
import os
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
from validation.data_docs import make_offline
from validation.suites import (
    CHECKS_BY_TABLE,
    ID_META,
    TABLE_DATASETS,
    Check,
    gx_expectation,
    prepare_frame,
)

SITE_NAME = "zonestats_dq"
OBSERVED_MAX_CHARS = 500
DETAILS_MAX_CHARS = 300
# how many unexpected values an ExpectationResult quotes; the Data Docs show GX's own sample
SAMPLE_VALUES = 5


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


@dataclass
class _Suite:
    """One table's suite in a GX context, and the batch definition its chunks come through."""

    checks: list[Check]
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
                suite.add_expectation(gx_expectation(table, check))
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
    return str(meta.get(ID_META) or result.expectation_config.type)


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


def _collect(table: str, checks: list[Check], gx_results: list[Any]) -> list[ExpectationResult]:
    """Our records of a table's GX results, in the order the checks were declared."""
    by_id = {}
    for gx_result in gx_results:
        meta = gx_result.expectation_config.meta or {}
        by_id[meta.get(ID_META)] = gx_result
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


def _details(check: Check) -> str:
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
