"""The body of the nightly run: every enabled zone concurrently, each release its own unit of work.

Prefect-free at import (flows.nightly wraps these functions as the Prefect flows): a run without
a Prefect API (zonestats.steps) never pays for importing Prefect. The nightly flow hands its
``zone-pull`` subflow in (``zone_flow``), so that this module never imports flows.nightly back.
"""

from __future__ import annotations

import contextvars
import os
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import date, datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any

from flows.limits import ZoneGuard, zone_guard
from tasks.calendar import (
    CalendarBuild,
    announce_overdue,
    calendar_as_of,
    owed_by,
    refresh_calendar,
)
from tasks.extract import list_releases
from tasks.history import publish_revisions
from tasks.load import pending, prepare, repair, watermark
from tasks.marts import build_marts
from tasks.quality import dq_checkpoint, quality_report, start_checkpoint_worker
from tasks.release import process_release
from tasks.revisions import note_revisions
from tasks.runtime import method_for
from warehouse.arrow import use_run_memory_pool
from zonestats.catalog import shipped_catalog
from zonestats.config import AppConfig, ZoneSource, load_config, resolve_config_path
from zonestats.models import ReleaseOutcome, ReleaseRef, ZoneOutcome, utcnow
from zonestats.progress import Progress, emit
from zonestats.secrets import redact
from zonestats.sources import SourceError, ZoneAuthError
from zonestats.steps import current_run_id, in_prefect_run, run_logger
from zonestats.summary import RunSummary

if TYPE_CHECKING:
    from validation.checkpoint_worker import CheckpointWorker

# the province's calendar decides which year is current
SHANGHAI = timezone(timedelta(hours=8), "Asia/Shanghai")


class RunFailed(RuntimeError):
    """Some release failed or was rejected, or a zone could not be reached; the rest loaded."""

    def __init__(self, summary: RunSummary) -> None:
        lines = summary.failures()
        more = f" (+{len(lines) - 5} more)" if len(lines) > 5 else ""
        super().__init__("; ".join(lines[:5]) + more)
        self.summary = summary


def pull_releases(
    source: ZoneSource,
    config: AppConfig,
    refs: list[ReleaseRef],
    outcome: ZoneOutcome,
    guard: ZoneGuard,
    validate_only: bool = False,
    then: Callable[[ReleaseRef, ReleaseOutcome], ReleaseOutcome] | None = None,
) -> bool:
    """Run a zone's releases in order under its breaker and the run's deadline.

    What the breaker or the deadline holds back is recorded ``failed`` ("not attempted: …") for
    the next run and ``rerun --failed``. ``then`` may follow up an outcome (a backfill verifies
    what was loaded already). False when the zone refused our token (stop the zone).
    """
    log = run_logger()
    # numbered per zone and dataset, so a long night says how far each zone has come
    done: dict[str, int] = {}
    totals: dict[str, int] = {}
    for ref in refs:
        totals[ref.dataset] = totals.get(ref.dataset, 0) + 1
    for dataset, total in totals.items():
        emit(Progress("listed", zone=source.code, dataset=dataset, total=total))
    for ref in refs:
        done[ref.dataset] = done.get(ref.dataset, 0) + 1
        step = f"{ref.zone_code} {ref.dataset}: {done[ref.dataset]}/{totals[ref.dataset]}"
        held = guard.held_back()
        if held is not None:
            deferred = guard.defer(ref, held, validate_only)
            outcome.releases.append(deferred)
            _released(deferred, ref)
            log.info("%s %s r%d not attempted: %s", step, ref.period, ref.revision, held)
            continue
        started = time.monotonic()
        try:
            result = process_release(
                source,
                config,
                ref,
                guard.flow_run_id,
                validate_only=validate_only,
                holder=guard.holder,
                batch=guard.batch,
            )
            if then is not None:
                result = then(ref, result)
        except ZoneAuthError as exc:
            outcome.error = redact(str(exc))
            return False
        except Exception as exc:
            # its retries spent (the warehouse away for long): this release failed, not the zone;
            # its claim expires and the next run lists it again
            result = ReleaseOutcome(
                key=ref.key, status="failed", error=redact(f"{type(exc).__name__}: {exc}")[:2000]
            )
        outcome.releases.append(result)
        guard.breaker.record(result)
        _released(result, ref)
        log.info(
            "%s %s r%d %s (%.1f s)",
            step,
            ref.period,
            ref.revision,
            result.status,
            time.monotonic() - started,
        )
    return True


