"""Long work says how far it has come: k of N releases per zone and dataset, and each phase;
on a terminal, `zonestats run` draws a live line per zone from the same run's progress events."""

from __future__ import annotations

import logging
import os
import pty
import re
import select
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from rich.console import Console

from cli.progress import Board
from flows.zones import run_zones
from zonestats.catalog import shipped_catalog
from zonestats.config import load_config
from zonestats.progress import Progress, listening

ZONES = ["TY01", "DT01"]


class _Lines(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(record.getMessage())


def test_a_run_numbers_its_releases_per_zone_and_dataset_and_times_its_phases(
    simulator: Any, tmp_path: Path, write_config: Any
) -> None:
    cfg = write_config(
        tmp_path / "zonestats.toml",
        simulator,
        f"sqlite:///{tmp_path / 'wh.db'}",
        tmp_path / "data",
        ZONES,
        datasets=("zone", "enterprise"),
    )
    config = load_config(cfg, shipped_catalog())
    # our own handler: the zonestats logger may not propagate to caplog's (log_to_stderr)
    logger = logging.getLogger("zonestats")
    handler, level = _Lines(), logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    events: list[Progress] = []
    try:
        with listening(events.append):
            summary = run_zones(config, None, today=simulator.as_of.date())
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)
    lines = handler.lines
    step = re.compile(r"^(\w+) (zone|enterprise): (\d+)/(\d+) (\S+) r(\d+) (\w+) \(")
    seen: dict[tuple[str, str], list[tuple[int, int, str]]] = {}
    for line in lines:
        m = step.match(line)
        if m:
            seen.setdefault((m[1], m[2]), []).append((int(m[3]), int(m[4]), m[7]))
    attempted = {
        (z.zone_code, ds): [r for r in z.releases if r.key.dataset == ds and r.status != "skipped"]
        for z in summary.zones
        for ds in ("zone", "enterprise")
    }
    assert set(seen) == {k for k, v in attempted.items() if v}
    for key, steps in seen.items():
        n = len(attempted[key])
        assert n > 1, key
        # 1..N in order, N the releases of that zone and dataset, each with what became of it
        assert [(k, total) for k, total, _ in steps] == [(k, n) for k in range(1, n + 1)]
        assert [s for _, _, s in steps] == [r.status for r in attempted[key]]
    assert "loaded" in {s for v in seen.values() for _, _, s in v}
    phases = [
        "marts of 2025 and 2026: building",
        "marts: done in",
        "data-quality checkpoint: running",
        "data-quality checkpoint: done in",
        "quality report: writing",
    ]
    at = [next(i for i, line in enumerate(lines) if line.startswith(p)) for p in phases]
    assert at == sorted(at)  # each phase starts after the last one ended

    # the progress events of the same run tell the same story, zone by zone
    for z in summary.zones:
        mine = [e for e in events if e.zone == z.zone_code]
        assert mine[0].kind == "zone"
        assert mine[-1] == Progress("done", zone=z.zone_code)
        for ds in ("zone", "enterprise"):
            listed = [e.total for e in mine if e.kind == "listed" and e.dataset == ds]
            assert listed == [len(attempted[(z.zone_code, ds)])]
            done = [e for e in mine if e.kind == "release" and e.dataset == ds]
            assert [e.status for e in done] == [r.status for r in attempted[(z.zone_code, ds)]]
            assert sum(e.received for e in done) == sum(
                r.records_received for r in attempted[(z.zone_code, ds)]
            )
    assert [e.phase.split(" ")[0] for e in events if e.kind == "phase"] == [
        "marts",
        "data-quality",
        "quality",
    ]
    # the board drawn from them: a line per zone, N of N, the records and what was held out
    board = Board(ZONES, "nightly")
    for e in events:
        board.update(e)
    console = Console(record=True, width=160, force_terminal=True)
    console.print(board.render())
    text = console.export_text()
    for z in summary.zones:
        n = sum(1 for r in z.releases if r.status != "skipped")
        received = sum(r.records_received for r in z.releases)
        quarantined = sum(r.records_quarantined for r in z.releases)
        (line,) = [row for row in text.splitlines() if row.lstrip().startswith(z.zone_code)]
        assert f"{n}/{n}" in line
        assert f"{received:,}" in line
        assert line.rstrip().endswith("done")
        assert re.search(rf"\b{quarantined:,}\b", line)
    assert "now: quality report" in text


