"""What the warehouse held when: ``asof``."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pandas as pd

from zonestats.config import AppConfig, ConfigError

EXIT_OK = 0
FORMATS = ("table", "csv", "parquet")


def add_history_parsers(sub: Any, add_config: Callable[[argparse.ArgumentParser], None]) -> None:
    """Add the asof subcommand."""
    from zonestats.cli_calendar import _day

    asof = sub.add_parser(
        "asof", help="the observations exactly as the warehouse held them at the end of a day"
    )
    asof.add_argument(
        "--date",
        required=True,
        type=_day,
        help="YYYY-MM-DD: as held at the end of that day (23:59:59.999999 Asia/Shanghai)",
    )
    asof.add_argument("--zone", help="only this zone")
    asof.add_argument("--period", help="only this period, e.g. 2026-10")
    asof.add_argument("--dataset", choices=["zone", "enterprise"], default="zone")
    asof.add_argument("--format", choices=FORMATS, default="table")
    asof.add_argument(
        "--out", help="file to write (default: stdout; parquet: <data_dir>/exports/asof/…)"
    )
    add_config(asof)


def reader_history(config: AppConfig) -> Any:
    """The warehouse of a read-only history command: it must exist and have the history views."""
    from warehouse.history import has_history
    from warehouse.store import Warehouse
    from zonestats.cli_db import WarehouseMissing, require_warehouse

    require_warehouse(config.warehouse)  # a reader: neither creates nor migrates it
    wh = Warehouse(config.warehouse)
    if not has_history(wh):
        raise WarehouseMissing(
            "the warehouse predates the history views: `zonestats db upgrade` (or a run)"
        )
    return wh


def _period(text: str | None) -> str | None:
    from zonestats.calendar import period_of
    from zonestats.periods import PeriodError

    if text is None:
        return None
    try:
        return period_of(text).text
    except PeriodError as exc:
        raise ConfigError("--period", str(exc)) from None


def _local(value: Any, tz: Any) -> str:
    return f"{value.astimezone(tz):%Y-%m-%d %H:%M}" if pd.notna(value) else ""


def cmd_asof(args: argparse.Namespace, config: AppConfig) -> int:
    """Print or write the observations as the warehouse held them at the end of a day."""
    from publish.asof import plain_number, write_csv, write_csv_file, write_parquet
    from publish.exports import write_atomically
    from warehouse.history import observations_as_of
    from warehouse.paths import asof_file
    from zonestats.cli import _table, known_zone
    from zonestats.runtime import shipped_catalog

    known_zone(args.zone)
    period = _period(args.period)
    calendar = shipped_catalog().calendar
    at = calendar.end_of_day(args.date)
    wh = reader_history(config)
    rows = observations_as_of(
        wh, args.dataset, at, args.zone, [period] if period is not None else None
    )
    if args.format == "parquet":
        out = (
            Path(args.out)
            if args.out
            else asof_file(config.warehouse.data_dir, args.dataset, args.date)
        )
        print(f"written: {write_parquet(out, rows, args.dataset)} ({len(rows)} rows)")
        return EXIT_OK
    if args.format == "csv":
        if args.out:
            print(
                f"written: {write_csv_file(Path(args.out), rows, args.dataset)} ({len(rows)} rows)"
            )
        else:
            write_csv(sys.stdout, rows, args.dataset)
        return EXIT_OK
    tz = calendar.tz
    when = f"{at.astimezone(tz):%Y-%m-%d %H:%M} (Asia/Shanghai)"
    what = " ".join(x for x in (args.zone, args.dataset, period) if x)
    if rows.empty:
        print(f"no {what} figures were held at {when}")
        return EXIT_OK
    releases = rows[["zone_code", "period"]].drop_duplicates()
    lines = [
        f"{what} figures as the warehouse held them at {when}: "
        f"{len(releases)} release{'s' if len(releases) != 1 else ''}, {len(rows)} values",
        "",
    ]
    key = ["indicator"] if args.dataset == "zone" else ["uscc", "indicator"]
    table = [
        {
            "zone": r["zone_code"],
            "period": r["period"],
            **({"uscc": r["uscc"]} if args.dataset == "enterprise" else {}),
            "indicator": r["indicator_code"],
            "revision": int(r["revision"]),
            "value": plain_number(r["value"]),
            "unit": r["unit"],
            **({"status": r["status"]} if args.dataset == "zone" else {}),
            "loaded": _local(r["loaded_at"], tz),
        }
        for r in rows.to_dict("records")
    ]
    status = ["status"] if args.dataset == "zone" else []
    columns = ["zone", "period", *key, "revision", "value", "unit", *status, "loaded"]
    text = "\n".join([*lines, _table(table, columns)]) + "\n"
    if args.out:
        written = write_atomically(Path(args.out), lambda tmp: tmp.write_text(text, "utf-8"))
        print(f"written: {written} ({len(rows)} rows)")
    else:
        print(text, end="")
    return EXIT_OK
