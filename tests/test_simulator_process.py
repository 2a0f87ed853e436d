"""The simulator in a child process (zonesim.SimulatorProcess): it really is another process,
serves on loopback only, and is gone when its parent stops it, leaves the block or dies."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest
import requests

from zonesim import Simulator, SimulatorProcess, SimulatorProcessError

# How long a child may take to notice that its parent is gone (it polls every 0.5 s).
GONE_WITHIN_S = 15.0


def alive(pid: int) -> bool:
    """Whether a process exists (a zombie of our own counts as gone)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    stat = Path(f"/proc/{pid}/stat")
    return not (stat.exists() and stat.read_text().split(") ")[-1].startswith("Z"))


def wait_until(condition: Callable[[], bool], timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.1)
    return condition()


def refused(port: int) -> bool:
    try:
        requests.get(f"http://127.0.0.1:{port}/", timeout=2)
    except requests.ConnectionError:
        return True
    return False


def listening_addresses(port: int) -> set[str]:
    """The local addresses of the TCP sockets listening on a port (Linux /proc/net/tcp*)."""
    found = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        if not Path(table).exists():
            continue
        for line in Path(table).read_text().splitlines()[1:]:
            local, state = line.split()[1], line.split()[3]
            address, hex_port = local.split(":")
            if state == "0A" and int(hex_port, 16) == port:  # 0A: LISTEN
                found.add(address)
    return found


def test_serves_from_a_child_on_loopback_and_is_gone_after() -> None:
    with SimulatorProcess(seed=2026) as sim:
        pid, port = sim.pid, sim.port
        assert pid is not None
        assert pid != os.getpid()
        assert alive(pid)
        assert sim.base_url("TY01") == f"http://127.0.0.1:{port}/TY01/api/v1"
        resp = requests.get(
            sim.base_url("TY01") + "/releases",
            params={"dataset": "enterprise"},
            headers={"Authorization": f"Bearer {sim.token('TY01')}"},
            timeout=30,
        )
        assert resp.status_code == 200
        # the same simulator as one in this process with the child's seed and present
        twin = Simulator(seed=2026, as_of=sim.as_of)
        assert resp.json()["releases"] == twin.releases("TY01", "enterprise")
        assert sim.token("DT01") == twin.token("DT01")
        assert sim.start_year == twin.start_year
        if Path("/proc/net/tcp").exists():
            assert listening_addresses(port) == {"0100007F"}  # 127.0.0.1, nothing else
    assert wait_until(lambda: not alive(pid), GONE_WITHIN_S)
    assert refused(port)
    with pytest.raises(RuntimeError, match="not started"):
        _ = sim.port


def test_the_child_is_stopped_when_the_block_raises() -> None:
    pids: list[int] = []

    def serve_and_fail() -> None:
        with SimulatorProcess() as sim:
            assert sim.pid is not None
            pids.append(sim.pid)
            raise ZeroDivisionError

    with pytest.raises(ZeroDivisionError):
        serve_and_fail()
    assert wait_until(lambda: not alive(pids[0]), GONE_WITHIN_S)


_PARENT = """
import os, sys, time
from zonesim import SimulatorProcess
sim = SimulatorProcess().start()
holder = 0
if sys.argv[1] == "fork":
    # a child of the parent keeps a copy of the pipe to the simulator's stdin open
    holder = os.fork()
    if holder == 0:
        time.sleep(60)
        os._exit(0)
print(sim.pid, sim.port, holder, flush=True)
time.sleep(120)
"""


@pytest.mark.parametrize("how", ["plain", "fork"])
def test_the_child_dies_with_its_parent(how: str) -> None:
    if how == "fork" and not hasattr(os, "fork"):
        pytest.skip("no fork here")
    parent = subprocess.Popen(
        [sys.executable, "-c", _PARENT, how], stdout=subprocess.PIPE, text=True
    )
    holder = 0
    try:
        assert parent.stdout is not None
        pid, port, holder = (int(x) for x in parent.stdout.readline().split())
        assert alive(pid)
        assert not refused(port)
        parent.kill()  # SIGKILL: no atexit, no finally, no with-block exit
        parent.wait(timeout=30)
        assert wait_until(lambda: not alive(pid), GONE_WITHIN_S), "an orphaned simulator"
        assert refused(port)
    finally:
        if parent.poll() is None:
            parent.kill()
        if holder:
            os.kill(holder, signal.SIGKILL)


class _Hanging(SimulatorProcess):
    """A child that never says it listens, and writes its pid where the test can find it."""

    def __init__(self, pid_file: Path) -> None:
        super().__init__(startup_timeout_s=1.0)
        self.pid_file = pid_file

    def command(self) -> list[str]:
        code = (
            "import os, sys, time; open(sys.argv[1], 'w').write(str(os.getpid())); time.sleep(60)"
        )
        return [sys.executable, "-c", code, str(self.pid_file)]


def test_a_child_that_does_not_come_up_is_a_clear_error_in_bounded_time(tmp_path: Path) -> None:
    started = time.monotonic()
    with pytest.raises(SimulatorProcessError, match="did not say it listens within 1 s"):
        _Hanging(tmp_path / "pid").start()
    assert time.monotonic() - started < 30  # 1 s, then at most the stop timeouts
    pid = int((tmp_path / "pid").read_text())
    assert wait_until(lambda: not alive(pid), GONE_WITHIN_S)


def test_a_child_that_fails_says_why() -> None:
    with pytest.raises(SimulatorProcessError, match=r"exited with code 2.*enterprise_scale"):
        SimulatorProcess(enterprise_scale=0).start()
