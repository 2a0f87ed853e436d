"""The simulator in a process of its own (so that a test can measure or kill the pipeline alone)."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from pathlib import Path

import requests

from zonesim import Simulator


def free_port() -> int:
    """A TCP port free on 127.0.0.1 right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class ZoneServer:
    """``zonesim`` serving every zone on a free loopback port, scaled up for big releases."""

    def __init__(self, scale: float, as_of: str = "2026-11-27", start_year: int = 2026) -> None:
        self.port = free_port()
        exe = Path(sys.executable).with_name("zonesim")
        self.proc = subprocess.Popen(
            [
                str(exe),
                "--port",
                str(self.port),
                "--as-of",
                as_of,
                "--start-year",
                str(start_year),
                "--enterprise-scale",
                str(scale),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        self.sim = Simulator(seed=2026)  # the same seed: the same tokens
        deadline = time.monotonic() + 60
        while True:
            try:
                requests.get(self.base_url("JZ01") + "/releases", timeout=5)
                return
            except requests.ConnectionError:
                if time.monotonic() > deadline:
                    self.stop()
                    raise
                time.sleep(0.2)

    def base_url(self, zone: str) -> str:
        """The api-v1 base URL of a zone."""
        return f"http://127.0.0.1:{self.port}/{zone}/api/v1"

    def token(self, zone: str) -> str:
        """The bearer token the zone accepts."""
        return self.sim.token(zone)

    def token_env(self, zone: str) -> str:
        """The environment variable a config names for the zone's token."""
        return self.sim.token_env(zone)

    def stop(self) -> None:
        """Stop the server process."""
        self.proc.terminate()
        self.proc.wait(timeout=30)
