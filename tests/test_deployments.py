"""The deployments carry the schedule and timezone the province runs on."""

from __future__ import annotations

from pathlib import Path

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


WAREHOUSE = '[warehouse]\nurl = "sqlite:///x.db"\ndata_dir = "var"\n'


def test_fan_out_defaults_to_threads_and_takes_deployments(tmp_path: Path) -> None:
    from zonestats.catalog import shipped_catalog
    from zonestats.config import load_config

    path = tmp_path / "zonestats.toml"
    path.write_text(WAREHOUSE, encoding="utf-8")
    assert load_config(path, shipped_catalog()).run.fan_out == "threads"
    path.write_text(WAREHOUSE + '[run]\nfan_out = "deployments"\n', encoding="utf-8")
    assert load_config(path, shipped_catalog()).run.fan_out == "deployments"


@pytest.mark.parametrize("value", ['"processes"', "2"])
def test_a_wrong_fan_out_names_the_key(tmp_path: Path, value: str) -> None:
    from zonestats.catalog import shipped_catalog
    from zonestats.config import ConfigError, load_config

    path = tmp_path / "zonestats.toml"
    path.write_text(WAREHOUSE + f"[run]\nfan_out = {value}\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"run\.fan_out"):
        load_config(path, shipped_catalog())


def test_a_zone_outcome_survives_its_artifact() -> None:
    from flows.fanout import outcome_from_markdown, outcome_markdown
    from zonestats.models import ReleaseKey, ReleaseOutcome, ZoneOutcome

    outcome = ZoneOutcome(
        zone_code="TY01",
        releases=[
            ReleaseOutcome(
                key=ReleaseKey("TY01", "zone", "2026-03", 2),
                status="loaded",
                records_received=12,
                records_loaded=11,
                records_quarantined=1,
                rules_broken={"value_above_max": 1},
                incomplete=("revenue",),
            ),
            ReleaseOutcome(key=ReleaseKey("TY01", "enterprise", "2026-03", 1), status="failed"),
        ],
        notes=["taken over from nightly run x"],
        held_back=["1 release not attempted: run deadline"],
    )
    text = outcome_markdown(outcome)
    assert text.startswith("zone TY01: failed")
    assert outcome_from_markdown(text) == outcome


@pytest.mark.prefect
def test_a_zone_pull_deployment_takes_a_config_path_and_a_zone(prefect_harness: None) -> None:
    from flows.nightly import zone_pull

    dep = zone_pull.to_deployment(name="zone-pull")
    assert dep.entrypoint.endswith("flows/nightly.py:zone_pull")
    # the config is named by path, never passed whole (its warehouse URL is a secret)
    assert {"config_path", "zone"} <= set(dep._parameter_openapi_schema.required)
    assert "config" not in dep._parameter_openapi_schema.properties
