"""Orchestration limits: one run at a time against any zone's system."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from prefect.client.orchestration import get_client
from prefect.concurrency.sync import concurrency


def zone_limit_name(zone_code: str) -> str:
    """The Prefect global concurrency limit that guards one zone's server."""
    return f"zonestats-zone-{zone_code}"


def ensure_zone_limits(zone_codes: list[str]) -> None:
    """Create (or keep) a limit of one slot per zone, so nightly, rerun and backfill take turns."""
    with get_client(sync_client=True) as client:
        for code in zone_codes:
            client.upsert_global_concurrency_limit_by_name(zone_limit_name(code), 1)


@contextmanager
def one_run_per_zone(zone_code: str) -> Iterator[None]:
    """Hold the zone's slot while talking to its server; another run waits for it."""
    with concurrency(zone_limit_name(zone_code), occupy=1, strict=True):
        yield
