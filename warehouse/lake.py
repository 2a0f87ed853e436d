"""The Parquet tables on object storage: Delta tables under ``s3://bucket/prefix``.

An object store has no rename, so a reader never seeing a half-written partition comes from the
table format: a Delta commit is one atomic PUT of the next log entry. Every write here replaces a
whole (year, zone) partition with the rows SQL holds for it (``mode="overwrite"`` with a
``predicate`` over that partition): loading or repairing again adds nothing. Concurrent writers of
different partitions (two workers, two zones) both land: the log entry is written with a
conditional PUT (``aws_conditional_put = etag``) and a writer that loses the race retries its
commit on top of the winner's.

Endpoint, region and credentials come from the environment only (the standard AWS variables:
``AWS_ACCESS_KEY_ID``, ``AWS_SECRET_ACCESS_KEY``, ``AWS_SESSION_TOKEN``, ``AWS_REGION`` or
``AWS_DEFAULT_REGION``, ``AWS_ENDPOINT_URL_S3`` or ``AWS_ENDPOINT_URL``), read when a table is
opened, never from the config file or flow parameters, never logged.
"""

from __future__ import annotations

import itertools
import os
import time
from collections.abc import Callable, Iterable, Mapping

import pyarrow as pa
import pyarrow.compute as pc
from deltalake import DeltaTable, write_deltalake
from deltalake.exceptions import CommitFailedError, TableNotFoundError

from warehouse.parquet import SCHEMAS
from warehouse.paths import CURRENT_TABLES, PARQUET_TABLES
from zonestats.models import ZONE_CODE

#: the tables of a lake: the observations, the quarantine, and the current revisions
LAKE_TABLES = (*PARQUET_TABLES, *CURRENT_TABLES.values())
PARTITION_BY = ["year", "zone_code"]
_COMMIT_ATTEMPTS = 8


def table_schema(table: str) -> pa.Schema:
    """A Delta table's schema: the Parquet tree's columns, then the partition columns."""
    base = SCHEMAS[table[: -len("_current")] if table.endswith("_current") else table]
    return base.append(pa.field("year", pa.int32(), nullable=False)).append(
        pa.field("zone_code", pa.string(), nullable=False)
    )


def storage_options(env: Mapping[str, str] | None = None) -> dict[str, str]:
    """The object-store options of deltalake, from the environment (credentials stay there)."""
    env = os.environ if env is None else env
    opts: dict[str, str] = {"aws_conditional_put": "etag"}
    endpoint = env.get("AWS_ENDPOINT_URL_S3") or env.get("AWS_ENDPOINT_URL")
    if endpoint:
        opts["aws_endpoint_url"] = endpoint
        if endpoint.startswith("http://"):
            opts["aws_allow_http"] = "true"  # a simulator or an in-house gateway on plain HTTP
    region = env.get("AWS_REGION") or env.get("AWS_DEFAULT_REGION")
    if region:
        opts["aws_region"] = region
    # the keys themselves: object_store reads AWS_ACCESS_KEY_ID etc. from the environment too,
    # passed on here only so that one process's env is the one source for every option
    for var in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"):
        if env.get(var):
            opts[var.lower()] = env[var]
    return opts


