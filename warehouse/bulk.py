"""Bulk inserts through SQLAlchemy Core: COPY on PostgreSQL, executemany elsewhere."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import Connection, Table


def _rows(frame: pd.DataFrame, columns: list[str]) -> list[tuple[Any, ...]]:
    # NaN/NaT/pd.NA become None, numpy scalars become Python ones
    obj = frame[columns].astype(object)
    obj = obj.where(frame[columns].notna(), None)
    out: list[tuple[Any, ...]] = []
    for row in obj.itertuples(index=False, name=None):
        out.append(tuple(v.item() if isinstance(v, np.generic) else v for v in row))
    return out


def bulk_insert(conn: Connection, table: Table, frame: pd.DataFrame) -> int:
    """Insert every row of a frame into a table inside the caller's transaction; return the count."""
    if frame.empty:
        return 0
    columns = [c.name for c in table.columns if c.name in frame.columns]
    rows = _rows(frame, columns)
    if conn.dialect.name == "postgresql":
        dbapi = conn.connection.driver_connection
        cols = ", ".join(f'"{c}"' for c in columns)
        with dbapi.cursor() as cur, cur.copy(f'COPY "{table.name}" ({cols}) FROM STDIN') as copy:  # type: ignore[union-attr]
            for row in rows:
                copy.write_row(row)
    else:
        conn.execute(table.insert(), [dict(zip(columns, r, strict=True)) for r in rows])
    return len(rows)
