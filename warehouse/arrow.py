"""Arrow schemas derived from the table definitions, so files and tables cannot drift apart."""

from __future__ import annotations

import pyarrow as pa
from sqlalchemy import BigInteger, Boolean, DateTime, Float, Integer, String, Table, Text


def _arrow_type(sql_type: object) -> pa.DataType:
    # the variant wrapper of an id column keeps its base type in .impl
    base = getattr(sql_type, "impl", sql_type)
    if isinstance(base, BigInteger):
        return pa.int64()
    if isinstance(base, Integer):
        return pa.int32()
    if isinstance(base, Float):
        return pa.float64()
    if isinstance(base, Boolean):
        return pa.bool_()
    if isinstance(base, DateTime):
        return pa.timestamp("us", tz="UTC")
    if isinstance(base, (String, Text)):
        return pa.string()
    raise TypeError(f"no Arrow type for {sql_type!r}")


def arrow_schema(table: Table, drop: tuple[str, ...] = ()) -> pa.Schema:
    """The table's columns, in order, as an Arrow schema, without the ``drop`` columns."""
    return pa.schema([(c.name, _arrow_type(c.type)) for c in table.columns if c.name not in drop])
