"""What the warehouse held when: the observations as of a moment, a release's revisions.

Reads of the views ``release_revision`` and ``obs_*_history`` (migration 0006): a row was held
at a moment X when it was loaded by then (``loaded_at <= X``: its revision's load, or an
operator's later accept of it) and its revision was not superseded by then (``superseded_at``
null or later than X). The Parquet copy of ``release_revision`` lets DuckDB do the same over the
``obs_*`` Parquet tables.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
from sqlalchemy import DateTime, Select, String, Table, inspect, or_, select, type_coerce

from warehouse import parquet, schema
from warehouse.arrow import arrow_schema
from warehouse.paths import revisions_file
from warehouse.store import Warehouse
from zonestats.models import utc

#: the views of migration 0006: a warehouse without them cannot say what it held when
VIEWS = ("release_revision", "obs_zone_history", "obs_enterprise_history")


def has_history(wh: Warehouse) -> bool:
    """Whether the warehouse has the history views (migration 0006)."""
    names = set(inspect(wh.engine).get_view_names())
    return all(v in names for v in VIEWS)


def _frame(wh: Warehouse, query: Select[Any], columns: Sequence[str]) -> pd.DataFrame:
    with wh.engine.connect() as conn:
        # plain tuples: pandas builds a frame of millions of Row objects three times slower
        rows = [tuple(row) for row in conn.execute(query)]
    frame = pd.DataFrame.from_records(rows, columns=list(columns))
    for name in ("loaded_at", "superseded_at"):
        if name in frame.columns:
            # SQLite hands back naive UTC, PostgreSQL aware values: one type for both
            # ISO 8601 either way: SQLite text with or without an offset (rows written before
            # the bulk writer used SQLite's own format carry "+00:00"), PostgreSQL datetimes
            frame[name] = pd.to_datetime(frame[name], utc=True, format="ISO8601")
    if "value" in frame.columns:
        frame["value"] = frame["value"].astype("float64")
    return frame


def _raw_times(view: Table) -> list[Any]:
    # timestamps as the driver hands them (SQLite: text), parsed by pandas for the whole column
    # at once: SQLAlchemy's per-value parse of SQLite's text is much of a large read's time
    return [
        type_coerce(col, String).label(col.name) if isinstance(col.type, DateTime) else col
        for col in view.columns
    ]


def observations_as_of(
    wh: Warehouse,
    dataset: str,
    at: datetime,
    zone_code: str | None = None,
    periods: Sequence[str] | None = None,
    years: tuple[int, int] | None = None,
) -> pd.DataFrame:
    """The observations of a dataset exactly as the warehouse held them at a moment.

    Per release the revision current then (the highest loaded by then), with the rows it had
    then: a record an operator accepted later is not there yet. The columns of ``obs_zone`` /
    ``obs_enterprise``, plus ``superseded_at`` (when a later revision replaced it, if one has).
    ``years``: the periods of the years first..last only.
    """
    view = schema.OBS_HISTORY[dataset]
    moment = utc(at)
    c = view.c
    query = select(*_raw_times(view)).where(
        c.loaded_at <= moment, or_(c.superseded_at.is_(None), c.superseded_at > moment)
    )
    if zone_code is not None:
        query = query.where(c.zone_code == zone_code)
    if periods is not None:
        query = query.where(c.period.in_(list(periods)))
    if years is not None:
        # period strings of a year sort between "Y" and "Y+1" ("2025", "2025-02", "2025-Q4")
        query = query.where(c.period >= str(years[0]), c.period < str(years[1] + 1))
    keys = [col.name for col in view.primary_key.columns]
    return _frame(wh, query.order_by(*(c[k] for k in keys)), [col.name for col in view.columns])


def release_revisions(
    wh: Warehouse,
    zone_code: str | None = None,
    dataset: str | None = None,
    period: str | None = None,
) -> pd.DataFrame:
    """The loaded revisions of releases, oldest revision first, with when each was current."""
    view = schema.release_revision
    c = view.c
    query = select(view)
    for name, value in (("zone_code", zone_code), ("dataset", dataset), ("period", period)):
        if value is not None:
            query = query.where(c[name] == value)
    query = query.order_by(c.zone_code, c.dataset, c.period, c.revision)
    return _frame(wh, query, [col.name for col in view.columns])


def revision_rows(
    wh: Warehouse, dataset: str, zone_code: str, period: str, revision: int
) -> pd.DataFrame:
    """Every observation row of one revision of a release, as held now (accepts included)."""
    view = schema.OBS_TABLES[dataset]
    c = view.c
    query = select(*_raw_times(view)).where(
        c.zone_code == zone_code, c.period == period, c.revision == revision
    )
    keys = [col.name for col in view.primary_key.columns]
    return _frame(wh, query.order_by(*(c[k] for k in keys)), [col.name for col in view.columns])


_REVISION_SCHEMA = arrow_schema(schema.release_revision)


def write_release_revisions(wh: Warehouse) -> Path | None:
    """Rewrite ``release_revision`` as Parquet (temp file, then rename); None: nothing loaded."""
    rows = release_revisions(wh)
    final = revisions_file(wh.data_dir)
    if rows.empty:
        final.unlink(missing_ok=True)  # no file rather than a stale one
        return None
    table = pa.Table.from_pandas(rows, schema=_REVISION_SCHEMA, preserve_index=False)
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = final.with_name(f".{final.name}.{uuid.uuid4().hex}.tmp")
    try:
        pq.write_table(table, tmp, compression="zstd")
        parquet.publish(tmp, final)
    except BaseException:
        parquet.discard_temp(tmp)
        raise
    return final
