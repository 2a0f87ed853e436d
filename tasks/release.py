"""One release end to end — the unit of work, of retry and of the ledger.

The steps are the functions of tasks.extract, tasks.validate and tasks.load; this task runs them
in order for one release and makes sure that whatever happens ends in the ledger. One Prefect
task per release (not per step) keeps the orchestration overhead per release small: a province
has hundreds of small releases a night.
"""

from __future__ import annotations

import uuid
from dataclasses import replace
from pathlib import Path

from sqlalchemy.exc import OperationalError

from tasks.extract import receive_release
from tasks.load import (
    commit_release,
    end_release,
    is_db_hiccup,
    outcome_of,
    remove_staging,
    start_release,
)
from tasks.runtime import rules_for
from tasks.validate import check_release, first_findings, loaded_around
from warehouse.parquet import ParquetBatch
from zonestats.catalog import shipped_catalog
from zonestats.config import AppConfig, ZoneSource
from zonestats.errors import SourceError, ZoneAuthError, ZoneUnavailable
from zonestats.models import ReleaseOutcome, ReleaseRef
from zonestats.secrets import redact
from zonestats.sources.base import SourceAdapter
from zonestats.steps import run_logger, step


def _describe(exc: Exception) -> str:
    """An unexpected failure as the ledger says it; a lost warehouse connection by that name."""
    if isinstance(exc, OperationalError):
        return f"the warehouse connection was lost or refused: {exc.orig or exc}"[:2000]
    return f"{type(exc).__name__}: {exc}"


def run_release(
    source: ZoneSource,
    config: AppConfig,
    ref: ReleaseRef,
    flow_run_id: str | None,
    adapter: SourceAdapter | None = None,
    validate_only: bool = False,
    holder: str | None = None,
    batch: ParquetBatch | None = None,
) -> ReleaseOutcome:
    """Fetch, validate and load one release; any failure is recorded in the ledger and returned.

    A refused token (ZoneAuthError) is re-raised after it is recorded: the zone's other releases
    would be refused too. ``validate_only`` fetches and validates and changes nothing. ``holder``
    is the claim token of the run's heartbeat (warehouse.claims), which keeps the claim alive.
    ``batch``: the zone's Parquet batch (one file per partition); None: files of its own.
    """
    if validate_only:
        return check_only(source, config, ref, adapter)
    wh = config.warehouse
    log = run_logger()
    claimed = start_release(wh, ref, flow_run_id, config.run.lease_s, holder)
    if claimed is None:
        return ReleaseOutcome(key=ref.key, status="skipped")
    load_id: str = claimed
    if ref.problem is not None:
        end_release(wh, ref, load_id, "rejected", f"{ref.key}: {ref.problem}")
        log.error("%s rejected: %s", ref.key, ref.problem)
        return ReleaseOutcome(key=ref.key, status="rejected", error=ref.problem)
    current = ref
    staging: Path | None = None
    try:
        fetched = receive_release(source, config.http, ref, wh.data_dir, adapter)
        staging = fetched.spool.parent
        if fetched.ref.revision != ref.revision:
            # revised while we read it: the listed revision is superseded by the one we hold
            end_release(
                wh,
                ref,
                load_id,
                "failed",
                f"superseded by revision {fetched.ref.revision} while being read",
            )
            current = fetched.ref
            claimed = start_release(wh, current, flow_run_id, config.run.lease_s, holder)
            if claimed is None:  # another run has loaded the newer revision meanwhile
                remove_staging(staging)
                return ReleaseOutcome(key=current.key, status="skipped")
            load_id = claimed
        validated = check_release(
            fetched,
            shipped_catalog(),
            rules_for(config),
            load_id,
            uscc_allow=config.validation.uscc_allow,
            history=loaded_around(wh, current),
        )
        outcome = commit_release(wh, validated, fetched.spool, batch)
    except SourceError as exc:
        message = redact(str(exc))
        end_release(wh, current, load_id, exc.ledger_status, message, staging)
        log.error("%s %s: %s", current.key, exc.ledger_status, message)
        if isinstance(exc, ZoneAuthError):
            raise
        return ReleaseOutcome(
            key=current.key,
            status=exc.ledger_status,
            error=message,
            unavailable=redact(exc.last) if isinstance(exc, ZoneUnavailable) else None,
        )
    except Exception as exc:
        message = redact(_describe(exc))
        # if the warehouse is still away this raises: the task's retry takes its own claim back
        end_release(wh, current, load_id, "failed", message, staging)
        log.error("%s failed: %s", current.key, message)
        return ReleaseOutcome(key=current.key, status="failed", error=message)
    if outcome.status == "rejected":
        log.error("%s rejected: %s", current.key, outcome.error)
        return outcome
    log.info(
        "%s loaded: %d received, %d loaded, %d quarantined, %d with warnings%s",
        current.key,
        outcome.records_received,
        outcome.records_loaded,
        outcome.records_quarantined,
        outcome.records_warned,
        f"; incomplete, missing {', '.join(outcome.incomplete)}" if outcome.incomplete else "",
    )
    return outcome


def check_only(
    source: ZoneSource, config: AppConfig, ref: ReleaseRef, adapter: SourceAdapter | None = None
) -> ReleaseOutcome:
    """Fetch and validate a release without claiming, loading or recording anything."""
    log = run_logger()
    staging: Path | None = None
    if ref.problem is not None:
        return ReleaseOutcome(key=ref.key, status="rejected", error=ref.problem)
    try:
        fetched = receive_release(source, config.http, ref, config.warehouse.data_dir, adapter)
        staging = fetched.spool.parent
        validated = check_release(
            fetched,
            shipped_catalog(),
            rules_for(config),
            f"check-{uuid.uuid4().hex}",
            uscc_allow=config.validation.uscc_allow,
            history=loaded_around(config.warehouse, fetched.ref),
        )
        outcome = outcome_of(validated, "rejected" if validated.rejection else "validated")
        findings = first_findings(validated.quarantine)
    except SourceError as exc:
        message = redact(str(exc))
        log.error("%s %s: %s", ref.key, exc.ledger_status, message)
        if isinstance(exc, ZoneAuthError):
            raise
        return ReleaseOutcome(key=ref.key, status=exc.ledger_status, error=message)
    except Exception as exc:
        message = redact(f"{type(exc).__name__}: {exc}")
        log.error("%s failed: %s", ref.key, message)
        return ReleaseOutcome(key=ref.key, status="failed", error=message)
    finally:
        if staging is not None:
            remove_staging(staging)
    log.info("%s validated (nothing loaded): %s", ref.key, outcome.rules_broken or "no finding")
    return replace(outcome, findings=findings)


process_release = step(
    name="process-release",
    task_run_name="{ref.zone_code} {ref.dataset} {ref.period} r{ref.revision}",
    # a retry begins the release again under a new load id: safe, a load is all or nothing
    retries=2,
    retry_delay_seconds=5,
    retry_on=is_db_hiccup,
)(run_release)