def _released(result: ReleaseOutcome, ref: ReleaseRef) -> None:
    emit(
        Progress(
            "release",
            zone=ref.zone_code,
            dataset=ref.dataset,
            status=result.status,
            received=result.records_received,
            quarantined=result.records_quarantined,
        )
    )


def _pull_dataset(
    source: ZoneSource,
    config: AppConfig,
    dataset: str,
    outcome: ZoneOutcome,
    guard: ZoneGuard,
    validate_only: bool = False,
) -> bool:
    """List and load one dataset of a zone; False when the zone refused us (stop the zone)."""
    log = run_logger()
    mark = watermark(config.warehouse, source.code, dataset)
    since = mark - timedelta(days=config.run.lookback_days) if mark else None
    try:
        # validate-only loads nothing, and records nothing of what the zone lists either
        refs = list_releases(
            source, config.http, dataset, since, config.warehouse, record=not validate_only
        )
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
    return pull_releases(source, config, todo, outcome, guard, validate_only)


def pull_zone_body(
    source: ZoneSource,
    config: AppConfig,
    validate_only: bool = False,
    deadline_at: datetime | None = None,
) -> ZoneOutcome:
    """Pull one zone: each dataset it publishes (zone totals first), each release since its watermark.

    Zone totals first: the enterprise releases are reconciled with the zone totals loaded. The
    zone is this run's alone while it works (a claim its heartbeat keeps alive); a zone another
    live run holds longer than ``run.zone_wait_s`` is reported busy, naming the holder.
    """
    outcome = ZoneOutcome(zone_code=source.code)
    with zone_guard(config, source.code, "nightly", outcome, deadline_at) as guard:
        if guard is not None:
            for dataset in source.datasets:
                if not _pull_dataset(source, config, dataset, outcome, guard, validate_only):
                    break
            guard.summarise(outcome)
    return outcome


# the zone-pull subflow (flows.nightly.pull_zone), called as pull_zone_body is, with return_state
ZoneFlow = Callable[..., Any]


def _zone_or_error(
    source: ZoneSource,
    config: AppConfig,
    validate_only: bool,
    deadline_at: datetime,
    zone_flow: ZoneFlow | None,
) -> ZoneOutcome:
    if zone_flow is None or not in_prefect_run():  # the zone's body, in this thread
        try:
            return pull_zone_body(source, config, validate_only, deadline_at)
        except Exception as crash:
            return ZoneOutcome(zone_code=source.code, error=redact(f"zone pull crashed: {crash}"))
    # a subflow run of the nightly flow run
    state = zone_flow(source, config, validate_only, deadline_at, return_state=True)
    if state.is_completed():
        result: ZoneOutcome = state.result()
        return result
    exc = state.result(raise_on_failure=False)
    return ZoneOutcome(zone_code=source.code, error=redact(f"zone flow crashed: {exc}"))


def _isolated(
    source: ZoneSource,
    config: AppConfig,
    validate_only: bool,
    deadline_at: datetime,
    zone_flow: ZoneFlow | None,
) -> ZoneOutcome:
    emit(Progress("zone", zone=source.code))
    # even starting the subflow can fail (the orchestration API busy or down): that is this
    # zone's failure, reported as such, never the others'
    try:
        outcome = _zone_or_error(source, config, validate_only, deadline_at, zone_flow)
    except Exception as exc:
        outcome = ZoneOutcome(
            zone_code=source.code, error=redact(f"zone flow could not run: {exc}")
        )
    emit(Progress("done", zone=source.code, error=outcome.error))
    return outcome


