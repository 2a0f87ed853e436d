"""Bulk writes inside the caller's transaction: COPY on PostgreSQL, executemany on SQLite.

The load's rows travel as Arrow columns. On SQLite one prepared INSERT runs over tuples built
straight from the columns (``to_pylist``, no per-value pandas or SQLAlchemy processing); on
PostgreSQL the rows go by COPY as CSV that pyarrow's C writer makes, sent whole to the server.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Iterator, Mapping, Sequence
from datetime import datetime
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.csv as pacsv
from sqlalchemy import Connection, DateTime, Table

# rows per chunk turned into Python tuples (SQLite) or CSV text (PostgreSQL): bounded memory
CHUNK_ROWS = 50_000
_CSV = pacsv.WriteOptions(include_header=False, batch_size=CHUNK_ROWS)
_SQLITE_TS = DateTime(timezone=True)


def _columns(
    conn: Connection, table: Table, frame: pd.DataFrame
) -> tuple[list[str], list[list[Any]]]:
    """The frame's columns as lists of Python values, None for missing, in the table's order.

    Values pass through each column type's bind processor (e.g. DateTime on SQLite), so what is
    stored is exactly what a Core insert would store.
    """
    names = [c.name for c in table.columns if c.name in frame.columns]
    out: list[list[Any]] = []
    for name in names:
        col = frame[name]
        values = col.astype(object).where(col.notna(), None).tolist()
        if col.dtype.kind == "M" or isinstance(col.dtype, pd.DatetimeTZDtype):
            values = [v.to_pydatetime() if v is not None else None for v in values]
        # the dialect's own type: a generic DateTime has no bind processor, and sqlite3 would
        # then store its default text, with an offset ("…+00:00") the rest of SQLite's lack
        process = table.c[name].type.dialect_impl(conn.dialect).bind_processor(conn.dialect)
        if process is not None and conn.dialect.name != "postgresql":
            values = [process(v) for v in values]
        out.append(values)
    return names, out


def bulk_insert(conn: Connection, table: Table, frame: pd.DataFrame) -> int:
    """Insert every row of a frame into a table inside the caller's transaction; return the count."""
    if frame.empty:
        return 0
    names, columns = _columns(conn, table, frame)
    rows = list(zip(*columns, strict=True))
    quoted = ", ".join(f'"{c}"' for c in names)
    if conn.dialect.name == "postgresql":
        dbapi = conn.connection.driver_connection
        with dbapi.cursor() as cur, cur.copy(f'COPY "{table.name}" ({quoted}) FROM STDIN') as copy:  # type: ignore[union-attr]
            for row in rows:
                copy.write_row(row)
    else:
        # one prepared statement, many parameter tuples: the driver's executemany at full speed
        marks = ", ".join("?" for _ in names)
        conn.exec_driver_sql(f'INSERT INTO "{table.name}" ({quoted}) VALUES ({marks})', rows)
    return len(rows)


def sqlite_value(conn: Connection, value: Any) -> Any:
    """A Python value as SQLAlchemy stores it on SQLite (a timestamp as its text)."""
    if isinstance(value, datetime):
        process = _SQLITE_TS.dialect_impl(conn.dialect).bind_processor(conn.dialect)
        return process(value) if process is not None else value
    return value


def _chunks(
    data: pa.Table, names: Sequence[str], constants: Mapping[str, Any]
) -> Iterator[Iterator[tuple[Any, ...]]]:
    """Per chunk of rows, the rows as tuples in ``names`` order (zip objects: no Python per row)."""
    for batch in data.to_batches(max_chunksize=CHUNK_ROWS):
        columns: list[Iterable[Any]] = [
            itertools.repeat(constants[n]) if n in constants else batch.column(n).to_pylist()
            for n in names
        ]
        # zip stops with the shortest input: the columns, never the endless constants
        yield zip(*columns, strict=False)


def insert_arrow(
    conn: Connection,
    table: str,
    data: pa.Table,
    constants: Mapping[str, Any] | None = None,
    columns: Sequence[str] | None = None,
) -> int:
    """Insert every row of an Arrow table, plus constant columns, in the caller's transaction.

    ``columns``: the data's columns to insert (default: all of them); ``constants``: columns with
    one value for every row (e.g. the load number). Returns the number of rows.
    """
    n = data.num_rows
    if n == 0:
        return 0
    constants = dict(constants or {})
    names = [*(columns if columns is not None else data.column_names), *constants]
    quoted = ", ".join(f'"{c}"' for c in names)
    dbapi = conn.connection.dbapi_connection
    cur: Any = dbapi.cursor()  # type: ignore[union-attr]
    if conn.dialect.name == "postgresql":
        full = data.select([c for c in names if c not in constants])
        for name, value in constants.items():
            full = full.append_column(name, _repeat(value, n))
        full = full.select(names)
        try:
            with cur.copy(f'COPY "{table}" ({quoted}) FROM STDIN (FORMAT csv)') as copy:
                for batch in full.to_batches(max_chunksize=CHUNK_ROWS):
                    sink = pa.BufferOutputStream()
                    pacsv.write_csv(batch, sink, write_options=_CSV)
                    copy.write(memoryview(sink.getvalue()))
        finally:
            cur.close()
        return n
    values = {k: sqlite_value(conn, v) for k, v in constants.items()}
    marks = ", ".join("?" for _ in names)
    sql = f'INSERT INTO "{table}" ({quoted}) VALUES ({marks})'
    try:
        for rows in _chunks(data, names, values):
            cur.executemany(sql, rows)
    finally:
        cur.close()
    return n


def _repeat(value: Any, n: int) -> pa.Array:
    """A column of one value (None: a null column)."""
    if value is None:
        return pa.nulls(n)
    return pa.repeat(pa.scalar(value), n)


def executemany(conn: Connection, sql: str, rows: Iterable[Sequence[Any]]) -> None:
    """Run one prepared statement over many parameter tuples on the driver, in the transaction.

    ``sql`` uses ``?`` for its parameters; PostgreSQL's driver is given ``%s``.
    """
    dbapi = conn.connection.dbapi_connection
    if conn.dialect.name == "postgresql":
        sql = sql.replace("?", "%s")
    cur: Any = dbapi.cursor()  # type: ignore[union-attr]
    try:
        cur.executemany(sql, rows)
    finally:
        cur.close()


def arrow_tuples(data: pa.Table, names: Sequence[str]) -> Iterator[tuple[Any, ...]]:
    """The rows of an Arrow table's columns as tuples, a chunk at a time."""
    for rows in _chunks(data, names, {}):
        yield from rows
