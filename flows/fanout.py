"""Zones fanned out across workers: one ``zone-pull`` deployment run per zone, awaited with a bound.

The zone's claims live in the warehouse, so a zone stays one run's alone whichever worker runs it.
A zone run hands its outcome back as an artifact on the Prefect API (every worker and the nightly
run reach it; a worker's local result storage they would not). A zone run that ends without one
(Crashed: its worker died; Failed; still running at the bound) is that zone's failure.
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

from pydantic import TypeAdapter

from zonestats.config import AppConfig, ZoneSource
from zonestats.models import ZoneOutcome, utcnow
from zonestats.secrets import redact
from zonestats.steps import run_logger

if TYPE_CHECKING:
    from prefect.client.schemas.objects import FlowRun

ZONE_PULL_DEPLOYMENT = "zone-pull/zone-pull"
OUTCOME_ARTIFACT = "zone-outcome"
# a release that started before the run's deadline may still be loading: it gets this long
FINISH_GRACE_S = 1800
POLL_S = 2.0

_OUTCOME = TypeAdapter(ZoneOutcome)


def outcome_markdown(outcome: ZoneOutcome) -> str:
    """The zone's outcome as the markdown of its artifact: a line for people, the JSON for the run."""
    head = f"zone {outcome.zone_code}: " + ("ok" if outcome.ok else outcome.error or "failed")
    return f"{head}\n\n```json\n{_OUTCOME.dump_json(outcome).decode()}\n```\n"


def outcome_from_markdown(text: str) -> ZoneOutcome:
    """Read back what outcome_markdown wrote."""
    body = text.split("```json\n", 1)[1].rsplit("```", 1)[0]
    return _OUTCOME.validate_python(json.loads(body))


def run_zone_deployments(
    config: AppConfig,
    sources: Sequence[ZoneSource],
    validate_only: bool,
    deadline_at: datetime,
) -> list[ZoneOutcome]:
    """Start one zone-pull deployment run per zone (subflows of this run), wait, read outcomes."""
    from prefect.deployments import run_deployment

    log = run_logger()
    # the zone runs build their config from the same file, on whichever machine runs them
    config_path = str(Path(config.source_path).resolve()) if config.source_path else None
    started: dict[str, Any] = {}
    outcomes: dict[str, ZoneOutcome] = {}
    for source in sources:
        try:
            run = run_deployment(
                ZONE_PULL_DEPLOYMENT,
                parameters={
                    "config_path": config_path,
                    "zone": source.code,
                    "validate_only": validate_only,
                    "deadline_at": deadline_at.isoformat(),
                },
                flow_run_name=f"pull-{source.code}",
                timeout=0,  # start them all; waited for below, with a bound
            )
            started[source.code] = cast("FlowRun", run).id  # sync context: not a coroutine
        except Exception as exc:
            outcomes[source.code] = ZoneOutcome(
                zone_code=source.code,
                error=redact(f"zone-pull deployment run could not start: {exc}"),
            )
    log.info("zones fanned out to the pool: %d zone-pull runs", len(started))
    until = deadline_at + timedelta(seconds=FINISH_GRACE_S)
    runs = _wait(started, until)
    for code, run in runs.items():
        outcomes[code] = _outcome(code, run)
    return [outcomes[s.code] for s in sources]


def _wait(started: dict[str, Any], until: datetime) -> dict[str, FlowRun]:
    from prefect.client.orchestration import get_client

    runs: dict[str, FlowRun] = {}
    with get_client(sync_client=True) as client:
        while True:
            for code, run_id in started.items():
                if code not in runs or not _final(runs[code]):
                    runs[code] = client.read_flow_run(run_id)
            if all(_final(r) for r in runs.values()) or utcnow() >= until:
                return runs
            time.sleep(POLL_S)


def _final(run: FlowRun) -> bool:
    return run.state is not None and run.state.is_final()


def _outcome(code: str, run: FlowRun) -> ZoneOutcome:
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import (
        ArtifactFilter,
        ArtifactFilterFlowRunId,
        ArtifactFilterKey,
    )
    from prefect.client.schemas.sorting import ArtifactSort

    state = run.state
    name = state.name if state is not None else "unknown"
    where = f"zone-pull run {run.name} ({run.id})"
    if state is None or not state.is_final():
        return ZoneOutcome(zone_code=code, error=f"{where} still {name} at the run's bound")
    if state.is_completed():
        with get_client(sync_client=True) as client:
            found = client.read_artifacts(
                artifact_filter=ArtifactFilter(
                    flow_run_id=ArtifactFilterFlowRunId(any_=[run.id]),
                    key=ArtifactFilterKey(any_=[OUTCOME_ARTIFACT]),
                ),
                sort=ArtifactSort.CREATED_DESC,
                limit=1,
            )
        if found and isinstance(found[0].data, str):
            return outcome_from_markdown(found[0].data)
        return ZoneOutcome(zone_code=code, error=f"{where} completed without its outcome")
    message = redact(state.message or "")[:300]
    return ZoneOutcome(zone_code=code, error=f"{where} ended {name}: {message}".rstrip(": "))
