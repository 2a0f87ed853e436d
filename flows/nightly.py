"""The Prefect flows of the nightly run: thin wrappers of flows.zones, the entrypoints deployed."""

from __future__ import annotations

from datetime import date, datetime

from prefect import flow

from flows.zones import (
    SHANGHAI,
    RunFailed,
    finish_run,
    nightly_body,
    pull_releases,
    pull_zone_body,
    run_date,
    run_zones,
)
from zonestats.config import AppConfig, ZoneSource
from zonestats.models import ZoneOutcome
from zonestats.summary import RunSummary

__all__ = [
    "SHANGHAI",
    "RunFailed",
    "finish_run",
    "nightly",
    "pull_releases",
    "pull_zone",
    "run_date",
    "run_zones",
]


@flow(name="zone-pull", flow_run_name="pull-{source.code}", log_prints=False)
def pull_zone(
    source: ZoneSource,
    config: AppConfig,
    validate_only: bool = False,
    deadline_at: datetime | None = None,
) -> ZoneOutcome:
    """Pull one zone (a subflow run of the nightly run): see flows.zones.pull_zone_body."""
    return pull_zone_body(source, config, validate_only, deadline_at)


@flow(name="nightly", log_prints=False)
def nightly(
    config_path: str | None = None,
    zones: list[str] | None = None,
    validate_only: bool = False,
    today: date | None = None,
) -> RunSummary:
    """Pull every enabled zone (or those named), load what is valid, summarise the run.

    ``validate_only`` fetches and validates and writes the quality report; it loads nothing.
    ``today`` is the run's date in Asia/Shanghai (default: the clock's), which decides the
    current year of the marts.
    """
    return nightly_body(config_path, zones, validate_only, today)
