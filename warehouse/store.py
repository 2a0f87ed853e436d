"""The warehouse: ledger, observations, quarantine and watermark in SQL, mirrored to Parquet.

The only code that writes to the database or the Parquet tree. One release loads in one
transaction. Its Parquet rows are the very rows that transaction inserted: in the release's own
files, renamed into place once it commits, or (in a ``ParquetBatch``) appended after the commit
to the batch's file of their partition, renamed into place when the batch closes. Every Parquet
file holds exactly the rows of the loads SQL maps to it (``load_commit``), so ``repair`` can
write any file again from SQL.
"""

from __future__ import annotations

import logging
import os
import threading
import time
import uuid
import weakref
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from sqlalchemy import (
    Connection,
    Engine,
    and_,
    bindparam,
    exists,
    func,
    insert,
    inspect,
    or_,
    select,
    update,
)
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import aliased

from warehouse import current, parquet, schema
from warehouse.arrow import arrow_schema
from warehouse.bulk import CHUNK_ROWS, arrow_tuples, executemany, insert_arrow
from warehouse.engine import make_engine
from warehouse.paths import CURRENT_TABLES, PARQUET_TABLES, parquet_file, release_file, temp_file
from warehouse.staging import archive_spool, discard
from zonestats.catalog import Catalog
from zonestats.config import WarehouseSettings
from zonestats.metrics import timed
from zonestats.models import ReleaseKey, ReleaseRef, ValidatedRelease, utc, utcnow
from zonestats.secrets import redact

log = logging.getLogger(__name__)

LEDGER_STATUSES = ("loaded", "failed", "rejected", "running")
DEFAULT_LEASE = timedelta(seconds=60)


def _superseded(led: Any) -> Any:
    """True for a ledger row when the same release is loaded at this or a later revision."""
    later = aliased(schema.load_ledger)
    return exists().where(
        later.c.zone_code == led.c.zone_code,
        later.c.dataset == led.c.dataset,
        later.c.period == led.c.period,
        later.c.revision >= led.c.revision,
        later.c.status == "loaded",
    )


def _blocked() -> Any:
    led = schema.load_ledger
    return select(func.count()).where(
        led.c.zone_code == bindparam("zone"),
        led.c.dataset == bindparam("dataset"),
        # a release left running (its attempt cut off, its end never recorded) must be listed
        # again as much as a failed one
        led.c.status.in_(("failed", "running")),
        led.c.published_at <= bindparam("published", type_=led.c.published_at.type),
        ~_superseded(led),
    )


# built once: the releases of a zone's dataset that hold its watermark back (one per load)
_BLOCKED = _blocked()


def form_for(dataset: str, frequency: str) -> str | None:
    """The report form (表号) that carries a dataset at a frequency."""
    from zonestats.sources.xlsx_forms import FORMS

    return next((f for f, (ds, fr) in FORMS.items() if ds == dataset and fr == frequency), None)


def _takeover_note(row: Any) -> str:
    """What the ledger keeps of a dead run whose release claim is taken over."""
    run = f"run {row.flow_run_id}" if row.flow_run_id else "a run without a flow run"
    lease = f"{utc(row.lease_until):%Y-%m-%d %H:%M:%S}Z" if row.lease_until else "unknown"
    return (
        f"taken over from {run} (started {utc(row.started_at):%Y-%m-%d %H:%M:%S}Z) whose "
        f"heartbeat stopped; its claim expired at {lease}"
    )


class LoadConflict(RuntimeError):
    """Another run took over or finished this release while this one was loading it."""


@dataclass
class _ParquetFile:
    """A Parquet file SQL holds rows for: of a table, a release's own or a batch's."""

    table: str
    key: ReleaseKey  # the release, or one release of the batch's partition
    batch: str | None
    final: Path
    releases: set[ReleaseKey]


# the physical key after the release's own columns: the order a release's rows are inserted in
_ROW_KEY = {"zone": ["indicator_code"], "enterprise": ["uscc", "indicator_code"]}
_TS_TYPE = pa.timestamp("us", tz="UTC")


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
    ).append_column("loaded_at", pa.repeat(pa.scalar(utc(loaded_at), _TS_TYPE), n))


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


def _by_release(commits: list[Any]) -> list[tuple[ReleaseKey, list[Any]]]:
    """Load_commit rows grouped by release, in (period, revision) order: the order files hold."""
    groups: dict[ReleaseKey, list[Any]] = {}
    for c in commits:
        groups.setdefault(ReleaseKey(c.zone_code, c.dataset, c.period, int(c.revision)), []).append(
            c
        )
    return sorted(groups.items(), key=lambda kv: (kv[0].period, kv[0].revision))


