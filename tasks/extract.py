"""Extract: list a zone's releases, and receive one release's pages into a raw spool."""

from __future__ import annotations

import uuid
from datetime import datetime
from pathlib import Path

from prefect import task
from prefect.cache_policies import NO_CACHE

from warehouse.paths import release_file
from warehouse.staging import RawSpool, discard
from zonestats.config import HttpSettings, ZoneSource
from zonestats.models import FetchedRelease, ReleaseRef
from zonestats.sources import open_adapter


def list_zone_releases(
    source: ZoneSource, http: HttpSettings, dataset: str, since: datetime | None
) -> list[ReleaseRef]:
    """The releases a zone lists since a time, oldest published first."""
    adapter = open_adapter(source, http)
    try:
        refs: list[ReleaseRef] = adapter.list_releases(dataset, since)
        return refs
    finally:
        adapter.close()


def receive_release(
    source: ZoneSource, http: HttpSettings, ref: ReleaseRef, data_dir: Path
) -> FetchedRelease:
    """Stream every page of a release into a spool on disk; memory holds one page at a time."""
    # one directory per attempt: a concurrent or later attempt never touches this one's files
    spool_path = release_file(data_dir, "staging", ref.key) / uuid.uuid4().hex / "pages.jsonl"
    adapter = open_adapter(source, http)
    try:
        with RawSpool(spool_path) as spool:
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
        sha256=spool.sha256,
        restarts=0 if actual.revision == ref.revision else 1,
    )


# Transient HTTP failures are retried inside the client (bounded, with backoff and Retry-After),
# so the task does not retry again on top.
list_releases = task(name="list-releases", cache_policy=NO_CACHE)(list_zone_releases)
