"""The nightly deployment: 02:00 every day, Asia/Shanghai, one run at a time."""

from __future__ import annotations

from typing import Any

from prefect.client.schemas.objects import ConcurrencyLimitConfig, ConcurrencyLimitStrategy
from prefect.schedules import Cron

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