class Lake:
    """The Delta tables under one ``s3://`` prefix."""

    def __init__(self, uri: str) -> None:
        self.uri = uri.rstrip("/")

    def __repr__(self) -> str:
        return f"Lake({self.uri!r})"

    def table_uri(self, table: str) -> str:
        """Where a Delta table lives: ``<uri>/parquet/<table>`` (the one path function)."""
        if table not in LAKE_TABLES:
            raise ValueError(f"unknown lake table {table!r}")
        return f"{self.uri}/parquet/{table}"

    def open(self, table: str) -> DeltaTable | None:
        """The Delta table, or None before its first commit."""
        try:
            return DeltaTable(self.table_uri(table), storage_options=storage_options())
        except TableNotFoundError:
            return None

    def read(self, table: str) -> pa.Table:
        """A table's rows (empty with its schema before the first commit)."""
        dt = self.open(table)
        if dt is None:
            return table_schema(table).empty_table()
        return dt.to_pyarrow_table()

    def replace_partition(
        self,
        table: str,
        year: int,
        zone_code: str,
        rows: pa.Table | Callable[[], Iterable[pa.Table]],
    ) -> None:
        """Make a (year, zone) partition hold exactly ``rows`` in one commit (none: emptied).

        ``rows`` may be a factory of parts, called once per commit attempt: the partition is
        then streamed to the store a part at a time, never held whole in memory.
        """
        if not ZONE_CODE.match(zone_code) or not 1990 <= year <= 2100:
            raise ValueError(f"partition year={year!r} zone_code={zone_code!r} is not valid")
        target = table_schema(table)

        def with_partition(part: pa.Table) -> pa.Table:
            n = part.num_rows
            return pa.Table.from_arrays(
                [part.column(f.name).cast(f.type) for f in list(target)[:-2]]
                + [pa.repeat(pa.scalar(year, pa.int32()), n), pa.repeat(zone_code, n)],
                schema=target,
            )

        def data() -> pa.Table | pa.RecordBatchReader | None:
            """This attempt's rows: None when there are none."""
            if isinstance(rows, pa.Table):
                return with_partition(rows) if rows.num_rows else None
            parts = (p for p in rows() if p.num_rows)
            first = next(parts, None)
            if first is None:
                return None
            batches = (
                b for p in itertools.chain([first], parts) for b in with_partition(p).to_batches()
            )
            return pa.RecordBatchReader.from_batches(target, batches)

        predicate = f"year = {year} AND zone_code = '{zone_code}'"
        for attempt in range(1, _COMMIT_ATTEMPTS + 1):
            try:
                batch = data()
                if self.open(table) is None:
                    # the first commit creates the table; an empty partition then needs none
                    if batch is None:
                        return
                    write_deltalake(
                        self.table_uri(table),
                        batch,
                        mode="append",
                        partition_by=PARTITION_BY,
                        storage_options=storage_options(),
                    )
                else:
                    write_deltalake(
                        self.table_uri(table),
                        target.empty_table() if batch is None else batch,
                        mode="overwrite",
                        predicate=predicate,
                        storage_options=storage_options(),
                    )
                return
            except CommitFailedError:
                # another writer committed first (the table's creation, or a conflicting
                # version): our rows are SQL's, so writing them again on top is right
                if attempt == _COMMIT_ATTEMPTS:
                    raise
                time.sleep(0.05 * attempt)

    def summary(self, table: str) -> dict[str, int] | None:
        """A table's Delta version, active files, rows and bytes, from its log alone (no data
        file read); None before its first commit."""
        dt = self.open(table)
        if dt is None:
            return None
        adds = pa.table(dt.get_add_actions(flatten=True))
        rows = adds.column("num_records") if "num_records" in adds.column_names else None
        return {
            "version": int(dt.version()),
            "files": adds.num_rows,
            # a file written without statistics has no count: -1 says the total is unknown
            "rows": -1 if rows is None or rows.null_count else int(pc.sum(rows).as_py() or 0),
            "bytes": int(pc.sum(adds.column("size_bytes")).as_py() or 0),
        }

    def load_counts(self, table: str) -> dict[tuple[int, str], dict[str, int]]:
        """Per (year, zone) partition, the rows of each load it holds: what repair compares."""
        dt = self.open(table)
        if dt is None:
            return {}
        data = dt.to_pyarrow_table(columns=["year", "zone_code", "load_id"])
        out: dict[tuple[int, str], dict[str, int]] = {}
        if data.num_rows == 0:
            return out
        grouped = data.group_by(["year", "zone_code", "load_id"]).aggregate([("load_id", "count")])
        for year, zone, load_id, n in zip(
            grouped.column("year").to_pylist(),
            grouped.column("zone_code").to_pylist(),
            grouped.column("load_id").to_pylist(),
            pc.cast(grouped.column("load_id_count"), pa.int64()).to_pylist(),
            strict=True,
        ):
            out.setdefault((int(year), str(zone)), {})[str(load_id)] = int(n)
        return out
