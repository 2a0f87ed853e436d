"""The deployments carry the schedule and timezone the province runs on."""

from __future__ import annotations

import pytest

from deployments.nightly import backfill_deployment, nightly_deployment, rerun_deployment


@pytest.mark.prefect
def test_nightly_runs_at_two_in_shanghai(prefect_harness: None) -> None:
    dep = nightly_deployment("/etc/zonestats/zonestats.toml")
    assert dep.name == "nightly"
    assert dep.entrypoint.endswith("flows/nightly.py:nightly")
    [schedule] = dep.schedules
    assert schedule.schedule.cron == "0 2 * * *"
    assert schedule.schedule.timezone == "Asia/Shanghai"
    assert dep.parameters == {"config_path": "/etc/zonestats/zonestats.toml"}
    assert dep.concurrency_limit == 1
    assert dep.concurrency_options.collision_strategy == "CANCEL_NEW"


@pytest.mark.prefect
def test_rerun_is_a_deployment_without_schedule(prefect_harness: None) -> None:
    dep = rerun_deployment("/etc/zonestats/zonestats.toml")
    assert dep.name == "rerun"
    assert dep.entrypoint.endswith("flows/rerun.py:rerun")
    assert not dep.schedules
    assert {"reason", "operator"} <= set(dep._parameter_openapi_schema.required)


@pytest.mark.prefect
def test_backfill_is_a_deployment_without_schedule(prefect_harness: None) -> None:
    dep = backfill_deployment()
    assert dep.name == "backfill"
    assert dep.entrypoint.endswith("flows/backfill.py:backfill")
    assert not dep.schedules
    required = set(dep._parameter_openapi_schema.required)
    assert {"zone", "dataset", "period_from", "period_to", "reason", "operator"} <= required
