"""The backfill flow: re-pull a range of periods of one zone's dataset, audited."""

from __future__ import annotations

import json
import os

from prefect import flow

from flows.limits import zone_guard
from flows.zones import RunFailed, finish_run, pull_releases
from tasks.extract import list_releases
from tasks.load import pending, prepare
from tasks.operations import in_period_range, record_action, verify_release
from zonestats.catalog import shipped_catalog
from zonestats.config import load_config, resolve_config_path
from zonestats.errors import SourceError
from zonestats.models import ReleaseOutcome, ReleaseRef, ZoneOutcome, utcnow
from zonestats.secrets import redact
from zonestats.steps import run_logger
from zonestats.summary import RunSummary


@flow(name="backfill", log_prints=False)
def backfill(
    zone: str,
    dataset: str,
    period_from: str,
    period_to: str,
    reason: str,
    operator: str,
    force: bool = False,
    config_path: str | None = None,
) -> RunSummary:
    """Pull every release of the range; loaded ones are skipped, or with ``force`` verified."""
    log = run_logger()
    config = load_config(resolve_config_path(config_path, os.environ), shipped_catalog())
    prepare(config.warehouse, shipped_catalog())
    source = config.zone(zone)
    outcome = ZoneOutcome(zone_code=zone)
    summary = RunSummary(started_at=utcnow(), zones=[outcome])
    try:
        listed = list_releases(source, config.http, dataset, None, config.warehouse)
    except SourceError as exc:
        outcome.error = redact(str(exc))
        listed = []
    refs = in_period_range(listed, period_from, period_to)
    todo = refs if force else pending(config.warehouse, refs)
    record_action(
        config.warehouse,
        "backfill",
        operator,
        reason,
        json.dumps(
            {
                "zone": zone,
                "dataset": dataset,
                "from": period_from,
                "to": period_to,
                "force": force,
                "releases": [str(r.key) for r in todo],
            },
            ensure_ascii=False,
        ),
    )

    def verify_loaded(ref: ReleaseRef, result: ReleaseOutcome) -> ReleaseOutcome:
        # loaded already: fetch it again and check it is still what was loaded
        return verify_release(source, config, ref) if result.status == "skipped" else result

    with zone_guard(config, zone, "backfill", outcome) as guard:
        if guard is not None:
            pull_releases(
                source, config, todo, outcome, guard, then=verify_loaded if force else None
            )
            guard.summarise(outcome)
    summary.finished_at = utcnow()
    log.info(
        "backfill %s %s %s..%s by %s: %s", zone, dataset, period_from, period_to, operator, reason
    )
    finish_run(config, summary, "backfill")
    if not summary.ok:
        raise RunFailed(summary)
    return summary
