"""The one function that computes where every file of the data directory lives."""

from __future__ import annotations

import re
from pathlib import Path

from zonestats.models import PERIOD_TEXT, ZONE_CODE, ReleaseKey

PARQUET_TABLES = ("obs_zone", "obs_enterprise", "quarantine")
_DATASET = re.compile(r"^[a-z]{1,16}\Z")


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


MARTS = ("mart_zone_evaluation", "mart_rd_subsidy", "zone_monthly")


def mart_file(data_dir: Path, mart: str, year: int) -> Path:
    """Where one year of a mart lives: ``parquet/marts/<mart>/year=<Y>/<mart>.parquet``."""
    if mart not in MARTS:
        raise ValueError(f"unknown mart {mart!r}")
    if not isinstance(year, int) or not 1990 <= year <= 2100:
        raise UnsafePathError(f"year {year!r} is not a plausible year")
    return data_dir / "parquet" / "marts" / mart / f"year={year}" / f"{mart}.parquet"


def export_file(data_dir: Path, period: str, fmt: str) -> Path:
    """Where an export of a period goes by default: ``exports/<period>/zonestats-<period>.<ext>``."""
    if not PERIOD_TEXT.match(period):
        raise UnsafePathError(f"period {period!r} is not a period string")
    ext = {"xlsx": "xlsx", "csv": "csv", "sdmx": "sdmx.csv"}[fmt]
    return data_dir / "exports" / period / f"zonestats-{period}.{ext}"


def report_dir(data_dir: Path) -> Path:
    """Where the illustrated reports go (one HTML page per year, its charts beside it)."""
    return data_dir / "reports"


def table_root(data_dir: Path, table: str) -> Path:
    """The root of a Parquet table, as a reader passes it to DuckDB, pandas or Arrow."""
    if table not in PARQUET_TABLES and not table.startswith("marts/"):
        raise ValueError(f"unknown Parquet table {table!r}")
    return data_dir / "parquet" / table
