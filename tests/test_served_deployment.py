"""The nightly deployment as an operator runs it on one machine: `zonestats serve` serves it
against the test session's Prefect server, `prefect deployment run nightly/nightly` starts it,
the served process runs it, and the warehouse holds what the zones published."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, text

ROOT = Path(__file__).resolve().parents[1]
ZONES = ["TY01", "DT01"]
RUN_TIMEOUT_S = 300


def _prefect(env: dict[str, str], *argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "prefect", *argv],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def _wait_for_deployment(env: dict[str, str], served: subprocess.Popen[str]) -> None:
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if served.poll() is not None:
            raise AssertionError(f"zonestats serve exited with {served.returncode}")
        listed = _prefect(env, "deployment", "ls")
        if "nightly/nightly" in listed.stdout:
            return
        time.sleep(1)
    raise AssertionError("zonestats serve did not register nightly/nightly in 120 s")


def _final_state(flow_run_id: str) -> Any:
    from prefect.client.orchestration import get_client

    deadline = time.monotonic() + RUN_TIMEOUT_S
    with get_client(sync_client=True) as client:
        while time.monotonic() < deadline:
            run = client.read_flow_run(flow_run_id)
            if run.state is not None and run.state.is_final():
                return run
            time.sleep(1)
    raise AssertionError(f"flow run {flow_run_id} not finished in {RUN_TIMEOUT_S} s")


def _deployment_name(deployment_id: Any) -> str:
    from prefect.client.orchestration import get_client

    with get_client(sync_client=True) as client:
        return str(client.read_deployment(deployment_id).name)


@pytest.mark.prefect
def test_the_served_nightly_deployment_runs_when_asked_and_loads_the_zones(
    prefect_harness: None, simulator: Any, tmp_path: Path, write_config: Any
) -> None:
    from prefect.settings import PREFECT_API_URL

    db = tmp_path / "wh.db"
    cfg = write_config(
        tmp_path / "zonestats.toml",
        simulator,
        f"sqlite:///{db}",
        tmp_path / "data",
        ZONES,
        datasets=("zone",),
    )
    api = str(PREFECT_API_URL.value())
    # the tokens are in os.environ (the simulator fixture); the served process inherits them
    env = {**os.environ, "PREFECT_API_URL": api, "PYTHONPATH": str(ROOT)}
    env.pop("ZONESTATS_CONFIG", None)
    served = subprocess.Popen(
        [sys.executable, "-m", "cli", "serve", "--config", str(cfg)],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    try:
        _wait_for_deployment(env, served)
        # the run's day is the simulator's (no test depends on today's date)
        started = _prefect(
            env,
            "deployment",
            "run",
            "nightly/nightly",
            "--param",
            f"today={simulator.as_of.date().isoformat()}",
        )
        assert started.returncode == 0, started.stdout + started.stderr
        found = re.search(r"UUID:\s*([0-9a-f-]{36})", started.stdout)
        assert found, started.stdout
        run = _final_state(found[1])
        assert run.state.is_completed(), (run.state, run.state.message)
        assert _deployment_name(run.deployment_id) == "nightly"  # its run, not a local one
    finally:
        os.killpg(served.pid, signal.SIGINT)
        try:
            served.communicate(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(served.pid, signal.SIGKILL)
            served.communicate()
    # nothing but the served process could run it (no worker, no other runner): the warehouse
    # holds the zones, every release the simulator lists loaded once
    engine = create_engine(f"sqlite:///{db}")
    try:
        with engine.connect() as conn:
            loaded = dict(
                conn.execute(
                    text(
                        "SELECT zone_code, COUNT(*) FROM load_ledger "
                        "WHERE status = 'loaded' GROUP BY zone_code"
                    )
                ).all()
            )
            listed = {zone: len(simulator.releases(zone, "zone")) for zone in ZONES}
    finally:
        engine.dispose()
    assert set(loaded) == set(ZONES)
    for zone in ZONES:
        assert loaded[zone] == listed[zone], (zone, loaded, listed)
