"""The rerun flow: re-attempt the ledger's failed releases (and only those), audited."""

from __future__ import annotations

import json
import os

from prefect import flow, get_run_logger
from prefect.runtime import flow_run

from flows.limits import ensure_zone_limits, one_run_per_zone
from flows.nightly import RunFailed, finish_run
from tasks.load import prepare
from tasks.operations import failed_releases, record_action
from tasks.release import process_release
from zonestats.config import ZoneSource, load_config, resolve_config_path
from zonestats.errors import ZoneAuthError
from zonestats.models import ReleaseOutcome, ZoneOutcome, utcnow
from zonestats.runtime import shipped_catalog
from zonestats.secrets import redact
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
    log = get_run_logger()
    config = load_config(resolve_config_path(config_path, os.environ), shipped_catalog())
    prepare(config.warehouse, shipped_catalog())
    refs = failed_releases(config.warehouse, zone, dataset, period)
    ensure_zone_limits(sorted({r.zone_code for r in refs}))
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
    for ref in refs:
        outcome = by_zone.setdefault(ref.zone_code, ZoneOutcome(zone_code=ref.zone_code))
        if outcome.error:
            continue
        if ref.origin == "manual":
            outcome.releases.append(
                ReleaseOutcome(
                    key=ref.key,
                    status="failed",
                    error="a manual submission is re-submitted with zonestats submit",
                )
            )
            continue
        try:
            source: ZoneSource = config.zone(ref.zone_code)
        except KeyError:
            outcome.error = f"{ref.zone_code} is not configured"
            continue
        try:
            with one_run_per_zone(ref.zone_code):
                outcome.releases.append(process_release(source, config, ref, str(flow_run.id)))
        except ZoneAuthError as exc:
            outcome.error = redact(str(exc))
    summary.zones = list(by_zone.values())
    summary.finished_at = utcnow()
    log.info("rerun of %d failed releases by %s: %s", len(refs), operator, reason)
    finish_run(config, summary, "rerun")
    if not summary.ok:
        raise RunFailed(summary)
    return summary
