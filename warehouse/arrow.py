"""Arrow schemas derived from the table definitions, so files and tables cannot drift apart."""

from __future__ import annotations

from collections.abc import Mapping

import pyarrow as pa
from sqlalchemy import BigInteger, Boolean, DateTime, Float, Integer, String, Table, Text

from zonestats.allocator import ARROW_POOL_ENV


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


def use_run_memory_pool(env: Mapping[str, str]) -> None:
    """Allocate pyarrow's own buffers with jemalloc (else malloc), unless the operator chose a pool.

    Arrow's default mimalloc keeps the pages a thread freed for that thread: with a zone per
    thread, every thread held the peak of its largest release. glibc's malloc gives them to
    per-thread arenas that fragment (at 4x the bench the run's process peaked at 473 MB with
    malloc, 346 MB with jemalloc, which hands freed pages back to the system on a timer). This
    reaches only what pyarrow allocates; the Parquet reader and writer follow the variable, which
    ``zonestats.allocator`` sets before pyarrow loads in every process we start.
    """
    if env.get(ARROW_POOL_ENV):
        return
    try:
        pool = pa.jemalloc_memory_pool()
    except NotImplementedError:  # a pyarrow built without jemalloc
        pool = pa.system_memory_pool()
    pa.set_memory_pool(pool)
