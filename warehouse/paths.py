"""Where every file of the data directory lives: the one place that computes those paths."""

from __future__ import annotations

import re
import uuid
from datetime import UTC, date, datetime
from pathlib import Path

from zonestats.models import PERIOD_TEXT, ZONE_CODE, ReleaseKey

PARQUET_TABLES = ("obs_zone", "obs_enterprise", "quarantine")
_DATASET = re.compile(r"^[a-z]{1,16}\Z")
# A batch id names files: one fixed shape, so it never climbs out of a directory and never equals
# a release's own file name (``<dataset>-<period>-r<n>``)
BATCH_ID = re.compile(r"^batch-[0-9]{8}T[0-9]{6}-[0-9a-f]{12}\Z")


class UnsafePathError(ValueError):
    """A path component from a payload that is not of the expected shape."""


def _check(key: ReleaseKey) -> None:
    # these values come from zones' payloads; reject anything that could climb out of the tree
    if not ZONE_CODE.match(key.zone_code):
        raise UnsafePathError(f"zone code {key.zone_code!r} is not of the form AA00")
    if not _DATASET.match(key.dataset):
        raise UnsafePathError(f"dataset {key.dataset!r} is not a dataset name")
    if not PERIOD_TEXT.match(key.period):
        raise UnsafePathError(f"period {key.period!r} is not a period string")
    if not isinstance(key.revision, int) or key.revision < 1:
        raise UnsafePathError(f"revision {key.revision!r} is not a positive integer")


def release_file(data_dir: Path, kind: str, key: ReleaseKey) -> Path:
    """Where one release's file of a kind lives.

    kind: ``obs_zone`` / ``obs_enterprise`` / ``quarantine`` (Parquet, Hive-partitioned by year
    and zone), ``raw`` (the pages as received, JSON lines) or ``staging`` (work in progress).
    """
    _check(key)
    name = f"{key.dataset}-{key.period}-r{key.revision}"
    year = key.period[:4]
    if kind in PARQUET_TABLES:
        return (
            data_dir
            / "parquet"
            / kind
            / f"year={year}"
            / f"zone_code={key.zone_code}"
            / f"{name}.parquet"
        )
    if kind == "raw":
        return data_dir / "raw" / key.dataset / key.zone_code / year / f"{name}.jsonl"
    if kind == "staging":
        return data_dir / "staging" / key.zone_code / name
    raise ValueError(f"unknown file kind {kind!r}")


def partition_dir(data_dir: Path, table: str, key: ReleaseKey) -> Path:
    """The Hive partition of a Parquet table that holds a release's rows (year, zone)."""
    _check(key)
    if table not in PARQUET_TABLES:
        raise ValueError(f"unknown Parquet table {table!r}")
    return data_dir / "parquet" / table / f"year={key.period[:4]}" / f"zone_code={key.zone_code}"


def parquet_file(data_dir: Path, table: str, key: ReleaseKey, batch: str | None) -> Path:
    """The Parquet file that holds a release's rows of a table.

    ``batch`` None: the release's own file (``release_file``); else the batch's one file of the
    release's partition, ``<batch>.parquet``, shared by every release of that partition it loaded.
    """
    if batch is None:
        return release_file(data_dir, table, key)
    if not BATCH_ID.match(batch):
        raise UnsafePathError(
            f"batch id {batch!r} is not of the form batch-YYYYmmddTHHMMSS-<hex12>"
        )
    return partition_dir(data_dir, table, key) / f"{batch}.parquet"


#: the current-revision table of each observation table (warehouse/current.py)
CURRENT_TABLES = {"obs_zone": "obs_zone_current", "obs_enterprise": "obs_enterprise_current"}


