"""What SQL holds of committed loads: their load_commit rows and the rows they added, read back.

Every Parquet file holds exactly the rows of the loads ``load_commit`` maps to it; these read
those rows from SQL a part at a time, in the order a file holds them, as readers see them.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pandas as pd
import pyarrow as pa
from sqlalchemy import Connection, func, select

from warehouse import parquet, schema
from warehouse.arrow import arrow_schema
from warehouse.bulk import CHUNK_ROWS
from zonestats.models import ReleaseKey, utc

TS_TYPE = pa.timestamp("us", tz="UTC")


def _marks(conn: Connection, n: int) -> str:
    return ", ".join(("%s" if conn.dialect.name == "postgresql" else "?") for _ in range(n))


def _commit_columns() -> list[Any]:
    """The load_commit columns that reading a commit's rows back needs."""
    lc = schema.load_commit.c
    return [
        lc.load_no,
        lc.load_id,
        lc.loaded_at,
        lc.zone_code,
        lc.dataset,
        lc.period,
        lc.revision,
        lc.quarantine_rows,
        lc.obs_rows,
        lc.parquet_batch,
    ]


def by_release(commits: list[Any]) -> list[tuple[ReleaseKey, list[Any]]]:
    """Load_commit rows grouped by release, in (period, revision) order: the order files hold."""
    groups: dict[ReleaseKey, list[Any]] = {}
    for c in commits:
        groups.setdefault(ReleaseKey(c.zone_code, c.dataset, c.period, int(c.revision)), []).append(
            c
        )
    return sorted(groups.items(), key=lambda kv: (kv[0].period, kv[0].revision))


def _obs_rows(conn: Connection, key: ReleaseKey, commits: list[Any]) -> Iterator[pa.Table]:
    """A release's observation rows of some loads (load_commit rows), as readers see them."""
    base = schema.OBS_BASE[key.dataset]
    columns = [c.name for c in base.columns]
    types = arrow_schema(base)
    order = ", ".join(c.name for c in base.primary_key.columns)
    loads = {int(c.load_no): i for i, c in enumerate(commits)}
    load_ids = pa.array([c.load_id for c in commits], pa.string())
    loaded_at = pa.array([utc(c.loaded_at) for c in commits], TS_TYPE)
    # the release's key range; straight on the driver (no timestamps here to convert)
    cur = conn.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
    try:
        cur.execute(
            f"SELECT {', '.join(columns)} FROM {base.name} "
            f"WHERE zone_code = {_marks(conn, 1)} AND period = {_marks(conn, 1)} "
            f"AND revision = {_marks(conn, 1)} ORDER BY {order}",
            (key.zone_code, key.period, key.revision),
        )
        while rows := cur.fetchmany(CHUNK_ROWS):
            data = pa.table(
                [
                    pa.array(col, f.type)
                    for col, f in zip(zip(*rows, strict=True), types, strict=True)
                ],
                schema=types,
            )
            nos = data.column("load_no").to_pylist()
            index = pa.array([loads.get(n) for n in nos], pa.int32())
            mine = index.is_valid()
            data, index = data.filter(mine), index.filter(mine)
            if data.num_rows:
                yield data.append_column("load_id", load_ids.take(index)).append_column(
                    "loaded_at", loaded_at.take(index)
                )
    finally:
        cur.close()


def quarantine_rows(conn: Connection, load_ids: list[str]) -> Iterator[pa.Table]:
    """The quarantine rows of some loads, as the Parquet tree carries them."""
    q = schema.quarantine
    columns = [c.name for c in q.columns]
    for start in range(0, len(load_ids), 500):
        result = conn.execution_options(yield_per=CHUNK_ROWS).execute(
            select(q)
            .where(q.c.load_id.in_(load_ids[start : start + 500]))
            .order_by(q.c.quarantine_id)
        )
        for part in result.partitions():
            yield parquet.conform(
                "quarantine", parquet.from_frame("quarantine", pd.DataFrame(part, columns=columns))
            )


def partition_commits(conn: Connection, table: str, year: int, zone: str) -> list[Any]:
    """The load_commit rows whose rows of a table lie in a (year, zone) partition."""
    lc = schema.load_commit
    q = select(*_commit_columns()).where(
        lc.c.zone_code == zone, lc.c.period >= str(year), lc.c.period < str(year + 1)
    )
    return [
        r
        for r in conn.execute(q.order_by(lc.c.load_no)).all()
        if (
            r.quarantine_rows > 0
            if table == "quarantine"
            else schema.OBS_TABLES[r.dataset].name == table
        )
    ]


def current_commits(conn: Connection, obs: str, year: int, zone: str) -> list[Any]:
    """The load_commit rows of the current revisions in a (year, zone) partition.

    What ``obs_*_current`` selects, read the way a batch file is (each current release's key
    range of the base table): the view itself, filtered by zone and year, scans the table.
    """
    dataset = "zone" if obs == "obs_zone" else "enterprise"
    led = schema.load_ledger.c
    latest = dict(
        conn.execute(
            select(led.period, func.max(led.revision))
            .where(
                led.zone_code == zone,
                led.dataset == dataset,
                led.status == "loaded",
                led.period >= str(year),
                led.period < str(year + 1),
            )
            .group_by(led.period)
        ).all()
    )
    return [
        c
        for c in partition_commits(conn, obs, year, zone)
        if latest.get(c.period) == int(c.revision)
    ]


def file_commits(conn: Connection, table: str, key: ReleaseKey, batch: str | None) -> list[Any]:
    """The load_commit rows whose rows of a table one Parquet file holds."""
    lc = schema.load_commit
    q = select(*_commit_columns()).where(lc.c.zone_code == key.zone_code)
    if batch is None:
        q = q.where(
            lc.c.parquet_batch.is_(None),
            lc.c.dataset == key.dataset,
            lc.c.period == key.period,
            lc.c.revision == key.revision,
        )
    else:
        q = q.where(lc.c.parquet_batch == batch)
    rows = conn.execute(q.order_by(lc.c.load_no)).all()
    year = key.period[:4]
    return [
        r
        for r in rows
        if r.period[:4] == year
        and (
            # a quarantine row is the load's that recorded it, never an accept's
            r.quarantine_rows > 0
            if table == "quarantine"
            else schema.OBS_TABLES[r.dataset].name == table
        )
    ]


def file_rows(
    conn: Connection, table: str, key: ReleaseKey, batch: str | None
) -> Iterator[pa.Table]:
    """The rows of one Parquet file, from SQL, a part at a time."""
    return commit_rows(conn, table, file_commits(conn, table, key, batch))


def commit_rows(conn: Connection, table: str, commits: list[Any]) -> Iterator[pa.Table]:
    """The rows of a table that some load_commit rows added, from SQL, a part at a time."""
    if table == "quarantine":
        yield from quarantine_rows(conn, sorted({c.load_id for c in commits}))
        return
    for rk, mine in by_release(commits):
        yield from _obs_rows(conn, rk, mine)
