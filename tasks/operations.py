"""Operator steps: pick the ledger's failed releases, audit what an operator did."""

from __future__ import annotations

from prefect import task
from prefect.cache_policies import NO_CACHE

from warehouse.store import Warehouse
from zonestats.config import WarehouseSettings
from zonestats.models import ReleaseRef


def select_failed(
    settings: WarehouseSettings, zone: str | None, dataset: str | None, period: str | None
) -> list[ReleaseRef]:
    """The failed releases that match, those a loaded later revision superseded left out."""
    return Warehouse(settings).failed_releases(zone, dataset, period)


def audit(
    settings: WarehouseSettings, action: str, operator: str, reason: str, details: str
) -> None:
    """Record who did what, when and why."""
    Warehouse(settings).record_action(action, operator, reason, details)


failed_releases = task(name="failed-releases", cache_policy=NO_CACHE)(select_failed)
record_action = task(name="record-action", cache_policy=NO_CACHE)(audit)
