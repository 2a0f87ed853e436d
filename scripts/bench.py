"""Benchmark the nightly pipeline against the simulator, scaled up: per stage, records/s and memory.

    python scripts/bench.py [--scale N] [--url postgresql+psycopg://...] [--zones TY01,DT01]

It runs the same step functions the nightly flow runs (extract → normalize → validate → load SQL
→ write Parquet), release by release, without the Prefect orchestration around them, so the
numbers are the pipeline's own. It is a measurement, not a test.
"""

from __future__ import annotations

import argparse
import os
import platform
import resource
import sys
import tempfile
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

from tasks.extract import list_zone_releases
from tasks.load import prepare_warehouse
from tasks.release import run_release
from zonesim import Simulator
from zonestats.catalog import shipped_catalog
from zonestats.config import parse_config
from zonestats.metrics import STAGES, StageTimer

CST = timezone(timedelta(hours=8))


def _rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main() -> int:
    """Run the benchmark and print its table."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument(
        "--scale", type=float, default=1.0, help="multiply the enterprises per zone"
    )
    parser.add_argument("--url", help="warehouse URL (default: SQLite in a temp dir)")
    parser.add_argument("--zones", help="comma-separated zone codes (default: all 11)")
    parser.add_argument("--as-of", default=None, help="simulated date (default: today)")
    args = parser.parse_args()

    as_of = (
        datetime.fromisoformat(args.as_of).replace(tzinfo=CST) if args.as_of else datetime.now(CST)
    )
    catalog = shipped_catalog()
    zones = args.zones.split(",") if args.zones else list(catalog.zones)
    work = Path(tempfile.mkdtemp(prefix="zonestats-bench-"))
    url = args.url or f"sqlite:///{work / 'bench.db'}"
    rss_start = _rss_mib()
    with Simulator(
        seed=2026, as_of=as_of, start_year=as_of.year, enterprise_scale=args.scale
    ) as sim:
        for code in zones:
            os.environ[sim.token_env(code)] = sim.token(code)
        config = parse_config(
            {
                "warehouse": {"url": url, "data_dir": str(work)},
                "http": {"page_size": 1000},
                "zones": [
                    {
                        "code": c,
                        "adapter": "api-v1",
                        "base_url": sim.base_url(c),
                        "token_env": sim.token_env(c),
                    }
                    for c in zones
                ],
            },
            catalog,
            {},
        )
        prepare_warehouse(config.warehouse, catalog)
        timer = StageTimer()
        counts = {"releases": 0, "received": 0, "loaded": 0, "quarantined": 0}
        by_dataset: dict[str, int] = {}
        started = time.perf_counter()
        with timer.active():
            for source in config.zones:
                for dataset in source.datasets:
                    for ref in list_zone_releases(
                        source, config.http, dataset, None, config.warehouse
                    ):
                        out = run_release(source, config, ref, flow_run_id=None)
                        counts["releases"] += 1
                        counts["received"] += out.records_received
                        counts["loaded"] += out.records_loaded
                        counts["quarantined"] += out.records_quarantined
                        by_dataset[dataset] = by_dataset.get(dataset, 0) + out.records_received
        total = time.perf_counter() - started
    records = counts["received"]
    print(
        f"zonestats benchmark — {datetime.now(CST):%Y-%m-%d %H:%M} — {platform.machine()}, "
        f"{os.cpu_count()} cores, Python {platform.python_version()}, {url.split(':')[0]}"
    )
    print(
        f"scale {args.scale:g}: {len(zones)} zones, {counts['releases']} releases since "
        f"{as_of.year}-01, {records:,} records received ({by_dataset}), "
        f"{counts['loaded']:,} loaded, {counts['quarantined']:,} quarantined"
    )
    print(f"{'stage':<14}{'seconds':>10}{'records/s':>14}")
    for stage in STAGES:
        sec = timer.seconds.get(stage, 0.0)
        rate = f"{records / sec:,.0f}" if sec else "-"
        print(f"{stage:<14}{sec:>10.2f}{rate:>14}")
    print(f"{'total':<14}{total:>10.2f}{records / total:>14,.0f}")
    print(f"peak RSS {_rss_mib():.0f} MiB (at start {rss_start:.0f} MiB; includes the simulator)")
    print(f"data left in {work}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
