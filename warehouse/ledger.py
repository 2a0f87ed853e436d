"""The ledger of the releases: their claims, their ends, the watermark, the operators' audit.

A release's ledger row is its claim while a run loads it (``running`` under a lease), then its end
(``loaded``, ``failed``, ``rejected``). The watermark of a zone's dataset moves only past releases
none of which is still to be listed again.
"""

from __future__ import annotations

import uuid
import weakref
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pandas as pd
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

from warehouse import schema
from warehouse.staging import discard
from zonestats.models import ReleaseKey, ReleaseRef, utc, utcnow
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


_READY: weakref.WeakSet[Engine] = weakref.WeakSet()  # engines whose warehouse has its tables


def ledger_key(key: ReleaseKey) -> Any:
    """The condition that selects a release's ledger row."""
    c = schema.load_ledger.c
    return and_(
        c.zone_code == key.zone_code,
        c.dataset == key.dataset,
        c.period == key.period,
        c.revision == key.revision,
    )


def is_loaded(engine: Engine, key: ReleaseKey) -> bool:
    """True when this release is loaded at this revision (or a later one)."""
    c = schema.load_ledger.c
    q = select(func.count()).where(
        c.zone_code == key.zone_code,
        c.dataset == key.dataset,
        c.period == key.period,
        c.revision >= key.revision,
        c.status == "loaded",
    )
    with engine.connect() as conn:
        return bool(conn.execute(q).scalar_one())


def _has_ledger(engine: Engine) -> bool:
    # a warehouse never loses its ledger once it has one: ask the catalog until then only
    if engine in _READY:
        return True
    if inspect(engine).has_table("load_ledger"):
        _READY.add(engine)
        return True
    return False


def loaded_revisions(engine: Engine, zone_code: str, dataset: str) -> dict[str, int]:
    """The highest loaded revision of each period of a zone's dataset."""
    if not _has_ledger(engine):
        return {}  # a warehouse not created yet (a dry run creates nothing) has loaded nothing
    c = schema.load_ledger.c
    q = (
        select(c.period, func.max(c.revision))
        .where(c.zone_code == zone_code, c.dataset == dataset, c.status == "loaded")
        .group_by(c.period)
    )
    with engine.connect() as conn:
        return {period: int(rev) for period, rev in conn.execute(q)}


def begin_release(
    engine: Engine,
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
    cond = ledger_key(ref.key)
    c = schema.load_ledger.c
    for _ in range(2):
        try:
            with engine.begin() as conn:
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


def defer_release(engine: Engine, ref: ReleaseRef, flow_run_id: str | None, reason: str) -> bool:
    """Record a listed release as ``failed`` without an attempt ("not attempted: …").

    The next nightly and ``rerun --failed`` pick it up. Nothing changes for a release that is
    loaded, rejected, or held by a live run; False then.
    """
    now = utcnow()
    cond = ledger_key(ref.key)
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
            with engine.begin() as conn:
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
    engine: Engine,
    ref: ReleaseRef,
    load_id: str,
    status: str,
    error: str,
    staging: Path | None = None,
) -> None:
    """Record that an attempt failed (try again) or was rejected (needs a person)."""
    if status not in ("failed", "rejected"):
        raise ValueError(status)
    if staging is not None:
        discard(staging)
    with engine.begin() as conn:
        conn.execute(
            update(schema.load_ledger)
            .where(ledger_key(ref.key), schema.load_ledger.c.load_id == load_id)
            .values(
                status=status,
                last_error=redact(error)[:4000],
                finished_at=utcnow(),
                lease_until=None,
                claim_holder=None,
            )
        )


def ledger_rows(engine: Engine, zone: str | None = None, status: str | None = None) -> pd.DataFrame:
    """The ledger rows, newest first, optionally for one zone or status."""
    t = schema.load_ledger
    q = select(t)
    if zone:
        q = q.where(t.c.zone_code == zone)
    if status:
        q = q.where(t.c.status == status)
    q = q.order_by(t.c.zone_code, t.c.dataset, t.c.period, t.c.revision)
    with engine.connect() as conn:
        return pd.DataFrame(conn.execute(q).mappings().all(), columns=[c.name for c in t.columns])


def watermark(engine: Engine, zone_code: str, dataset: str) -> datetime | None:
    """The newest published_at loaded for a zone and dataset, if any."""
    t = schema.watermark
    with engine.connect() as conn:
        value = conn.execute(
            select(t.c.published_at).where(t.c.zone_code == zone_code, t.c.dataset == dataset)
        ).scalar_one_or_none()
    return utc(value) if value is not None else None


def failed_releases(
    engine: Engine, zone: str | None = None, dataset: str | None = None, period: str | None = None
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
    with engine.connect() as conn:
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


def record_action(engine: Engine, action: str, operator: str, reason: str, details: str) -> None:
    """Audit an operator's action: who, when, why, on what."""
    with engine.begin() as conn:
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
    engine: Engine, zone_code: str, dataset: str
) -> dict[str, list[tuple[int, str | None]]]:
    """Per period, the revisions the ledger has seen with the hash of what they were made of."""
    if not _has_ledger(engine):
        return {}
    c = schema.load_ledger.c
    q = select(c.period, c.revision, c.source_sha256).where(
        c.zone_code == zone_code, c.dataset == dataset
    )
    out: dict[str, list[tuple[int, str | None]]] = {}
    with engine.connect() as conn:
        for period, revision, sha in conn.execute(q):
            out.setdefault(period, []).append((int(revision), sha))
    return out


def advance_watermark(conn: Connection, ref: ReleaseRef, load_id: str) -> None:
    """Move a zone dataset's watermark to a loaded release, unless an earlier one is still due."""
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
