"""Parquet files that readers see: written under a hidden temp name, then renamed into place.

Two ways a load's rows reach the tree. Alone (no batch): each release has its own file per table,
written while its transaction runs and renamed once it commits. In a ``ParquetBatch``: the rows of
every release a run loads go, after each commit, to one hidden temp file per partition
(table/year/zone), renamed into place when the batch closes; the load's transaction records the
batch in SQL (``load_commit.parquet_batch``) so ``Warehouse.repair`` can write a file a killed
run never renamed again from SQL. A batch writer holds an exclusive lock (flock) on its temp file
from before the first commit that maps rows to it until the rename: the kernel drops the lock with
the process, so a temp file nobody holds belongs to a dead run, whatever its age.
"""

from __future__ import annotations

import fcntl
import logging
import os
import threading
import uuid
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from types import TracebackType

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from warehouse import schema
from warehouse.arrow import arrow_schema
from warehouse.paths import new_batch_id, parquet_file, temp_file
from zonestats.models import ReleaseKey, utcnow

log = logging.getLogger(__name__)

# Columns per table in SQL order, without the partition columns (zone_code, year) that the
# directory names carry; DuckDB/pandas/Arrow add them back when reading the table root.
# The quarantine's raw payloads stay in SQL (operators) and under raw/ (the pages as received): the
# Parquet tree is what statisticians read, and their role may not read raw payloads.
SCHEMAS: dict[str, pa.Schema] = {
    table.name: arrow_schema(table, drop=("zone_code", "raw"))
    for table in (schema.obs_zone, schema.obs_enterprise, schema.quarantine)
}
_TIMESTAMPS = ("loaded_at", "created_at", "resolved_at")
# rows a partition's writer gathers before it writes a row group: a 12-row zone release is not
# worth a row group of its own
ROW_GROUP_ROWS = 65_536


def conform(table: str, data: pa.Table) -> pa.Table:
    """The columns of a Parquet table, in its order and types, from an Arrow table holding them."""
    target = SCHEMAS[table]
    return pa.Table.from_arrays(
        [data.column(f.name).cast(f.type) for f in target], schema=target
    ).combine_chunks()


def from_frame(table: str, frame: pd.DataFrame) -> pa.Table:
    """A frame's rows as an Arrow table of a Parquet table's schema (timestamps made UTC)."""
    target = SCHEMAS[table]
    frame = frame.copy()
    for col in _TIMESTAMPS:
        if col in frame.columns and col in target.names:
            frame[col] = pd.to_datetime(frame[col], utc=True)
    return pa.Table.from_pandas(frame[target.names], schema=target, preserve_index=False)


class TempParquet:
    """A Parquet file written part by part under a hidden temp name beside its final path.

    Parts are gathered into row groups of about ``ROW_GROUP_ROWS``: a partition written a
    release at a time holds as few row groups as one written whole, in bounded memory.
    """

    def __init__(self, table: str, final: Path) -> None:
        self.table = table
        self.schema = SCHEMAS[table]
        self.final = final
        self.tmp = temp_file(final, uuid.uuid4().hex)
        self._writer: pq.ParquetWriter | None = None
        self._pending: list[pa.Table] = []
        self._pending_rows = 0
        self.rows = 0

    def write(self, data: pd.DataFrame | pa.Table) -> None:
        """Append rows (a frame or an Arrow table with the table's columns)."""
        arrow = from_frame(self.table, data) if isinstance(data, pd.DataFrame) else data
        arrow = conform(self.table, arrow)
        if arrow.num_rows == 0:
            return
        self._pending.append(arrow)
        self._pending_rows += arrow.num_rows
        self.rows += arrow.num_rows
        if self._pending_rows >= ROW_GROUP_ROWS:
            self._flush()

    def _flush(self) -> None:
        if not self._pending:
            return
        if self._writer is None:
            # the partition directory appears with the first row, never for an empty part
            self.final.parent.mkdir(parents=True, exist_ok=True)
            self._writer = pq.ParquetWriter(self.tmp, self.schema, compression="zstd")
        self._writer.write_table(pa.concat_tables(self._pending), row_group_size=ROW_GROUP_ROWS)
        self._pending, self._pending_rows = [], 0

    def close(self) -> Path | None:
        """Finish the temp file; None when nothing was written (no file for an empty part)."""
        self._flush()
        if self._writer is None:
            return None
        self._writer.close()
        self._writer = None
        with self.tmp.open("rb") as fh:
            os.fsync(fh.fileno())
        return self.tmp

    def discard(self) -> None:
        """Stop writing and remove the temp file (after a failure: nothing is published)."""
        self._pending, self._pending_rows = [], 0
        if self._writer is not None:
            self._writer.close()
            self._writer = None
        discard_temp(self.tmp)


def write_file(table: str, final: Path, parts: Iterable[pa.Table]) -> Path | None:
    """Write a whole file from parts into a temp beside ``final``; the temp, or None if empty."""
    out = TempParquet(table, final)
    try:
        for part in parts:
            out.write(part)
        return out.close()
    except BaseException:
        out.discard()
        raise


