"""Load the newest enterprise release of one zone from a running simulator; print what it cost.

Run in a process of its own so that its peak memory is the pipeline's alone (the simulator runs in
another process): prints one JSON line with the counts and the peak RSS before and after.
"""

from __future__ import annotations

import json
import resource
import sys
import time
from pathlib import Path


def _peak_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main() -> int:
    """argv: base_url token data_dir zone."""
    base_url, token, data_dir, zone = sys.argv[1:5]
    import os

    from tasks.extract import list_zone_releases
    from tasks.load import prepare_warehouse
    from tasks.release import run_release
    from zonestats.catalog import shipped_catalog
    from zonestats.config import parse_config

    os.environ["ZONESTATS_TOKEN_BENCH"] = token
    catalog = shipped_catalog()
    config = parse_config(
        {
            "warehouse": {"url": f"sqlite:///{Path(data_dir) / 'w.db'}", "data_dir": data_dir},
            "http": {"page_size": 1000, "timeout_s": 120.0},
            # no heartbeat here: a lease long enough for the load
            "run": {"lease_s": 3600},
            "zones": [
                {
                    "code": zone,
                    "adapter": "api-v1",
                    "base_url": base_url,
                    "token_env": "ZONESTATS_TOKEN_BENCH",
                    "datasets": ["enterprise"],
                }
            ],
        },
        catalog,
        {},
    )
    source = config.zones[0]
    prepare_warehouse(config.warehouse, catalog)
    ref = list_zone_releases(source, config.http, "enterprise", None)[-1]
    before = _peak_mib()
    start = time.perf_counter()
    out = run_release(source, config, ref, flow_run_id=None)
    print(
        json.dumps(
            {
                "status": out.status,
                "error": out.error,
                "received": out.records_received,
                "loaded": out.records_loaded,
                "quarantined": out.records_quarantined,
                "peak_before_mib": before,
                "peak_after_mib": _peak_mib(),
                "seconds": time.perf_counter() - start,
            }
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
