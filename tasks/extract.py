"""Extract: list a zone's releases, and receive one release's pages into a raw spool."""

from __future__ import annotations

import uuid
from datetime import datetime
from pathlib import Path

from warehouse.calendar import record_listing
from warehouse.paths import release_file
from warehouse.staging import RawSpool, discard
from warehouse.store import Warehouse
from zonestats.config import HttpSettings, WarehouseSettings, ZoneSource
from zonestats.metrics import timed
from zonestats.models import FetchedRelease, ReleaseRef, utcnow
from zonestats.sources import SourceAdapter, open_adapter
from zonestats.steps import step


def list_zone_releases(
    source: ZoneSource,
    http: HttpSettings,
    dataset: str,
    since: datetime | None,
    warehouse: WarehouseSettings | None = None,
    record: bool = True,
) -> list[ReleaseRef]:
    """The releases a zone lists since a time, oldest published first.

    File sources number revisions by the hashes the ledger has seen, so they read its history.
    With a warehouse, what the zone lists is recorded (``release_seen``: the reporting calendar
    needs each period's first published_at, loaded or not) unless ``record`` is False (a dry run).
    """
    wh = Warehouse(warehouse) if warehouse is not None else None
    adapter = open_adapter(source, http, wh.release_history if wh is not None else None)
    try:
        refs: list[ReleaseRef] = adapter.list_releases(dataset, since)
    finally:
        adapter.close()
    if wh is not None and record:
        record_listing(wh, source.code, dataset, refs, utcnow())
    return refs


def receive_release(
    source: ZoneSource,
    http: HttpSettings,
    ref: ReleaseRef,
    data_dir: Path,
    adapter: SourceAdapter | None = None,
) -> FetchedRelease:
    """Stream every page of a release into a spool on disk; memory holds one page at a time.

    ``adapter`` replaces the configured one (an operator's file for a manual submission).
    """
    # one directory per attempt: a concurrent or later attempt never touches this one's files
    spool_path = release_file(data_dir, "staging", ref.key) / uuid.uuid4().hex / "pages.jsonl"
    adapter = adapter or open_adapter(source, http)
    try:
        with RawSpool(spool_path, str(ref.key)) as spool, timed("fetch"):
            actual = adapter.read_release(ref, spool)
    except BaseException:
        discard(spool_path.parent)
        raise
    finally:
        adapter.close()
    return FetchedRelease(
        ref=actual,
        spool=spool_path,
        pages=spool.pages,
        records_raw=spool.records,
        # a file source is identified by the file's own hash; an API release by its records'
        sha256=actual.source_sha256 or spool.sha256,
        restarts=0 if actual.revision == ref.revision else 1,
    )


# Transient HTTP failures are retried inside the client (bounded, with backoff and Retry-After),
# so the task does not retry again on top.
list_releases = step(name="list-releases")(list_zone_releases)
