"""Steps: Prefect tasks inside a Prefect flow run, plain calls with the same retries outside one."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.exc import OperationalError

from tasks.load import is_db_hiccup
from zonestats.steps import current_run_id, in_prefect_run, run_flow, step


def _hiccup() -> OperationalError:
    return OperationalError("SELECT 1", {}, Exception("server closed the connection"))


def test_a_step_outside_a_run_retries_only_what_its_predicate_accepts() -> None:
    calls: list[int] = []

    @step(name="flaky", retries=2, retry_delay_seconds=0, retry_on=is_db_hiccup)
    def flaky(n: int) -> int:
        calls.append(n)
        if len(calls) < 3:
            raise _hiccup()
        return n * 2

    assert flaky(21) == 42
    assert calls == [21, 21, 21]

    @step(name="broken", retries=2, retry_delay_seconds=0, retry_on=is_db_hiccup)
    def broken() -> None:
        calls.append(0)
        raise ValueError("a bug, not a hiccup")

    calls.clear()
    with pytest.raises(ValueError, match="a bug"):
        broken()
    assert calls == [0]  # no retry of what the predicate refuses


def test_a_step_outside_a_run_gives_up_after_its_retries() -> None:
    calls: list[int] = []

    @step(name="down", retries=1, retry_delay_seconds=0, retry_on=is_db_hiccup)
    def down() -> None:
        calls.append(1)
        raise _hiccup()

    with pytest.raises(OperationalError):
        down()
    assert len(calls) == 2


def test_run_flow_without_prefect_runs_the_body_here_with_its_own_run_id() -> None:
    class FakeFlow:
        """Stands for a Prefect flow: run_flow calls .fn when not orchestrated."""

        @staticmethod
        def fn(x: int) -> tuple[int, bool, str | None]:
            return x, in_prefect_run(), current_run_id()

    result = run_flow(FakeFlow, orchestrated=False, x=7)
    assert result.error is None
    x, inside, run_id = result.value
    assert (x, inside) == (7, False)
    assert run_id is not None
    assert uuid.UUID(run_id)
    assert current_run_id() is None  # the id belongs to that run only

    class Failing:
        @staticmethod
        def fn() -> None:
            raise RuntimeError("boom")

    failed = run_flow(Failing, orchestrated=False)
    assert isinstance(failed.error, RuntimeError)


@pytest.mark.usefixtures("prefect_harness")
def test_inside_a_prefect_flow_a_step_is_a_task_run() -> None:
    from prefect import flow
    from prefect.context import TaskRunContext

    @step(name="where-am-i")
    def where() -> str | None:
        ctx = TaskRunContext.get()
        return ctx.task.name if ctx is not None else None

    @flow
    def outer() -> str | None:
        return where()

    assert where() is None  # outside: a plain call
    assert outer() == "where-am-i"  # inside: a task run named after the step


def test_zonestats_run_without_a_prefect_api_starts_no_server(
    simulator: object, tmp_path: Path, write_config: object
) -> None:
    db = tmp_path / "wh.db"
    cfg = write_config(  # type: ignore[operator]
        tmp_path / "zonestats.toml",
        simulator,
        f"sqlite:///{db}",
        tmp_path / "data",
        ["DT01"],
        datasets=("zone",),
    )
    env = {k: v for k, v in os.environ.items() if k != "PREFECT_API_URL"}
    exe = Path(sys.executable).with_name("zonestats")
    run = subprocess.run(
        [str(exe), "run", "--config", str(cfg), "--today", "2026-05-06"],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    out = run.stdout + run.stderr
    assert run.returncode == 0, out[-3000:]
    assert "temporary server" not in out
    assert "DT01 zone" in run.stderr  # the run's log reaches the operator on stderr
    with create_engine(f"sqlite:///{db}").connect() as conn:
        ids = {r[0] for r in conn.execute(text("SELECT DISTINCT flow_run_id FROM load_ledger"))}
    assert len(ids) == 1  # one id for the whole run
    assert uuid.UUID(ids.pop())  # the run's own


def test_a_prefect_api_in_the_active_profile_counts_as_configured(tmp_path: Path) -> None:
    profiles = tmp_path / "profiles.toml"
    profiles.write_text(
        'active = "province"\n'
        '[profiles.province]\nPREFECT_API_URL = "http://prefect.example:4200/api"\n'
        "[profiles.local]\n",
        encoding="utf-8",
    )
    from zonestats.steps import prefect_api_configured

    env = {"PREFECT_HOME": str(tmp_path)}
    assert prefect_api_configured(env) is True
    assert prefect_api_configured({**env, "PREFECT_PROFILE": "local"}) is False
    assert prefect_api_configured({"PREFECT_HOME": str(tmp_path / "none")}) is False
    assert prefect_api_configured({"PREFECT_API_URL": "http://127.0.0.1:4200/api"}) is True
