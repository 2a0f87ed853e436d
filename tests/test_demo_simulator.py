"""``zonestats demo`` serves its zones from a simulator in a child process: the run talks to it
over loopback, and it is gone after the demo, whether the demo succeeds or fails. (The run and
the marts are stand-ins here: the point is the simulator's lifecycle, not the pipeline.)"""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path
from typing import Any

import pytest
import requests

from cli import app
from cli import demo as cli
from zonesim import SimulatorProcess
from zonestats.catalog import shipped_catalog
from zonestats.config import AppConfig

GONE_WITHIN_S = 15.0


def _gone(pid: int) -> bool:
    deadline = time.monotonic() + GONE_WITHIN_S
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return True
        time.sleep(0.1)
    return False


def _refused(port: int) -> bool:
    try:
        requests.get(f"http://127.0.0.1:{port}/", timeout=2)
    except requests.ConnectionError:
        return True
    return False


class _Seen:
    """What the stand-in run saw of the simulator."""

    def __init__(self) -> None:
        self.started: list[SimulatorProcess] = []
        self.pid = 0
        self.port = 0
        self.status = 0
        self.threads: list[str] = []


@pytest.fixture
def seen(monkeypatch: pytest.MonkeyPatch) -> _Seen:
    seen = _Seen()
    real_start = SimulatorProcess.start

    def start(self: SimulatorProcess) -> SimulatorProcess:
        seen.started.append(self)
        return real_start(self)

    monkeypatch.setattr(SimulatorProcess, "start", start)
    monkeypatch.setattr(cli, "_demo_marts", lambda config, year: f"Marts: (stand-in) {year}")
    monkeypatch.setattr(cli, "_demo_revise", lambda sim, config: None)
    monkeypatch.setattr(cli, "_demo_tryouts", lambda config, cfg_path: "(stand-in tryouts)")
    monkeypatch.setattr(cli, "_demo_late", lambda config, cfg_path, day: "(stand-in late)")
    for code in shipped_catalog().zones:  # the demo exports tokens: undone after the test
        monkeypatch.setenv(SimulatorProcess.token_env(code), "unset")
    return seen


def _demo_args(tmp_path: Path) -> Any:
    return app.build_parser().parse_args(["demo", "--data-dir", str(tmp_path / "var")])


def _fetch_like_the_run(config: AppConfig, seen: _Seen) -> None:
    """Read one zone's enterprise listing as the run would: URL from the config written,
    token from the environment the demo set."""
    zone = next(z for z in config.zones if z.adapter == "api-v1")
    sim = seen.started[0]
    seen.pid, seen.port = sim.pid or 0, sim.port
    resp = requests.get(
        f"{zone.base_url}/releases",
        params={"dataset": "enterprise"},
        headers={"Authorization": f"Bearer {os.environ[zone.token_env]}"},
        timeout=30,
    )
    seen.status = resp.status_code
    seen.threads = [t.name for t in threading.enumerate()]


def test_the_demo_serves_from_a_child_that_is_gone_after(
    tmp_path: Path,
    seen: _Seen,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    def run(args: Any, config: AppConfig) -> int:
        _fetch_like_the_run(config, seen)
        return 0

    monkeypatch.setattr(cli, "cmd_run", run)
    assert cli.cmd_demo(_demo_args(tmp_path)) == 0
    assert seen.status == 200
    assert seen.pid not in (0, os.getpid())
    # nothing of the simulator runs in this process: no server thread of it
    assert not [name for name in seen.threads if name.startswith("zonesim")]
    written = (tmp_path / "var" / "zonestats.toml").read_text()
    assert f'base_url = "http://127.0.0.1:{seen.port}/TY01/api/v1"' in written
    out = capsys.readouterr().out
    assert "Warehouse:" in out
    assert "Marts: (stand-in)" in out
    assert _gone(seen.pid)
    assert _refused(seen.port)


def test_the_simulator_is_gone_when_the_demo_fails(
    tmp_path: Path, seen: _Seen, monkeypatch: pytest.MonkeyPatch
) -> None:
    def run(args: Any, config: AppConfig) -> int:
        _fetch_like_the_run(config, seen)
        raise RuntimeError("the run crashed")

    monkeypatch.setattr(cli, "cmd_run", run)
    with pytest.raises(RuntimeError, match="the run crashed"):
        cli.cmd_demo(_demo_args(tmp_path))
    assert seen.status == 200
    assert _gone(seen.pid)
    assert _refused(seen.port)


def test_a_simulator_that_cannot_start_is_a_clear_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(SimulatorProcess, "command", lambda self: ["false"])
    monkeypatch.setattr(cli, "cmd_run", lambda args, config: pytest.fail("ran without zones"))
    assert cli.cmd_demo(_demo_args(tmp_path)) == cli.EXIT_FAILED
    err = capsys.readouterr().err
    assert "zone simulator's process failed to start" in err
    assert "exited with code 1" in err
