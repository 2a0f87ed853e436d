"""What the warehouse held when: the Parquet copy of release_revision, kept current by every run."""

from __future__ import annotations

from pathlib import Path

from warehouse.history import write_release_revisions
from warehouse.store import Warehouse
from zonestats.config import WarehouseSettings
from zonestats.steps import step


def publish_release_revisions(settings: WarehouseSettings) -> Path | None:
    """Rewrite release_revision as Parquet, for as-of reads over the Parquet tables (DuckDB)."""
    return write_release_revisions(Warehouse(settings))


publish_revisions = step(name="release-revisions")(publish_release_revisions)
