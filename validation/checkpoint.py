"""A run's data-quality checkpoint over the warehouse: the releases it loaded, in bounded memory.

The rows come from the contract's current views (``obs_zone_current``, ``obs_enterprise_current``),
one release at a time — selected by zone and period, which the physical key starts with — as Arrow,
and are validated in chunks of about ``CHUNK_ROWS`` rows: a run of millions of values never sits in
memory whole, and a chunk never splits a release, so a key's duplicates always meet in one chunk.

``finish`` is the whole checkpoint (the cold path: tests, commands). A worker process
(``validation.checkpoint_worker``) builds the same object while the run fetches and calls
``prefetch`` as releases are loaded, so that at the end little is left but the last releases and the
Data Docs. What was read early is checked against the ledger at the end: a release superseded,
accepted into or not in the run's list is read again or dropped.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa

from validation.expectations import CheckpointSession, DqOutcome
from validation.suites import TABLE_DATASETS, checked_columns
from warehouse.quality import (
    Partition,
    ReleaseStamp,
    current_releases,
    release_rows,
    view_columns,
)
from warehouse.store import Warehouse
from zonestats.catalog import Catalog
from zonestats.config import WarehouseSettings
from zonestats.models import ReleaseKey

# GX's cost per chunk is ≈ 0.2 s whatever its size, then ≈ 1.3 s per million rows (2 cores,
# 2026-12). 150 thousand keeps that fixed part small, the worker's peak memory near GX's own
# (≈ 270 MB once imported, ≈ 400 MB at the peak of a chunk) and the last chunk, the one the end
# of a run waits for, short
CHUNK_ROWS = 150_000
TABLE_OF: dict[str, str] = {dataset: table for table, dataset in TABLE_DATASETS.items()}


def docs_dir_for(settings: WarehouseSettings) -> Path:
    """Where a warehouse's Data Docs site lives."""
    return settings.data_dir / "quality" / "data-docs"


@dataclass
class _Chunk:
    """One validated chunk: its table, the releases in it as read, its rows, GX's result."""

    table: str
    releases: dict[Partition, ReleaseStamp]
    result: Any
    rows: int = 0


