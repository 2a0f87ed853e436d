"""The deployments: nightly (02:00 Asia/Shanghai, one at a time), zone-pull, rerun, backfill.

``serve`` runs them on one machine; ``deploy`` registers them on a process work pool.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from prefect.client.schemas.objects import ConcurrencyLimitConfig, ConcurrencyLimitStrategy
from prefect.schedules import Cron

from zonestats.allocator import ARROW_POOL_ENV, prefer_run_pool

NIGHTLY_CRON = "0 2 * * *"
TIMEZONE = "Asia/Shanghai"


def nightly_deployment(config_path: str | None = None) -> Any:
    """The nightly flow as a deployment; the config is named by path, never inlined (no secrets)."""
    from flows.nightly import nightly

    return nightly.to_deployment(
        name="nightly",
        schedule=Cron(NIGHTLY_CRON, timezone=TIMEZONE),
        parameters={"config_path": config_path} if config_path else {},
        # one nightly run at a time; a run due while one is going (nights missed while the
        # machine was down) is cancelled: the run that goes pulls everything since the watermark
        concurrency_limit=ConcurrencyLimitConfig(
            limit=1, collision_strategy=ConcurrencyLimitStrategy.CANCEL_NEW
        ),
        description="Pull every enabled zone, validate, load SQL + Parquet (zonestats).",
        tags=["zonestats", "nightly"],
    )


def rerun_deployment(config_path: str | None = None) -> Any:
    """The rerun flow as a deployment with no schedule: the UI's Run button asks for the reason."""
    from flows.rerun import rerun

    return rerun.to_deployment(
        name="rerun",
        parameters={"config_path": config_path} if config_path else {},
        description="Re-attempt the ledger's failed releases (reason and operator recorded).",
        tags=["zonestats", "operations"],
    )


def backfill_deployment(config_path: str | None = None) -> Any:
    """The backfill flow as a deployment with no schedule (zone, dataset and range asked at run)."""
    from flows.backfill import backfill

    return backfill.to_deployment(
        name="backfill",
        parameters={"config_path": config_path} if config_path else {},
        description="Re-pull a range of periods of one zone's dataset (audited).",
        tags=["zonestats", "operations"],
    )


def serve(config_path: str | None = None) -> None:
    """Serve the deployments from this process (one machine: scheduler + runner)."""
    from prefect import serve as prefect_serve

    prefect_serve(
        nightly_deployment(config_path),
        rerun_deployment(config_path),
        backfill_deployment(config_path),
    )


POOL = "zonestats"
ZOMBIE_AUTOMATION = "zonestats: crash zone runs without heartbeat"
STUCK_AUTOMATION = "zonestats: crash runs that never started"
OVERDUE_AUTOMATION = "zonestats: a release turned overdue"
# the flow engine's floor: Prefect sends no heartbeat more often than every 30 s
HEARTBEAT_S = 30


def _flow_entry(kind: str) -> tuple[str, str]:
    return {
        "nightly": ("flows/nightly.py", "nightly"),
        "zone-pull": ("flows/nightly.py", "zone_pull"),
        "rerun": ("flows/rerun.py", "rerun"),
        "backfill": ("flows/backfill.py", "backfill"),
    }[kind]


