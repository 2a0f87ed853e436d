"""Loading a validated release: one transaction, then its Parquet rows.

The transaction moves the release's ledger row from the run's claim to its end, records the load
in ``load_commit``, inserts its observations, quarantine rows and enterprises and moves the
watermark. Its Parquet rows are the very rows it inserted: in the release's own files, renamed into
place once it commits, or appended to a ``ParquetBatch`` after the commit.
"""

from __future__ import annotations

from contextlib import nullcontext
from datetime import datetime
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from sqlalchemy import Connection, insert, update

from warehouse import parquet, schema
from warehouse.bulk import arrow_tuples, executemany, insert_arrow
from warehouse.committed import TS_TYPE, file_rows, quarantine_rows
from warehouse.ledger import LoadConflict, advance_watermark, ledger_key
from warehouse.paths import release_file
from warehouse.publishing import Publisher
from warehouse.staging import archive_spool
from zonestats.metrics import timed
from zonestats.models import ReleaseKey, ValidatedRelease, utc, utcnow
from zonestats.secrets import redact

# the physical key after the release's own columns: the order a release's rows are inserted in
_ROW_KEY = {"zone": ["indicator_code"], "enterprise": ["uscc", "indicator_code"]}


def _staged_obs(path: Path, key: ReleaseKey) -> pa.Table:
    """A release's staged observations in key order, checked to be the release's own."""
    data = _read_staged(path)
    if data.num_rows:
        for column, value in (
            ("zone_code", key.zone_code),
            ("period", key.period),
            ("revision", key.revision),
        ):
            # one release is one key range of the observation table, and its Parquet is exported
            # by that range: a row of another release here would break both
            found = pc.unique(data.column(column)).to_pylist()
            if found != [value]:
                raise ValueError(
                    f"{key}: staged observations carry {column} {found}, not {value!r}"
                )
    return data.sort_by([(c, "ascending") for c in _ROW_KEY[key.dataset]])


def _read_staged(path: Path) -> pa.Table:
    """A staged Parquet file whole (an empty one without reading its pages)."""
    staged = pq.ParquetFile(path)
    if staged.metadata.num_rows == 0:
        return staged.schema_arrow.empty_table()
    return staged.read()


def _with_load(obs: pa.Table, load_id: str, loaded_at: datetime) -> pa.Table:
    """A release's observations with the load's columns, as readers see them."""
    n = obs.num_rows
    return obs.append_column(
        "load_id", pa.repeat(pa.scalar(load_id, pa.string()), n)
    ).append_column("loaded_at", pa.repeat(pa.scalar(utc(loaded_at), TS_TYPE), n))


# dim_enterprise as last reported: a newer (or the same) period's attributes win; first_period
# only moves back. In SQL the right-hand sides all read the row as it was before the update.
_NEWER = "excluded.last_period >= dim_enterprise.last_period"
_ON_CONFLICT = (
    " ON CONFLICT (uscc) DO UPDATE SET "
    + ", ".join(
        f"{c} = CASE WHEN {_NEWER} THEN excluded.{c} ELSE dim_enterprise.{c} END"
        for c in ("name", "industry_code", "zone_code", "above_scale", "last_period")
    )
    + ", first_period = CASE WHEN excluded.first_period < dim_enterprise.first_period "
    "THEN excluded.first_period ELSE dim_enterprise.first_period END"
)
_DIM_INTO = (
    "INSERT INTO dim_enterprise (uscc, name, industry_code, zone_code, above_scale, "
    "first_period, last_period) "
)
_UPSERT_ENTERPRISE = _DIM_INTO + "VALUES (?, ?, ?, ?, ?, ?, ?)" + _ON_CONFLICT
_DIM_COLUMNS = ["uscc", "name", "industry_code", "zone_code", "above_scale", "period"]
# PostgreSQL: the rows of one release staged per session, emptied at every commit
_DIM_STAGE = (
    "CREATE TEMP TABLE IF NOT EXISTS dim_enterprise_stage (uscc varchar(18), name text, "
    "industry_code varchar(8), zone_code varchar(8), above_scale boolean, period varchar(8), "
    "n integer) ON COMMIT DELETE ROWS"
)
# one row per enterprise into the upsert (it may not touch a row twice): the last staged one, as
# row-by-row upserts of the same period would leave it
_UPSERT_ENTERPRISE_STAGED = (
    _DIM_INTO
    + "SELECT DISTINCT ON (uscc) uscc, name, industry_code, zone_code, above_scale, period, "
    "period FROM dim_enterprise_stage ORDER BY uscc, n DESC" + _ON_CONFLICT
)


