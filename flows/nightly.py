"""The Prefect flows of the nightly run: thin wrappers of flows.zones, the entrypoints deployed."""

from __future__ import annotations

import os
from datetime import date, datetime, timedelta

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
from tasks.load import prepare
from zonestats.catalog import shipped_catalog
from zonestats.config import AppConfig, ZoneSource, load_config, resolve_config_path
from zonestats.models import ZoneOutcome, utcnow
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
    "zone_pull",
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


@flow(name="zone-pull", flow_run_name="pull-{zone}", log_prints=False)
def zone_pull(
    config_path: str,
    zone: str,
    validate_only: bool = False,
    deadline_at: datetime | None = None,
) -> ZoneOutcome:
    """Pull one zone on a worker (the zone-pull deployment): its config built here, from a path.

    The nightly run with ``run.fan_out = "deployments"`` starts one per zone; a retry (the UI's
    Retry, ``prefect flow-run retry``) pulls again what the ledger says is not loaded yet.
    """
    from prefect.artifacts import create_markdown_artifact
    from prefect.runtime import flow_run

    from flows.fanout import OUTCOME_ARTIFACT, outcome_markdown

    config = load_config(resolve_config_path(config_path, os.environ), shipped_catalog())
    # started alone (a retry, the UI's Run) the warehouse may be new or behind: migrate first
    prepare(config.warehouse, shipped_catalog())
    if flow_run.run_count > 1:
        # a retry (hours later, from the UI) is a new attempt: the night's deadline has passed
        deadline_at = utcnow() + timedelta(seconds=config.run.deadline_s)
    outcome = pull_zone_body(config.zone(zone), config, validate_only, deadline_at)
    create_markdown_artifact(
        key=OUTCOME_ARTIFACT, markdown=outcome_markdown(outcome), description=f"zone {zone}"
    )
    return outcome


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
    return nightly_body(config_path, zones, validate_only, today, zone_flow=pull_zone)
