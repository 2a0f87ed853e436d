"""Load: the ledger steps around a release, and the one-transaction load of a validated release."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

from prefect import task
from prefect.cache_policies import NO_CACHE
from sqlalchemy.exc import OperationalError

from warehouse.staging import discard
from warehouse.store import Warehouse
from zonestats.catalog import Catalog
from zonestats.config import WarehouseSettings
from zonestats.models import ReleaseOutcome, ReleaseRef, ValidatedRelease


def _retry_on_db_hiccup(task: object, task_run: object, state: object) -> bool:
    # only a dropped connection or a lock timeout is worth another try; a load is idempotent
    try:
        state.result()  # type: ignore[attr-defined]
    except OperationalError:
        return True
    except Exception:
        return False
    return False


def prepare_warehouse(settings: WarehouseSettings, catalog: Catalog) -> None:
    """Create the tables if needed and write the zone registry and indicator catalog."""
    Warehouse(settings).ensure_schema(catalog)


def zone_since(settings: WarehouseSettings, zone_code: str, dataset: str) -> datetime | None:
    """The watermark of a zone's dataset (None on the first run)."""
    return Warehouse(settings).watermark(zone_code, dataset)


def already_loaded(settings: WarehouseSettings, ref: ReleaseRef) -> bool:
    """True when the ledger has this release loaded at this revision or a later one."""
    return Warehouse(settings).is_loaded(ref.key)


def start_release(
    settings: WarehouseSettings, ref: ReleaseRef, flow_run_id: str | None
) -> str | None:
    """Mark the release running in the ledger; return its new load id, None if already loaded."""
    return Warehouse(settings).begin_release(ref, flow_run_id)


def end_release(
    settings: WarehouseSettings, ref: ReleaseRef, load_id: str, status: str, error: str
) -> None:
    """Record a failed or rejected attempt in the ledger."""
    Warehouse(settings).finish_release(ref, load_id, status, error)


def commit_release(
    settings: WarehouseSettings, validated: ValidatedRelease, spool: Path
) -> ReleaseOutcome:
    """Load a validated release in one transaction and publish its Parquet files."""
    Warehouse(settings).load_release(validated, spool=spool)
    discard(validated.obs.parent)
    return ReleaseOutcome(
        key=validated.ref.key,
        status="loaded",
        records_received=validated.records_received,
        records_loaded=validated.records_loaded,
        records_quarantined=validated.records_quarantined,
        records_warned=validated.records_warned,
        rules_broken=validated.rules_broken,
    )


prepare = task(name="prepare-warehouse", cache_policy=NO_CACHE)(prepare_warehouse)
watermark = task(name="read-watermark", cache_policy=NO_CACHE)(zone_since)
check_ledger = task(name="check-ledger", cache_policy=NO_CACHE)(already_loaded)
begin_release = task(
    name="begin-release",
    cache_policy=NO_CACHE,
    retries=2,
    retry_delay_seconds=2,
    retry_condition_fn=_retry_on_db_hiccup,
)(start_release)
fail_release = task(
    name="record-failure",
    cache_policy=NO_CACHE,
    retries=2,
    retry_delay_seconds=2,
    retry_condition_fn=_retry_on_db_hiccup,
)(end_release)
load_release = task(
    name="load-release",
    cache_policy=NO_CACHE,
    retries=2,
    retry_delay_seconds=2,
    retry_condition_fn=_retry_on_db_hiccup,
    task_run_name="load {validated.ref.zone_code} {validated.ref.period} r{validated.ref.revision}",
)(commit_release)