def deploy(
    config_path: str,
    source: str | Path | None = None,
    pool: str = POOL,
    heartbeat_s: int = HEARTBEAT_S,
    crash_after_s: int | None = None,
    pending_crash_s: int = 300,
    overdue_notify: str | None = None,
) -> list[str]:
    """Register nightly, zone-pull, rerun and backfill on a process work pool; return their ids.

    ``source``: the checkout every worker runs the code from (default: this one), as an absolute
    path: a process worker runs each flow in a fresh temporary directory, so the deployment's pull
    step changes into it first. ``config_path`` is a path every worker reads (no secrets inlined).
    Flow runs send a heartbeat every ``heartbeat_s``; the automation marks a Running run that
    sent none for ``crash_after_s`` (default three beats) Crashed, and one Pending (its worker took
    it, then died before its process started) for ``pending_crash_s``. A third automation reacts
    to each release turning overdue (``overdue_notify``: a notification block, see
    ``ensure_overdue_automation``). Running it again updates all.
    """
    from prefect import Flow

    # first: a notification block that does not exist stops the deploy before anything changed
    ensure_overdue_automation(overdue_notify)
    root = Path(source) if source is not None else Path(__file__).resolve().parent.parent
    root = root.resolve()
    config = str(Path(config_path).resolve())
    # a flow run's process is new and Arrow reads its pool as it loads: the deploying shell's
    # choice, else the run's pool
    env = {
        "PREFECT_FLOWS_HEARTBEAT_FREQUENCY": str(heartbeat_s),
        ARROW_POOL_ENV: os.environ.get(ARROW_POOL_ENV, ""),
    }
    prefer_run_pool(env)
    specs: dict[str, dict[str, Any]] = {
        "nightly": {
            "schedule": Cron(NIGHTLY_CRON, timezone=TIMEZONE),
            "concurrency_limit": ConcurrencyLimitConfig(
                limit=1, collision_strategy=ConcurrencyLimitStrategy.CANCEL_NEW
            ),
            "description": "Pull every enabled zone, validate, load SQL + Parquet (zonestats).",
            "tags": ["zonestats", "nightly"],
        },
        "zone-pull": {
            "description": "Pull one zone (started by nightly with run.fan_out = deployments).",
            "tags": ["zonestats", "zone"],
        },
        "rerun": {
            "description": "Re-attempt the ledger's failed releases (reason and operator recorded).",
            "tags": ["zonestats", "operations"],
        },
        "backfill": {
            "description": "Re-pull a range of periods of one zone's dataset (audited).",
            "tags": ["zonestats", "operations"],
        },
    }
    ids = []
    for name, spec in specs.items():
        path, func = _flow_entry(name)
        flow = Flow.from_source(source=str(root), entrypoint=f"{path}:{func}")
        dep_id = flow.deploy(  # type: ignore[union-attr]
            name=name,
            work_pool_name=pool,
            parameters={"config_path": config},
            job_variables={"env": env, "working_dir": str(root)},
            build=False,
            push=False,
            print_next_steps=False,
            ignore_warnings=True,
            **spec,
        )
        ids.append(str(dep_id))
    ensure_zombie_automation(crash_after_s or 3 * heartbeat_s, pending_crash_s)
    return ids


def ensure_zombie_automation(crash_after_s: int, pending_crash_s: int = 300) -> list[str]:
    """The automations that mark a dead run Crashed (each one, kept current); their ids.

    A Running run without heartbeat for ``crash_after_s``; a Pending run that did not start
    running within ``pending_crash_s`` (no heartbeat can come from a process never started).
    """
    from datetime import timedelta

    from prefect.client.schemas.objects import StateType
    from prefect.events.actions import ChangeFlowRunState
    from prefect.events.schemas.automations import AutomationCore, EventTrigger, Posture
    from prefect.events.schemas.events import ResourceSpecification

    finals = {
        "prefect.flow-run.Completed",
        "prefect.flow-run.Failed",
        "prefect.flow-run.Cancelled",
        "prefect.flow-run.Crashed",
    }
    stuck = AutomationCore(
        name=STUCK_AUTOMATION,
        description="A zonestats flow run its worker took but never started (the worker died).",
        trigger=EventTrigger(
            after={"prefect.flow-run.Pending"},
            expect={"prefect.flow-run.Running", *finals},
            match=ResourceSpecification({"prefect.resource.id": ["prefect.flow-run.*"]}),
            for_each={"prefect.resource.id"},
            posture=Posture.Proactive,
            threshold=1,
            within=timedelta(seconds=pending_crash_s),
        ),
        actions=[
            ChangeFlowRunState(
                state=StateType.CRASHED,
                name="Crashed",
                message=f"pending {pending_crash_s} s, never started: its worker died",
                force=False,
            )
        ],
    )
    zombie = AutomationCore(
        name=ZOMBIE_AUTOMATION,
        description="A zonestats flow run whose process died (its worker killed) is Crashed.",
        trigger=EventTrigger(
            # after Running too: a process killed before its first heartbeat sent none
            after={"prefect.flow-run.heartbeat", "prefect.flow-run.Running"},
            expect={"prefect.flow-run.heartbeat", *finals},
            match=ResourceSpecification({"prefect.resource.id": ["prefect.flow-run.*"]}),
            for_each={"prefect.resource.id"},
            posture=Posture.Proactive,
            threshold=1,
            within=timedelta(seconds=crash_after_s),
        ),
        actions=[
            ChangeFlowRunState(
                state=StateType.CRASHED,
                name="Crashed",
                message=f"no heartbeat for {crash_after_s} s: its worker or machine died",
                force=False,
            )
        ],
    )
    return _keep_one_each([zombie, stuck])


