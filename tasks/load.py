"""Load: the ledger steps around a release, and the one-transaction load of a validated release."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

from sqlalchemy.exc import OperationalError

from warehouse.parquet import ParquetBatch
from warehouse.staging import discard
from warehouse.store import Warehouse
from zonestats.catalog import Catalog
from zonestats.config import WarehouseSettings
from zonestats.models import ReleaseOutcome, ReleaseRef, ValidatedRelease
from zonestats.steps import step


def is_db_hiccup(exc: BaseException) -> bool:
    """True for what a database hiccup (dropped connection, lock timeout) causes: worth a retry."""
    return isinstance(exc, OperationalError)


def prepare_warehouse(settings: WarehouseSettings, catalog: Catalog) -> None:
    """Create the tables if needed and write the zone registry and indicator catalog."""
    Warehouse(settings).ensure_schema(catalog)


def zone_since(settings: WarehouseSettings, zone_code: str, dataset: str) -> datetime | None:
    """The watermark of a zone's dataset (None on the first run)."""
    return Warehouse(settings).watermark(zone_code, dataset)


def not_yet_loaded(settings: WarehouseSettings, refs: list[ReleaseRef]) -> list[ReleaseRef]:
    """The listed releases the ledger does not have loaded at their revision (or a later one)."""
    if not refs:
        return []
    loaded = Warehouse(settings).loaded_revisions(refs[0].zone_code, refs[0].dataset)
    return [r for r in refs if loaded.get(r.period, 0) < r.revision]


# Work files untouched this long belong to no live run. Not the claim lease (a minute): a live
# run's spool or temp Parquet may sit unchanged while a big release validates or commits.
STALE_WORK_FILES = timedelta(hours=1)


def start_release(
    settings: WarehouseSettings,
    ref: ReleaseRef,
    flow_run_id: str | None,
    lease_s: int = 60,
    holder: str | None = None,
) -> str | None:
    """Claim the release in the ledger; its new load id, or None (loaded, or another run has it)."""
    return Warehouse(settings).begin_release(ref, flow_run_id, timedelta(seconds=lease_s), holder)


def defer_release(
    settings: WarehouseSettings, ref: ReleaseRef, flow_run_id: str | None, reason: str
) -> bool:
    """Record a release as failed without attempting it ("not attempted: …"), for the next run."""
    return Warehouse(settings).defer_release(ref, flow_run_id, reason)


def repair_warehouse(settings: WarehouseSettings) -> list[str]:
    """Finish what a killed run left: Parquet of committed loads, stale temp and work files."""
    return Warehouse(settings).repair(STALE_WORK_FILES)


def end_release(
    settings: WarehouseSettings,
    ref: ReleaseRef,
    load_id: str,
    status: str,
    error: str,
    staging: Path | None = None,
) -> None:
    """Record a failed or rejected attempt in the ledger; drop its work files if any."""
    Warehouse(settings).finish_release(ref, load_id, status, error, staging)


def open_parquet_batch(settings: WarehouseSettings) -> ParquetBatch:
    """A Parquet batch for a zone's releases (``with``: one file per partition, published at exit)."""
    return Warehouse(settings).parquet_batch()


def commit_release(
    settings: WarehouseSettings,
    validated: ValidatedRelease,
    spool: Path,
    batch: ParquetBatch | None = None,
) -> ReleaseOutcome:
    """Load a validated release in one transaction; its Parquet rows go to the batch, if any,
    else to files of its own published at once."""
    Warehouse(settings).load_release(validated, spool=spool, batch=batch)
    discard(validated.obs.parent)
    return outcome_of(validated, "rejected" if validated.rejection else "loaded")


def outcome_of(validated: ValidatedRelease, status: str) -> ReleaseOutcome:
    """The outcome a validated release ends in (loaded, rejected, or validated only)."""
    rejected = validated.rejection is not None
    return ReleaseOutcome(
        key=validated.ref.key,
        status=status,
        records_received=validated.records_received,
        records_loaded=0 if rejected else validated.records_loaded,
        records_quarantined=validated.records_quarantined,
        records_warned=validated.records_warned,
        error=validated.rejection,
        rules_broken=validated.rules_broken,
        incomplete=validated.incomplete,
    )


def remove_staging(path: Path) -> None:
    """Drop the work files of an attempt that ends without a load."""
    discard(path)


prepare = step(name="prepare-warehouse")(prepare_warehouse)
repair = step(name="repair-warehouse")(repair_warehouse)
# a warehouse that restarts mid-run costs these short reads a retry, not the zone's night
watermark = step(name="read-watermark", retries=3, retry_delay_seconds=2, retry_on=is_db_hiccup)(
    zone_since
)
pending = step(name="pending-releases", retries=3, retry_delay_seconds=2, retry_on=is_db_hiccup)(
    not_yet_loaded
)
