"""The quarantine lifecycle and the data-quality results, in SQL and Parquet.

Nothing is ever deleted from quarantine: an operator moves a row from ``open`` to ``accepted``
(the zone explained the figure; the record is loaded as received under its release) or
``fixed`` (a corrected revision has arrived). Each move is audited in ``operator_action`` in the
same transaction, and the release's Parquet files are written again from SQL afterwards.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
from sqlalchemy import Connection, and_, func, insert, select, update

from warehouse import schema
from warehouse.bulk import bulk_insert
from warehouse.loading import upsert_enterprises
from warehouse.store import Warehouse
from zonestats.models import ReleaseKey, utcnow

QUARANTINE_STATUSES = ("open", "accepted", "fixed")


class QuarantineError(ValueError):
    """An operator's request on a quarantine row that cannot be carried out; says why."""


@dataclass(frozen=True)
class QuarantineRow:
    """One quarantine row as an operator sees it."""

    quarantine_id: int
    load_id: str
    key: ReleaseKey
    record_no: int
    record_key: str
    rule: str
    severity: str
    status: str
    message: str
    raw: str


def list_quarantine(
    wh: Warehouse,
    zone: str | None = None,
    only_open: bool = False,
    rule: str | None = None,
    limit: int = 500,
) -> pd.DataFrame:
    """The quarantine rows, newest release first, optionally of one zone, rule or still open."""
    q = schema.quarantine
    cols = [
        q.c.quarantine_id, q.c.zone_code, q.c.dataset, q.c.period, q.c.revision, q.c.record_no,
        q.c.record_key, q.c.rule, q.c.severity, q.c.status, q.c.message, q.c.note,
        q.c.resolved_at, q.c.resolved_by,
    ]  # fmt: skip
    stmt = select(*cols)
    if zone:
        stmt = stmt.where(q.c.zone_code == zone)
    if only_open:
        stmt = stmt.where(q.c.status == "open")
    if rule:
        stmt = stmt.where(q.c.rule == rule)
    stmt = stmt.order_by(
        q.c.zone_code, q.c.dataset, q.c.period.desc(), q.c.revision.desc(), q.c.quarantine_id
    ).limit(limit)
    with wh.engine.connect() as conn:
        return pd.DataFrame(conn.execute(stmt).all(), columns=[c.name for c in cols])


def quarantine_row(wh: Warehouse, quarantine_id: int) -> QuarantineRow:
    """One quarantine row by id."""
    with wh.engine.connect() as conn:
        return _row(conn, quarantine_id)


def _row(conn: Connection, quarantine_id: int) -> QuarantineRow:
    q = schema.quarantine
    r = conn.execute(select(q).where(q.c.quarantine_id == quarantine_id)).mappings().one_or_none()
    if r is None:
        raise QuarantineError(f"quarantine row {quarantine_id} does not exist")
    return QuarantineRow(
        quarantine_id=int(r["quarantine_id"]),
        load_id=r["load_id"],
        key=ReleaseKey(r["zone_code"], r["dataset"], r["period"], int(r["revision"])),
        record_no=int(r["record_no"]),
        record_key=r["record_key"],
        rule=r["rule"],
        severity=r["severity"],
        status=r["status"],
        message=r["message"],
        raw=r["raw"],
    )


def _resolve(
    conn: Connection, row: QuarantineRow, status: str, note: str, operator: str, **details: Any
) -> None:
    q = schema.quarantine
    now = utcnow()
    done = conn.execute(
        update(q)
        .where(q.c.quarantine_id == row.quarantine_id, q.c.status == "open")
        .values(status=status, note=note, resolved_at=now, resolved_by=operator)
    ).rowcount
    if done != 1:  # another operator got there first
        raise QuarantineError(f"quarantine row {row.quarantine_id} is no longer open")
    conn.execute(
        insert(schema.operator_action).values(
            action="accept" if status == "accepted" else "fix",
            operator=operator,
            reason=note,
            details=json.dumps(
                {
                    "quarantine_id": row.quarantine_id,
                    "load_id": row.load_id,
                    "release": str(row.key),
                    "record_key": row.record_key,
                    "rule": row.rule,
                    **details,
                },
                ensure_ascii=False,
                sort_keys=True,
            ),
            at=now,
        )
    )


def open_errors_of_record(wh: Warehouse, row: QuarantineRow) -> list[QuarantineRow]:
    """The open error rows that hold out the same record of the same load."""
    q = schema.quarantine
    with wh.engine.connect() as conn:
        ids = conn.execute(
            select(q.c.quarantine_id).where(
                q.c.load_id == row.load_id,
                q.c.record_no == row.record_no,
                q.c.record_key == row.record_key,
                q.c.severity == "error",
                q.c.status == "open",
            )
        ).scalars()
        return [_row(conn, int(i)) for i in ids]


def ledger_status(wh: Warehouse, load_id: str) -> str | None:
    """The ledger status of the attempt a quarantine row came from."""
    led = schema.load_ledger
    with wh.engine.connect() as conn:
        return conn.execute(
            select(led.c.status).where(led.c.load_id == load_id)
        ).scalar_one_or_none()


