"""Repair: finish what a killed run left behind, from what SQL holds.

A load is one transaction, so SQL is never half a release; what a kill can leave is on disk: a
committed load's Parquet file not renamed into place, a published partition that lags SQL, stale
temp files and work directories.
"""

from __future__ import annotations

import logging
from datetime import timedelta

from warehouse import current, parquet
from warehouse.paths import CURRENT_TABLES, PARQUET_TABLES, temp_file
from warehouse.publishing import Publisher
from warehouse.staging import discard
from zonestats.models import utcnow

# the name the warehouse logged under before its jobs were split out of store.py
log = logging.getLogger("warehouse.store")


def repair(pub: Publisher, stale_after: timedelta) -> list[str]:
    """Finish what a killed run left behind; return a line per thing done.

    Every Parquet file holds exactly the rows of the loads that SQL maps to it
    (``load_commit``: a release's own file, or a batch's file of a partition). A file SQL has
    rows for that is not there — a run killed after a commit, before its rename — is written
    again from SQL, unless a live batch writer still holds it (it publishes it itself).
    Hidden temp files no live writer holds and work directories, when older than
    ``stale_after``, belong to no live run and are removed.
    """
    done: list[str] = []
    root = pub.data_dir / "parquet"
    for f in [] if pub.lake is not None else pub.expected_files():
        if f.final.exists():
            continue
        tmp = temp_file(f.final)
        if f.batch is not None and parquet.held(tmp):
            continue  # a live run is loading into it
        left = f.batch is not None and tmp.exists()
        try:
            written = pub.rewrite_parquet_file(f.table, f.key, f.batch, wait_s=0)
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
    done += _repair_published(pub)
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
    for attempt in (pub.data_dir / "staging").glob("*/*/*"):
        if attempt.is_dir() and attempt.stat().st_mtime < cutoff:
            discard(attempt)
            done.append(f"stale work files {attempt.relative_to(pub.data_dir)} removed")
    return done


def published_differences(pub: Publisher) -> list[tuple[str, int, str]]:
    """The (table, year, zone) partitions whose published rows differ from what SQL holds.

    The lake's tables and the current tables (local or lake): per (year, zone) partition,
    rows per load id, as ``load_commit`` and the ledger say, against what is published.
    Reads only; ``repair`` writes each of them again from SQL.
    """
    with pub.engine.connect() as conn:
        expected = current.sql_counts(conn)
    tables = [*(PARQUET_TABLES if pub.lake is not None else ()), *CURRENT_TABLES.values()]
    out = []
    for table in tables:
        if pub.lake is not None:
            found = pub.lake.load_counts(table)
        else:
            found = current.local_counts(pub.data_dir, table)
        want = expected.get(table, {})
        out += [
            (table, year, zone)
            for year, zone in sorted(set(want) | set(found))
            if want.get((year, zone), {}) != found.get((year, zone), {})
        ]
    return out


def _repair_published(pub: Publisher) -> list[str]:
    """Rewrite from SQL each partition whose published rows differ from what SQL holds."""
    done = []
    for table, year, zone in published_differences(pub):
        pub.write_partition(table, year, zone)
        line = f"{table}/year={year}/zone_code={zone}: written again from SQL"
        if pub.lake is None:
            # the local current tables are derived; their files' repair is no news
            log.info("repair: %s", line)
        else:
            done.append(line)
    return done
