"""The nightly flow: every enabled zone concurrently, each release its own unit of work."""

from __future__ import annotations

import contextvars
import os
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta, timezone

from prefect import flow, get_run_logger
from prefect.artifacts import create_markdown_artifact
from prefect.runtime import flow_run

from flows.limits import ensure_zone_limits, one_run_per_zone
from tasks.extract import list_releases
from tasks.load import pending, prepare, repair, watermark
from tasks.marts import build_marts
from tasks.quality import dq_checkpoint, quality_report
from tasks.release import process_release
from zonestats.config import AppConfig, ZoneSource, load_config, resolve_config_path
from zonestats.models import ReleaseOutcome, ZoneOutcome, utcnow
from zonestats.runtime import method_for, shipped_catalog
from zonestats.secrets import redact
from zonestats.sources import SourceError, ZoneAuthError
from zonestats.summary import RunSummary

# the province's calendar decides which year is current
SHANGHAI = timezone(timedelta(hours=8), "Asia/Shanghai")


class RunFailed(RuntimeError):
    """Some release failed or was rejected, or a zone could not be reached; the rest loaded."""

    def __init__(self, summary: RunSummary) -> None:
        lines = summary.failures()
        more = f" (+{len(lines) - 5} more)" if len(lines) > 5 else ""
        super().__init__("; ".join(lines[:5]) + more)
        self.summary = summary


def _pull_dataset(
    source: ZoneSource,
    config: AppConfig,
    dataset: str,
    outcome: ZoneOutcome,
    validate_only: bool = False,
) -> bool:
    """List and load one dataset of a zone; False when the zone refused us (stop the zone)."""
    log = get_run_logger()
    mark = watermark(config.warehouse, source.code, dataset)
    since = mark - timedelta(days=config.run.lookback_days) if mark else None
    try:
        refs = list_releases(source, config.http, dataset, since, config.warehouse)
    except SourceError as exc:
        message = redact(f"{dataset}: {exc}")
        outcome.error = f"{outcome.error}; {message}" if outcome.error else message
        log.error("%s", message)
        return not isinstance(exc, ZoneAuthError)
    todo = pending(config.warehouse, refs)
    log.info(
        "%s %s: %d releases listed since %s, %d not loaded yet",
        source.code,
        dataset,
        len(refs),
        since or "the beginning",
        len(todo),
    )
    outcome.releases.extend(
        ReleaseOutcome(key=r.key, status="skipped") for r in refs if r not in todo
    )
    for ref in todo:
        try:
            outcome.releases.append(
                process_release(source, config, ref, str(flow_run.id), validate_only=validate_only)
            )
        except ZoneAuthError as exc:
            outcome.error = redact(str(exc))
            return False
    return True


@flow(name="zone-pull", flow_run_name="pull-{source.code}", log_prints=False)
def pull_zone(source: ZoneSource, config: AppConfig, validate_only: bool = False) -> ZoneOutcome:
    """Pull one zone: each dataset it publishes (zone totals first), each release since its watermark.

    Zone totals first: the enterprise releases are reconciled with the zone totals loaded.
    """
    outcome = ZoneOutcome(zone_code=source.code)
    with one_run_per_zone(source.code):
        for dataset in source.datasets:
            if not _pull_dataset(source, config, dataset, outcome, validate_only):
                break
    return outcome


def _zone_or_error(source: ZoneSource, config: AppConfig, validate_only: bool) -> ZoneOutcome:
    state = pull_zone(source, config, validate_only, return_state=True)
    if state.is_completed():
        result: ZoneOutcome = state.result()
        return result
    exc = state.result(raise_on_failure=False)
    return ZoneOutcome(zone_code=source.code, error=redact(f"zone flow crashed: {exc}"))


def _isolated(source: ZoneSource, config: AppConfig, validate_only: bool) -> ZoneOutcome:
    # even starting the subflow can fail (the orchestration API busy or down): that is this
    # zone's failure, reported as such, never the others'
    try:
        return _zone_or_error(source, config, validate_only)
    except Exception as exc:
        return ZoneOutcome(zone_code=source.code, error=redact(f"zone flow could not run: {exc}"))


@flow(name="nightly", log_prints=False)
def nightly(
    config_path: str | None = None, zones: list[str] | None = None, validate_only: bool = False
) -> RunSummary:
    """Pull every enabled zone (or those named), load what is valid, summarise the run.

    ``validate_only`` fetches and validates and writes the quality report; it loads nothing.
    """
    config = load_config(resolve_config_path(config_path, os.environ), shipped_catalog())
    return run_zones(config, zones, validate_only)


def run_zones(
    config: AppConfig, zones: list[str] | None, validate_only: bool = False
) -> RunSummary:
    """The body of the nightly flow, once its config is built."""
    summary = RunSummary(started_at=utcnow(), validate_only=validate_only)
    prepare(config.warehouse, shipped_catalog())
    if not validate_only:
        for line in repair(config.warehouse, config.run.lease_s):
            get_run_logger().warning("repaired: %s", line)
    sources = config.select(zones)
    ensure_zone_limits([s.code for s in sources])
    with ThreadPoolExecutor(max_workers=max(1, config.run.max_concurrent_zones)) as pool:
        # each thread needs the flow's context to run its zone as a subflow of this run
        futures = [
            pool.submit(contextvars.copy_context().run, _isolated, s, config, validate_only)
            for s in sources
        ]
        summary.zones = [f.result() for f in futures]
    summary.finished_at = utcnow()
    finish_run(config, summary, "nightly")
    if not summary.ok:
        raise RunFailed(summary)
    return summary


def finish_run(config: AppConfig, summary: RunSummary, kind: str) -> None:
    """The data-quality checkpoint (unless nothing was loaded), the quality report, the artifacts."""
    log = get_run_logger()
    run_id = str(flow_run.id or f"{kind}-{utcnow():%Y%m%dT%H%M%S}")
    dq = None
    if not summary.validate_only:
        # the current and previous year's marts follow what was loaded (unchanged: kept)
        year = datetime.now(SHANGHAI).year
        for y in (year - 1, year):
            try:
                builds = build_marts(config.warehouse, shipped_catalog(), method_for(config), y)
                summary.marts += [f"{b.mart} {b.year}" for b in builds if b.rebuilt]
            except Exception as exc:
                summary.mart_errors.append(f"marts {y}: {redact(str(exc))[:300]}")
                log.error("marts of %s could not be built: %s", y, redact(str(exc)))
        loaded = [
            r.key
            for z in summary.zones
            for r in z.releases
            if r.status == "loaded" and r.key.dataset == "enterprise"
        ]
        try:
            dq = dq_checkpoint(config.warehouse, shipped_catalog(), run_id, loaded)
            summary.dq_failed = dq.failed
            summary.data_docs = dq.docs_index
        except Exception as exc:  # the checkpoint itself broke: say so, as a failed run
            summary.dq_failed = [f"checkpoint could not run: {redact(str(exc))[:300]}"]
            log.error("data-quality checkpoint could not run: %s", redact(str(exc)))
    path, report = quality_report(config.warehouse.data_dir, summary, f"{kind}-{run_id}", dq)
    summary.quality_report = str(path)
    log.info("quality report: %s", path)
    create_markdown_artifact(
        key=f"{kind}-summary", markdown=summary.to_markdown(), description=f"zonestats {kind} run"
    )
    create_markdown_artifact(
        key=f"{kind}-quality", markdown=report, description="zonestats quality report"
    )