def publish(tmp: Path, final: Path) -> None:
    """Move a finished temp file into place in one step."""
    os.replace(tmp, final)


def discard_temp(tmp: Path) -> None:
    """Remove a temp file that will not be published."""
    tmp.unlink(missing_ok=True)


@contextmanager
def claim_temp(tmp: Path) -> Iterator[bool]:
    """Hold a temp file's lock for the block: True when got (nobody else holds it, or it is gone).

    False: a live writer holds it. A writer that renames its temp into place while we wait for it
    leaves us a lock on the published file, which no one else wants; True then too.
    """
    try:
        fd = os.open(tmp, os.O_RDONLY)
    except FileNotFoundError:
        yield True
        return
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            yield False
            return
        yield True
    finally:
        os.close(fd)  # releases the lock


def held(tmp: Path) -> bool:
    """True while a live batch writer holds this temp file."""
    with claim_temp(tmp) as got:
        return not got


def _makedirs(path: Path) -> list[Path]:
    """Make a directory and its missing parents; the ones made, deepest first."""
    missing = []
    while not path.exists():
        missing.append(path)
        path = path.parent
    for d in reversed(missing):
        d.mkdir(exist_ok=True)
    return missing


def _removedirs(made: list[Path]) -> None:
    """Remove directories we made, deepest first, as long as they are empty."""
    for d in made:
        try:
            d.rmdir()
        except OSError:
            return  # not empty (another file arrived) or gone: leave it and its parents


