"""The reporting calendar in SQL and Parquet: what the zones listed, extensions, release_calendar.

Every listing records what a zone publishes (``release_seen``) even when nothing new loads, so
a release's first published_at is known whether or not it was loaded; an operator's extension
is one transaction with its audit row; ``release_calendar`` is replaced whole by every run; a
release turned overdue is announced once (``overdue_notice``).
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
from sqlalchemy import and_, delete, func, insert, inspect, select, update
from sqlalchemy.exc import IntegrityError

from warehouse import parquet, schema
from warehouse.paths import calendar_file
from warehouse.store import Warehouse
from zonestats.models import ReleaseRef, utc

#: the calendar's tables: a warehouse without them predates migration 0005
TABLES = ("release_seen", "deadline_extension", "release_calendar")


def has_calendar(wh: Warehouse) -> bool:
    """Whether the warehouse has the calendar's tables (migration 0005)."""
    names = set(inspect(wh.engine).get_table_names())
    return all(t in names for t in TABLES)


def record_listing(
    wh: Warehouse, zone_code: str, dataset: str, refs: Iterable[ReleaseRef], seen_at: datetime
) -> int:
    """Record what a zone listed: a period's first and latest published_at; the rows changed."""
    # one entry per period: the earliest and the latest publication listed now
    listed: dict[str, tuple[ReleaseRef, ReleaseRef]] = {}
    for ref in refs:
        if ref.problem is not None or ref.zone_code != zone_code or ref.dataset != dataset:
            continue  # an unusable listing entry says nothing about what the zone owes
        first, last = listed.get(ref.period, (ref, ref))
        listed[ref.period] = (
            ref if utc(ref.published_at) < utc(first.published_at) else first,
            ref if utc(ref.published_at) > utc(last.published_at) else last,
        )
    if not listed:
        return 0
    t = schema.release_seen
    seen = utc(seen_at)
    changed = 0
    with wh.engine.begin() as conn:
        known = {
            r.period: r
            for r in conn.execute(
                select(t).where(
                    t.c.zone_code == zone_code,
                    t.c.dataset == dataset,
                    t.c.period.in_(list(listed)),
                )
            )
        }
        for period, (first, last) in listed.items():
            row = known.get(period)
            if row is None:
                conn.execute(
                    insert(t).values(
                        zone_code=zone_code,
                        dataset=dataset,
                        period=period,
                        frequency=first.frequency,
                        first_published_at=utc(first.published_at),
                        first_revision=first.revision,
                        last_published_at=utc(last.published_at),
                        last_revision=last.revision,
                        first_seen_at=seen,
                        last_seen_at=seen,
                    )
                )
                changed += 1
                continue
            values: dict[str, object] = {"last_seen_at": seen}
            # the earliest publication ever seen is when the release was handed in
            if utc(first.published_at) < utc(row.first_published_at):
                values.update(
                    first_published_at=utc(first.published_at), first_revision=first.revision
                )
            if utc(last.published_at) > utc(row.last_published_at):
                values.update(last_published_at=utc(last.published_at), last_revision=last.revision)
            changed += len(values) > 1
            conn.execute(
                update(t)
                .where(t.c.zone_code == zone_code, t.c.dataset == dataset, t.c.period == period)
                .values(**values)
            )
    return changed


def extend_deadline(
    wh: Warehouse,
    zone_code: str,
    dataset: str,
    period: str,
    until: datetime,
    reason: str,
    operator: str,
    at: datetime,
) -> datetime | None:
    """Record an extension and its audit row in one transaction; the extension it replaced."""
    t = schema.deadline_extension
    key = and_(t.c.zone_code == zone_code, t.c.dataset == dataset, t.c.period == period)
    with wh.engine.begin() as conn:
        before = conn.execute(select(t.c.until).where(key)).scalar_one_or_none()
        values = {"until": utc(until), "reason": reason, "granted_by": operator, "granted_at": at}
        if before is None:
            conn.execute(
                insert(t).values(zone_code=zone_code, dataset=dataset, period=period, **values)
            )
        else:
            conn.execute(update(t).where(key).values(**values))
        details = {
            "zone_code": zone_code,
            "dataset": dataset,
            "period": period,
            "until": utc(until).isoformat(),
            "replaced": utc(before).isoformat() if before is not None else None,
        }
        conn.execute(
            insert(schema.operator_action).values(
                action="deadline_extend",
                operator=operator,
                reason=reason,
                details=json.dumps(details, ensure_ascii=False),
                at=at,
            )
        )
    return utc(before) if before is not None else None


