"""The nightly flow: every enabled zone concurrently, each release its own unit of work."""

from __future__ import annotations

import contextvars
import os
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from pathlib import Path

from prefect import flow, get_run_logger
from prefect.artifacts import create_markdown_artifact
from prefect.runtime import flow_run

from tasks.extract import fetch_release, list_releases
from tasks.load import (
    begin_release,
    drop_staging,
    fail_release,
    load_release,
    pending,
    prepare,
    watermark,
)
from tasks.validate import validate_release
from zonestats.config import AppConfig, ZoneSource, load_config, resolve_config_path
from zonestats.models import ReleaseOutcome, ReleaseRef, ZoneOutcome, utcnow
from zonestats.runtime import shipped_catalog, shipped_rules
from zonestats.secrets import redact
from zonestats.sources import SourceError, ZoneAuthError
from zonestats.summary import RunSummary


class RunFailed(RuntimeError):
    """Some release failed or was rejected, or a zone could not be reached; the rest loaded."""

    def __init__(self, summary: RunSummary) -> None:
        lines = summary.failures()
        more = f" (+{len(lines) - 5} more)" if len(lines) > 5 else ""
        super().__init__("; ".join(lines[:5]) + more)
        self.summary = summary


def _release(source: ZoneSource, config: AppConfig, ref: ReleaseRef) -> ReleaseOutcome:
    """Fetch, validate and load one release; any failure ends in the ledger, not in the zone."""
    wh = config.warehouse
    log = get_run_logger()
    claimed = begin_release(wh, ref, str(flow_run.id))
    if claimed is None:
        return ReleaseOutcome(key=ref.key, status="skipped")
    load_id: str = claimed
    current = ref
    staging: Path | None = None
    try:
        fetched = fetch_release(source, config.http, ref, wh.data_dir)
        staging = fetched.spool.parent
        if fetched.ref.revision != ref.revision:
            # revised while we read it: this revision is superseded, the newer one is what we hold
            fail_release(
                wh,
                ref,
                load_id,
                "failed",
                f"superseded by revision {fetched.ref.revision} while being read",
            )
            current = fetched.ref
            claimed = begin_release(wh, current, str(flow_run.id))
            if claimed is None:  # another run has loaded the newer revision meanwhile
                drop_staging(staging)
                return ReleaseOutcome(key=current.key, status="skipped")
            load_id = claimed
        validated = validate_release(fetched, shipped_catalog(), shipped_rules(), load_id)
        outcome: ReleaseOutcome = load_release(wh, validated, fetched.spool)
    except SourceError as exc:
        message = redact(str(exc))
        fail_release(wh, current, load_id, exc.ledger_status, message, staging)
        log.error("%s %s: %s", current.key, exc.ledger_status, message)
        if isinstance(exc, ZoneAuthError):
            raise
        return ReleaseOutcome(key=current.key, status=exc.ledger_status, error=message)
    except Exception as exc:
        message = redact(f"{type(exc).__name__}: {exc}")
        fail_release(wh, current, load_id, "failed", message, staging)
        log.error("%s failed: %s", current.key, message)
        return ReleaseOutcome(key=current.key, status="failed", error=message)
    log.info(
        "%s loaded: %d received, %d loaded, %d quarantined, %d with warnings",
        current.key,
        outcome.records_received,
        outcome.records_loaded,
        outcome.records_quarantined,
        outcome.records_warned,
    )
    return outcome


@flow(name="zone-pull", flow_run_name="pull-{source.code}", log_prints=False)
def pull_zone(source: ZoneSource, config: AppConfig, dataset: str = "zone") -> ZoneOutcome:
    """Pull one zone: list what was published since its watermark and load each release."""
    log = get_run_logger()
    outcome = ZoneOutcome(zone_code=source.code)
    mark = watermark(config.warehouse, source.code, dataset)
    since = mark - timedelta(days=config.run.lookback_days) if mark else None
    try:
        refs = list_releases(source, config.http, dataset, since)
    except SourceError as exc:
        outcome.error = redact(str(exc))
        log.error("%s", outcome.error)
        return outcome
    todo = pending(config.warehouse, refs)
    log.info(
        "%s: %d releases listed since %s, %d not loaded yet",
        source.code,
        len(refs),
        since or "the beginning",
        len(todo),
    )
    outcome.releases.extend(
        ReleaseOutcome(key=r.key, status="skipped") for r in refs if r not in todo
    )
    for ref in todo:
        try:
            outcome.releases.append(_release(source, config, ref))
        except ZoneAuthError as exc:
            outcome.error = redact(str(exc))
            break
    return outcome


def _zone_or_error(source: ZoneSource, config: AppConfig) -> ZoneOutcome:
    state = pull_zone(source, config, return_state=True)
    if state.is_completed():
        result: ZoneOutcome = state.result()
        return result
    exc = state.result(raise_on_failure=False)
    return ZoneOutcome(zone_code=source.code, error=redact(f"zone flow crashed: {exc}"))


@flow(name="nightly", log_prints=False)
def nightly(config_path: str | None = None, zones: list[str] | None = None) -> RunSummary:
    """Pull every enabled zone (or those named), load what is valid, summarise the run."""
    config = load_config(resolve_config_path(config_path, os.environ), shipped_catalog())
    return run_zones(config, zones)


def run_zones(config: AppConfig, zones: list[str] | None) -> RunSummary:
    """The body of the nightly flow, once its config is built."""
    summary = RunSummary(started_at=utcnow())
    prepare(config.warehouse, shipped_catalog())
    sources = config.select(zones)
    with ThreadPoolExecutor(max_workers=max(1, config.run.max_concurrent_zones)) as pool:
        # each thread needs the flow's context to run its zone as a subflow of this run
        futures = [
            pool.submit(contextvars.copy_context().run, _zone_or_error, s, config) for s in sources
        ]
        summary.zones = [f.result() for f in futures]
    summary.finished_at = utcnow()
    create_markdown_artifact(
        key="nightly-summary", markdown=summary.to_markdown(), description="zonestats run summary"
    )
    if not summary.ok:
        raise RunFailed(summary)
    return summary