def accept(
    wh: Warehouse,
    row: QuarantineRow,
    note: str,
    operator: str,
    observations: pd.DataFrame | None,
    enterprise: pd.DataFrame | None = None,
) -> None:
    """Accept a quarantine row; with ``observations``, load the record under its release.

    One transaction: the row's status, the audit, the observations, the ledger's counts (the
    record moves from quarantined to loaded). Then the release's Parquet files are rewritten.
    """
    now = utcnow()
    obs_table = schema.OBS_TABLES[row.key.dataset]
    with wh.engine.begin() as conn:
        _resolve(conn, row, "accepted", note, operator, loaded=observations is not None)
        if observations is not None:
            frame = observations.assign(load_id=row.load_id, loaded_at=now)
            bulk_insert(conn, obs_table, frame)
            if enterprise is not None and not enterprise.empty:
                upsert_enterprises(conn, enterprise)
            led = schema.load_ledger
            conn.execute(
                update(led)
                .where(led.c.load_id == row.load_id)
                .values(
                    records_loaded=led.c.records_loaded + 1,
                    records_quarantined=led.c.records_quarantined - 1,
                )
            )
    if observations is not None:
        rewrite_release_files(wh, row.key, row.load_id, (obs_table.name, "quarantine"))
    else:
        rewrite_release_files(wh, row.key, row.load_id, ("quarantine",))


def fix(wh: Warehouse, row: QuarantineRow, note: str, operator: str) -> int:
    """Mark a row fixed: a later revision of its release is loaded; returns that revision."""
    led = schema.load_ledger
    with wh.engine.begin() as conn:
        newer = conn.execute(
            select(func.max(led.c.revision)).where(
                and_(
                    led.c.zone_code == row.key.zone_code,
                    led.c.dataset == row.key.dataset,
                    led.c.period == row.key.period,
                    led.c.revision > row.key.revision,
                    led.c.status == "loaded",
                )
            )
        ).scalar_one_or_none()
        if newer is None:
            raise QuarantineError(
                f"no corrected revision of {row.key} is loaded yet: `fix` records that the zone "
                "published one; until then the row stays open (or is accepted with a note)"
            )
        _resolve(conn, row, "fixed", note, operator, corrected_revision=int(newer))
    rewrite_release_files(wh, row.key, row.load_id, ("quarantine",))
    return int(newer)


def rewrite_release_files(
    wh: Warehouse, key: ReleaseKey, load_id: str, tables: Sequence[str]
) -> list[Path]:
    """Write the Parquet files that hold a release's rows of some tables again from SQL."""
    # a release's rows may share a batch's file with others: the warehouse knows which file
    return wh.rewrite_release_parquet(key, load_id, tables)


# --- data-quality runs (Great Expectations) ---------------------------------------------------


#: a (dataset, zone_code, period): one release at whatever revision is current
Partition = tuple[str, str, str]


@dataclass(frozen=True)
class ReleaseStamp:
    """The ledger's word on the current revision of a partition: which load, how many rows."""

    revision: int
    load_id: str
    records_loaded: int | None  # an operator's accept adds a row to a loaded release


@contextmanager
def _read_cursor(wh: Warehouse) -> Iterator[Any]:
    """A DBAPI cursor for reads only, outside SQLAlchemy's transactions.

    On SQLite a SQLAlchemy transaction here begins IMMEDIATE (it takes the write lock, see
    ``warehouse.store``): a checkpoint that reads while the run still loads would queue behind
    every load and hold each one up. A raw connection reads in autocommit, each SELECT its own
    snapshot. On PostgreSQL the rollback ends the read's transaction.
    """
    raw = wh.engine.raw_connection()
    try:
        cur = raw.cursor()
        try:
            yield cur
        finally:
            cur.close()
    finally:
        try:
            raw.rollback()
        finally:
            raw.close()


def _placeholder(wh: Warehouse) -> str:
    """The DBAPI's positional placeholder (sqlite3 ``?``, psycopg ``%s``)."""
    style = wh.engine.dialect.paramstyle
    if style == "qmark":
        return "?"
    if style in ("format", "pyformat"):
        return "%s"
    raise NotImplementedError(f"checkpoint reads need a positional paramstyle, not {style}")


def current_releases(wh: Warehouse) -> dict[Partition, ReleaseStamp]:
    """The latest loaded revision of every (dataset, zone, period): what the current views show."""
    led = schema.load_ledger
    sql = (
        f"SELECT dataset, zone_code, period, revision, load_id, records_loaded FROM {led.name} "
        "WHERE status = 'loaded'"
    )
    out: dict[Partition, ReleaseStamp] = {}
    with _read_cursor(wh) as cur:
        cur.execute(sql)
        for dataset, zone, period, revision, load_id, loaded in cur.fetchall():
            part = (dataset, zone, period)
            if part not in out or out[part].revision < int(revision):
                out[part] = ReleaseStamp(int(revision), str(load_id), loaded)
    return out