def nightly_body(
    config_path: str | None = None,
    zones: list[str] | None = None,
    validate_only: bool = False,
    today: date | None = None,
    zone_flow: ZoneFlow | None = None,
) -> RunSummary:
    """Pull every enabled zone (or those named), load what is valid, summarise the run.

    ``validate_only`` fetches and validates and writes the quality report; it loads nothing.
    ``today`` is the run's date in Asia/Shanghai (default: the clock's), which decides the
    current year of the marts.
    """
    config = load_config(resolve_config_path(config_path, os.environ), shipped_catalog())
    return run_zones(config, zones, validate_only, today, zone_flow)


def run_zones(
    config: AppConfig,
    zones: list[str] | None,
    validate_only: bool = False,
    today: date | None = None,
    zone_flow: ZoneFlow | None = None,
) -> RunSummary:
    """The body of the nightly flow, once its config is built; each zone runs as a ``zone_flow``
    subflow run inside a Prefect run, else in its thread."""
    use_run_memory_pool(os.environ)
    summary = RunSummary(started_at=utcnow(), validate_only=validate_only)
    # every zone's subflow stops starting releases at the same moment
    deadline_at = utcnow() + timedelta(seconds=config.run.deadline_s)
    prepare(config.warehouse, shipped_catalog())
    if not validate_only:
        for line in repair(config.warehouse):
            run_logger().warning("repaired: %s", line)
    sources = config.select(zones)
    # the checkpoint gets ready, and follows the loads, on the core the run leaves idle
    worker = None if validate_only else start_checkpoint_worker(config.warehouse, shipped_catalog())
    try:
        if config.run.fan_out == "deployments":
            from flows.fanout import run_zone_deployments  # imports Prefect: only this form

            summary.zones = run_zone_deployments(config, sources, validate_only, deadline_at)
        else:
            summary.zones = _in_threads(config, sources, validate_only, deadline_at, zone_flow)
        summary.finished_at = utcnow()
        finish_run(config, summary, "nightly", today, worker)
    finally:
        if worker is not None:
            worker.close()
    if not summary.ok:
        raise RunFailed(summary)
    return summary


def _in_threads(
    config: AppConfig,
    sources: tuple[ZoneSource, ...],
    validate_only: bool,
    deadline_at: datetime,
    zone_flow: ZoneFlow | None,
) -> list[ZoneOutcome]:
    with ThreadPoolExecutor(max_workers=max(1, config.run.max_concurrent_zones)) as pool:
        # each thread needs the flow's context to run its zone as a subflow of this run
        futures = [
            pool.submit(
                contextvars.copy_context().run,
                _isolated,
                s,
                config,
                validate_only,
                deadline_at,
                zone_flow,
            )
            for s in sources
        ]
        return [f.result() for f in futures]


def run_date(today: date | None = None) -> date:
    """The run's date in the province's calendar (Asia/Shanghai), unless one is given."""
    return today if today is not None else utcnow().astimezone(SHANGHAI).date()


