"""The warehouse: ledger, observations, quarantine and watermark in SQL, mirrored to Parquet.

The only code that writes to the database or the Parquet tree. One release loads in one
transaction. Its Parquet rows are the very rows that transaction inserted: in the release's own
files, renamed into place once it commits, or (in a ``ParquetBatch``) appended after the commit
to the batch's file of their partition, renamed into place when the batch closes. Every Parquet
file holds exactly the rows of the loads SQL maps to it (``load_commit``), so ``repair`` can
write any file again from SQL.

``Warehouse`` is the one face of it callers use; each job lives in a module of its own: the
ledger and watermark (``warehouse.ledger``), loading a release (``warehouse.loading``), writing
the Parquet tree from SQL (``warehouse.publishing``, reading back through
``warehouse.committed``) and repair (``warehouse.repair``).
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pandas as pd
from sqlalchemy import Connection, Engine, and_, insert, select, update

from warehouse import ledger, loading, parquet, repair, schema
from warehouse.engine import make_engine
from warehouse.ledger import DEFAULT_LEASE, LEDGER_STATUSES, LoadConflict
from warehouse.publishing import Publisher
from zonestats.catalog import Catalog
from zonestats.config import WarehouseSettings
from zonestats.models import ReleaseKey, ReleaseRef, ValidatedRelease

_ENGINES: dict[str, Engine] = {}
_ENGINES_LOCK = threading.Lock()


def engine_for(settings: WarehouseSettings) -> Engine:
    """One engine per warehouse URL per process (threads of a run share its pool)."""
    url = settings.url.get_secret_value()
    with _ENGINES_LOCK:
        if url not in _ENGINES:
            _ENGINES[url] = make_engine(url)
        return _ENGINES[url]


class Warehouse:
    """The warehouse of one configuration."""

    def __init__(self, settings: WarehouseSettings) -> None:
        self.settings = settings
        self.engine = engine_for(settings)
        self.data_dir = settings.data_dir
        self.lake: Any = None  # warehouse.lake.Lake: imported only when configured
        if settings.lake is not None:
            from warehouse.lake import Lake

            self.lake = Lake(settings.lake)

    @property
    def _publisher(self) -> Publisher:
        # built at each use from what the warehouse holds now (a caller may swap its engine)
        return Publisher(self.engine, self.data_dir, self.lake)

    # -- schema and reference tables ---------------------------------------------------------

    def ensure_schema(self, catalog: Catalog) -> None:
        """Bring the schema to the latest migration and write the zone registry and indicators."""
        from warehouse import migrate

        # the migrations are the only way tables and views come to exist (a no-op at head)
        migrate.upgrade(self.engine)
        zones = [
            {
                "zone_code": z.zone_code,
                "name_zh": z.name_zh,
                "name_en": z.name_en,
                "city_zh": z.city_zh,
                "city_admin_code": z.city_admin_code,
                "adapter": z.adapter,
            }
            for z in catalog.zones.values()
        ]
        indicators = [
            {
                "dataset": i.dataset,
                "code": i.code,
                "name_zh": i.name_zh,
                "name_en": i.name_en,
                "unit": i.unit,
                "frequency": i.frequency,
                "basis": i.basis,
                "min_value": i.min,
                "max_value": i.max,
                "mandatory": i.mandatory,
                "is_integer": i.integer,
                "alt_units": ";".join(f"{u}={f}" for u, f in i.unit_factors.items() if u != i.unit),
            }
            for i in catalog.indicators.values()
        ]
        with self.engine.begin() as conn:
            # two runs starting at once on PostgreSQL would both insert the rows they did not see
            migrate.lock(conn)
            self._upsert(conn, schema.dim_zone, zones, ["zone_code"])
            self._upsert(conn, schema.dim_indicator, indicators, ["dataset", "code"])

    @staticmethod
    def _upsert(conn: Connection, table: Any, rows: list[dict[str, Any]], keys: list[str]) -> None:
        existing = {tuple(r) for r in conn.execute(select(*[table.c[k] for k in keys]))}
        new = [r for r in rows if tuple(r[k] for k in keys) not in existing]
        old = [r for r in rows if tuple(r[k] for k in keys) in existing]
        if new:
            conn.execute(insert(table), new)
        for r in old:
            cond = and_(*[table.c[k] == r[k] for k in keys])
            conn.execute(update(table).where(cond).values(**r))

    # -- the ledger (warehouse.ledger) -------------------------------------------------------

    def is_loaded(self, key: ReleaseKey) -> bool:
        """True when this release is loaded at this revision (or a later one)."""
        return ledger.is_loaded(self.engine, key)

    def loaded_revisions(self, zone_code: str, dataset: str) -> dict[str, int]:
        """The highest loaded revision of each period of a zone's dataset."""
        return ledger.loaded_revisions(self.engine, zone_code, dataset)

    def begin_release(
        self,
        ref: ReleaseRef,
        flow_run_id: str | None,
        lease: timedelta = DEFAULT_LEASE,
        holder: str | None = None,
    ) -> str | None:
        """Claim a release for a load under a new load id; None if loaded or held (see ledger)."""
        return ledger.begin_release(self.engine, ref, flow_run_id, lease, holder)

    def defer_release(self, ref: ReleaseRef, flow_run_id: str | None, reason: str) -> bool:
        """Record a listed release as ``failed`` without an attempt ("not attempted: …")."""
        return ledger.defer_release(self.engine, ref, flow_run_id, reason)

    def finish_release(
        self, ref: ReleaseRef, load_id: str, status: str, error: str, staging: Path | None = None
    ) -> None:
        """Record that an attempt failed (try again) or was rejected (needs a person)."""
        ledger.finish_release(self.engine, ref, load_id, status, error, staging)

    def ledger(self, zone: str | None = None, status: str | None = None) -> pd.DataFrame:
        """The ledger rows, newest first, optionally for one zone or status."""
        return ledger.ledger_rows(self.engine, zone, status)

    def watermark(self, zone_code: str, dataset: str) -> datetime | None:
        """The newest published_at loaded for a zone and dataset, if any."""
        return ledger.watermark(self.engine, zone_code, dataset)

    def failed_releases(
        self, zone: str | None = None, dataset: str | None = None, period: str | None = None
    ) -> list[ReleaseRef]:
        """The ledger's failed releases (a dead run's too), not superseded by a loaded revision."""
        return ledger.failed_releases(self.engine, zone, dataset, period)

    def record_action(self, action: str, operator: str, reason: str, details: str) -> None:
        """Audit an operator's action: who, when, why, on what."""
        ledger.record_action(self.engine, action, operator, reason, details)

    def release_history(
        self, zone_code: str, dataset: str
    ) -> dict[str, list[tuple[int, str | None]]]:
        """Per period, the revisions the ledger has seen with the hash of what they were made of."""
        return ledger.release_history(self.engine, zone_code, dataset)

    # -- repair (warehouse.repair) -------------------------------------------------------------

    def repair(self, stale_after: timedelta) -> list[str]:
        """Finish what a killed run left behind; return a line per thing done."""
        return repair.repair(self._publisher, stale_after)

    def published_differences(self) -> list[tuple[str, int, str]]:
        """The (table, year, zone) partitions whose published rows differ from what SQL holds."""
        return repair.published_differences(self._publisher)

    # -- the Parquet tree (warehouse.publishing) -----------------------------------------------

    def publish_partition(self, partition: parquet.Partition) -> None:
        """After a batch: a partition's lake table (if any) and current table, from SQL."""
        self._publisher.publish_partition(partition)

    def rewrite_parquet_file(
        self, table: str, key: ReleaseKey, batch: str | None, wait_s: float = 600.0
    ) -> Path | None:
        """Write one Parquet file again from SQL (temp, then rename); None: no rows, no file."""
        return self._publisher.rewrite_parquet_file(table, key, batch, wait_s)

    def rewrite_release_parquet(
        self, key: ReleaseKey, load_id: str, tables: Sequence[str]
    ) -> list[Path]:
        """Write the Parquet files holding a load's rows of some tables again from SQL."""
        return self._publisher.rewrite_release_parquet(key, load_id, tables)

    def parquet_batch(self) -> parquet.ParquetBatch:
        """A Parquet batch: one file per partition for the releases loaded in it (see parquet)."""
        return self._publisher.parquet_batch()

    # -- loading a release (warehouse.loading) -------------------------------------------------

    def load_release(
        self,
        v: ValidatedRelease,
        spool: Path | None = None,
        batch: parquet.ParquetBatch | None = None,
    ) -> None:
        """Load a validated release in one transaction, then publish its Parquet rows."""
        loading.load_release(self._publisher, v, spool, batch)

    # the tests reach it here; the code calls warehouse.loading.upsert_enterprises
    _upsert_enterprises = staticmethod(loading.upsert_enterprises)

    @contextmanager
    def connect(self) -> Iterator[Connection]:
        """A read connection (for status, tests and reports)."""
        with self.engine.connect() as conn:
            yield conn


def sqlite_url_for(data_dir: Path) -> str:
    """The default embedded warehouse under a data directory."""
    return f"sqlite:///{(data_dir / 'zonestats.db').as_posix()}"


__all__ = ["LEDGER_STATUSES", "LoadConflict", "Warehouse", "engine_for", "sqlite_url_for"]