def view_columns(wh: Warehouse, view: str) -> list[str]:
    """The columns a view has (a reader asks only for those of them it needs)."""
    with _read_cursor(wh) as cur:
        cur.execute(f"SELECT * FROM {view} WHERE 1 = 0")
        return [str(d[0]) for d in cur.description]


def release_rows(
    wh: Warehouse,
    view: str,
    zone_code: str,
    period: str,
    columns: Sequence[str],
    batch_rows: int = 50_000,
) -> pa.Table:
    """One release's rows in a current view, as Arrow: text dictionary-encoded, value float64.

    Only ``columns`` are fetched, in batches: a million-row run never sits in memory as Python
    rows. zone_code and period are what the WHERE matched, so they are filled in from the key
    instead of being fetched again for every row.
    """
    pinned = {"zone_code": zone_code, "period": period}
    fetched = [c for c in columns if c not in pinned]
    ph = _placeholder(wh)
    sql = f"SELECT {', '.join(fetched) or '1'} FROM {view} WHERE zone_code = {ph} AND period = {ph}"
    batches = []
    with _read_cursor(wh) as cur:
        cur.execute(sql, (zone_code, period))
        while rows := cur.fetchmany(batch_rows):
            if not fetched:
                batches.append(pa.record_batch([pa.nulls(len(rows))], ["_"]))
                continue
            batches.append(_batch(rows, fetched))
    n = sum(b.num_rows for b in batches)
    arrays: dict[str, pa.Array | pa.ChunkedArray] = {}
    for name in columns:
        if name in pinned:
            # one dictionary entry, every row pointing at it
            arrays[name] = pa.DictionaryArray.from_arrays(
                pa.array(np.zeros(n, dtype=np.int32)), pa.array([pinned[name]], pa.string())
            )
        elif batches:
            arrays[name] = pa.chunked_array([b.column(name) for b in batches])
        else:
            arrays[name] = pa.array([], _arrow_type(name))
    return pa.table(arrays)


def _batch(rows: list[Any], names: list[str]) -> pa.RecordBatch:
    """Fetched rows as an Arrow batch: text dictionary-encoded, value float64."""
    fields = [(n, pa.float64() if n == "value" else pa.string()) for n in names]
    try:
        # one C pass from the tuples to Arrow columns (four times as fast as zip(*rows))
        rows_ = pa.array(rows, type=pa.struct(fields))
    except (pa.ArrowInvalid, pa.ArrowTypeError, TypeError, ValueError):
        # a cell of another type (a hand edit on SQLite): column by column, coerced
        cells = np.empty((len(rows), len(names)), dtype=object)
        cells[:] = rows
        return pa.record_batch([_arrow(n, cells[:, i]) for i, n in enumerate(names)], names)
    columns = [rows_.field(i) for i in range(len(names))]
    return pa.record_batch(
        [c if n == "value" else c.dictionary_encode() for n, c in zip(names, columns, strict=True)],
        names,
    )


def _arrow_type(name: str) -> pa.DataType:
    return pa.float64() if name == "value" else pa.dictionary(pa.int32(), pa.string())


def _arrow(name: str, values: np.ndarray) -> pa.Array:
    """A fetched column as Arrow; a cell of another type (a hand edit) is coerced, not fatal."""
    if name == "value":
        try:
            return pa.array(values, pa.float64(), from_pandas=True)
        except (pa.ArrowInvalid, pa.ArrowTypeError, TypeError):
            # a figure that is not a number counts as missing to the expectations
            numbers = pd.to_numeric(pd.Series(values, dtype=object), errors="coerce")
            return pa.array(numbers.astype("float64"), from_pandas=True)
    try:
        text_ = pa.array(values, pa.string())
    except (pa.ArrowInvalid, pa.ArrowTypeError, TypeError):
        text_ = pa.array([None if v is None else str(v) for v in values], pa.string())
    return text_.dictionary_encode()


def record_dq_run(wh: Warehouse, run_id: str, rows: pd.DataFrame, docs_path: str | None) -> int:
    """Store one checkpoint's results (one row per expectation) in ``dq_run``."""
    if rows.empty:
        return 0
    frame = rows.assign(run_id=run_id, run_at=utcnow(), docs_path=docs_path)
    with wh.engine.begin() as conn:
        return bulk_insert(conn, schema.dq_run, frame)


def dq_results(wh: Warehouse, run_id: str | None = None) -> pd.DataFrame:
    """The stored data-quality results, of one run or of the latest run."""
    t = schema.dq_run
    with wh.engine.connect() as conn:
        if run_id is None:
            latest = conn.execute(
                select(t.c.run_id).order_by(t.c.dq_run_id.desc()).limit(1)
            ).scalar_one_or_none()
            if latest is None:
                return pd.DataFrame(columns=[c.name for c in t.columns])
            run_id = latest
        rows = conn.execute(select(t).where(t.c.run_id == run_id).order_by(t.c.dq_run_id)).all()
    return pd.DataFrame(rows, columns=[c.name for c in t.columns])