def finish_run(
    config: AppConfig,
    summary: RunSummary,
    kind: str,
    today: date | None = None,
    worker: CheckpointWorker | None = None,
) -> None:
    """The data-quality checkpoint (unless nothing was loaded), the quality report, the artifacts.

    ``worker``: the checkpoint's worker started with the run (else the checkpoint runs cold).
    """
    log = run_logger()
    run_id = current_run_id() or f"{kind}-{utcnow():%Y%m%dT%H%M%S}"
    dq = None
    if not summary.validate_only:
        loaded = [r.key for z in summary.zones for r in z.releases if r.status == "loaded"]
        # what each revision the run loaded changed in what the warehouse held
        try:
            summary.revisions = note_revisions(config.warehouse, loaded)
        except Exception as exc:
            summary.mart_errors.append(f"revision notes: {redact(str(exc))[:300]}")
            log.error("the run's revisions could not be compared: %s", redact(str(exc)))
        # the current and previous year's marts follow what was loaded (unchanged: kept)
        year = run_date(today).year
        started = time.monotonic()
        log.info("marts of %s and %s: building", year - 1, year)
        emit(Progress("phase", phase=f"marts of {year - 1} and {year}"))
        for y in (year - 1, year):
            try:
                builds = build_marts(config.warehouse, shipped_catalog(), method_for(config), y)
                summary.marts += [f"{b.mart} {b.year}" for b in builds if b.rebuilt]
            except Exception as exc:
                summary.mart_errors.append(f"marts {y}: {redact(str(exc))[:300]}")
                log.error("marts of %s could not be built: %s", y, redact(str(exc)))
        log.info("marts: done in %.1f s", time.monotonic() - started)
        # every run keeps release_calendar current, as of its own time (the end of --today)
        catalog = shipped_catalog()
        calendar: CalendarBuild | None = None
        try:
            calendar = refresh_calendar(
                config.warehouse,
                catalog,
                owed_by(config, catalog),
                calendar_as_of(catalog, today, utcnow()),
            )
            summary.late = calendar.late
        except Exception as exc:
            summary.mart_errors.append(f"release calendar: {redact(str(exc))[:300]}")
            log.error("release calendar could not be built: %s", redact(str(exc)))
        # a release that turned overdue is announced once, by the run that first sees it so
        if calendar is not None:
            try:
                summary.overdue_announced = announce_overdue(
                    config.warehouse, catalog, calendar.rows, run_id
                )
            except Exception as exc:
                summary.mart_errors.append(f"overdue events: {redact(str(exc))[:300]}")
                log.error("overdue releases could not be announced: %s", redact(str(exc)))
        # the revisions' validity in Parquet, for as-of reads of the Parquet tables
        try:
            publish_revisions(config.warehouse)
        except Exception as exc:
            summary.mart_errors.append(f"release revisions: {redact(str(exc))[:300]}")
            log.error("release_revision could not be written: %s", redact(str(exc)))
        started = time.monotonic()
        # the checkpoint is the run's longest silent step: say it started and when it ended
        log.info("data-quality checkpoint: running (%d releases loaded)", len(loaded))
        emit(Progress("phase", phase="data-quality checkpoint"))
        try:
            dq = dq_checkpoint(config.warehouse, shipped_catalog(), run_id, loaded, worker)
            summary.dq_failed = dq.failed
            summary.data_docs = dq.docs_index
            log.info(
                "data-quality checkpoint: done in %.1f s, %d expectation(s) failed",
                time.monotonic() - started,
                len(dq.failed),
            )
        except Exception as exc:  # the checkpoint itself broke: say so, as a failed run
            summary.dq_failed = [f"checkpoint could not run: {redact(str(exc))[:300]}"]
            log.error("data-quality checkpoint could not run: %s", redact(str(exc)))
    started = time.monotonic()
    log.info("quality report: writing")
    emit(Progress("phase", phase="quality report"))
    path, report = quality_report(config.warehouse.data_dir, summary, f"{kind}-{run_id}", dq)
    summary.quality_report = str(path)
    log.info("quality report: %s (%.1f s)", path, time.monotonic() - started)
    if in_prefect_run():  # a run without Prefect has its summary on stdout and the report file
        from prefect.artifacts import create_markdown_artifact

        create_markdown_artifact(
            key=f"{kind}-summary",
            markdown=summary.to_markdown(),
            description=f"zonestats {kind} run",
        )
        create_markdown_artifact(
            key=f"{kind}-quality", markdown=report, description="zonestats quality report"
        )
