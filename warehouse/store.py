"""The warehouse: ledger, observations, quarantine and watermark in SQL, mirrored to Parquet.

The only code that writes to the database or the Parquet tree. One release loads in one
transaction; its Parquet files are written from what that transaction inserted and renamed into
place once it commits.
"""

from __future__ import annotations

import sqlite3
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pandas as pd
from sqlalchemy import (
    Connection,
    Engine,
    and_,
    case,
    create_engine,
    event,
    exists,
    func,
    insert,
    inspect,
    or_,
    select,
    update,
)
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import aliased

from warehouse import parquet, schema
from warehouse.bulk import bulk_insert
from warehouse.paths import release_file
from warehouse.staging import archive_spool, discard, read_batches
from zonestats.catalog import Catalog
from zonestats.config import WarehouseSettings
from zonestats.metrics import timed
from zonestats.models import ReleaseKey, ReleaseRef, ValidatedRelease, utc, utcnow
from zonestats.secrets import redact

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


def _wal(cur: Any) -> None:
    """Switch a SQLite database to WAL; two first connections at once may have to wait their turn.

    The switch needs the database to itself and SQLite answers "database is locked" at once,
    without its busy handler, when another connection is opening it at the same moment.
    """
    for _ in range(100):
        try:
            cur.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc):
                raise
            time.sleep(0.05)
    cur.execute("PRAGMA journal_mode=WAL")


def _engine(url: str) -> Engine:
    if url.startswith("sqlite"):
        path = url.split("///", 1)[1] if "///" in url else ""
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"timeout": 60, "check_same_thread": False})

        @event.listens_for(engine, "connect")
        def _sqlite_connect(dbapi_conn: Any, _: Any) -> None:
            # let SQLAlchemy own BEGIN, and take the write lock up front (BEGIN IMMEDIATE) so two
            # writers queue on the busy timeout instead of failing with "database is locked"
            dbapi_conn.isolation_level = None
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA busy_timeout=60000")
            _wal(cur)
            cur.close()

        @event.listens_for(engine, "begin")
        def _sqlite_begin(conn: Connection) -> None:
            conn.exec_driver_sql("BEGIN IMMEDIATE")

        return engine
    import os

    from sqlalchemy.engine import make_url

    from warehouse.migrate import SCHEMA

    parsed = make_url(url)
    if parsed.get_backend_name() != "postgresql":
        return create_engine(url, pool_pre_ping=True)
    # Every object lives in schema zonestats; the unqualified SQL everywhere (views, COPY, text())
    # finds it through the search path, set at connect time so it costs no round trip. libpq
    # takes `options` from the URL or else from $PGOPTIONS, so both are kept, and a search_path
    # the operator set there explicitly wins.
    given = parsed.query.get("options") or os.environ.get("PGOPTIONS", "")
    options = " ".join(given) if isinstance(given, tuple) else given
    if "search_path" not in options:
        options = f"{options} -c search_path={SCHEMA}".strip()
    return create_engine(
        parsed.difference_update_query(["options"]),
        pool_pre_ping=True,
        connect_args={"options": options},
    )


_ENGINES: dict[str, Engine] = {}
_ENGINES_LOCK = threading.Lock()


def engine_for(settings: WarehouseSettings) -> Engine:
    """One engine per warehouse URL per process (threads of a run share its pool)."""
    url = settings.url.get_secret_value()
    with _ENGINES_LOCK:
        if url not in _ENGINES:
            _ENGINES[url] = _engine(url)
        return _ENGINES[url]


