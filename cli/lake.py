"""``zonestats lake``: what the Delta tables on object storage hold, beside what SQL holds."""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable
from typing import Any

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2


def add_lake_parser(sub: Any, add_config: Callable[[argparse.ArgumentParser], None]) -> None:
    """Add ``lake [--json]`` to a subparsers."""
    lake = sub.add_parser(
        "lake",
        help="s3:// data_dir: each Delta table's version, files, rows and bytes, and the "
        "partitions that differ from SQL (exit 1 if any)",
    )
    lake.add_argument("--json", action="store_true", help="one JSON object per table")
    add_config(lake)


def cmd_lake(args: argparse.Namespace, config: Any) -> int:
    """Print the lake's tables against SQL; 0 all match, 1 a partition differs, 2 no lake."""
    from cli.common import require_warehouse
    from warehouse.lake import LAKE_TABLES
    from zonestats.config import ConfigError

    if config.warehouse.lake is None:
        raise ConfigError(
            "warehouse.data_dir", "is a local directory; `zonestats lake` reads an s3:// lake"
        )
    require_warehouse(config.warehouse)

    from warehouse import current
    from warehouse.store import Warehouse

    wh = Warehouse(config.warehouse)
    with wh.engine.connect() as conn:
        expected = current.sql_counts(conn)
    differing = wh.published_differences()
    rows: list[dict[str, Any]] = []
    for table in LAKE_TABLES:
        found = wh.lake.summary(table)
        sql_rows = sum(n for loads in expected.get(table, {}).values() for n in loads.values())
        bad = [f"year={y}/zone_code={z}" for t, y, z in differing if t == table]
        rows.append(
            {
                "table": table,
                "version": None if found is None else found["version"],
                "files": 0 if found is None else found["files"],
                "rows": 0 if found is None else found["rows"],
                "bytes": 0 if found is None else found["bytes"],
                "sql_rows": sql_rows,
                "differing": bad,
            }
        )
    if args.json:
        for row in rows:
            print(json.dumps(row))
    else:
        print(f"{wh.lake.uri}/parquet")
        print(f"{'table':<24} {'version':>7} {'files':>6} {'rows':>11} {'MB':>8} {'SQL rows':>11}")
        for r in rows:
            version = "-" if r["version"] is None else str(r["version"])
            print(
                f"{r['table']:<24} {version:>7} {r['files']:>6} {r['rows']:>11,} "
                f"{r['bytes'] / 1e6:>8.1f} {r['sql_rows']:>11,}"
            )
        for table, year, zone in differing:
            print(
                f"✗ {table}/year={year}/zone_code={zone}: differs from SQL "
                "(the next run's repair writes it again from SQL)"
            )
        if not differing:
            print("every partition holds what SQL holds")
    return EXIT_FAILED if differing else EXIT_OK


__all__ = ["add_lake_parser", "cmd_lake"]
