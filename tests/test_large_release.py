"""A 50,000-enterprise release: loaded whole, with the pipeline's peak memory measured and bounded."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

from zonesim import Simulator

ZONE = "JZ01"  # the largest zone: ×25 gives about 53,000 enterprises
SCALE = 25
# The batch is 20,000 enterprises; memory must be bounded by batches, not by the release. At
# 53,000 enterprises × 8 values the release as one frame would pass this on its own.
PEAK_GROWTH_LIMIT_MIB = 400


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.mark.slow
def test_a_50k_enterprise_release_loads_in_bounded_memory(tmp_path: Path) -> None:
    port = _free_port()
    exe = Path(sys.executable).with_name("zonesim")
    server = subprocess.Popen(
        [
            str(exe),
            "--port",
            str(port),
            "--as-of",
            "2026-11-27",
            "--start-year",
            "2026",
            "--enterprise-scale",
            str(SCALE),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        base = f"http://127.0.0.1:{port}/{ZONE}/api/v1"
        token = Simulator(seed=2026).token(ZONE)
        deadline = time.monotonic() + 60
        while True:
            try:
                requests.get(
                    base + "/releases",
                    params={"dataset": "zone"},
                    headers={"Authorization": f"Bearer {token}"},
                    timeout=5,
                )
                break
            except requests.ConnectionError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)
        done = subprocess.run(
            [
                sys.executable,
                "-m",
                "tests.helpers.load_one_release",
                base,
                token,
                str(tmp_path),
                ZONE,
            ],
            capture_output=True,
            text=True,
            timeout=600,
            check=False,
            cwd=Path(__file__).resolve().parents[1],
        )
    finally:
        server.terminate()
        server.wait(timeout=30)
    assert done.returncode == 0, done.stderr[-2000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["status"] == "loaded", result
    assert result["received"] >= 50_000
    assert result["received"] == result["loaded"] + result["quarantined"]
    growth = result["peak_after_mib"] - result["peak_before_mib"]
    print(
        f"50k release: {result['received']} enterprises in {result['seconds']:.1f}s, "
        f"peak RSS +{growth:.0f} MiB"
    )
    assert growth < PEAK_GROWTH_LIMIT_MIB, result
