"""The simulator in a child process: its CPU on another core than the caller's (the pipeline of
``zonestats demo`` would otherwise share one interpreter, and one GIL, with it).

``SimulatorProcess`` starts ``python -m zonesim --handshake`` on 127.0.0.1 and an ephemeral
port, waits (bounded) for the line saying where it listens, and answers ``base_url``, ``token``
and ``as_of`` like an in-process ``Simulator``. The child goes when the caller stops it, leaves
the with-block (an exception included) or dies: it serves only while its stdin, a pipe from
the parent, is open and its parent process is alive.
"""

from __future__ import annotations

import contextlib
import json
import queue
import subprocess
import sys
import tempfile
import threading
from datetime import datetime
from types import TracebackType
from typing import IO, Any, NoReturn

from zonesim.simulator import Simulator

HOST = "127.0.0.1"
# The child imports numpy and pandas before it listens: seconds on a busy machine, not minutes.
STARTUP_TIMEOUT_S = 60.0
STOP_TIMEOUT_S = 10.0
_STDERR_TAIL = 2000


class SimulatorProcessError(RuntimeError):
    """The simulator's child process did not come up (or said something unexpected)."""


class SimulatorProcess:
    """A Simulator serving in a child process on 127.0.0.1 (see the module docstring)."""

    def __init__(
        self,
        seed: int = 2026,
        as_of: datetime | None = None,
        start_year: int | None = None,
        enterprise_scale: float = 1.0,
        startup_timeout_s: float = STARTUP_TIMEOUT_S,
        scenario: str = "none",
    ) -> None:
        """Describe the child; nothing runs until start(). ``scenario``: see zonesim.scenario."""
        self.seed = seed
        self.scenario = scenario
        self.host = HOST
        self._as_of_asked = as_of
        self._start_year_asked = start_year
        self.enterprise_scale = enterprise_scale
        self.startup_timeout_s = startup_timeout_s
        self._proc: subprocess.Popen[bytes] | None = None
        self._stderr: IO[bytes] | None = None
        self._hello: dict[str, Any] = {}

    def command(self) -> list[str]:
        """Return the child's command line."""
        cmd = [sys.executable, "-m", "zonesim", "--handshake", "--host", HOST, "--port", "0"]
        cmd += ["--seed", str(self.seed), "--enterprise-scale", repr(self.enterprise_scale)]
        if self._as_of_asked is not None:
            cmd += ["--as-of", self._as_of_asked.isoformat()]
        if self._start_year_asked is not None:
            cmd += ["--start-year", str(self._start_year_asked)]
        if self.scenario != "none":
            cmd += ["--scenario", self.scenario]
        return cmd

    # ---- lifecycle -------------------------------------------------------------------------

    def start(self) -> SimulatorProcess:
        """Start the child and wait until it listens; SimulatorProcessError if it does not
        within startup_timeout_s (the child is then stopped)."""
        if self._proc is not None:
            return self
        # A file, not a pipe: a chatty child never blocks on a full pipe nobody reads.
        self._stderr = tempfile.TemporaryFile()  # noqa: SIM115 (closed by stop())
        self._proc = subprocess.Popen(  # noqa: S603 (our own interpreter and module)
            self.command(), stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self._stderr
        )
        lines: queue.Queue[bytes] = queue.Queue()
        stdout = self._proc.stdout
        assert stdout is not None
        threading.Thread(
            target=lambda: lines.put(stdout.readline()), name="zonesim:handshake", daemon=True
        ).start()
        try:
            line = lines.get(timeout=self.startup_timeout_s)
        except queue.Empty:
            self._fail(f"it did not say it listens within {self.startup_timeout_s:g} s")
        if not line:
            self._proc.wait(timeout=STOP_TIMEOUT_S)
            self._fail(f"it exited with code {self._proc.returncode} before listening")
        try:
            hello = json.loads(line)
            self._hello = {**hello, "as_of": datetime.fromisoformat(hello["as_of"])}
            if hello["host"] != HOST or not isinstance(hello["port"], int):
                raise ValueError(f"it listens on {hello['host']}:{hello['port']}")
        except (ValueError, KeyError, TypeError) as exc:
            self._fail(f"its first line is not the handshake ({exc}): {line[:200]!r}")
        return self

    def _fail(self, why: str) -> NoReturn:
        tail = self._stderr_tail()
        self.stop(grace_s=0)  # a child that did not come up is not asked twice
        detail = f"; it wrote: {tail}" if tail else ""
        raise SimulatorProcessError(f"the zone simulator's process failed to start: {why}{detail}")

    def _stderr_tail(self) -> str:
        if self._stderr is None:
            return ""
        self._stderr.seek(0)
        return self._stderr.read().decode("utf-8", "replace")[-_STDERR_TAIL:].strip()

    def stop(self, grace_s: float = STOP_TIMEOUT_S) -> None:
        """Stop the child (closing its stdin asks it to; a child that does not go in
        ``grace_s`` is terminated, then killed) and wait until it is gone."""
        proc, self._proc = self._proc, None
        self._hello = {}  # what it said no longer holds
        if proc is not None:
            if proc.stdin is not None:
                # a child already dead has no end of the pipe left to close
                with contextlib.suppress(OSError):
                    proc.stdin.close()
            try:
                proc.wait(timeout=grace_s)
            except subprocess.TimeoutExpired:
                proc.terminate()
                try:
                    proc.wait(timeout=STOP_TIMEOUT_S)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()
            if proc.stdout is not None:
                proc.stdout.close()
        if self._stderr is not None:
            self._stderr.close()
            self._stderr = None

    def __enter__(self) -> SimulatorProcess:
        """Start the child for the duration of a with-block."""
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        """Stop the child, whatever ended the block."""
        self.stop()

    # ---- what the child said -----------------------------------------------------------------

    def _said(self, key: str) -> Any:
        if not self._hello:
            raise RuntimeError("the simulator process is not started")
        return self._hello[key]

    @property
    def pid(self) -> int | None:
        """The child's process id while it runs."""
        return self._proc.pid if self._proc is not None else None

    @property
    def port(self) -> int:
        """The port the child listens on."""
        port: int = self._said("port")
        return port

    @property
    def as_of(self) -> datetime:
        """The child's simulated present (fixed when it started)."""
        as_of: datetime = self._said("as_of")
        return as_of

    @property
    def start_year(self) -> int:
        """The first year the child serves."""
        year: int = self._said("start_year")
        return year

    @property
    def zone_codes(self) -> tuple[str, ...]:
        """The zones served."""
        return tuple(self._said("tokens"))

    def base_url(self, zone_code: str) -> str:
        """Return a zone's api-v1 base URL, e.g. http://127.0.0.1:8765/TY01/api/v1."""
        if zone_code not in self._said("tokens"):
            raise KeyError(f"unknown zone {zone_code!r}")
        return f"http://{self.host}:{self.port}/{zone_code}/api/v1"

    def token(self, zone_code: str) -> str:
        """Return the bearer token a zone accepts."""
        token: str = self._said("tokens")[zone_code]
        return token

    @staticmethod
    def token_env(zone_code: str) -> str:
        """Return the name of the environment variable conventionally holding a zone's token."""
        return Simulator.token_env(zone_code)

    def publish_revision(self, zone_code: str, dataset: str, period: str) -> int:
        """Have the child publish the next revision of a release now; return its number."""
        import urllib.request

        request = urllib.request.Request(
            f"http://{self.host}:{self.port}/_admin/publish/{zone_code}",
            data=json.dumps({"dataset": dataset, "period": period}).encode(),
            method="POST",
        )
        with urllib.request.urlopen(request, timeout=30) as resp:  # noqa: S310
            revision: int = json.loads(resp.read())["revision"]
        return revision
