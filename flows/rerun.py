"""The rerun flow: re-attempt the ledger's failed releases (and only those), audited."""

from __future__ import annotations

import json
import os

from prefect import flow

from flows.limits import zone_guard
from flows.zones import RunFailed, finish_run, pull_releases
from tasks.load import prepare
from tasks.operations import failed_releases, record_action
from zonestats.catalog import shipped_catalog
from zonestats.config import ZoneSource, load_config, resolve_config_path
from zonestats.models import ReleaseOutcome, ReleaseRef, ZoneOutcome, utcnow
from zonestats.steps import run_logger
from zonestats.summary import RunSummary


@flow(name="rerun", log_prints=False)
def rerun(
    reason: str,
    operator: str,
    zone: str | None = None,
    dataset: str | None = None,
    period: str | None = None,
    config_path: str | None = None,
) -> RunSummary:
    """Re-attempt the failed releases that match; the reason and operator are recorded first."""
    log = run_logger()
    config = load_config(resolve_config_path(config_path, os.environ), shipped_catalog())
    prepare(config.warehouse, shipped_catalog())
    refs = failed_releases(config.warehouse, zone, dataset, period)
    record_action(
        config.warehouse,
        "rerun",
        operator,
        reason,
        json.dumps(
            {
                "zone": zone,
                "dataset": dataset,
                "period": period,
                "releases": [str(r.key) for r in refs],
            },
            ensure_ascii=False,
        ),
    )
    summary = RunSummary(started_at=utcnow())
    by_zone: dict[str, ZoneOutcome] = {}
    todo: dict[str, list[ReleaseRef]] = {}
    for ref in refs:
        outcome = by_zone.setdefault(ref.zone_code, ZoneOutcome(zone_code=ref.zone_code))
        if ref.origin == "manual":
            outcome.releases.append(
                ReleaseOutcome(
                    key=ref.key,
                    status="failed",
                    error="a manual submission is re-submitted with zonestats submit",
                )
            )
        else:
            todo.setdefault(ref.zone_code, []).append(ref)
    for code, zone_refs in todo.items():
        outcome = by_zone[code]
        try:
            source: ZoneSource = config.zone(code)
        except KeyError:
            outcome.error = f"{code} is not configured"
            continue
        with zone_guard(config, code, "rerun", outcome) as guard:
            if guard is not None:
                pull_releases(source, config, zone_refs, outcome, guard)
                guard.summarise(outcome)
    summary.zones = list(by_zone.values())
    summary.finished_at = utcnow()
    log.info("rerun of %d failed releases by %s: %s", len(refs), operator, reason)
    finish_run(config, summary, "rerun")
    if not summary.ok:
        raise RunFailed(summary)
    return summary