class Warehouse:
    """The warehouse of one configuration."""

    def __init__(self, settings: WarehouseSettings) -> None:
        self.settings = settings
        self.engine = engine_for(settings)
        self.data_dir = settings.data_dir

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
        return inspect(self.engine).has_table("load_ledger")

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

        A run killed between its commit and the rename of its Parquet file leaves a loaded release
        without its file: the file is written again from SQL. Hidden temp files and work
        directories older than a lease belong to no live run and are removed.
        """
        done: list[str] = []
        led = schema.load_ledger
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(
                    led.c.zone_code, led.c.dataset, led.c.period, led.c.revision, led.c.load_id
                ).where(led.c.status == "loaded")
            ).all()
            for zone, dataset, period, revision, load_id in rows:
                key = ReleaseKey(zone, dataset, period, revision)
                table = schema.OBS_TABLES[dataset]
                for name, tbl in ((table.name, table), ("quarantine", schema.quarantine)):
                    final = release_file(self.data_dir, name, key)
                    if final.exists():
                        continue
                    tmp = self._export(conn, tbl, name, load_id, final)
                    if tmp is not None:
                        parquet.publish(tmp, final)
                        done.append(f"{key}: {name} Parquet written again from SQL")
        cutoff = (utcnow() - stale_after).timestamp()
        for tmp in (self.data_dir / "parquet").glob("**/.*.tmp"):
            if tmp.stat().st_mtime < cutoff:
                tmp.unlink(missing_ok=True)
                done.append(f"stale temp file {tmp.name} removed")
        for attempt in (self.data_dir / "staging").glob("*/*/*"):
            if attempt.is_dir() and attempt.stat().st_mtime < cutoff:
                discard(attempt)
                done.append(f"stale work files {attempt.relative_to(self.data_dir)} removed")
        return done

    def _advance_watermark(self, conn: Connection, ref: ReleaseRef, load_id: str) -> None:
        if ref.origin == "manual":
            return  # an operator's file says nothing about what the zone's system has published
        led = schema.load_ledger
        superseded = _superseded(led)
        blocked = conn.execute(
            select(func.count()).where(
                led.c.zone_code == ref.zone_code,
                led.c.dataset == ref.dataset,
                # a release left running (its attempt cut off, its end never recorded) must be
                # listed again as much as a failed one
                led.c.status.in_(("failed", "running")),
                led.c.published_at <= utc(ref.published_at),
                ~superseded,
            )
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

    def load_release(self, v: ValidatedRelease, spool: Path | None = None) -> None:
        """Load a validated release in one transaction, then publish its Parquet files.

        A release a release-level error rejects (``v.rejection``) loads no observation: its
        quarantine rows say why, and the ledger marks it rejected (it needs a person).
        """
        key = v.ref.key
        rejected = v.rejection is not None
        obs_table = schema.OBS_TABLES[key.dataset]
        obs_name = obs_table.name
        now = utcnow()
        temps: list[tuple[Path, Path]] = []
        try:
            with self.engine.begin() as conn:
                claimed = conn.execute(
                    update(schema.load_ledger)
                    .where(
                        self._ledger_key(key),
                        schema.load_ledger.c.load_id == v.load_id,
                        schema.load_ledger.c.status == "running",
                    )
                    .values(
                        status="rejected" if rejected else "loaded",
                        lease_until=None,
                        claim_holder=None,
                        finished_at=now,
                        # a load keeps the claim's note (a takeover); a rejection says why
                        last_error=(
                            redact(v.rejection)[:4000]
                            if v.rejection
                            else schema.load_ledger.c.last_error
                        ),
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
                if not rejected:
                    # the observations go to SQL and to Parquet batch by batch, the very same rows
                    obs_out = parquet.TempParquet(
                        obs_name, release_file(self.data_dir, obs_name, key)
                    )
                    temps.append((obs_out.tmp, obs_out.final))
                    self._insert_observations(conn, v, now, obs_out)
                    if obs_out.close() is None:
                        temps.pop()
                with timed("load_sql"):
                    self._insert_rest(conn, v, now, observations=not rejected)
                # quarantine ids are the database's: that file is written from what SQL holds
                with timed("write_parquet"):
                    final = release_file(self.data_dir, "quarantine", key)
                    tmp = self._export(conn, schema.quarantine, "quarantine", v.load_id, final)
                    if tmp is not None:
                        temps.append((tmp, final))
            for tmp, final in temps:
                parquet.publish(tmp, final)
        except BaseException:
            for tmp, _ in temps:
                parquet.discard_temp(tmp)
            raise
        if spool is not None and spool.exists():
            archive_spool(spool, release_file(self.data_dir, "raw", key))

    def _insert_observations(
        self, conn: Connection, v: ValidatedRelease, now: datetime, obs_out: parquet.TempParquet
    ) -> None:
        """Insert a release's observations, and write the same rows into its Parquet file."""
        key = v.ref.key
        for batch in read_batches(v.obs):
            batch["load_id"] = v.load_id
            batch["loaded_at"] = now
            with timed("load_sql"):
                bulk_insert(conn, schema.OBS_TABLES[key.dataset], batch)
            with timed("write_parquet"):
                obs_out.write(batch)

    def _insert_rest(
        self, conn: Connection, v: ValidatedRelease, now: datetime, observations: bool = True
    ) -> None:
        """Insert a release's quarantine rows; with its observations, enterprises and watermark."""
        key = v.ref.key
        for batch in read_batches(v.quarantine):
            batch["load_id"] = v.load_id
            batch["zone_code"] = key.zone_code
            batch["dataset"] = key.dataset
            batch["period"] = key.period
            batch["revision"] = key.revision
            batch["status"] = "open"
            batch["created_at"] = now
            bulk_insert(conn, schema.quarantine, batch)
        if not observations:
            return
        if v.dims is not None:
            for batch in read_batches(v.dims):
                self._upsert_enterprises(conn, batch)
        self._advance_watermark(conn, v.ref, v.load_id)

    @staticmethod
    def _export(
        conn: Connection, table: Any, table_name: str, load_id: str, final: Path
    ) -> Path | None:
        """Stream one load's rows of a table into a temp Parquet file (bounded memory)."""
        out = parquet.TempParquet(table_name, final)
        columns = [c.name for c in table.columns]
        try:
            result = conn.execution_options(yield_per=50_000).execute(
                select(table).where(table.c.load_id == load_id)
            )
            for part in result.partitions():
                out.write(pd.DataFrame(part, columns=columns))
            return out.close()
        except BaseException:
            out.close()
            parquet.discard_temp(out.tmp)
            raise

    @staticmethod
    def _upsert_enterprises(conn: Connection, frame: pd.DataFrame) -> None:
        """Keep dim_enterprise as last reported: newer periods win, first_period only moves back."""
        if frame.empty:
            return
        t = schema.dim_enterprise
        dialect_insert = pg_insert if conn.dialect.name == "postgresql" else sqlite_insert
        stmt = dialect_insert(t)
        new = stmt.excluded
        newer = new.last_period >= t.c.last_period
        stmt = stmt.on_conflict_do_update(
            index_elements=[t.c.uscc],
            set_={
                **{
                    c: case((newer, new[c]), else_=t.c[c])
                    for c in ("name", "industry_code", "zone_code", "above_scale", "last_period")
                },
                "first_period": case(
                    (new.first_period < t.c.first_period, new.first_period), else_=t.c.first_period
                ),
            },
        )
        rows = frame.assign(first_period=frame["period"], last_period=frame["period"]).drop(
            columns="period"
        )
        rows = rows.astype(object).where(rows.notna(), None)
        conn.execute(stmt, rows.to_dict("records"))

    @contextmanager
    def connect(self) -> Iterator[Connection]:
        """A read connection (for status, tests and reports)."""
        with self.engine.connect() as conn:
            yield conn


def sqlite_url_for(data_dir: Path) -> str:
    """The default embedded warehouse under a data directory."""
    return f"sqlite:///{(data_dir / 'zonestats.db').as_posix()}"


__all__ = ["LEDGER_STATUSES", "LoadConflict", "Warehouse", "engine_for", "sqlite_url_for"]