class PartFile:
    """One partition's file of a batch: a locked hidden temp file until it is renamed into place."""

    def __init__(self, table: str, final: Path) -> None:
        self.table = table
        self.final = final
        self.tmp = temp_file(final)
        # the directories this file makes: removed again if it ends with no row, so that a
        # partition directory still appears only with its first row
        self._made = _makedirs(final.parent)
        # created and locked before any commit maps rows to this file: repair, seeing the lock,
        # leaves the file to us; a batch id is new, so no one else ever holds this name
        self._fd = os.open(self.tmp, os.O_CREAT | os.O_WRONLY, 0o644)
        try:
            fcntl.flock(self._fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BaseException:
            os.close(self._fd)
            raise
        self._writer: pq.ParquetWriter | None = None
        self._pending: list[pa.Table] = []
        self._pending_rows = 0
        self.rows = 0
        self.broken = False  # a committed load's rows could not be appended: rebuild from SQL

    def append(self, data: pa.Table) -> None:
        """Add the rows of a committed load."""
        if self.broken or data.num_rows == 0:
            return
        self._pending.append(conform(self.table, data))
        self._pending_rows += data.num_rows
        self.rows += data.num_rows
        if self._pending_rows >= ROW_GROUP_ROWS:
            self._flush()

    def _flush(self) -> None:
        if not self._pending:
            return
        if self._writer is None:
            self._writer = pq.ParquetWriter(self.tmp, SCHEMAS[self.table], compression="zstd")
        self._writer.write_table(pa.concat_tables(self._pending), row_group_size=ROW_GROUP_ROWS)
        self._pending, self._pending_rows = [], 0

    def publish(self) -> bool:
        """Finish the file and rename it into place (nothing for no rows); True when published."""
        try:
            if self.rows == 0:
                discard_temp(self.tmp)
                _removedirs(self._made)
                return False
            self._flush()
            assert self._writer is not None
            self._writer.close()
            self._writer = None
            os.fsync(self._fd)
            publish(self.tmp, self.final)
            return True
        finally:
            self._release()

    def abandon(self) -> None:
        """Drop the temp file without publishing it."""
        try:
            if self._writer is not None:
                self._writer.close()
                self._writer = None
            discard_temp(self.tmp)
            _removedirs(self._made)
        finally:
            self._release()

    def _release(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1


#: writes one file of a batch again from SQL: (table, release key of the partition, batch id)
Rebuild = Callable[[str, ReleaseKey, str], object]
#: a (table, year, zone_code) partition a batch wrote to
Partition = tuple[str, int, str]
#: what follows a batch's publication, per partition it touched (the current tables, the lake)
AfterClose = Callable[[Partition], object]


class ParquetBatch:
    """One Parquet file per partition for the releases loaded in it, published when it closes.

    Open it around the releases of a zone (``with wh.parquet_batch() as batch:``) and pass it to
    ``Warehouse.load_release``. Rows are appended only after their load commits; a reader sees a
    partition's batch file whole, once, when the batch closes, and never a row twice. A run killed
    before then leaves the SQL side recorded: the next run's repair writes the file from SQL.
    """

    def __init__(
        self,
        data_dir: Path,
        rebuild: Rebuild | None = None,
        batch_id: str | None = None,
        started: datetime | None = None,
        durable: Callable[[], object] | None = None,
        after_close: AfterClose | None = None,
    ) -> None:
        self.data_dir = data_dir
        self._after_close = after_close
        # every partition a load of the batch reserved, in order, for ``after_close``
        self.partitions: dict[Partition, None] = {}
        self.batch_id = batch_id or new_batch_id(started or utcnow())
        self._rebuild = rebuild
        self._durable = durable
        self._parts: dict[Path, PartFile] = {}
        self._keys: dict[Path, ReleaseKey] = {}
        self._lock = threading.Lock()
        self._idle = threading.Condition(self._lock)
        self._loading = 0
        self.closed = False
        self.published: list[Path] = []

    @contextmanager
    def loading(self) -> Iterator[None]:
        """Around one load that uses the batch: closing waits for it (its rows must be in)."""
        with self._lock:
            if self.closed:
                raise RuntimeError(f"Parquet batch {self.batch_id} is closed")
            self._loading += 1
        try:
            yield
        finally:
            with self._lock:
                self._loading -= 1
                self._idle.notify_all()

    def reserve(self, table: str, key: ReleaseKey) -> None:
        """Lock the partition file a release's rows of a table go to; call before the commit."""
        self._part(table, key)

    def _part(self, table: str, key: ReleaseKey) -> PartFile:
        final = parquet_file(self.data_dir, table, key, self.batch_id)
        with self._lock:
            if self.closed and not self._loading:
                raise RuntimeError(f"Parquet batch {self.batch_id} is closed")
            self.partitions[(table, int(key.period[:4]), key.zone_code)] = None
            part = self._parts.get(final)
            if part is None:
                part = self._parts[final] = PartFile(table, final)
                self._keys[final] = key
            return part

    def touch(self, table: str, key: ReleaseKey) -> None:
        """Note a partition a load changes without rows of its own here (its current rows)."""
        with self._lock:
            self.partitions[(table, int(key.period[:4]), key.zone_code)] = None

    def append(self, table: str, key: ReleaseKey, data: pa.Table) -> None:
        """Add a committed load's rows of a table; a failure marks the file for a rebuild."""
        part = self._part(table, key)
        try:
            part.append(data)
        except Exception:
            # the load is committed: its rows must reach the file, from SQL if not from here
            log.exception("batch %s: rows of %s could not be appended", self.batch_id, key)
            part.broken = True

    def close(self) -> list[Path]:
        """Publish every partition's file; return the files published."""
        with self._lock:
            if self.closed:
                return self.published
            self.closed = True  # no load starts in it from now on
            while self._loading:
                self._idle.wait()
            parts = list(self._parts.items())
        if self._durable is not None and any(p.rows for p in self._parts.values()):
            # the batch's commits survive a power loss before any of their rows is visible
            self._durable()
        for final, part in parts:
            try:
                if part.broken:
                    part.abandon()
                    if self._rebuild is not None:
                        self._rebuild(part.table, self._keys[final], self.batch_id)
                        self.published.append(final)
                elif part.publish():
                    self.published.append(final)
            except Exception:
                # the SQL side says which loads belong here: the next repair writes it
                log.exception("batch %s: %s could not be published", self.batch_id, final)
                part.abandon()
        self._finish()
        return self.published

    def _finish(self) -> None:
        """Run the after-close step per partition; a failure is left to the next repair."""
        if self._after_close is None:
            return
        for partition in self.partitions:
            try:
                self._after_close(partition)
            except Exception:
                log.exception("batch %s: %s could not be published", self.batch_id, partition)

    def __enter__(self) -> ParquetBatch:
        return self

    def __exit__(
        self, et: type[BaseException] | None, ev: BaseException | None, tb: TracebackType | None
    ) -> None:
        # published whatever happened: what is in the files committed
        self.close()


class LakeBatch(ParquetBatch):
    """A batch whose partitions live in a lake: nothing local; each is written from SQL at close.

    Loads record the batch in SQL as usual. Closing replaces each partition the batch touched
    with SQL's rows for it, one Delta commit per partition and table (``after_close``); a run
    killed before that leaves SQL ahead of the lake, which the next repair sees and mends.
    """

    def reserve(self, table: str, key: ReleaseKey) -> None:
        """Note the partition a release's rows of a table go to."""
        parquet_file(self.data_dir, table, key, self.batch_id)  # the key's values checked
        with self._lock:
            if self.closed and not self._loading:
                raise RuntimeError(f"Parquet batch {self.batch_id} is closed")
            self.partitions[(table, int(key.period[:4]), key.zone_code)] = None

    def append(self, table: str, key: ReleaseKey, data: pa.Table) -> None:
        """Nothing to keep: the partition is written from SQL when the batch closes."""
        self.reserve(table, key)

    def close(self) -> list[Path]:
        """Write every touched partition from SQL (one commit each); no local file."""
        with self._lock:
            if self.closed:
                return self.published
            self.closed = True
            while self._loading:
                self._idle.wait()
        if self._durable is not None and self.partitions:
            # the commits survive a power loss before the lake shows any of their rows
            self._durable()
        self._finish()
        return self.published
