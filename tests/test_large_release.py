"""A 50,000-enterprise release: loaded whole, with the pipeline's peak memory measured and bounded."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from helpers.zoneserver import ZoneServer

ZONE = "JZ01"  # the largest zone: ×25 gives about 53,000 enterprises
SCALE = 25
# A batch is about a page (tasks.validate.BATCH_RECORDS); memory must be bounded by batches, not
# by the release. At 53,000 enterprises × 8 values the release as one frame would pass this on
# its own.
PEAK_GROWTH_LIMIT_MIB = 400


def loader(server: ZoneServer, data_dir: Path) -> list[str]:
    """The command line of a process that loads the zone's newest enterprise release."""
    return [
        sys.executable,
        "-m",
        "tests.helpers.load_one_release",
        server.base_url(ZONE),
        server.token(ZONE),
        str(data_dir),
        ZONE,
    ]


REPO = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_a_50k_enterprise_release_loads_in_bounded_memory(tmp_path: Path) -> None:
    server = ZoneServer(SCALE)
    try:
        done = subprocess.run(
            loader(server, tmp_path),
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