def _release_rows_of_file(path: Path, key: ReleaseKey) -> pa.Table:
    """A release's rows of a Parquet file, reading only the row groups that may hold them.

    One row group at a time by its statistics (a release's rows are contiguous in a batch
    file): the dataset reader behind ``pq.read_table(filters=...)`` read ahead several row
    groups per call, and four zones closing their batches at once peaked a 4x bench run there.
    """
    pf = pq.ParquetFile(path)
    names = pf.schema_arrow.names
    at_period, at_revision = names.index("period"), names.index("revision")

    def may_hold(i: int) -> bool:
        group = pf.metadata.row_group(i)
        for col, value in ((at_period, key.period), (at_revision, key.revision)):
            stats = group.column(col).statistics
            if stats is not None and stats.has_min_max and not stats.min <= value <= stats.max:
                return False
        return True

    parts = []
    for i in range(pf.num_row_groups):
        if may_hold(i):
            rows = pf.read_row_group(i, use_threads=False)
            mine = pc.and_(
                pc.equal(rows.column("period"), key.period),
                pc.equal(rows.column("revision"), key.revision),
            )
            parts.append(rows.filter(mine))
    if not parts:
        return pf.schema_arrow.empty_table()
    return pa.concat_tables(parts)


def _obs_rows(conn: Connection, key: ReleaseKey, commits: list[Any]) -> Iterator[pa.Table]:
    """A release's observation rows of some loads (load_commit rows), as readers see them."""
    base = schema.OBS_BASE[key.dataset]
    columns = [c.name for c in base.columns]
    types = arrow_schema(base)
    order = ", ".join(c.name for c in base.primary_key.columns)
    loads = {int(c.load_no): i for i, c in enumerate(commits)}
    load_ids = pa.array([c.load_id for c in commits], pa.string())
    loaded_at = pa.array([utc(c.loaded_at) for c in commits], _TS_TYPE)
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


def _quarantine_rows(conn: Connection, load_ids: list[str]) -> Iterator[pa.Table]:
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


_PUBLISHING = threading.Lock()
_ENGINES: dict[str, Engine] = {}
_ENGINES_LOCK = threading.Lock()
_READY: weakref.WeakSet[Engine] = weakref.WeakSet()  # engines whose warehouse has its tables


def engine_for(settings: WarehouseSettings) -> Engine:
    """One engine per warehouse URL per process (threads of a run share its pool)."""
    url = settings.url.get_secret_value()
    with _ENGINES_LOCK:
        if url not in _ENGINES:
            _ENGINES[url] = make_engine(url)
        return _ENGINES[url]


