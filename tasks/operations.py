"""Operator steps: pick the ledger's failed releases, audit what an operator did."""

from __future__ import annotations

from tasks.extract import receive_release
from warehouse.staging import discard
from warehouse.store import Warehouse
from zonestats.config import AppConfig, WarehouseSettings, ZoneSource
from zonestats.models import ReleaseOutcome, ReleaseRef
from zonestats.periods import infer_frequency, parse_period
from zonestats.steps import step


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


def _order(period: str) -> tuple[int, int]:
    # a period's place in time: the last month it covers (2026-Q3 and 2026-09 end together)
    freq = infer_frequency(period)
    if freq is None:
        raise ValueError(f"{period!r} is not a period")
    p = parse_period(period, freq)
    return (p.year, p.end_month)


def in_period_range(refs: list[ReleaseRef], first: str, last: str) -> list[ReleaseRef]:
    """The releases whose period ends between the ends of ``first`` and ``last``."""
    low, high = _order(first), _order(last)
    return [r for r in refs if low <= _order(r.period) <= high]


def check_again(source: ZoneSource, config: AppConfig, ref: ReleaseRef) -> ReleaseOutcome:
    """Fetch a loaded release again; it is verified when it is what the ledger says was loaded."""
    history = Warehouse(config.warehouse).release_history(ref.zone_code, ref.dataset)
    loaded = dict(history.get(ref.period, [])).get(ref.revision)
    fetched = receive_release(source, config.http, ref, config.warehouse.data_dir)
    discard(fetched.spool.parent)
    if fetched.ref.revision != ref.revision or loaded == fetched.sha256:
        return ReleaseOutcome(key=ref.key, status="skipped")
    return ReleaseOutcome(
        key=ref.key,
        status="failed",
        error=f"content changed without a new revision (sha256 {fetched.sha256[:12]}… now,"
        f" {str(loaded)[:12]}… loaded): ask the zone to publish it as a revision",
    )


failed_releases = step(name="failed-releases")(select_failed)
record_action = step(name="record-action")(audit)
verify_release = step(name="verify-release")(check_again)
