"""Arrow's allocator in the processes zonestats starts: jemalloc for Parquet I/O too.

Arrow's C++ default pool (what the Parquet reader and writer allocate from) is fixed from the
environment as pyarrow loads; mimalloc, the default, kept each zone thread's Parquet buffers
(≈ 120 MB of the 4x bench's run). Each case is a fresh interpreter, as the console script is.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from importlib.metadata import entry_points
from pathlib import Path

import pytest

from zonestats.allocator import ARROW_POOL_ENV

# what a run does with Parquet, then which pools it drew on
_PARQUET_WORK = """
import json, sys
import pyarrow as pa, pyarrow.parquet as pq
t = pa.table({"uscc": [f"91140000{i:010d}" for i in range(100_000)], "v": list(range(100_000))})
pq.write_table(t, sys.argv[1], compression="zstd")
assert pq.read_table(sys.argv[1]).num_rows == 100_000
print(json.dumps({p: getattr(pa, p + "_memory_pool")().max_memory()
                  for p in ("mimalloc", "jemalloc", "system")}))
"""
# the console script's own entry, as the installed `zonestats` runs it
_THROUGH_LAUNCHER = """
from cli import launch
try:
    launch.main(["--help"])
except SystemExit:
    pass
"""
# a process that loads the CLI without the launcher: Arrow's pool is mimalloc's
_WITHOUT_LAUNCHER = "import cli.app\n"


def _pools(prelude: str, tmp_path: Path, pool: str | None = None) -> dict[str, int]:
    env = {k: v for k, v in os.environ.items() if k != ARROW_POOL_ENV}
    if pool is not None:
        env[ARROW_POOL_ENV] = pool
    out = subprocess.run(
        [sys.executable, "-c", prelude + _PARQUET_WORK, str(tmp_path / "t.parquet")],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    ).stdout
    return dict(json.loads(out.strip().splitlines()[-1]))


def test_the_console_script_is_the_launcher() -> None:
    """`zonestats` starts in cli.launch, which chooses the pool before pyarrow loads."""
    (script,) = [e for e in entry_points(group="console_scripts") if e.name == "zonestats"]
    assert script.value == "cli.launch:main"


def test_parquet_io_through_the_launcher_allocates_with_jemalloc(tmp_path: Path) -> None:
    """Through the launcher Parquet never touches mimalloc; loaded without it, it does."""
    launched = _pools(_THROUGH_LAUNCHER, tmp_path)
    assert launched["mimalloc"] == 0
    assert launched["jemalloc"] > 0
    # the same work in a process that skipped the launcher: the test sees the difference
    assert _pools(_WITHOUT_LAUNCHER, tmp_path)["mimalloc"] > 0


@pytest.mark.parametrize("pool", ["system", "mimalloc"])
def test_an_operators_pool_wins_over_the_launchers(tmp_path: Path, pool: str) -> None:
    """ARROW_DEFAULT_MEMORY_POOL set by the operator is left as it is."""
    launched = _pools(_THROUGH_LAUNCHER, tmp_path, pool)
    assert launched["jemalloc"] == 0
    assert launched[pool] > 0
