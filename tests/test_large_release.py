"""A 50,000-enterprise release: loaded whole, with the pipeline's peak memory measured and bounded."""

from __future__ import annotations

import json
import random
import socket
import subprocess
import sys
import time
from datetime import timedelta
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


class ZoneServer:
    """The simulator in a process of its own, serving one big zone."""

    def __init__(self, scale: float) -> None:
        self.port = _free_port()
        exe = Path(sys.executable).with_name("zonesim")
        self.proc = subprocess.Popen(
            [
                str(exe),
                "--port",
                str(self.port),
                "--as-of",
                "2026-11-27",
                "--start-year",
                "2026",
                "--enterprise-scale",
                str(scale),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        self.base = f"http://127.0.0.1:{self.port}/{ZONE}/api/v1"
        self.token = Simulator(seed=2026).token(ZONE)
        deadline = time.monotonic() + 60
        while True:
            try:
                requests.get(
                    self.base + "/releases",
                    params={"dataset": "zone"},
                    headers={"Authorization": f"Bearer {self.token}"},
                    timeout=5,
                )
                return
            except requests.ConnectionError:
                if time.monotonic() > deadline:
                    self.stop()
                    raise
                time.sleep(0.2)

    def loader(self, data_dir: Path, lease_s: int = 3600) -> list[str]:
        """The command line of a process that loads the zone's newest enterprise release."""
        return [
            sys.executable,
            "-m",
            "tests.helpers.load_one_release",
            self.base,
            self.token,
            str(data_dir),
            ZONE,
            str(lease_s),
        ]

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(timeout=30)


REPO = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_a_50k_enterprise_release_loads_in_bounded_memory(tmp_path: Path) -> None:
    server = ZoneServer(SCALE)
    try:
        done = subprocess.run(
            server.loader(tmp_path),
            capture_output=True,
            text=True,
            timeout=600,
            check=False,
            cwd=REPO,
        )
    finally:
        server.stop()
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


@pytest.mark.slow
def test_a_load_killed_midway_leaves_nothing_partial_and_the_next_run_completes_it(
    tmp_path: Path,
) -> None:
    import sqlite3

    import pyarrow.parquet as pq

    from warehouse.store import Warehouse
    from zonestats.config import WarehouseSettings

    server = ZoneServer(10)  # about 21,000 enterprises: a load of several seconds
    db = tmp_path / "w.db"
    try:
        victim = subprocess.Popen(
            server.loader(tmp_path, lease_s=1),
            cwd=REPO,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:  # wait until it has claimed the release
            try:
                with sqlite3.connect(db) as conn:
                    if conn.execute(
                        "SELECT count(*) FROM load_ledger WHERE status = 'running'"
                    ).fetchone()[0]:
                        break
            except sqlite3.Error:
                pass
            time.sleep(0.1)
        time.sleep(random.uniform(1.0, 6.0))  # somewhere in fetch, validate or load
        victim.kill()
        victim.wait(timeout=30)

        def state() -> tuple[str, int, int]:
            with sqlite3.connect(db) as conn:
                status, load_id = conn.execute("SELECT status, load_id FROM load_ledger").fetchone()
                mine = conn.execute(
                    "SELECT count(*) FROM obs_enterprise WHERE load_id = ?", (load_id,)
                ).fetchone()[0]
                others = conn.execute(
                    "SELECT count(*) FROM obs_enterprise WHERE load_id != ?", (load_id,)
                ).fetchone()[0]
            return status, mine, others

        status, mine, others = state()
        assert others == 0
        assert (status == "loaded") == (mine > 0)  # all in or all out
        visible = (
            [p for p in (tmp_path / "parquet").glob("obs_enterprise/*/*/*.parquet")]
            if (tmp_path / "parquet").exists()
            else []
        )
        for path in visible:  # a visible file is never a partial one
            assert pq.read_metadata(path).num_rows == mine

        time.sleep(1.2)  # the dead run's lease runs out
        again = subprocess.run(
            server.loader(tmp_path, lease_s=1),
            cwd=REPO,
            capture_output=True,
            text=True,
            timeout=600,
            check=False,
        )
        assert again.returncode == 0, again.stderr[-2000:]
    finally:
        server.stop()
    result = json.loads(again.stdout.strip().splitlines()[-1])
    assert result["status"] in ("loaded", "skipped"), result
    from pydantic import SecretStr

    Warehouse(WarehouseSettings(SecretStr(f"sqlite:///{db}"), tmp_path)).repair(timedelta(0))
    status, mine, others = state()
    assert (status, others) == ("loaded", 0)
    assert mine > 20_000
    [path] = (tmp_path / "parquet").glob("obs_enterprise/*/*/*.parquet")
    assert pq.read_metadata(path).num_rows == mine
    assert not list(tmp_path.glob("parquet/**/.*.tmp"))