@dataclass(frozen=True)
class CalendarFacts:
    """What the warehouse knows of each release's arrival, and the deadlines extended."""

    #: zone_code, dataset, period, frequency, first_published_at, first_loaded_at,
    #: manual_loaded_at (UTC; NaT where unknown)
    releases: pd.DataFrame
    #: zone_code, dataset, period, until (UTC)
    extensions: pd.DataFrame


def _utc_column(frame: pd.DataFrame, column: str) -> None:
    # SQLite returns timestamps as naive UTC, PostgreSQL as aware: one type for both
    frame[column] = pd.to_datetime(frame[column], utc=True)


def calendar_facts(wh: Warehouse) -> CalendarFacts:
    """Per release: the first published_at listed, when it first loaded, a manual load's time."""
    seen, led, ext = schema.release_seen, schema.load_ledger, schema.deadline_extension
    key = [led.c.zone_code, led.c.dataset, led.c.period]
    # a manual submission's published_at is when the operator handed it in, not the zone's
    published = (
        select(*key, led.c.frequency, func.min(led.c.published_at).label("published_at"))
        .where(led.c.source != "manual", led.c.published_at.is_not(None))
        .group_by(*key, led.c.frequency)
    )
    loaded = (
        select(*key, func.min(led.c.finished_at).label("loaded_at"))
        .where(led.c.status == "loaded")
        .group_by(*key)
    )
    manual = (
        select(*key, func.min(led.c.finished_at).label("loaded_at"))
        .where(led.c.status == "loaded", led.c.source == "manual")
        .group_by(*key)
    )
    names = ["zone_code", "dataset", "period"]
    with wh.engine.connect() as conn:
        listed = pd.DataFrame(
            conn.execute(
                select(
                    seen.c.zone_code,
                    seen.c.dataset,
                    seen.c.period,
                    seen.c.frequency,
                    seen.c.first_published_at.label("published_at"),
                )
            ).all(),
            columns=[*names, "frequency", "published_at"],
        )
        in_ledger = pd.DataFrame(
            conn.execute(published).all(), columns=[*names, "frequency", "published_at"]
        )
        first_loaded = pd.DataFrame(conn.execute(loaded).all(), columns=[*names, "first_loaded_at"])
        manual_loaded = pd.DataFrame(
            conn.execute(manual).all(), columns=[*names, "manual_loaded_at"]
        )
        frequencies = pd.DataFrame(
            conn.execute(select(*key, led.c.frequency).distinct()).all(),
            columns=[*names, "frequency"],
        )
        extensions = pd.DataFrame(
            conn.execute(select(ext.c.zone_code, ext.c.dataset, ext.c.period, ext.c.until)).all(),
            columns=[*names, "until"],
        )
    for frame, column in (
        (listed, "published_at"),
        (in_ledger, "published_at"),
        (first_loaded, "first_loaded_at"),
        (manual_loaded, "manual_loaded_at"),
        (extensions, "until"),
    ):
        _utc_column(frame, column)
    both = pd.concat([listed, in_ledger], ignore_index=True)
    first = both.groupby(names, as_index=False).agg(
        frequency=("frequency", "first"), first_published_at=("published_at", "min")
    )
    releases = (
        pd.concat([first[[*names, "frequency"]], frequencies], ignore_index=True)
        .drop_duplicates(names)
        .merge(first[[*names, "first_published_at"]], on=names, how="left")
        .merge(first_loaded, on=names, how="left")
        .merge(manual_loaded, on=names, how="left")
    )
    for column in ("first_published_at", "first_loaded_at", "manual_loaded_at"):
        _utc_column(releases, column)
    return CalendarFacts(releases=releases.reset_index(drop=True), extensions=extensions)


