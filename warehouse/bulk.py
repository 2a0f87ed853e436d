"""Bulk inserts inside the caller's transaction: COPY on PostgreSQL, executemany elsewhere."""

from __future__ import annotations

from typing import Any

import pandas as pd
from sqlalchemy import Connection, Table


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
        process = table.c[name].type.bind_processor(conn.dialect)
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