class Warehouse:
    """The warehouse of one configuration."""

    def __init__(self, settings: WarehouseSettings) -> None:
        self.settings = settings
        self.engine = engine_for(settings)
        self.data_dir = settings.data_dir
        self.lake: Any = None  # warehouse.lake.Lake: imported only when configured
        if settings.lake is not None:
            from warehouse.lake import Lake

            self.lake = Lake(settings.lake)

    # -- schema and reference tables ---------------------------------------------------------

    def ensure_schema(self, catalog: Catalog) -> None:
        """Bring the schema to the latest migration and write the zone registry and indicators."""
        from warehouse import migrate

        # the migrations are the only way tables and views come to exist (a no-op at head)
        migrate.upgrade(self.engine)
        zones = [
            {
                "zone_code": z.zone_code,
                "name_zh": z.name_zh,
                "name_en": z.name_en,
                "city_zh": z.city_zh,
                "city_admin_code": z.city_admin_code,
                "adapter": z.adapter,
            }
            for z in catalog.zones.values()
        ]
        indicators = [
            {
                "dataset": i.dataset,
                "code": i.code,
                "name_zh": i.name_zh,
                "name_en": i.name_en,
                "unit": i.unit,
                "frequency": i.frequency,
                "basis": i.basis,
                "min_value": i.min,
                "max_value": i.max,
                "mandatory": i.mandatory,
                "is_integer": i.integer,
                "alt_units": ";".join(f"{u}={f}" for u, f in i.unit_factors.items() if u != i.unit),
            }
            for i in catalog.indicators.values()
        ]
        with self.engine.begin() as conn:
            # two runs starting at once on PostgreSQL would both insert the rows they did not see
            migrate.lock(conn)
            self._upsert(conn, schema.dim_zone, zones, ["zone_code"])
            self._upsert(conn, schema.dim_indicator, indicators, ["dataset", "code"])

    @staticmethod
    def _upsert(conn: Connection, table: Any, rows: list[dict[str, Any]], keys: list[str]) -> None:
        existing = {tuple(r) for r in conn.execute(select(*[table.c[k] for k in keys]))}
        new = [r for r in rows if tuple(r[k] for k in keys) not in existing]
        old = [r for r in rows if tuple(r[k] for k in keys) in existing]
        if new:
            conn.execute(insert(table), new)
        for r in old:
            cond = and_(*[table.c[k] == r[k] for k in keys])
            conn.execute(update(table).where(cond).values(**r))

    # -- the ledger ------------------------------------------------------------------------

    @staticmethod
    def _ledger_key(key: ReleaseKey) -> Any:
        c = schema.load_ledger.c
        return and_(
            c.zone_code == key.zone_code,
            c.dataset == key.dataset,
            c.period == key.period,
            c.revision == key.revision,
        )

    def is_loaded(self, key: ReleaseKey) -> bool:
        """True when this release is loaded at this revision (or a later one)."""
        c = schema.load_ledger.c
        q = select(func.count()).where(
            c.zone_code == key.zone_code,
            c.dataset == key.dataset,
            c.period == key.period,
            c.revision >= key.revision,
            c.status == "loaded",
        )
        with self.engine.connect() as conn:
            return bool(conn.execute(q).scalar_one())

    def _has_ledger(self) -> bool:
        # a warehouse never loses its ledger once it has one: ask the catalog until then only
        if self.engine in _READY:
            return True
        if inspect(self.engine).has_table("load_ledger"):
            _READY.add(self.engine)
            return True
        return False

    def loaded_revisions(self, zone_code: str, dataset: str) -> dict[str, int]:
        """The highest loaded revision of each period of a zone's dataset."""
        if not self._has_ledger():
            return {}  # a warehouse not created yet (a dry run creates nothing) has loaded nothing
        c = schema.load_ledger.c
        q = (
            select(c.period, func.max(c.revision))
            .where(c.zone_code == zone_code, c.dataset == dataset, c.status == "loaded")
            .group_by(c.period)
        )
        with self.engine.connect() as conn:
            return {period: int(rev) for period, rev in conn.execute(q)}

    def begin_release(
        self,
        ref: ReleaseRef,
        flow_run_id: str | None,
        lease: timedelta = DEFAULT_LEASE,
        holder: str | None = None,
    ) -> str | None:
        """Claim a release for a load under a new load id, for ``lease``.

        None when it is loaded already, or when another run holds an unexpired claim on it (two
        runs never work on one release at once). ``holder`` is the claim token whose heartbeat
        keeps the lease moving (warehouse.claims); a claim whose heartbeat stopped expires and is
        taken over here, and the ledger says from whom.
        """
        load_id = str(uuid.uuid4())
        now = utcnow()
        cond = self._ledger_key(ref.key)
        c = schema.load_ledger.c
        for _ in range(2):
            try:
                with self.engine.begin() as conn:
                    # FOR UPDATE: on PostgreSQL a second claimant waits here for the first to
                    # commit, then sees its claim (SQLite's BEGIN IMMEDIATE already serializes)
                    row = conn.execute(
                        select(c.status, c.lease_until, c.flow_run_id, c.started_at, c.claim_holder)
                        .where(cond)
                        .with_for_update()
                    ).first()
                    if row is not None and row.status == "loaded":
                        return None
                    takeover = None
                    # our own claim (a retry of an attempt that could not record its end, e.g.
                    # the warehouse went away) is ours to take back, however live its lease
                    own = holder is not None and row is not None and row.claim_holder == holder
                    if row is not None and row.status == "running" and not own:
                        if row.lease_until is not None and utc(row.lease_until) > now:
                            return None
                        takeover = _takeover_note(row)
                    values = {
                        "lease_until": now + lease,
                        "claim_holder": holder,
                        "status": "running",
                        "load_id": load_id,
                        "flow_run_id": flow_run_id,
                        "started_at": now,
                        "finished_at": None,
                        # kept when the load succeeds: the ledger remembers the dead run
                        "last_error": takeover,
                        "published_at": utc(ref.published_at),
                        "frequency": ref.frequency,
                        "source": ref.origin,
                        "source_sha256": ref.source_sha256,
                    }
                    if row is None:
                        conn.execute(
                            insert(schema.load_ledger).values(
                                zone_code=ref.zone_code,
                                dataset=ref.dataset,
                                period=ref.period,
                                revision=ref.revision,
                                attempts=1,
                                **values,
                            )
                        )
                    else:
                        conn.execute(
                            update(schema.load_ledger)
                            .where(cond)
                            .values(
                                attempts=schema.load_ledger.c.attempts + 1,
                                **values,
                            )
                        )
                return load_id
            except IntegrityError:
                continue  # another run inserted the row between our select and insert
        raise LoadConflict(f"{ref.key}: could not claim the release in the ledger")

    def defer_release(self, ref: ReleaseRef, flow_run_id: str | None, reason: str) -> bool:
        """Record a listed release as ``failed`` without an attempt ("not attempted: …").

        The next nightly and ``rerun --failed`` pick it up. Nothing changes for a release that is
        loaded, rejected, or held by a live run; False then.
        """
        now = utcnow()
        cond = self._ledger_key(ref.key)
        c = schema.load_ledger.c
        values = {
            "status": "failed",
            "last_error": redact(reason)[:4000],
            "flow_run_id": flow_run_id,
            "finished_at": now,
            "lease_until": None,
            "claim_holder": None,
            "published_at": utc(ref.published_at),
            "frequency": ref.frequency,
            "source": ref.origin,
            "source_sha256": ref.source_sha256,
        }
        for _ in range(2):
            try:
                with self.engine.begin() as conn:
                    row = conn.execute(
                        select(c.status, c.lease_until).where(cond).with_for_update()
                    ).first()
                    if row is None:
                        conn.execute(
                            insert(schema.load_ledger).values(
                                zone_code=ref.zone_code,
                                dataset=ref.dataset,
                                period=ref.period,
                                revision=ref.revision,
                                attempts=0,
                                load_id=str(uuid.uuid4()),
                                started_at=now,
                                **values,
                            )
                        )
                        return True
                    live = row.lease_until is not None and utc(row.lease_until) > now
                    # a rejection waits for a person and keeps its reason
                    if row.status in ("loaded", "rejected") or (row.status == "running" and live):
                        return False
                    conn.execute(update(schema.load_ledger).where(cond).values(**values))
                    return True
            except IntegrityError:
                continue  # another run inserted the row between our select and insert
        return False

    def finish_release(
        self, ref: ReleaseRef, load_id: str, status: str, error: str, staging: Path | None = None
    ) -> None:
        """Record that an attempt failed (try again) or was rejected (needs a person)."""
        if status not in ("failed", "rejected"):
            raise ValueError(status)
        if staging is not None:
            discard(staging)
        with self.engine.begin() as conn:
            conn.execute(
                update(schema.load_ledger)
                .where(self._ledger_key(ref.key), schema.load_ledger.c.load_id == load_id)
                .values(
                    status=status,
                    last_error=redact(error)[:4000],
                    finished_at=utcnow(),
                    lease_until=None,
                    claim_holder=None,
                )
            )

    def ledger(self, zone: str | None = None, status: str | None = None) -> pd.DataFrame:
        """The ledger rows, newest first, optionally for one zone or status."""
        t = schema.load_ledger
        q = select(t)
        if zone:
            q = q.where(t.c.zone_code == zone)
        if status:
            q = q.where(t.c.status == status)
        q = q.order_by(t.c.zone_code, t.c.dataset, t.c.period, t.c.revision)
        with self.engine.connect() as conn:
            return pd.DataFrame(
                conn.execute(q).mappings().all(), columns=[c.name for c in t.columns]
            )

    def watermark(self, zone_code: str, dataset: str) -> datetime | None:
        """The newest published_at loaded for a zone and dataset, if any."""
        t = schema.watermark
        with self.engine.connect() as conn:
            value = conn.execute(
                select(t.c.published_at).where(t.c.zone_code == zone_code, t.c.dataset == dataset)
            ).scalar_one_or_none()
        return utc(value) if value is not None else None

    def failed_releases(
        self, zone: str | None = None, dataset: str | None = None, period: str | None = None
    ) -> list[ReleaseRef]:
        """The ledger's failed releases (only those), not superseded by a loaded revision.

        A release left ``running`` by a dead run (its claim expired) counts as failed.
        """
        led = schema.load_ledger
        superseded = _superseded(led)
        dead = and_(led.c.status == "running", led.c.lease_until < utcnow())
        q = select(led).where(or_(led.c.status == "failed", dead), ~superseded)
        for name, value in (("zone_code", zone), ("dataset", dataset), ("period", period)):
            if value:
                q = q.where(led.c[name] == value)
        q = q.order_by(led.c.zone_code, led.c.dataset, led.c.published_at, led.c.period)
        with self.engine.connect() as conn:
            rows = conn.execute(q).mappings().all()
        return [
            ReleaseRef(
                zone_code=r["zone_code"],
                dataset=r["dataset"],
                period=r["period"],
                frequency=r["frequency"],
                revision=r["revision"],
                published_at=utc(r["published_at"]) if r["published_at"] else utcnow(),
                origin=r["source"] or "api-v1",
                source_sha256=r["source_sha256"],
                form=form_for(r["dataset"], r["frequency"]) if r["source"] != "api-v1" else None,
            )
            for r in rows
        ]

    def record_action(self, action: str, operator: str, reason: str, details: str) -> None:
        """Audit an operator's action: who, when, why, on what."""
        with self.engine.begin() as conn:
            conn.execute(
                insert(schema.operator_action).values(
                    action=action,
                    operator=operator,
                    reason=reason,
                    details=details,
                    at=utcnow(),
                )
            )

    def release_history(
        self, zone_code: str, dataset: str
    ) -> dict[str, list[tuple[int, str | None]]]:
        """Per period, the revisions the ledger has seen with the hash of what they were made of."""
        if not self._has_ledger():
            return {}
        c = schema.load_ledger.c
        q = select(c.period, c.revision, c.source_sha256).where(
            c.zone_code == zone_code, c.dataset == dataset
        )
        out: dict[str, list[tuple[int, str | None]]] = {}
        with self.engine.connect() as conn:
            for period, revision, sha in conn.execute(q):
                out.setdefault(period, []).append((int(revision), sha))
        return out

    def repair(self, stale_after: timedelta) -> list[str]:
        """Finish what a killed run left behind; return a line per thing done.

        Every Parquet file holds exactly the rows of the loads that SQL maps to it
        (``load_commit``: a release's own file, or a batch's file of a partition). A file SQL has
        rows for that is not there — a run killed after a commit, before its rename — is written
        again from SQL, unless a live batch writer still holds it (it publishes it itself).
        Hidden temp files no live writer holds and work directories, when older than
        ``stale_after``, belong to no live run and are removed.
        """
        done: list[str] = []
        root = self.data_dir / "parquet"
        for f in [] if self.lake is not None else self._expected_files():
            if f.final.exists():
                continue
            tmp = temp_file(f.final)
            if f.batch is not None and parquet.held(tmp):
                continue  # a live run is loading into it
            left = f.batch is not None and tmp.exists()
            try:
                written = self.rewrite_parquet_file(f.table, f.key, f.batch, wait_s=0)
            except TimeoutError:
                continue  # a live run took it up meanwhile
            if written is None:
                continue
            if f.batch is None:
                done.append(f"{f.key}: {f.table} Parquet written again from SQL")
            else:
                where = f.final.relative_to(root).as_posix()
                n = len(f.releases)
                done.append(f"{where}: written again from SQL ({n} release{'s' * (n != 1)})")
                if left:
                    done.append(f"dead batch temp file {tmp.name} removed")
        done += self._repair_published()
        cutoff = (utcnow() - stale_after).timestamp()
        for tmp in root.glob("**/.*.tmp"):
            try:
                old = tmp.stat().st_mtime < cutoff
            except FileNotFoundError:
                continue
            # a batch writer's temp file may sit unchanged for long; its lock says it is alive
            if old and not parquet.held(tmp):
                tmp.unlink(missing_ok=True)
                done.append(f"stale temp file {tmp.name} removed")
        for attempt in (self.data_dir / "staging").glob("*/*/*"):
            if attempt.is_dir() and attempt.stat().st_mtime < cutoff:
                discard(attempt)
                done.append(f"stale work files {attempt.relative_to(self.data_dir)} removed")
        return done

    def published_differences(self) -> list[tuple[str, int, str]]:
        """The (table, year, zone) partitions whose published rows differ from what SQL holds.

        The lake's tables and the current tables (local or lake): per (year, zone) partition,
        rows per load id, as ``load_commit`` and the ledger say, against what is published.
        Reads only; ``repair`` writes each of them again from SQL.
        """
        with self.engine.connect() as conn:
            expected = current.sql_counts(conn)
        tables = [*(PARQUET_TABLES if self.lake is not None else ()), *CURRENT_TABLES.values()]
        out = []
        for table in tables:
            if self.lake is not None:
                found = self.lake.load_counts(table)
            else:
                found = current.local_counts(self.data_dir, table)
            want = expected.get(table, {})
            out += [
                (table, year, zone)
                for year, zone in sorted(set(want) | set(found))
                if want.get((year, zone), {}) != found.get((year, zone), {})
            ]
        return out

    def _repair_published(self) -> list[str]:
        """Rewrite from SQL each partition whose published rows differ from what SQL holds."""
        done = []
        for table, year, zone in self.published_differences():
            self._write_partition(table, year, zone)
            line = f"{table}/year={year}/zone_code={zone}: written again from SQL"
            if self.lake is None:
                # the local current tables are derived; their files' repair is no news
                log.info("repair: %s", line)
            else:
                done.append(line)
        return done

    def publish_partition(self, partition: parquet.Partition) -> None:
        """After a batch: a partition's lake table (if any) and current table, from SQL."""
        table, year, zone = partition
        with _PUBLISHING, timed("write_parquet"):
            if self.lake is not None:
                self._write_partition(table, year, zone)
            if table in CURRENT_TABLES:
                self._write_partition(CURRENT_TABLES[table], year, zone)

    def _write_partition(self, table: str, year: int, zone: str) -> None:
        """Write one partition of a lake or current table again, whole, from SQL.

        A release at a time: a partition is never held whole in memory (at 4x the bench a
        zone's year is 432,000 rows, and four zones close their batches at once).
        """

        def parts() -> Iterator[pa.Table]:
            with self.engine.connect() as conn:
                if table in CURRENT_TABLES.values():
                    obs = table.removesuffix("_current")
                    commits = self._current_commits(conn, obs, year, zone)
                else:
                    obs = table
                    commits = self._partition_commits(conn, table, year, zone)
            # SQL only for what no batch file holds, a release per (short) transaction: on
            # SQLite a read holds the write lock, which other zones wait for
            if obs == "quarantine":
                yield from self._sql_parts(obs, commits)
                return
            for rk, mine in _by_release(commits):
                rows = None if obs == table else self._batch_file_rows(obs, rk, mine)
                if rows is None:
                    yield from self._sql_parts(obs, mine)
                else:
                    yield parquet.conform(obs, rows)

        if self.lake is not None:
            self.lake.replace_partition(table, year, zone, parts)
        else:
            current.write_local(self.data_dir, table, year, zone, parts())

    def _current_commits(self, conn: Connection, obs: str, year: int, zone: str) -> list[Any]:
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
            for c in self._partition_commits(conn, obs, year, zone)
            if latest.get(c.period) == int(c.revision)
        ]

    def _sql_parts(self, table: str, commits: list[Any]) -> list[pa.Table]:
        """The rows some load_commit rows added to a table, read from SQL in one transaction."""
        with self.engine.connect() as conn:
            return [parquet.conform(table, p) for p in self._commit_rows(conn, table, commits)]

    def _batch_file_rows(self, table: str, key: ReleaseKey, commits: list[Any]) -> pa.Table | None:
        """A release's rows from the one local batch file that holds all of them, else None.

        Reading a partition's current rows back from SQL cost ~16 % of a bench run; a release
        loaded whole by one batch (no accepts since, not on a lake) has exactly its rows in that
        batch's published file, already in Parquet form.
        """
        batches = {c.parquet_batch for c in commits}
        if self.lake is not None or len(batches) != 1 or None in batches:
            return None
        path = parquet_file(self.data_dir, table, key, batches.pop())
        if not path.exists():
            return None  # not published (a dead run): repair rewrites it from SQL
        data = _release_rows_of_file(path, key)
        if data.num_rows != sum(int(c.obs_rows) for c in commits):
            return None  # the file is not what SQL says it holds: SQL decides
        # in the order SQL reads a release: its key's order
        base = schema.OBS_BASE[key.dataset]
        order = [c.name for c in base.primary_key.columns if c.name in data.column_names]
        return data.sort_by([(c, "ascending") for c in order])

    def _partition_commits(self, conn: Connection, table: str, year: int, zone: str) -> list[Any]:
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

    def _expected_files(self) -> list[_ParquetFile]:
        """Every Parquet file SQL holds rows for, with the releases whose rows it holds."""
        lc = schema.load_commit.c
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(
                    lc.zone_code,
                    lc.dataset,
                    lc.period,
                    lc.revision,
                    lc.parquet_batch,
                    lc.obs_rows,
                    lc.quarantine_rows,
                )
            ).all()
        files: dict[Path, _ParquetFile] = {}
        for zone, dataset, period, revision, batch, n_obs, n_q in rows:
            key = ReleaseKey(zone, dataset, period, int(revision))
            for table, n in ((schema.OBS_TABLES[dataset].name, n_obs), ("quarantine", n_q)):
                if not n:
                    continue
                final = parquet_file(self.data_dir, table, key, batch)
                f = files.get(final)
                if f is None:
                    f = files[final] = _ParquetFile(table, key, batch, final, set())
                f.releases.add(key)
        return list(files.values())

    def rewrite_parquet_file(
        self, table: str, key: ReleaseKey, batch: str | None, wait_s: float = 600.0
    ) -> Path | None:
        """Write one Parquet file again from SQL (temp, then rename); None: no rows, no file.

        ``key``: the release (its own file) or any release of the partition (a batch's file).
        A batch still loading into the file is waited for up to ``wait_s`` (then TimeoutError):
        what it publishes at its end lacks what changed in SQL since.
        """
        final = parquet_file(self.data_dir, table, key, batch)
        deadline = time.monotonic() + wait_s
        while True:
            with parquet.claim_temp(temp_file(final)) as free:
                if free:
                    with self.engine.connect() as conn:
                        tmp = parquet.write_file(
                            table, final, self._file_rows(conn, table, key, batch)
                        )
                    if tmp is None:
                        final.unlink(missing_ok=True)  # no rows: no file, not a stale one
                    else:
                        parquet.publish(tmp, final)
                    if batch is not None:
                        # a dead batch writer's temp file, now of no use (its lock is ours)
                        parquet.discard_temp(temp_file(final))
                    return None if tmp is None else final
            if time.monotonic() >= deadline:
                raise TimeoutError(f"{final}: a live run is still loading into this file")
            time.sleep(0.2)

    def rewrite_release_parquet(
        self, key: ReleaseKey, load_id: str, tables: Sequence[str]
    ) -> list[Path]:
        """Write the Parquet files holding a load's rows of some tables again from SQL."""
        lc = schema.load_commit.c
        with self.engine.connect() as conn:
            commits = conn.execute(
                select(lc.parquet_batch, lc.obs_rows, lc.quarantine_rows).where(
                    lc.load_id == load_id
                )
            ).all()
        obs_name = schema.OBS_TABLES[key.dataset].name
        # the current table follows its observations whatever the backend
        self.publish_partition((obs_name, int(key.period[:4]), key.zone_code))
        if self.lake is not None:
            if "quarantine" in tables:
                self.publish_partition(("quarantine", int(key.period[:4]), key.zone_code))
            return []
        files = {
            (table, batch)
            for batch, n_obs, n_q in commits
            for table in tables
            if (n_q if table == "quarantine" else n_obs) and table in (obs_name, "quarantine")
        }
        written = []
        for table, batch in sorted(files, key=lambda f: (f[0], f[1] or "")):
            path = self.rewrite_parquet_file(table, key, batch)
            if path is not None:
                written.append(path)
        return written

    def _file_commits(
        self, conn: Connection, table: str, key: ReleaseKey, batch: str | None
    ) -> list[Any]:
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

    def _file_rows(
        self, conn: Connection, table: str, key: ReleaseKey, batch: str | None
    ) -> Iterator[pa.Table]:
        """The rows of one Parquet file, from SQL, a part at a time."""
        return self._commit_rows(conn, table, self._file_commits(conn, table, key, batch))

    def _commit_rows(self, conn: Connection, table: str, commits: list[Any]) -> Iterator[pa.Table]:
        """The rows of a table that some load_commit rows added, from SQL, a part at a time."""
        if table == "quarantine":
            yield from _quarantine_rows(conn, sorted({c.load_id for c in commits}))
            return
        for rk, mine in _by_release(commits):
            yield from _obs_rows(conn, rk, mine)

    def _advance_watermark(self, conn: Connection, ref: ReleaseRef, load_id: str) -> None:
        if ref.origin == "manual":
            return  # an operator's file says nothing about what the zone's system has published
        blocked = conn.execute(
            _BLOCKED,
            {"zone": ref.zone_code, "dataset": ref.dataset, "published": utc(ref.published_at)},
        ).scalar_one()
        if blocked:
            return  # a failed release published earlier must be listed again next run
        t = schema.watermark
        cond = and_(t.c.zone_code == ref.zone_code, t.c.dataset == ref.dataset)
        current = conn.execute(select(t.c.published_at).where(cond)).scalar_one_or_none()
        new = utc(ref.published_at)
        if current is None:
            conn.execute(
                insert(t).values(
                    zone_code=ref.zone_code,
                    dataset=ref.dataset,
                    published_at=new,
                    load_id=load_id,
                    updated_at=utcnow(),
                )
            )
        elif utc(current) < new:
            conn.execute(
                update(t).where(cond).values(published_at=new, load_id=load_id, updated_at=utcnow())
            )

    # -- loading a release -----------------------------------------------------------------

    def parquet_batch(self) -> parquet.ParquetBatch:
        """A Parquet batch: one file per partition for the releases loaded in it (see parquet)."""
        if self.lake is not None:
            return parquet.LakeBatch(
                self.data_dir, durable=self._durable, after_close=self.publish_partition
            )
        return parquet.ParquetBatch(
            self.data_dir,
            rebuild=self._rebuild_batch_file,
            durable=self._durable,
            after_close=self.publish_partition,
        )

    def _durable(self) -> None:
        """Make every commit so far survive a power loss (SQLite: sync its write-ahead log).

        SQLite commits with synchronous=NORMAL do not wait for the disk, and a checkpoint syncs
        what it moves into the database file; what is still only in the WAL is synced here, once
        before Parquet rows become visible, outside the write lock. PostgreSQL commits durably.
        """
        if self.engine.dialect.name != "sqlite":
            return
        database = self.engine.url.database
        if not database or database == ":memory:":
            return
        try:
            fd = os.open(f"{database}-wal", os.O_RDONLY)
        except FileNotFoundError:
            return
        try:
            os.fsync(fd)
        finally:
            os.close(fd)

    def _publish_current(self, obs_name: str, key: ReleaseKey) -> None:
        """A committed load's current partition; a failure is the next repair's to mend."""
        try:
            self.publish_partition((obs_name, int(key.period[:4]), key.zone_code))
        except Exception:
            log.exception("%s: the current partition could not be written", key)

    def _rebuild_batch_file(self, table: str, key: ReleaseKey, batch: str) -> Path | None:
        return self.rewrite_parquet_file(table, key, batch, wait_s=0)

    def load_release(
        self,
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
        if batch is not None and batch.data_dir != self.data_dir:
            raise ValueError(
                f"the Parquet batch writes under {batch.data_dir}, not {self.data_dir}"
            )
        if batch is None and self.lake is not None:
            # a lake has no release's own file: a batch of one, published at its end
            with self.parquet_batch() as one:
                self.load_release(v, spool=spool, batch=one)
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
                with self.engine.begin() as conn:
                    self._claim_load(conn, v, now)
                    load_no = self._commit_row(conn, v, now, batch, obs, quarantine.num_rows)
                    if obs is not None:
                        with timed("load_sql"):
                            self._insert_observations(conn, key, obs, load_no)
                        rows = _with_load(obs, v.load_id, now)
                        if batch is not None:
                            after.append((obs_name, rows))
                        else:
                            with timed("write_parquet"):
                                final = release_file(self.data_dir, obs_name, key)
                                tmp = parquet.write_file(obs_name, final, iter([rows]))
                                if tmp is not None:
                                    temps.append((tmp, final))
                    with timed("load_sql"):
                        self._insert_rest(conn, v, quarantine, now, observations=not rejected)
                    if quarantine.num_rows:
                        # quarantine ids are the database's: the rows are read back from SQL
                        with timed("write_parquet"):
                            if batch is not None:
                                after.append(
                                    (
                                        "quarantine",
                                        pa.concat_tables(_quarantine_rows(conn, [v.load_id])),
                                    )
                                )
                            else:
                                final = release_file(self.data_dir, "quarantine", key)
                                tmp = parquet.write_file(
                                    "quarantine",
                                    final,
                                    self._file_rows(conn, "quarantine", key, None),
                                )
                                if tmp is not None:
                                    temps.append((tmp, final))
                if temps:
                    self._durable()  # no reader sees a row a power loss could take from SQL
                for tmp, final in temps:
                    parquet.publish(tmp, final)
                if batch is None:
                    self._publish_current(obs_name, key)
            except BaseException:
                for tmp, _ in temps:
                    parquet.discard_temp(tmp)
                raise
            if batch is not None:
                with timed("write_parquet"):
                    for table, rows in after:
                        batch.append(table, key, rows)
        if spool is not None and spool.exists():
            archive_spool(spool, release_file(self.data_dir, "raw", key))

    def _claim_load(self, conn: Connection, v: ValidatedRelease, now: datetime) -> None:
        """Move the release's ledger row from our claim to its end; LoadConflict if not ours."""
        key = v.ref.key
        rejected = v.rejection is not None
        led = schema.load_ledger
        claimed = conn.execute(
            update(led)
            .where(self._ledger_key(key), led.c.load_id == v.load_id, led.c.status == "running")
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

    @staticmethod
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

    @staticmethod
    def _insert_observations(
        conn: Connection, key: ReleaseKey, obs: pa.Table, load_no: int
    ) -> None:
        """Insert a release's observations (in key order) under its load number."""
        base = schema.OBS_BASE[key.dataset]
        release = {"zone_code": key.zone_code, "period": key.period, "revision": key.revision}
        columns = [c.name for c in base.columns if c.name not in release and c.name != "load_no"]
        insert_arrow(conn, base.name, obs, {**release, "load_no": load_no}, columns)

    def _insert_rest(
        self,
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
            self._upsert_enterprises(conn, _read_staged(v.dims))
        self._advance_watermark(conn, v.ref, v.load_id)

    @staticmethod
    def _upsert_enterprises(conn: Connection, dims: pa.Table | pd.DataFrame) -> None:
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

    @contextmanager
    def connect(self) -> Iterator[Connection]:
        """A read connection (for status, tests and reports)."""
        with self.engine.connect() as conn:
            yield conn


def sqlite_url_for(data_dir: Path) -> str:
    """The default embedded warehouse under a data directory."""
    return f"sqlite:///{(data_dir / 'zonestats.db').as_posix()}"


__all__ = ["LEDGER_STATUSES", "LoadConflict", "Warehouse", "engine_for", "sqlite_url_for"]
