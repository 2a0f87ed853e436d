"""Publishing the Parquet tree from SQL: a partition, a file, a release's files, a batch.

Every Parquet file holds exactly the rows of the loads ``load_commit`` maps to it, so any file can
be written again from SQL (temp file, then rename). The current tables and a lake's tables are
written a (year, zone) partition at a time, whole.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from sqlalchemy import Engine, select

from warehouse import current, parquet, schema
from warehouse.committed import (
    by_release,
    commit_rows,
    current_commits,
    file_rows,
    partition_commits,
)
from warehouse.paths import CURRENT_TABLES, parquet_file, temp_file
from zonestats.metrics import timed
from zonestats.models import ReleaseKey

# the name the warehouse logged under before its jobs were split out of store.py
log = logging.getLogger("warehouse.store")

_PUBLISHING = threading.Lock()


@dataclass
class ParquetFile:
    """A Parquet file SQL holds rows for: of a table, a release's own or a batch's."""

    table: str
    key: ReleaseKey  # the release, or one release of the batch's partition
    batch: str | None
    final: Path
    releases: set[ReleaseKey]


def _release_rows_of_file(path: Path, key: ReleaseKey) -> pa.Table:
    """A release's rows of a Parquet file, reading only the row groups that may hold them.

    One row group at a time by its statistics (a release's rows are contiguous in a batch
    file): the dataset reader behind ``pq.read_table(filters=...)`` read ahead several row
    groups per call, and four zones closing their batches at once peaked a 4x bench run there.
    """
    pf = pq.ParquetFile(path)
    names = pf.schema_arrow.names
    at_period, at_revision = names.index("period"), names.index("revision")

    def may_hold(i: int) -> bool:
        group = pf.metadata.row_group(i)
        for col, value in ((at_period, key.period), (at_revision, key.revision)):
            stats = group.column(col).statistics
            if stats is not None and stats.has_min_max and not stats.min <= value <= stats.max:
                return False
        return True

    parts = []
    for i in range(pf.num_row_groups):
        if may_hold(i):
            rows = pf.read_row_group(i, use_threads=False)
            mine = pc.and_(
                pc.equal(rows.column("period"), key.period),
                pc.equal(rows.column("revision"), key.revision),
            )
            parts.append(rows.filter(mine))
    if not parts:
        return pf.schema_arrow.empty_table()
    return pa.concat_tables(parts)


class Publisher:
    """The Parquet tree (local, or a lake's tables) of one warehouse, written from its SQL."""

    def __init__(self, engine: Engine, data_dir: Path, lake: Any) -> None:
        self.engine = engine
        self.data_dir = data_dir
        self.lake = lake  # a warehouse.lake.Lake, or None: the local tree only

    def publish_partition(self, partition: parquet.Partition) -> None:
        """After a batch: a partition's lake table (if any) and current table, from SQL."""
        table, year, zone = partition
        with _PUBLISHING, timed("write_parquet"):
            if self.lake is not None:
                self.write_partition(table, year, zone)
            if table in CURRENT_TABLES:
                self.write_partition(CURRENT_TABLES[table], year, zone)

    def write_partition(self, table: str, year: int, zone: str) -> None:
        """Write one partition of a lake or current table again, whole, from SQL.

        A release at a time: a partition is never held whole in memory (at 4x the bench a
        zone's year is 432,000 rows, and four zones close their batches at once).
        """

        def parts() -> Iterator[pa.Table]:
            with self.engine.connect() as conn:
                if table in CURRENT_TABLES.values():
                    obs = table.removesuffix("_current")
                    commits = current_commits(conn, obs, year, zone)
                else:
                    obs = table
                    commits = partition_commits(conn, table, year, zone)
            # SQL only for what no batch file holds, a release per (short) transaction: on
            # SQLite a read holds the write lock, which other zones wait for
            if obs == "quarantine":
                yield from self._sql_parts(obs, commits)
                return
            for rk, mine in by_release(commits):
                rows = None if obs == table else self._batch_file_rows(obs, rk, mine)
                if rows is None:
                    yield from self._sql_parts(obs, mine)
                else:
                    yield parquet.conform(obs, rows)

        if self.lake is not None:
            self.lake.replace_partition(table, year, zone, parts)
        else:
            current.write_local(self.data_dir, table, year, zone, parts())

    def _sql_parts(self, table: str, commits: list[Any]) -> list[pa.Table]:
        """The rows some load_commit rows added to a table, read from SQL in one transaction."""
        with self.engine.connect() as conn:
            return [parquet.conform(table, p) for p in commit_rows(conn, table, commits)]

    def _batch_file_rows(self, table: str, key: ReleaseKey, commits: list[Any]) -> pa.Table | None:
        """A release's rows from the one local batch file that holds all of them, else None.

        Reading a partition's current rows back from SQL cost ~16 % of a bench run; a release
        loaded whole by one batch (no accepts since, not on a lake) has exactly its rows in that
        batch's published file, already in Parquet form.
        """
        batches = {c.parquet_batch for c in commits}
        if self.lake is not None or len(batches) != 1 or None in batches:
            return None
        path = parquet_file(self.data_dir, table, key, batches.pop())
        if not path.exists():
            return None  # not published (a dead run): repair rewrites it from SQL
        data = _release_rows_of_file(path, key)
        if data.num_rows != sum(int(c.obs_rows) for c in commits):
            return None  # the file is not what SQL says it holds: SQL decides
        # in the order SQL reads a release: its key's order
        base = schema.OBS_BASE[key.dataset]
        order = [c.name for c in base.primary_key.columns if c.name in data.column_names]
        return data.sort_by([(c, "ascending") for c in order])

    def expected_files(self) -> list[ParquetFile]:
        """Every Parquet file SQL holds rows for, with the releases whose rows it holds."""
        lc = schema.load_commit.c
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(
                    lc.zone_code,
                    lc.dataset,
                    lc.period,
                    lc.revision,
                    lc.parquet_batch,
                    lc.obs_rows,
                    lc.quarantine_rows,
                )
            ).all()
        files: dict[Path, ParquetFile] = {}
        for zone, dataset, period, revision, batch, n_obs, n_q in rows:
            key = ReleaseKey(zone, dataset, period, int(revision))
            for table, n in ((schema.OBS_TABLES[dataset].name, n_obs), ("quarantine", n_q)):
                if not n:
                    continue
                final = parquet_file(self.data_dir, table, key, batch)
                f = files.get(final)
                if f is None:
                    f = files[final] = ParquetFile(table, key, batch, final, set())
                f.releases.add(key)
        return list(files.values())

    def rewrite_parquet_file(
        self, table: str, key: ReleaseKey, batch: str | None, wait_s: float = 600.0
    ) -> Path | None:
        """Write one Parquet file again from SQL (temp, then rename); None: no rows, no file.

        ``key``: the release (its own file) or any release of the partition (a batch's file).
        A batch still loading into the file is waited for up to ``wait_s`` (then TimeoutError):
        what it publishes at its end lacks what changed in SQL since.
        """
        final = parquet_file(self.data_dir, table, key, batch)
        deadline = time.monotonic() + wait_s
        while True:
            with parquet.claim_temp(temp_file(final)) as free:
                if free:
                    with self.engine.connect() as conn:
                        tmp = parquet.write_file(table, final, file_rows(conn, table, key, batch))
                    if tmp is None:
                        final.unlink(missing_ok=True)  # no rows: no file, not a stale one
                    else:
                        parquet.publish(tmp, final)
                    if batch is not None:
                        # a dead batch writer's temp file, now of no use (its lock is ours)
                        parquet.discard_temp(temp_file(final))
                    return None if tmp is None else final
            if time.monotonic() >= deadline:
                raise TimeoutError(f"{final}: a live run is still loading into this file")
            time.sleep(0.2)

    def rewrite_release_parquet(
        self, key: ReleaseKey, load_id: str, tables: Sequence[str]
    ) -> list[Path]:
        """Write the Parquet files holding a load's rows of some tables again from SQL."""
        lc = schema.load_commit.c
        with self.engine.connect() as conn:
            commits = conn.execute(
                select(lc.parquet_batch, lc.obs_rows, lc.quarantine_rows).where(
                    lc.load_id == load_id
                )
            ).all()
        obs_name = schema.OBS_TABLES[key.dataset].name
        # the current table follows its observations whatever the backend
        self.publish_partition((obs_name, int(key.period[:4]), key.zone_code))
        if self.lake is not None:
            if "quarantine" in tables:
                self.publish_partition(("quarantine", int(key.period[:4]), key.zone_code))
            return []
        files = {
            (table, batch)
            for batch, n_obs, n_q in commits
            for table in tables
            if (n_q if table == "quarantine" else n_obs) and table in (obs_name, "quarantine")
        }
        written = []
        for table, batch in sorted(files, key=lambda f: (f[0], f[1] or "")):
            path = self.rewrite_parquet_file(table, key, batch)
            if path is not None:
                written.append(path)
        return written

    def parquet_batch(self) -> parquet.ParquetBatch:
        """A Parquet batch: one file per partition for the releases loaded in it (see parquet)."""
        if self.lake is not None:
            return parquet.LakeBatch(
                self.data_dir, durable=self.durable, after_close=self.publish_partition
            )
        return parquet.ParquetBatch(
            self.data_dir,
            rebuild=self._rebuild_batch_file,
            durable=self.durable,
            after_close=self.publish_partition,
        )

    def durable(self) -> None:
        """Make every commit so far survive a power loss (SQLite: sync its write-ahead log).

        SQLite commits with synchronous=NORMAL do not wait for the disk, and a checkpoint syncs
        what it moves into the database file; what is still only in the WAL is synced here, once
        before Parquet rows become visible, outside the write lock. PostgreSQL commits durably.
        """
        if self.engine.dialect.name != "sqlite":
            return
        database = self.engine.url.database
        if not database or database == ":memory:":
            return
        try:
            fd = os.open(f"{database}-wal", os.O_RDONLY)
        except FileNotFoundError:
            return
        try:
            os.fsync(fd)
        finally:
            os.close(fd)

    def publish_current(self, obs_name: str, key: ReleaseKey) -> None:
        """A committed load's current partition; a failure is the next repair's to mend."""
        try:
            self.publish_partition((obs_name, int(key.period[:4]), key.zone_code))
        except Exception:
            log.exception("%s: the current partition could not be written", key)

    def _rebuild_batch_file(self, table: str, key: ReleaseKey, batch: str) -> Path | None:
        return self.rewrite_parquet_file(table, key, batch, wait_s=0)