def load_release(
    pub: Publisher,
    v: ValidatedRelease,
    spool: Path | None = None,
    batch: parquet.ParquetBatch | None = None,
) -> None:
    """Load a validated release in one transaction, then publish its Parquet rows.

    Without ``batch`` the release gets its own file per table, renamed into place once the
    transaction commits; with one, its rows go to the batch's file of their partition after
    the commit, published when the batch closes. A release a release-level error rejects
    (``v.rejection``) loads no observation: its quarantine rows say why, and the ledger marks
    it rejected (it needs a person).
    """
    if batch is not None and batch.data_dir != pub.data_dir:
        raise ValueError(f"the Parquet batch writes under {batch.data_dir}, not {pub.data_dir}")
    if batch is None and pub.lake is not None:
        # a lake has no release's own file: a batch of one, published at its end
        with pub.parquet_batch() as one:
            load_release(pub, v, spool=spool, batch=one)
        return
    key = v.ref.key
    rejected = v.rejection is not None
    obs_name = schema.OBS_TABLES[key.dataset].name
    now = utcnow()
    obs = None if rejected else _staged_obs(v.obs, key)
    quarantine = _read_staged(v.quarantine)
    temps: list[tuple[Path, Path]] = []
    after: list[tuple[str, pa.Table]] = []  # what goes to the batch once committed
    with batch.loading() if batch is not None else nullcontext():
        try:
            if batch is not None:
                # its current rows change even when it loads none (all quarantined)
                batch.touch(obs_name, key)
                # locked before the commit maps rows to them: repair leaves them to us
                if obs is not None and obs.num_rows:
                    batch.reserve(obs_name, key)
                if quarantine.num_rows:
                    batch.reserve("quarantine", key)
            with pub.engine.begin() as conn:
                _claim_load(conn, v, now)
                load_no = _commit_row(conn, v, now, batch, obs, quarantine.num_rows)
                if obs is not None:
                    with timed("load_sql"):
                        _insert_observations(conn, key, obs, load_no)
                    rows = _with_load(obs, v.load_id, now)
                    if batch is not None:
                        after.append((obs_name, rows))
                    else:
                        with timed("write_parquet"):
                            final = release_file(pub.data_dir, obs_name, key)
                            tmp = parquet.write_file(obs_name, final, iter([rows]))
                            if tmp is not None:
                                temps.append((tmp, final))
                with timed("load_sql"):
                    _insert_rest(conn, v, quarantine, now, observations=not rejected)
                if quarantine.num_rows:
                    # quarantine ids are the database's: the rows are read back from SQL
                    with timed("write_parquet"):
                        if batch is not None:
                            after.append(
                                (
                                    "quarantine",
                                    pa.concat_tables(quarantine_rows(conn, [v.load_id])),
                                )
                            )
                        else:
                            final = release_file(pub.data_dir, "quarantine", key)
                            tmp = parquet.write_file(
                                "quarantine",
                                final,
                                file_rows(conn, "quarantine", key, None),
                            )
                            if tmp is not None:
                                temps.append((tmp, final))
            if temps:
                pub.durable()  # no reader sees a row a power loss could take from SQL
            for tmp, final in temps:
                parquet.publish(tmp, final)
            if batch is None:
                pub.publish_current(obs_name, key)
        except BaseException:
            for tmp, _ in temps:
                parquet.discard_temp(tmp)
            raise
        if batch is not None:
            with timed("write_parquet"):
                for table, rows in after:
                    batch.append(table, key, rows)
    if spool is not None and spool.exists():
        archive_spool(spool, release_file(pub.data_dir, "raw", key))