def _keep_one_each(automations: list[Any]) -> list[str]:
    """Create each automation, or update the one of its name (and delete extras); their ids."""
    from prefect.client.orchestration import get_client

    ids = []
    with get_client(sync_client=True) as client:
        for wanted in automations:
            found = client.read_automations_by_name(wanted.name)
            for extra in found[1:]:  # an earlier race made two: keep one
                client.delete_automation(extra.id)
            if found:
                client.update_automation(found[0].id, wanted)
                ids.append(str(found[0].id))
            else:
                ids.append(str(client.create_automation(wanted)))
    return ids


class UnknownBlock(LookupError):
    """The notification block named for the overdue automation does not exist."""


def ensure_overdue_automation(notify: str | None = None) -> str:
    """The automation that reacts to each ``zonestats.release.overdue`` event (kept current); its id.

    ``notify``: a Prefect notification block as ``<block-type-slug>/<name>`` (e.g.
    ``slack-webhook/stats-ops``), sent a message naming the zone, dataset, period and days late;
    without one the automation fires and does nothing else, so each turn shows in the UI's
    automation and event history, ready for an action to be added there.
    """
    from datetime import timedelta

    from prefect.client.orchestration import get_client
    from prefect.events.actions import DoNothing, SendNotification
    from prefect.events.schemas.automations import AutomationCore, EventTrigger, Posture
    from prefect.events.schemas.events import ResourceSpecification

    from zonestats.events import OVERDUE_EVENT, RELEASE_RESOURCE

    action: Any = DoNothing()
    if notify:
        slug, _, name = notify.partition("/")
        with get_client(sync_client=True) as client:
            try:
                block = client.read_block_document_by_name(name=name, block_type_slug=slug)
            except Exception:
                raise UnknownBlock(
                    f"no notification block {notify!r} (give <block-type-slug>/<name>, "
                    "e.g. slack-webhook/stats-ops)"
                ) from None
        release = (
            "{{ event.resource['zonestats.zone'] }} {{ event.resource['zonestats.dataset'] }} "
            "{{ event.resource['zonestats.period'] }}"
        )
        action = SendNotification(
            block_document_id=block.id,
            subject=f"zonestats: {release} overdue",
            body=(
                f"{release} is overdue by the reporting calendar: "
                "{{ event.payload.days_late }} days after its deadline "
                "{{ event.payload.deadline_local }} (Asia/Shanghai), as of "
                "{{ event.payload.as_of }}. `zonestats late` lists what is missing or overdue."
            ),
        )
    overdue = AutomationCore(
        name=OVERDUE_AUTOMATION,
        description="A zone has not handed in a release more than the calendar's days past due.",
        trigger=EventTrigger(
            expect={OVERDUE_EVENT},
            match=ResourceSpecification({"prefect.resource.id": f"{RELEASE_RESOURCE}.*"}),
            for_each={"prefect.resource.id"},
            posture=Posture.Reactive,
            threshold=1,
            within=timedelta(0),
        ),
        actions=[action],
    )
    return _keep_one_each([overdue])[0]