class CheckpointRun:
    """One run's checkpoint: reads releases' rows, validates them chunk by chunk, writes the docs."""

    def __init__(
        self,
        settings: WarehouseSettings,
        catalog: Catalog,
        chunk_rows: int = CHUNK_ROWS,
        session: CheckpointSession | None = None,
    ) -> None:
        self.wh = Warehouse(settings)
        self.catalog = catalog
        self.chunk_rows = chunk_rows
        self._session = session
        self._columns: dict[str, list[str]] = {}
        self._pending: dict[str, list[tuple[Partition, ReleaseStamp, pa.Table]]] = {
            t: [] for t in TABLE_DATASETS
        }
        self._chunks: list[_Chunk] = []
        # every release read (pending or validated), with the ledger's stamp when it was read
        self._read: dict[Partition, ReleaseStamp] = {}
        self._baseline: dict[Partition, ReleaseStamp] | None = None
        self.rows_read = 0
        # seconds spent building the GX session, reading rows, validating chunks, and finishing
        # (adding the chunks up, Data Docs)
        self.seconds: dict[str, float] = {"warm": 0.0, "read": 0.0, "validate": 0.0, "docs": 0.0}
        # called after each release read and each chunk validated (a worker's sign of life)
        self.progress: Callable[[], None] | None = None

    @property
    def session(self) -> CheckpointSession:
        """The GX session (built on first use: it imports Great Expectations)."""
        if self._session is None:
            started = time.perf_counter()
            self._session = CheckpointSession(self.catalog, docs_dir_for(self.wh.settings))
            self.seconds["warm"] = time.perf_counter() - started
        return self._session

    def watch(self) -> None:
        """Note the releases loaded so far: ``prefetch`` reads only what is loaded after this."""
        self._baseline = current_releases(self.wh)

    def prefetch(self, stop: Callable[[], bool] | None = None) -> int:
        """Read (and validate, by full chunks) the releases loaded since ``watch``; how many.

        ``stop`` is asked between releases: the end of the run need not wait for a long poll.
        """
        if self._baseline is None:
            raise RuntimeError("prefetch needs watch() first")
        current = current_releases(self.wh)
        new = sorted(
            p
            for p, stamp in current.items()
            if p[0] in TABLE_OF and self._baseline.get(p) != stamp and self._read.get(p) != stamp
        )
        done = 0
        for part in new:
            if stop is not None and stop():
                break
            if part in self._read:  # read at an older stamp: superseded since
                self._forget({part})
            self._add(part, current[part])
            done += 1
        return done

    def flush(self) -> None:
        """Validate every table's pending rows now (a lull in the loads is a good moment)."""
        for table in TABLE_DATASETS:
            self._flush(table)

    def finish(self, releases: Sequence[ReleaseKey], run_name: str) -> DqOutcome:
        """Validate the current rows of these releases (both datasets); store and document them.

        A release is checked as the current view shows it now: at its latest loaded revision.
        """
        wanted = {(k.dataset, k.zone_code, k.period) for k in releases if k.dataset in TABLE_OF}
        current = current_releases(self.wh)
        stale = {p for p, stamp in self._read.items() if p not in wanted or current.get(p) != stamp}
        self._forget(stale)
        for part in sorted(wanted - set(self._read)):
            if part in current:  # else nothing of it is current: nothing to check
                self._add(part, current[part])
        self.flush()
        results = {t: [c.result for c in self._chunks if c.table == t] for t in TABLE_DATASETS}
        if not any(results.values()):
            return DqOutcome(success=True, results=[], docs_index=None)
        started = time.perf_counter()
        outcome = self.session.finish(results, run_name)
        self.seconds["docs"] += time.perf_counter() - started
        return outcome

    @property
    def releases_checked(self) -> dict[Partition, ReleaseStamp]:
        """The releases read so far (pending or validated) and their stamps."""
        return dict(self._read)

    @property
    def pending_rows(self) -> int:
        """Rows read and not validated yet."""
        return sum(e[2].num_rows for pending in self._pending.values() for e in pending)

    def _forget(self, parts: set[Partition]) -> None:
        """Drop what was read of these releases; a chunk holding one is dropped whole."""
        if not parts:
            return
        kept = []
        for chunk in self._chunks:
            if parts.isdisjoint(chunk.releases):
                kept.append(chunk)
            else:
                # its other releases are read again by whoever still wants them
                for part in chunk.releases:
                    self._read.pop(part, None)
        self._chunks = kept
        for table, pending in self._pending.items():
            self._pending[table] = [e for e in pending if e[0] not in parts]
        for part in parts:
            self._read.pop(part, None)

    def _add(self, part: Partition, stamp: ReleaseStamp) -> None:
        """Read one release's rows into its table's pending chunk; validate a full chunk."""
        dataset, zone, period = part
        table = TABLE_OF[dataset]
        started = time.perf_counter()
        rows = release_rows(self.wh, table, zone, period, self._columns_of(table))
        self.seconds["read"] += time.perf_counter() - started
        self._read[part] = stamp
        self.rows_read += rows.num_rows
        # a chunk closes before a release would take it past chunk_rows (a release is never
        # split): chunks, and so the worker's peak, stay the same size however big releases grow
        held = sum(e[2].num_rows for e in self._pending[table])
        if held and held + rows.num_rows > self.chunk_rows:
            self._flush(table)
        self._pending[table].append((part, stamp, rows))
        if self.progress is not None:
            self.progress()
        if sum(e[2].num_rows for e in self._pending[table]) >= self.chunk_rows:
            self._flush(table)

    def _flush(self, table: str) -> None:
        """Validate a table's pending rows as one chunk."""
        pending, self._pending[table] = self._pending[table], []
        if not any(e[2].num_rows for e in pending):
            # nothing to validate, but these releases were read (and had no current rows)
            return
        started = time.perf_counter()
        frame = _frame([e[2] for e in pending])
        result = self.session.validate(table, frame)
        self.seconds["validate"] += time.perf_counter() - started
        self._chunks.append(_Chunk(table, {e[0]: e[1] for e in pending}, result, len(frame)))
        if self.progress is not None:
            self.progress()

    @property
    def chunk_sizes(self) -> list[tuple[int, int]]:
        """(releases, rows) of each chunk validated so far: rows <= ``chunk_rows`` but for one big release."""
        return [(len(c.releases), c.rows) for c in self._chunks]

    def _columns_of(self, table: str) -> list[str]:
        """The checked columns this view has: a column it lacks fails the checks that name it."""
        if table not in self._columns:
            have = set(view_columns(self.wh, table))
            self._columns[table] = [c for c in checked_columns(table, self.catalog) if c in have]
        return self._columns[table]


def _frame(tables: list[pa.Table]) -> pd.DataFrame:
    """Releases' Arrow rows as one pandas frame, text as categoricals (one dictionary each)."""
    table = pa.concat_tables(tables).unify_dictionaries().combine_chunks()
    return table.to_pandas()


def run_checkpoint_on_warehouse(
    settings: WarehouseSettings,
    catalog: Catalog,
    releases: Sequence[ReleaseKey],
    run_name: str,
    chunk_rows: int = CHUNK_ROWS,
) -> DqOutcome:
    """The whole checkpoint in this process (no warm-up): read, validate, document."""
    return CheckpointRun(settings, catalog, chunk_rows=chunk_rows).finish(releases, run_name)
