"""The load ledger and the zones runs hold now: ``status``."""

from __future__ import annotations

import argparse
from typing import Any

from cli.common import EXIT_OK, add_config, known_zone, load_app_config, require_warehouse
from cli.tables import print_table
from zonestats.config import AppConfig


def add_parsers(sub: Any) -> None:
    """Add the status subcommand."""
    status = sub.add_parser("status", help="show the load ledger")
    status.add_argument("--zone", help="only this zone")
    status.add_argument("--failed", action="store_true", help="only failed or rejected releases")
    status.add_argument("--period", help="only this period, e.g. 2026-10")
    status.add_argument("--json", action="store_true", help="one JSON object per line, for scripts")
    add_config(status)


def cmd_status(args: argparse.Namespace) -> int:
    """Print the load ledger."""
    config = load_app_config(args)
    known_zone(args.zone)
    from sqlalchemy import inspect

    from warehouse.store import Warehouse

    require_warehouse(config.warehouse)
    wh = Warehouse(config.warehouse)
    frame = wh.ledger(zone=args.zone)
    if args.failed:
        frame = frame[frame["status"].isin(["failed", "rejected"])]
    if args.period:
        frame = frame[frame["period"] == args.period]
    if args.json:
        print(
            frame.to_json(orient="records", lines=True, date_format="iso", force_ascii=False),
            end="",
        )
        return EXIT_OK
    rows = frame.assign(
        finished_at=frame["finished_at"].astype(str).str[:19],
        last_error=frame["last_error"].fillna("").astype(str).str[:70],
    ).to_dict("records")
    cols = [
        "zone_code",
        "dataset",
        "period",
        "revision",
        "status",
        "attempts",
        "records_received",
        "records_loaded",
        "records_quarantined",
        "finished_at",
        "last_error",
    ]
    print_table(rows, cols, "no ledger rows match")
    if inspect(wh.engine).has_table("zone_claim"):
        _print_zone_claims(config, args.zone)
    return EXIT_OK


def _print_zone_claims(config: AppConfig, zone: str | None) -> None:
    """The zones runs hold now: who, where, how fresh the heartbeat, and whether it expired."""
    from warehouse.claims import zone_holders
    from zonestats.models import utcnow

    now = utcnow()
    held = [h for h in zone_holders(config.warehouse) if zone is None or h.zone_code == zone]
    if not held:
        return
    print("\nzones held by a run now:")
    for h in held:
        state = (
            "live"
            if h.lease_until > now
            else "expired (its run died: the next run takes the zone over)"
        )
        print(f"  {h.zone_code}: {h.describe(now)}; {state}")
