"""The marts in SQL and Parquet: what they are built from, and writing a year of one.

A mart's year is replaced whole in one transaction (they are derived: rebuilding is the way to
correct them), its Parquet file written under a temp name and renamed once that commits, and
``mart_build`` records the fingerprint of the inputs so an unchanged year is not rebuilt.
"""

from __future__ import annotations

import hashlib
import uuid
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
from sqlalchemy import and_, delete, insert, select, text, update

from warehouse import parquet, schema
from warehouse.bulk import bulk_insert
from warehouse.paths import mart_file
from warehouse.store import Warehouse
from zonestats.models import utcnow


def _read(wh: Warehouse, sql: str, **params: object) -> pd.DataFrame:
    with wh.engine.connect() as conn:
        return pd.read_sql_query(text(sql), conn, params=params)


def zone_observations(
    wh: Warehouse, first_year: int, last_year: int, zone_code: str | None = None
) -> pd.DataFrame:
    """The current zone observations of a range of years, of every zone or of one."""
    sql = (
        "SELECT zone_code, indicator_code, period, frequency, revision, value, unit, status "
        # period strings of a year sort between "Y" and "Y+1" ("2025", "2025-02", "2025-Q4")
        "FROM obs_zone_current WHERE period >= :lo AND period < :hi"
    )
    params: dict[str, object] = {"lo": str(first_year), "hi": str(last_year + 1)}
    if zone_code is not None:
        sql += " AND zone_code = :zone"
        params["zone"] = zone_code
    frame = _read(wh, sql, **params)
    frame["value"] = frame["value"].astype("float64")
    return frame


def enterprise_observations(wh: Warehouse, periods: list[str], indicator: str) -> pd.DataFrame:
    """The current enterprise observations of one indicator at some periods."""
    parts = [
        _read(
            wh,
            "SELECT zone_code, uscc, period, revision, indicator_code, value, unit "
            "FROM obs_enterprise_current WHERE period = :p AND indicator_code = :i",
            p=p,
            i=indicator,
        )
        for p in periods
    ]
    frame = pd.concat(parts, ignore_index=True)
    frame["value"] = frame["value"].astype("float64")
    return frame


_REFERENCE = {t.name: t for t in (schema.dim_zone, schema.dim_indicator, schema.dim_enterprise)}


def reference(wh: Warehouse, table: str) -> pd.DataFrame:
    """A reference table (dim_zone, dim_indicator, dim_enterprise) as a frame."""
    if table not in _REFERENCE:
        raise ValueError(f"{table} is not a reference table")
    t = _REFERENCE[table]
    with wh.engine.connect() as conn:
        rows = conn.execute(select(t)).all()
    return pd.DataFrame(rows, columns=[c.name for c in t.columns])


def mart_rows(wh: Warehouse, mart: str, year: int) -> pd.DataFrame:
    """The rows of one year of a mart."""
    t = schema.MART_TABLES[mart]
    with wh.engine.connect() as conn:
        rows = conn.execute(select(t).where(t.c.year == year)).all()
    return pd.DataFrame(rows, columns=[c.name for c in t.columns])


def monthly_rows(wh: Warehouse, year: int) -> pd.DataFrame:
    """The zone_monthly view of one year."""
    return _read(wh, "SELECT * FROM zone_monthly WHERE year = :y", y=year)


def inputs_fingerprint(wh: Warehouse, first_year: int, last_year: int, extra: str = "") -> str:
    """A fingerprint of the loaded releases of a range of years (and what else shapes a mart).

    The ledger's loaded releases with their revisions, load ids and loaded counts change whenever
    an observation of those years does (a new revision, an accepted record), so equal
    fingerprints mean equal inputs.
    """
    led = schema.load_ledger
    q = (
        select(
            led.c.zone_code,
            led.c.dataset,
            led.c.period,
            led.c.revision,
            led.c.load_id,
            led.c.records_loaded,
        )
        .where(
            led.c.status == "loaded",
            led.c.period >= str(first_year),
            led.c.period < str(last_year + 1),
        )
        .order_by(led.c.zone_code, led.c.dataset, led.c.period, led.c.revision)
    )
    h = hashlib.sha256(extra.encode())
    with wh.engine.connect() as conn:
        for row in conn.execute(q):
            h.update("\x1f".join(str(v) for v in row).encode() + b"\x1e")
    return h.hexdigest()


def loaded_periods(wh: Warehouse, first_year: int | None, last_year: int | None) -> set[str]:
    """The periods of some years (None: unbounded) of which a zone loaded figures (not all held out)."""
    led = schema.load_ledger
    q = (
        select(led.c.period)
        .where(led.c.status == "loaded", led.c.dataset == "zone", led.c.records_loaded > 0)
        .distinct()
    )
    if first_year is not None:
        q = q.where(led.c.period >= str(first_year))
    if last_year is not None:
        q = q.where(led.c.period < str(last_year + 1))
    with wh.engine.connect() as conn:
        return {row[0] for row in conn.execute(q)}


def built_from(wh: Warehouse, mart: str, year: int) -> str | None:
    """The inputs fingerprint a mart's year was last built from (None: never built)."""
    t = schema.mart_build
    with wh.engine.connect() as conn:
        return conn.execute(
            select(t.c.inputs).where(t.c.mart == mart, t.c.year == year)
        ).scalar_one_or_none()


def replace_mart_year(
    wh: Warehouse,
    mart: str,
    year: int,
    rows: pd.DataFrame,
    inputs: str,
    method_version: str,
) -> Path | None:
    """Replace one year of a mart in SQL (one transaction) and in Parquet; return the file."""
    now = utcnow()
    frame = rows.assign(built_at=now)
    build = schema.mart_build
    final = mart_file(wh.data_dir, mart, year)
    tmp: Path | None = None
    try:
        with wh.engine.begin() as conn:
            if mart in schema.MART_TABLES:
                t = schema.MART_TABLES[mart]
                conn.execute(delete(t).where(t.c.year == year))
                bulk_insert(conn, t, frame)
            done = conn.execute(
                update(build)
                .where(and_(build.c.mart == mart, build.c.year == year))
                .values(inputs=inputs, method_version=method_version, rows=len(frame), built_at=now)
            ).rowcount
            if not done:
                conn.execute(
                    insert(build).values(
                        mart=mart,
                        year=year,
                        inputs=inputs,
                        method_version=method_version,
                        rows=len(frame),
                        built_at=now,
                    )
                )
            tmp = _write_temp(frame.drop(columns=["year"]), final)
        if tmp is not None:
            parquet.publish(tmp, final)
        else:
            final.unlink(missing_ok=True)  # an empty year has no file, not a stale one
    except BaseException:
        if tmp is not None:
            parquet.discard_temp(tmp)
        raise
    return final if tmp is not None else None


def _write_temp(frame: pd.DataFrame, final: Path) -> Path | None:
    """The mart's rows in a hidden temp file beside its final path (the year is the directory)."""
    if frame.empty:
        return None
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = final.with_name(f".{final.name}.{uuid.uuid4().hex}.tmp")
    table = pa.Table.from_pandas(frame.reset_index(drop=True), preserve_index=False)
    pq.write_table(table, tmp, compression="zstd")
    return tmp
