"""What the warehouse held when, and what a revision changed: ``asof`` and ``diff``."""

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
    """Add the asof and diff subcommands."""
    from cli.common import date_arg

    asof = sub.add_parser(
        "asof", help="the observations exactly as the warehouse held them at the end of a day"
    )
    asof.add_argument(
        "--date",
        required=True,
        type=date_arg,
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

    diff = sub.add_parser("diff", help="what a revision of a release changed")
    diff.add_argument("--zone", required=True, help="zone code, e.g. TY01")
    diff.add_argument("--dataset", required=True, choices=["zone", "enterprise"])
    diff.add_argument("--period", required=True, help="the release's period, e.g. 2026-10")
    diff.add_argument(
        "--from", dest="old", type=int, help="the older revision (default: the one before --to)"
    )
    diff.add_argument(
        "--to", dest="new", type=int, help="the newer revision (default: the latest loaded)"
    )
    diff.add_argument("--json", action="store_true", help="one JSON object per row, for scripts")
    add_config(diff)


def reader_history(config: AppConfig) -> Any:
    """The warehouse of a read-only history command: it must exist and have the history views."""
    from cli.common import WarehouseMissing, require_warehouse
    from warehouse.history import has_history
    from warehouse.store import Warehouse

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
    from cli.common import known_zone
    from cli.common import table as _table
    from publish.asof import write_csv, write_csv_file, write_parquet
    from publish.exports import write_atomically
    from warehouse.history import observations_as_of
    from warehouse.paths import asof_file
    from zonestats.catalog import shipped_catalog
    from zonestats.numbers import plain_number

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


def _pct(value: Any) -> str:
    return f"{value:+.2f}%" if pd.notna(value) else ""


def cmd_diff(args: argparse.Namespace, config: AppConfig) -> int:
    """Print what changed between two loaded revisions of a release (default: the last two)."""
    import json

    from cli.common import WarehouseMissing, known_zone
    from cli.common import table as _table
    from tasks.revisions import NoSuchRevision, release_diff
    from zonestats.catalog import shipped_catalog
    from zonestats.numbers import plain_number

    known_zone(args.zone)
    period = _period(args.period)
    assert period is not None  # required
    reader_history(config)
    try:
        found = release_diff(config.warehouse, args.zone, args.dataset, period, args.old, args.new)
    except NoSuchRevision as exc:
        raise WarehouseMissing(str(exc)) from None
    d = found.diff
    keys = ["uscc", "indicator_code"] if args.dataset == "enterprise" else ["indicator_code"]
    records = d.rows.to_dict("records")
    if args.json:
        for r in records:
            out: dict[str, Any] = {
                "zone_code": args.zone,
                "dataset": args.dataset,
                "period": period,
                "from_revision": found.previous,
                "to_revision": found.key.revision,
                "change": r["change"],
                **{k: r[k] for k in keys},
                "unit": r["unit"],
            }
            for name, key in (("old_value", "old_value"), ("new_value", "new_value"),
                              ("difference", "difference"), ("percent", "pct")):  # fmt: skip
                out[name] = None if pd.isna(r[key]) else float(r[key])
            if args.dataset == "zone":
                out.update(old_status=r["old_status"], new_status=r["new_status"])
            print(json.dumps(out, ensure_ascii=False))
        return EXIT_OK
    tz = shipped_catalog().calendar.tz
    print(
        f"{args.zone} {args.dataset} {period}: revision {found.previous} (loaded "
        f"{_local(found.previous_loaded_at, tz)}) → revision {found.key.revision} (loaded "
        f"{_local(found.loaded_at, tz)}), Asia/Shanghai"
    )
    counts = ", ".join(f"{d.count(c)} {c}" for c in ("changed", "added", "removed"))
    if args.dataset == "enterprise":
        counts += f"; enterprises: {len(d.records_added)} added, {len(d.records_removed)} removed"
    print(counts)
    if not records:
        print("the two revisions hold the same figures")
        return EXIT_OK
    table = []
    for r in records:
        status = r["new_status"] or r["old_status"] or ""
        if r["change"] == "changed" and r["old_status"] != r["new_status"]:
            status = f"{r['old_status'] or '—'} → {r['new_status'] or '—'}"
        table.append(
            {
                "change": r["change"],
                **({"uscc": r["uscc"]} if args.dataset == "enterprise" else {}),
                "indicator": r["indicator_code"],
                "unit": r["unit"] or "",
                "old": plain_number(r["old_value"]),
                "new": plain_number(r["new_value"]),
                "difference": plain_number(r["difference"]),
                "percent": _pct(r["pct"]),
                **({"status": status} if args.dataset == "zone" else {}),
            }
        )
    columns = ["change", *(["uscc"] if args.dataset == "enterprise" else []), "indicator", "unit"]
    columns += ["old", "new", "difference", "percent"]
    columns += ["status"] if args.dataset == "zone" else []
    print()
    print(_table(table, columns))
    return EXIT_OK
