"""`zonestats simulate` as a user runs it: started in one shell, its config written to a file,
`zonestats run --config` that file in another with the tokens it printed, Ctrl-C to stop it."""

from __future__ import annotations

import json
import os
import queue
import signal
import socket
import subprocess
import sys
import threading
import tomllib
from collections.abc import Iterator
from pathlib import Path

import pytest

from zonestats.catalog import shipped_catalog

pytestmark = pytest.mark.slow

ZONESTATS = str(Path(sys.executable).with_name("zonestats"))
ROOT = Path(__file__).resolve().parents[1]
AS_OF = "2026-02-20"  # a small simulated history: two years and a few weeks
STARTUP_S = 60


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _listening(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(0.5)
        return s.connect_ex(("127.0.0.1", port)) == 0


def _env(tmp_path: Path) -> dict[str, str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "PREFECT_HOME": str(tmp_path / "prefect")}
    for name in ("PREFECT_API_URL", "ZONESTATS_CONFIG", "ZONESTATS_WAREHOUSE_URL"):
        env.pop(name, None)
    return env


class Simulate:
    """A running `zonestats simulate`, its stderr read line by line as the user sees it."""

    def __init__(self, argv: list[str], env: dict[str, str]) -> None:
        self.proc = subprocess.Popen(
            [ZONESTATS, "simulate", *argv],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
            # Ctrl-C must reach it even when the test runs where SIGINT is ignored (a background
            # job of a script): a child inherits that, and Python then never raises
            # KeyboardInterrupt
            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
        )
        self.err_lines: queue.Queue[str] = queue.Queue()
        self.err: list[str] = []
        assert self.proc.stderr is not None
        stderr = self.proc.stderr

        def read() -> None:
            for line in stderr:
                self.err_lines.put(line)

        threading.Thread(target=read, daemon=True).start()

    def wait_serving(self) -> list[str]:
        while True:
            try:
                line = self.err_lines.get(timeout=STARTUP_S)
            except queue.Empty:
                pytest.fail(f"zonestats simulate said nothing for {STARTUP_S} s: {self.err}")
            self.err.append(line)
            if line.startswith("# serving on "):
                return self.err

    def stop(self) -> tuple[int, str]:
        """Ctrl-C, as in the terminal; the exit code and what it printed on stdout."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
        out, _ = self.proc.communicate(timeout=30)
        return self.proc.returncode, out


@pytest.fixture
def simulate(tmp_path: Path) -> Iterator[tuple[Simulate, int, Path]]:
    port = _free_port()
    config = tmp_path / "conf" / "zonestats.toml"
    argv = ["--port", str(port), "--as-of", AS_OF, "--data-dir", str(tmp_path / "var")]
    sim = Simulate([*argv, "--write-config", str(config)], _env(tmp_path))
    try:
        yield sim, port, config
    finally:
        if sim.proc.poll() is None:
            sim.proc.kill()
            sim.proc.wait(timeout=30)


def test_simulate_then_run_against_it_as_a_user_does(
    simulate: tuple[Simulate, int, Path], tmp_path: Path
) -> None:
    sim, port, config = simulate
    err = sim.wait_serving()
    assert err[0] == f"# config written to {config}\n"
    assert err[-1] == f"# serving on 127.0.0.1:{port}; Ctrl-C to stop\n"
    exports = dict(
        line.removeprefix("export ").strip().split("=", 1)
        for line in err
        if line.startswith("export ")
    )
    zones = shipped_catalog().zones
    assert len(exports) == len(zones)

    # the written config: every zone at this simulator, the warehouse under --data-dir, no token
    text = config.read_text(encoding="utf-8")
    written = tomllib.loads(text)
    assert [z["code"] for z in written["zones"]] == list(zones)
    assert all(z["base_url"].startswith(f"http://127.0.0.1:{port}/") for z in written["zones"])
    assert {z["token_env"] for z in written["zones"]} == set(exports)
    assert written["warehouse"]["data_dir"] == (tmp_path / "var").as_posix()
    assert not [token for token in exports.values() if token in text]

    # another shell: the tokens pasted, a run of one zone with the written config
    env = {**_env(tmp_path), **exports}
    run = subprocess.run(
        [ZONESTATS, "run", "--zones", "TY01", "--config", str(config)],
        capture_output=True, text=True, env=env, timeout=600, check=False, cwd=tmp_path,
    )  # fmt: skip
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    assert "zonestats: running nightly for TY01" in run.stdout + run.stderr
    assert not [token for token in exports.values() if token in run.stdout + run.stderr]
    status = subprocess.run(
        [ZONESTATS, "status", "--json", "--config", str(config)],
        capture_output=True, text=True, env=env, timeout=120, check=True, cwd=tmp_path,
    )  # fmt: skip
    rows = [json.loads(line) for line in status.stdout.splitlines()]
    assert rows, "the run loaded nothing"
    assert {r["zone_code"] for r in rows} == {"TY01"}  # only the zone asked for
    assert {r["dataset"] for r in rows} == {"zone", "enterprise"}
    assert {r["status"] for r in rows} == {"loaded"}
    assert all(
        r["records_received"] == r["records_loaded"] + r["records_quarantined"] for r in rows
    )
    # nothing published after the simulated day was loaded
    assert max(r["published_at"][:10] for r in rows) <= AS_OF
    assert (tmp_path / "var" / "zonestats.db").is_file()

    # Ctrl-C: it stops cleanly, the port is free, and stdout was the config it wrote
    code, out = sim.stop()
    assert code == 0
    assert not _listening(port)
    assert out == text + "\n"
