"""A self-hosted Prefect server on PostgreSQL and process workers, as subprocesses on loopback."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import requests

from helpers.zoneserver import free_port

BIN = Path(sys.executable).parent


class PrefectCluster:
    """``prefect server start`` on a free port (its database given), then workers on a pool."""

    def __init__(self, home: Path, db_url: str, env: dict[str, str]) -> None:
        self.home = home
        self.port = free_port()
        self.api_url = f"http://127.0.0.1:{self.port}/api"
        self.env = {
            **os.environ,
            **env,
            "PREFECT_HOME": str(home),
            "PREFECT_API_URL": self.api_url,
            "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
            "DO_NOT_TRACK": "1",
            "PREFECT_API_DATABASE_CONNECTION_URL": db_url,
        }
        self.workers: dict[str, subprocess.Popen[bytes]] = {}
        home.mkdir(parents=True, exist_ok=True)
        self.server = self._spawn(
            "server", "server", "start", "--host", "127.0.0.1", "--port", str(self.port)
        )
        self._wait_healthy(180)

    def _spawn(self, log: str, *args: str) -> subprocess.Popen[bytes]:
        out = (self.home / f"{log}.log").open("ab")
        # a process group of its own: killing it takes its children (flow-run processes) too
        return subprocess.Popen(
            [str(BIN / "prefect"), *args],
            env=self.env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def _wait_healthy(self, bound_s: float) -> None:
        deadline = time.monotonic() + bound_s
        while time.monotonic() < deadline:
            if self.server.poll() is not None:
                raise RuntimeError(f"prefect server exited: {self.log('server')[-3000:]}")
            try:
                if requests.get(self.api_url + "/health", timeout=2).ok:
                    return
            except requests.ConnectionError:
                pass
            time.sleep(0.5)
        raise TimeoutError(
            f"prefect server not healthy in {bound_s} s: {self.log('server')[-3000:]}"
        )

    def log(self, name: str) -> str:
        """What a process of the cluster wrote so far."""
        path = self.home / f"{name}.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def cli(self, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        """Run ``prefect ...`` against the server; raise on a non-zero exit."""
        return subprocess.run(
            [str(BIN / "prefect"), *args],
            env=self.env,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=True,
        )

    def run_zonestats(self, *args: str, timeout: float = 180) -> subprocess.CompletedProcess[str]:
        """Run ``zonestats ...`` against the server; raise (with its output) on a non-zero exit."""
        done = subprocess.run(
            [str(BIN / "zonestats"), *args],
            env=self.env,
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        if done.returncode != 0:
            raise AssertionError(
                f"zonestats {args[0]} exit {done.returncode}: {done.stderr[-3000:]}"
            )
        return done

    def start_worker(self, name: str, pool: str = "zonestats") -> None:
        """``prefect worker start --pool POOL --name NAME --limit 4`` in a process group of its own.

        The limit: more flow-run processes starting at once than cores only makes each slower.
        """
        self.workers[name] = self._spawn(
            name,
            "worker",
            "start",
            "--pool",
            pool,
            "--name",
            name,
            "--type",
            "process",
            "--limit",
            "4",
        )

    def kill_worker(self, name: str) -> list[int]:
        """SIGKILL a worker and every process under it (the flow runs it started); their pids."""
        proc = self.workers.pop(name)
        # the flow-run processes may sit in sessions of their own: find them as descendants
        pids = [proc.pid, *_descendants(proc.pid)]
        for pid in pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        proc.wait(timeout=30)
        return pids

    def stop(self) -> None:
        """Stop the workers, then the server (their process groups)."""
        for proc in [*self.workers.values(), self.server]:
            try:
                os.killpg(proc.pid, signal.SIGTERM)
            except ProcessLookupError:
                continue
        for proc in [*self.workers.values(), self.server]:
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=10)
        self.workers.clear()


def _descendants(pid: int) -> list[int]:
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        children.setdefault(ppid, []).append(int(entry.name))
    found: list[int] = []
    todo = [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found
