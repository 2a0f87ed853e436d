"""The reporting calendar's commands: ``deadline extend`` and ``late``."""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable
from datetime import date, datetime
from typing import Any

import pandas as pd

from cli.common import date_arg, known_zone
from cli.common import table as text_table
from zonestats.config import AppConfig, ConfigError

EXIT_OK = 0


def add_calendar_parsers(sub: Any, add_config: Callable[[argparse.ArgumentParser], None]) -> None:
    """Add the deadline and late subcommands."""
    deadline = sub.add_parser("deadline", help="the reporting calendar's deadlines")
    dsub = deadline.add_subparsers(dest="action", required=True, parser_class=type(deadline))
    ext = dsub.add_parser(
        "extend", help="grant a zone more time for one release (audited with your user name)"
    )
    ext.add_argument("--zone", required=True, help="zone code, e.g. TY01")
    ext.add_argument("--dataset", required=True, choices=["zone", "enterprise"])
    ext.add_argument("--period", required=True, help="the release's period, e.g. 2026-10")
    ext.add_argument(
        "--until",
        required=True,
        help="the new deadline, YYYY-MM-DD[ HH:MM] (Asia/Shanghai unless it has an offset; "
        "a date alone is the end of that day)",
    )
    ext.add_argument("--reason", required=True, help="who granted it and why (recorded)")
    add_config(ext)

    late = sub.add_parser("late", help="what is missing or overdue, per zone")
    late.add_argument(
        "--as-of",
        type=date_arg,
        help="as at the end of this day, YYYY-MM-DD (default: now)",
    )
    late.add_argument("--zone", help="only this zone")
    late.add_argument("--json", action="store_true", help="one JSON object per line, for scripts")
    add_config(late)


def _until(text: str, end_of_day: Callable[[date], datetime], tz: Any) -> datetime:
    """The --until value as an aware moment (the province's time unless it names an offset)."""
    try:
        if len(text.strip()) == 10:
            return end_of_day(date.fromisoformat(text.strip()))
        moment = datetime.fromisoformat(text.strip())
    except ValueError:
        raise ConfigError(
            "--until", f"expected YYYY-MM-DD or YYYY-MM-DD HH:MM[+08:00], got {text!r}"
        ) from None
    return moment.replace(tzinfo=tz) if moment.tzinfo is None else moment


def cmd_deadline(args: argparse.Namespace, config: AppConfig) -> int:
    """Record an extension of one release's deadline, in one transaction with its audit row."""
    import getpass

    from tasks.calendar import grant_extension
    from tasks.load import prepare_warehouse
    from zonestats.calendar import period_of
    from zonestats.catalog import shipped_catalog
    from zonestats.models import utcnow
    from zonestats.periods import PeriodError

    catalog = shipped_catalog()
    cal = catalog.calendar
    known_zone(args.zone)
    try:
        period = period_of(args.period)
    except PeriodError as exc:
        raise ConfigError("--period", str(exc)) from None
    if period.frequency not in catalog.frequencies(args.dataset):
        raise ConfigError(
            "--period", f"the {args.dataset} dataset has no {period.frequency} releases"
        )
    until = _until(args.until, cal.end_of_day, cal.tz)
    due = cal.deadline(period)
    if until <= due:
        raise ConfigError(
            "--until",
            f"{until.astimezone(cal.tz):%Y-%m-%d %H:%M} is not after the deadline of "
            f"{args.period}, {due:%Y-%m-%d %H:%M} (an extension moves it later)",
        )
    if not args.reason.strip():
        raise ConfigError("--reason", "say who granted the extension and why")
    prepare_warehouse(config.warehouse, catalog)  # a writer: brings the warehouse to head
    replaced = grant_extension(
        config.warehouse,
        args.zone,
        args.dataset,
        args.period,
        until,
        args.reason,
        getpass.getuser(),
        utcnow(),
    )
    was = f" (was {replaced.astimezone(cal.tz):%Y-%m-%d %H:%M})" if replaced else ""
    print(
        f"{args.zone} {args.dataset} {args.period}: due {due:%Y-%m-%d %H:%M}, extended to "
        f"{until.astimezone(cal.tz):%Y-%m-%d %H:%M}{was} (Asia/Shanghai); "
        "the next run's release_calendar shows it, `zonestats late` at once"
    )
    return EXIT_OK


def _local(value: Any, tz: Any) -> str:
    return f"{value.astimezone(tz):%Y-%m-%d %H:%M}" if pd.notna(value) else ""


def cmd_late(args: argparse.Namespace, config: AppConfig) -> int:
    """Print what is missing or overdue as of a day (default now), per zone."""
    from cli.common import WarehouseMissing, require_warehouse
    from marts.release_calendar import outstanding
    from tasks.calendar import calendar_as_of, compute_calendar, owed_by
    from warehouse.calendar import has_calendar
    from warehouse.store import Warehouse
    from zonestats.catalog import shipped_catalog
    from zonestats.models import utcnow

    known_zone(args.zone)
    catalog = shipped_catalog()
    zones = [args.zone] if args.zone else None
    if args.zone and args.zone not in {z.code for z in config.zones}:
        raise ConfigError("--zone", f"{args.zone} is not configured")
    require_warehouse(config.warehouse)  # a reader: neither creates nor migrates it
    if not has_calendar(Warehouse(config.warehouse)):
        raise WarehouseMissing(
            "the warehouse predates the reporting calendar: `zonestats db upgrade` (or a run)"
        )
    as_of = calendar_as_of(catalog, args.as_of, utcnow())
    rows = outstanding(
        compute_calendar(config.warehouse, catalog, owed_by(config, catalog, zones), as_of)
    )
    tz = catalog.calendar.tz
    if args.json:
        for r in rows.to_dict("records"):
            out = {k: r[k] for k in ("zone_code", "dataset", "period", "frequency", "state")}
            out["days_late"] = int(r["days_late"])
            for k in ("due_at", "extended_until", "deadline"):
                out[k] = r[k].isoformat() if pd.notna(r[k]) else None
            out["as_of"] = as_of.isoformat()
            print(json.dumps(out, ensure_ascii=False))
        return EXIT_OK
    when = f"{as_of.astimezone(tz):%Y-%m-%d %H:%M} (Asia/Shanghai)"
    if rows.empty:
        print(f"nothing missing or overdue as of {when}")
        return EXIT_OK
    zones_late = rows["zone_code"].nunique()
    print(f"missing or overdue as of {when}: {len(rows)} releases of {zones_late} zones\n")
    table = [
        {
            "zone": r["zone_code"],
            "dataset": r["dataset"],
            "period": r["period"],
            "state": r["state"],
            "deadline": _local(r["deadline"], tz),
            "days late": int(r["days_late"]),
            "extended": "yes" if pd.notna(r["extended_until"]) else "",
        }
        for r in rows.to_dict("records")
    ]
    # the zone once per group: the table reads as one block per zone
    for n in range(len(table) - 1, 0, -1):
        if table[n]["zone"] == table[n - 1]["zone"]:
            table[n]["zone"] = ""
    print(
        text_table(
            table, ["zone", "dataset", "period", "state", "deadline", "days late", "extended"]
        )
    )
    return EXIT_OK
