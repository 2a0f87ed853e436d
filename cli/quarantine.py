"""The quarantine queue: ``quarantine list``, ``accept`` and ``fix`` (audited with your user name)."""

from __future__ import annotations

import argparse
import getpass
import sys
from typing import Any

from cli.common import (
    EXIT_FAILED,
    EXIT_OK,
    Parser,
    add_config,
    known_zone,
    load_app_config,
    require_warehouse,
)
from cli.tables import print_table
from tasks.runtime import rules_for
from zonestats.catalog import shipped_catalog


def add_parsers(sub: Any) -> None:
    """Add the quarantine subcommand and its list, accept and fix actions."""
    quarantine = sub.add_parser("quarantine", help="list, accept or fix quarantined records")
    qsub = quarantine.add_subparsers(dest="action", required=True, parser_class=Parser)
    qlist = qsub.add_parser("list", help="the quarantine rows (newest release first)")
    qlist.add_argument("--zone", help="only this zone")
    qlist.add_argument("--open", action="store_true", help="only rows still open")
    qlist.add_argument("--rule", help="only this rule id")
    qlist.add_argument("--limit", type=int, default=200)
    qlist.add_argument("--json", action="store_true", help="one JSON object per line")
    add_config(qlist)
    qaccept = qsub.add_parser(
        "accept", help="the zone explained the figure: load the record as received (audited)"
    )
    qaccept.add_argument("id", type=int, help="quarantine_id")
    qaccept.add_argument("--note", required=True, help="what the zone said (recorded)")
    add_config(qaccept)
    qfix = qsub.add_parser("fix", help="a corrected revision arrived: mark the row fixed (audited)")
    qfix.add_argument("id", type=int, help="quarantine_id")
    qfix.add_argument("--note", default="", help="optional remark (recorded)")
    add_config(qfix)


def cmd_quarantine(args: argparse.Namespace) -> int:
    """List quarantine rows, or accept or fix one (audited with your user name)."""

    from tasks.quarantine import accept_row, fix_row
    from warehouse import quality
    from warehouse.quality import QuarantineError
    from warehouse.store import Warehouse

    config = load_app_config(args)
    if args.action == "list":
        known_zone(args.zone)
        require_warehouse(config.warehouse)  # a reader: neither creates nor migrates it
    wh = Warehouse(config.warehouse)
    if args.action != "list":
        wh.ensure_schema(shipped_catalog())
    try:
        if args.action == "list":
            frame = quality.list_quarantine(wh, args.zone, args.open, args.rule, args.limit)
            if args.json:
                print(
                    frame.to_json(
                        orient="records", lines=True, date_format="iso", force_ascii=False
                    ),
                    end="",
                )
                return EXIT_OK
            rows = frame.assign(message=frame["message"].astype(str).str[:90]).to_dict("records")
            cols = ["quarantine_id", "zone_code", "dataset", "period", "revision", "record_key"]
            cols += ["rule", "severity", "status", "message"]
            print_table(rows, cols, "no quarantine rows match")
            return EXIT_OK
        if args.action == "accept":
            result = accept_row(
                config.warehouse,
                args.id,
                args.note,
                getpass.getuser(),
                rules_for(config),
                shipped_catalog(),
            )
            row = result.row
            if result.loaded:
                print(f"accepted #{row.quarantine_id}: {row.record_key} of {row.key} is loaded")
            elif result.still_held_by:
                held = ", ".join(f"#{i}" for i in result.still_held_by)
                print(f"accepted #{row.quarantine_id}; the record is still held out by {held}")
            else:
                print(f"accepted #{row.quarantine_id} ({row.severity}, nothing more to load)")
            return EXIT_OK
        revision = fix_row(config.warehouse, args.id, args.note, getpass.getuser())
        print(f"fixed #{args.id}: revision {revision} is loaded")
        return EXIT_OK
    except QuarantineError as exc:
        print(f"zonestats: {exc}", file=sys.stderr)
        return EXIT_FAILED
