"""The statisticians' commands: ``evaluate``, ``export`` and ``report``."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from zonestats.config import AppConfig

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2
FORMATS = ("xlsx", "csv", "sdmx")


def add_publish_parsers(sub: Any, add_config: Any) -> None:
    """Add the evaluate, export and report subcommands."""
    from cli.common import date_arg

    ev = sub.add_parser("evaluate", help="build the marts of a year (evaluation, R&D subsidy)")
    ev.add_argument("--year", type=int, required=True)
    ev.add_argument("--force", action="store_true", help="rebuild even if the inputs are unchanged")
    add_config(ev)

    ex = sub.add_parser("export", help="write the provincial summary of a period")
    ex.add_argument("--period", required=True, help="2026-10, 2026-Q3 or 2026")
    ex.add_argument("--format", choices=FORMATS, default="xlsx")
    ex.add_argument("--out", help="file to write (default: <data_dir>/exports/<period>/…)")
    ex.add_argument(
        "--as-of",
        type=date_arg,
        help="YYYY-MM-DD: the figures as the warehouse held them at the end of that day "
        "(Asia/Shanghai), the evaluation computed from them",
    )
    add_config(ex)

    rep = sub.add_parser("report", help="write the illustrated report of a year (HTML + PNG)")
    rep.add_argument("--year", type=int, required=True)
    rep.add_argument("--out", help="directory (default: <data_dir>/reports)")
    add_config(rep)


def require_data(config: AppConfig, year: int, periods: list[str] | None, what: str) -> None:
    """Refuse (exit 2, before anything is written) a year or periods with no zone figure loaded."""
    from cli.common import WarehouseMissing, require_warehouse
    from warehouse import marts
    from warehouse.store import Warehouse

    require_warehouse(config.warehouse)
    wh = Warehouse(config.warehouse)
    loaded = marts.loaded_periods(wh, year, year)
    if loaded.intersection(periods) if periods is not None else loaded:
        return
    years = sorted({p[:4] for p in marts.loaded_periods(wh, None, None)})
    span = f"{years[0]}–{years[-1]}" if years else "none"
    raise WarehouseMissing(
        f"no zone figures are loaded for {what}, nothing written (years loaded: {span})"
    )


def build(config: AppConfig, year: int, force: bool = False) -> list[Any]:
    """Build (or keep, if unchanged) the marts of a year; the builds."""
    from tasks.marts import build_year
    from tasks.runtime import method_for
    from warehouse.store import Warehouse
    from zonestats.catalog import shipped_catalog

    Warehouse(config.warehouse).ensure_schema(shipped_catalog())
    return build_year(config.warehouse, shipped_catalog(), method_for(config), year, force)


def cmd_evaluate(args: argparse.Namespace, config: AppConfig) -> int:
    """Build the marts of a year and print the ranking."""
    from warehouse import marts
    from warehouse.store import Warehouse

    builds = build(config, args.year, args.force)
    for b in builds:
        state = f"rebuilt, {b.rows} rows" if b.rebuilt else "unchanged"
        where = f" → {b.path}" if b.path else ""
        print(f"{b.mart} {b.year}: {state}{where}")
    missing = next((b.missing for b in builds if b.missing), ())
    if missing:
        print(
            f"zonestats: {args.year} cannot be evaluated: no zone has loaded "
            f"{', '.join(missing)} (the year-end figures the method needs); no grades written",
            file=sys.stderr,
        )
        return EXIT_FAILED
    ev = marts.mart_rows(Warehouse(config.warehouse), "mart_zone_evaluation", args.year)
    if ev.empty:
        print(f"no evaluation for {args.year}")
        return EXIT_OK
    ev = ev.sort_values(["rank", "zone_code"])
    print("\nrank  zone  grade  composite  watchlist  missing")
    for r in ev.itertuples():
        print(
            f"{r.rank:>4}  {r.zone_code}  {r.grade:>5}  {r.composite:9.2f}  "
            f"{'yes' if r.watchlist else '':>9}  {r.missing_metrics}"
        )
    return EXIT_OK


def cmd_export(args: argparse.Namespace, config: AppConfig) -> int:
    """Write the summary of a period as xlsx, csv or SDMX-CSV."""
    from publish.exports import periods_for_export
    from warehouse import marts
    from warehouse.paths import export_file
    from warehouse.store import Warehouse
    from zonestats.catalog import shipped_catalog

    try:
        periods = periods_for_export(args.period)
    except ValueError as exc:
        print(f"zonestats: {exc}", file=sys.stderr)
        return EXIT_USAGE
    year = int(args.period[:4])
    as_of = getattr(args, "as_of", None)
    if as_of is not None:
        return _export_as_of(args, config, periods, year)
    require_data(config, year, list(periods.values()), f"the period {args.period}")
    out = (
        Path(args.out)
        if args.out
        else export_file(config.warehouse.data_dir, args.period, args.format)
    )
    wh = Warehouse(config.warehouse)
    if args.format == "xlsx":
        build(config, year)
    else:
        wh.ensure_schema(shipped_catalog())
    obs = marts.zone_observations(wh, year, year)
    return _write_export(args, wh, out, obs, marts.mart_rows(wh, "mart_zone_evaluation", year))


def _export_as_of(
    args: argparse.Namespace, config: AppConfig, periods: dict[str, str], year: int
) -> int:
    """The export as it would have been written at the end of ``--as-of``, from SQL's history."""
    from cli.common import WarehouseMissing, require_warehouse
    from tasks.marts import evaluation_as_of
    from tasks.runtime import method_for
    from warehouse.history import observations_as_of
    from warehouse.paths import export_file
    from warehouse.store import Warehouse
    from zonestats.catalog import shipped_catalog

    catalog = shipped_catalog()
    require_warehouse(config.warehouse)
    wh = Warehouse(config.warehouse)
    wh.ensure_schema(catalog)  # as every export: an existing warehouse comes to head
    at = catalog.calendar.end_of_day(args.as_of)
    obs = observations_as_of(wh, "zone", at, years=(year, year))
    if not set(periods.values()) & set(obs["period"]):
        raise WarehouseMissing(
            f"no zone figures of the period {args.period} were loaded by the end of "
            f"{args.as_of} (Asia/Shanghai), nothing written"
        )
    out = (
        Path(args.out)
        if args.out
        else export_file(config.warehouse.data_dir, args.period, args.format, args.as_of)
    )
    evaluation = (
        evaluation_as_of(config.warehouse, catalog, method_for(config), year, at)
        if args.format == "xlsx"
        else None
    )
    return _write_export(args, wh, out, obs, evaluation, args.as_of.isoformat())