def _claim_load(conn: Connection, v: ValidatedRelease, now: datetime) -> None:
    """Move the release's ledger row from our claim to its end; LoadConflict if not ours."""
    key = v.ref.key
    rejected = v.rejection is not None
    led = schema.load_ledger
    claimed = conn.execute(
        update(led)
        .where(ledger_key(key), led.c.load_id == v.load_id, led.c.status == "running")
        .values(
            status="rejected" if rejected else "loaded",
            lease_until=None,
            claim_holder=None,
            finished_at=now,
            # a load keeps the claim's note (a takeover); a rejection says why
            last_error=(redact(v.rejection)[:4000] if v.rejection else led.c.last_error),
            records_received=v.records_received,
            records_loaded=0 if rejected else v.records_loaded,
            records_quarantined=v.records_quarantined,
            records_warned=v.records_warned,
            complete=None if rejected else not v.incomplete,
            source_sha256=v.sha256,
        )
    ).rowcount
    if claimed != 1:
        raise LoadConflict(f"{key}: another run took over this release; nothing loaded")


def _commit_row(
    conn: Connection,
    v: ValidatedRelease,
    now: datetime,
    batch: parquet.ParquetBatch | None,
    obs: pa.Table | None,
    quarantined: int,
) -> int:
    """Record the load in load_commit (where its Parquet rows go); its load number."""
    key = v.ref.key
    lc = schema.load_commit
    return int(
        conn.execute(
            insert(lc)
            .values(
                load_id=v.load_id,
                loaded_at=now,
                zone_code=key.zone_code,
                dataset=key.dataset,
                period=key.period,
                revision=key.revision,
                parquet_batch=batch.batch_id if batch is not None else None,
                obs_rows=obs.num_rows if obs is not None else 0,
                quarantine_rows=quarantined,
            )
            .returning(lc.c.load_no)
        ).scalar_one()
    )


def _insert_observations(conn: Connection, key: ReleaseKey, obs: pa.Table, load_no: int) -> None:
    """Insert a release's observations (in key order) under its load number."""
    base = schema.OBS_BASE[key.dataset]
    release = {"zone_code": key.zone_code, "period": key.period, "revision": key.revision}
    columns = [c.name for c in base.columns if c.name not in release and c.name != "load_no"]
    insert_arrow(conn, base.name, obs, {**release, "load_no": load_no}, columns)


def _insert_rest(
    conn: Connection,
    v: ValidatedRelease,
    quarantine: pa.Table,
    now: datetime,
    observations: bool = True,
) -> None:
    """Insert a release's quarantine rows; with its observations, enterprises and watermark."""
    key = v.ref.key
    insert_arrow(
        conn,
        schema.quarantine.name,
        quarantine,
        {
            "load_id": v.load_id,
            "zone_code": key.zone_code,
            "dataset": key.dataset,
            "period": key.period,
            "revision": key.revision,
            "status": "open",
            "created_at": now,
        },
    )
    if not observations:
        return
    if v.dims is not None:
        upsert_enterprises(conn, _read_staged(v.dims))
    advance_watermark(conn, v.ref, v.load_id)


def upsert_enterprises(conn: Connection, dims: pa.Table | pd.DataFrame) -> None:
    """Keep dim_enterprise as last reported: newer periods win, first_period only moves back.

    One prepared statement over the rows' tuples, in uscc order.
    """
    if isinstance(dims, pd.DataFrame):
        dims = pa.Table.from_pandas(dims, preserve_index=False)
    if dims.num_rows == 0:
        return
    dims = dims.sort_by("uscc")  # stable: of two rows of one enterprise, the later wins
    if conn.dialect.name == "postgresql":
        # a statement per row costs a round of the driver's pipeline each: instead, COPY the
        # rows into a session's temp table and upsert them in one statement
        conn.exec_driver_sql(_DIM_STAGE)
        staged = dims.select(_DIM_COLUMNS).append_column(
            "n", pa.array(range(dims.num_rows), pa.int32())
        )
        insert_arrow(conn, "dim_enterprise_stage", staged)
        conn.exec_driver_sql(_UPSERT_ENTERPRISE_STAGED)
        conn.exec_driver_sql("DELETE FROM dim_enterprise_stage")
        return
    names = ["uscc", "name", "industry_code", "zone_code", "above_scale", "period", "period"]
    executemany(conn, _UPSERT_ENTERPRISE, arrow_tuples(dims, names))