def replace_release_calendar(wh: Warehouse, rows: pd.DataFrame) -> Path | None:
    """Replace release_calendar whole in SQL (one transaction) and in Parquet; return the file."""
    t = schema.release_calendar
    records = [
        {k: (None if pd.isna(v) else v) for k, v in r.items()}
        for r in rows[[c.name for c in t.columns]].to_dict("records")
    ]
    final = calendar_file(wh.data_dir)
    tmp: Path | None = None
    try:
        with wh.engine.begin() as conn:
            conn.execute(delete(t))
            if records:
                conn.execute(insert(t), records)
            if not rows.empty:
                final.parent.mkdir(parents=True, exist_ok=True)
                tmp = final.with_name(f".{final.name}.{uuid.uuid4().hex}.tmp")
                table = pa.Table.from_pandas(rows.reset_index(drop=True), preserve_index=False)
                pq.write_table(table, tmp, compression="zstd")
        if tmp is not None:
            parquet.publish(tmp, final)
        else:
            final.unlink(missing_ok=True)  # nothing owed: no file rather than a stale one
    except BaseException:
        if tmp is not None:
            parquet.discard_temp(tmp)
        raise
    return final if tmp is not None else None


def release_calendar_rows(wh: Warehouse) -> pd.DataFrame:
    """The release_calendar table as the last run left it."""
    t = schema.release_calendar
    with wh.engine.connect() as conn:
        frame = pd.DataFrame(conn.execute(select(t)).all(), columns=[c.name for c in t.columns])
    for column in ("due_at", "extended_until", "deadline", "first_published_at",
                   "first_loaded_at", "arrived_at", "as_of"):  # fmt: skip
        _utc_column(frame, column)
    return frame


class _NotSent(Exception):
    """The announcement could not be sent: the notice is not recorded (a later run sends it)."""


def record_overdue(
    wh: Warehouse,
    notices: Iterable[Mapping[str, Any]],
    run_id: str | None,
    announce: Callable[[Mapping[str, Any]], str | None],
) -> list[Mapping[str, Any]]:
    """Announce each release turned overdue that no run announced yet; those it announced.

    ``notices``: zone_code, dataset, period, deadline, days_late, as_of (and what ``announce``
    needs). Each notice is claimed in its own transaction before it is announced: a second run
    at once conflicts on the key (PostgreSQL waits for the first to commit; SQLite writers take
    turns) and skips it, so no release is announced twice. Announced against its deadline: overdue
    again after an extension is a new notice. An ``announce`` that returns None (nothing could be
    sent) leaves nothing recorded.
    """
    t = schema.overdue_notice
    done: list[Mapping[str, Any]] = []
    for notice in notices:
        deadline = utc(notice["deadline"])
        key = and_(
            t.c.zone_code == notice["zone_code"],
            t.c.dataset == notice["dataset"],
            t.c.period == notice["period"],
            t.c.deadline == deadline,
        )
        try:
            with wh.engine.begin() as conn:
                if conn.execute(select(func.count()).select_from(t).where(key)).scalar_one():
                    continue
                conn.execute(
                    insert(t).values(
                        zone_code=notice["zone_code"],
                        dataset=notice["dataset"],
                        period=notice["period"],
                        deadline=deadline,
                        days_late=int(notice["days_late"]),
                        noticed_at=utc(notice["as_of"]),
                        run_id=run_id,
                    )
                )
                event_id = announce(notice)
                if event_id is None:
                    raise _NotSent
                conn.execute(update(t).where(key).values(event_id=event_id))
        except _NotSent:
            continue
        except IntegrityError:
            continue  # another run claimed it between our look and our insert
        done.append(notice)
    return done


def overdue_notices(wh: Warehouse) -> pd.DataFrame:
    """The overdue_notice table: each release announced overdue, against which deadline."""
    t = schema.overdue_notice
    with wh.engine.connect() as conn:
        frame = pd.DataFrame(conn.execute(select(t)).all(), columns=[c.name for c in t.columns])
    for column in ("deadline", "noticed_at"):
        _utc_column(frame, column)
    return frame