def test_a_failing_zone_says_so_on_its_line() -> None:
    """A zone that fails shows its error and its failed releases; the others are untouched."""
    board = Board(["TY01", "DT01"], "nightly")
    for e in [
        Progress("zone", zone="TY01"),
        Progress("listed", zone="TY01", dataset="zone", total=2),
        Progress("release", zone="TY01", dataset="zone", status="loaded", received=12),
        Progress("release", zone="TY01", dataset="zone", status="rejected", received=12),
        Progress("done", zone="TY01", error="zone: 401 the token was refused"),
    ]:
        board.update(e)
    console = Console(record=True, width=160, force_terminal=True)
    console.print(board.render())
    lines = {row.split()[0]: row for row in console.export_text().splitlines() if row.strip()}
    assert "2/2" in lines["TY01"]
    assert "failed: zone: 401 the token was refused" in lines["TY01"]
    assert re.search(r"\s24\s+0\s+1\s", lines["TY01"])  # records, quarantined, failed
    assert "0/0" in lines["DT01"]
    assert "waiting" in lines["DT01"]


def _read_until_exit(fd: int, proc: subprocess.Popen[bytes], timeout_s: float) -> bytes:
    """Everything the child writes to the terminal ``fd``, until it exits."""
    out = b""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        ready, _, _ = select.select([fd], [], [], 0.2)
        if ready:
            try:
                chunk = os.read(fd, 65536)
            except OSError:  # the child closed its end
                chunk = b""
            out += chunk
            if not chunk and proc.poll() is not None:
                return out
        elif proc.poll() is not None:
            return out
    proc.kill()
    raise AssertionError(f"zonestats run did not finish in {timeout_s} s: {out[-2000:]!r}")


def test_zonestats_run_draws_a_line_per_zone_on_a_terminal_and_none_in_a_pipe(
    simulator: Any, tmp_path: Path, write_config: Any
) -> None:
    """As an operator sees it: on a terminal the board; in a pipe the same summary, no board."""
    cfg = write_config(
        tmp_path / "zonestats.toml",
        simulator,
        f"sqlite:///{tmp_path / 'wh.db'}",
        tmp_path / "data",
        ZONES,
        datasets=("zone",),
    )
    argv = [sys.executable, "-m", "cli", "run", "--config", str(cfg)]
    argv += ["--today", simulator.as_of.date().isoformat()]
    env = {**os.environ, "COLUMNS": "160", "TERM": "xterm"}
    leader, follower = pty.openpty()
    try:
        proc = subprocess.Popen(
            argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=follower, env=env
        )
        os.close(follower)
        terminal = _read_until_exit(leader, proc, 240).decode("utf-8", "replace")
        stdout = proc.stdout.read().decode() if proc.stdout else ""
        assert proc.wait(30) == 0, terminal[-2000:]
    finally:
        os.close(leader)
    plain = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", terminal)
    assert re.search(r"zone\s+releases\s+records\s+quarantined\s+failed\s+state", plain)
    for code in ZONES:
        drawn = [row for row in plain.splitlines() if row.lstrip().startswith(code)]
        assert drawn, f"no live line for {code}"
        m = re.search(r"(\d+)/(\d+)", drawn[-1])  # the last frame: all of them done
        assert m
        assert m[1] == m[2]
        assert int(m[2]) > 0
        assert drawn[-1].rstrip().endswith("done")
    # the run's summary stays on stdout, as in a pipe
    assert all(code in stdout for code in ZONES)
    assert "loaded" in stdout

    again = subprocess.run(argv, capture_output=True, text=True, env=env, timeout=240)
    assert again.returncode == 0, again.stderr[-2000:]
    assert "quarantined" in again.stdout  # the summary table
    assert not re.search(r"releases\s+records\s+quarantined\s+failed\s+state", again.stderr)
    assert "\x1b[" not in again.stderr  # nothing drawn, nothing redrawn