def current_file(data_dir: Path, table: str, year: int, zone_code: str) -> Path:
    """The one file of a (year, zone) partition of a current table (``obs_zone_current`` …)."""
    if table not in CURRENT_TABLES.values():
        raise ValueError(f"unknown current table {table!r}")
    if not ZONE_CODE.match(zone_code):
        raise UnsafePathError(f"zone code {zone_code!r} is not of the form AA00")
    if not isinstance(year, int) or not 1990 <= year <= 2100:
        raise UnsafePathError(f"year {year!r} is not a plausible year")
    return (
        data_dir / "parquet" / table / f"year={year}" / f"zone_code={zone_code}" / "current.parquet"
    )


def temp_file(final: Path, unique: str | None = None) -> Path:
    """The hidden temp file beside a final file; readers skip names starting with a dot.

    With ``unique`` (a one-off writer) the name is its own; without, it is the one name a batch
    writer locks while it works, so that repair can tell a live batch from a dead one.
    """
    suffix = f".{unique}" if unique else ""
    return final.with_name(f".{final.name}{suffix}.tmp")


def new_batch_id(now: datetime) -> str:
    """A fresh batch id: when it began (UTC, for the operator) and 48 random bits."""
    return f"batch-{now.astimezone(UTC):%Y%m%dT%H%M%S}-{uuid.uuid4().hex[:12]}"


MARTS = ("mart_zone_evaluation", "mart_rd_subsidy", "zone_monthly")


def mart_file(data_dir: Path, mart: str, year: int) -> Path:
    """Where one year of a mart lives: ``parquet/marts/<mart>/year=<Y>/<mart>.parquet``."""
    if mart not in MARTS:
        raise ValueError(f"unknown mart {mart!r}")
    if not isinstance(year, int) or not 1990 <= year <= 2100:
        raise UnsafePathError(f"year {year!r} is not a plausible year")
    return data_dir / "parquet" / "marts" / mart / f"year={year}" / f"{mart}.parquet"


def calendar_file(data_dir: Path) -> Path:
    """Where the release calendar lives in Parquet: ``parquet/release_calendar/release_calendar.parquet``."""
    return data_dir / "parquet" / "release_calendar" / "release_calendar.parquet"


def revisions_file(data_dir: Path) -> Path:
    """Where release_revision lives in Parquet: ``parquet/release_revision/release_revision.parquet``."""
    return data_dir / "parquet" / "release_revision" / "release_revision.parquet"


def export_file(data_dir: Path, period: str, fmt: str, as_of: date | None = None) -> Path:
    """Where an export of a period goes by default: ``exports/<period>/zonestats-<period>.<ext>``.

    As of a day: ``zonestats-<period>-asof-<YYYY-MM-DD>.<ext>`` beside it (never the current one).
    """
    if not PERIOD_TEXT.match(period):
        raise UnsafePathError(f"period {period!r} is not a period string")
    ext = {"xlsx": "xlsx", "csv": "csv", "sdmx": "sdmx.csv"}[fmt]
    day = f"-asof-{as_of.isoformat()}" if as_of is not None else ""
    return data_dir / "exports" / period / f"zonestats-{period}{day}.{ext}"


def asof_file(data_dir: Path, dataset: str, as_of: date) -> Path:
    """Where ``zonestats asof --format parquet`` writes by default: ``exports/asof/…``."""
    if not _DATASET.match(dataset):
        raise UnsafePathError(f"dataset {dataset!r} is not a dataset name")
    return data_dir / "exports" / "asof" / f"obs_{dataset}-asof-{as_of.isoformat()}.parquet"


def report_dir(data_dir: Path) -> Path:
    """Where the illustrated reports go (one HTML page per year, its charts beside it)."""
    return data_dir / "reports"


def table_root(data_dir: Path, table: str) -> Path:
    """The root of a Parquet table, as a reader passes it to DuckDB, pandas or Arrow."""
    if (
        table not in PARQUET_TABLES
        and table not in CURRENT_TABLES.values()
        and not table.startswith("marts/")
    ):
        raise ValueError(f"unknown Parquet table {table!r}")
    return data_dir / "parquet" / table