def _write_export(
    args: argparse.Namespace,
    wh: Any,
    out: Path,
    obs: Any,
    evaluation: Any,
    as_of: str | None = None,
) -> int:
    """Write the export of ``args.format`` from the observations (and the evaluation, xlsx)."""
    from publish.exports import export_csv, export_sdmx_csv, export_xlsx
    from warehouse import marts

    if args.format == "xlsx":
        path = export_xlsx(
            out,
            args.period,
            obs,
            marts.reference(wh, "dim_indicator"),
            marts.reference(wh, "dim_zone"),
            evaluation,
            as_of,
        )
    elif args.format == "csv":
        path = export_csv(
            out,
            args.period,
            obs,
            marts.reference(wh, "dim_indicator"),
            marts.reference(wh, "dim_zone"),
        )
    else:
        path = export_sdmx_csv(out, args.period, obs)
    print(f"written: {path}")
    return EXIT_OK


def cmd_report(args: argparse.Namespace, config: AppConfig) -> int:
    """Write the illustrated report of a year."""
    from publish.report import write_report
    from warehouse import marts
    from warehouse.paths import report_dir
    from warehouse.store import Warehouse

    require_data(config, args.year, None, f"the year {args.year}")
    build(config, args.year)
    wh = Warehouse(config.warehouse)
    out = Path(args.out) if args.out else report_dir(config.warehouse.data_dir)
    path = write_report(
        out,
        args.year,
        marts.mart_rows(wh, "mart_zone_evaluation", args.year),
        marts.monthly_rows(wh, args.year),
        marts.reference(wh, "dim_zone"),
        marts.reference(wh, "dim_indicator"),
        *punctuality_of(wh, args.year),
    )
    print(f"written: {path}")
    return EXIT_OK


def punctuality_of(wh: Any, year: int) -> tuple[Any, Any]:
    """A year's punctuality per zone from release_calendar as the last run left it, and its as_of."""
    from marts.release_calendar import punctuality
    from warehouse.calendar import release_calendar_rows

    rows = release_calendar_rows(wh)
    as_of = rows["as_of"].max().to_pydatetime() if not rows.empty else None
    return punctuality(rows, year), as_of
