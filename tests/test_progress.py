"""Long work says how far it has come: k of N releases per zone and dataset, and each phase."""

from __future__ import annotations

import logging
import re
from pathlib import Path
from typing import Any

from flows.zones import run_zones
from zonestats.catalog import shipped_catalog
from zonestats.config import load_config

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
    try:
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
