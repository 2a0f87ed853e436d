"""Run the nightly flow, re-run failed releases, backfill a range: ``run``, ``rerun``, ``backfill``."""

from __future__ import annotations

import argparse
import getpass
import sys
from typing import Any

from cli.common import (
    EXIT_FAILED,
    EXIT_OK,
    add_config,
    add_orchestration,
    date_arg,
    known_zone,
    load_app_config,
    orchestrated,
    table,
)
from cli.progress import zone_progress
from zonestats.config import AppConfig, ConfigError
from zonestats.environment import prefect_environment
from zonestats.steps import FlowResult, run_flow


def add_parsers(sub: Any) -> None:
    """Add the run, rerun and backfill subcommands."""
    run = sub.add_parser("run", help="run the nightly flow now")
    run.add_argument(
        "--zones", help="comma-separated zone codes, e.g. TY01,DT01 (default: all enabled)"
    )
    run.add_argument(
        "--validate-only",
        action="store_true",
        help="fetch and validate, write the quality report, load nothing",
    )
    run.add_argument(
        "--today",
        type=date_arg,
        help="the run's date, YYYY-MM-DD: its year and the last are the marts rebuilt "
        "(default: today in Asia/Shanghai)",
    )
    add_orchestration(run)
    add_config(run)

    rerun = sub.add_parser("rerun", help="re-attempt the ledger's failed releases")
    rerun.add_argument(
        "--failed", action="store_true", required=True, help="the failed releases (required)"
    )
    rerun.add_argument("--zone", help="only this zone")
    rerun.add_argument("--dataset", choices=["zone", "enterprise"], help="only this dataset")
    rerun.add_argument("--period", help="only this period")
    rerun.add_argument("--reason", required=True, help="why (recorded with your user name)")
    rerun.add_argument("--dry-run", action="store_true", help="print the plan, change nothing")
    add_orchestration(rerun)
    add_config(rerun)

    back = sub.add_parser("backfill", help="re-pull a range of periods of one zone's dataset")
    back.add_argument("--zone", required=True)
    back.add_argument("--dataset", required=True, choices=["zone", "enterprise"])
    back.add_argument(
        "--from", dest="period_from", required=True, help="first period, e.g. 2025-02"
    )
    back.add_argument("--to", dest="period_to", required=True, help="last period, e.g. 2025-12")
    back.add_argument(
        "--force", action="store_true", help="also fetch loaded releases again and verify them"
    )
    back.add_argument("--reason", default="backfill", help="why (recorded with your user name)")
    back.add_argument("--dry-run", action="store_true", help="print the plan, change nothing")
    add_orchestration(back)
    add_config(back)


def _print_summary(summary: Any) -> None:
    rows = []
    for z in summary.zones:
        rows.append(
            {
                "zone": z.zone_code,
                "loaded": z.count("loaded"),
                "skipped": z.count("skipped"),
                "failed": z.count("failed"),
                "rejected": z.count("rejected"),
                "validated": z.count("validated"),
                "received": sum(r.records_received for r in z.releases),
                "quarantined": sum(r.records_quarantined for r in z.releases),
                "warned": sum(r.records_warned for r in z.releases),
                "error": (z.error or "")[:90],
            }
        )
    cols = ["zone", "loaded", "skipped", "failed", "rejected", "received", "quarantined"]
    if summary.validate_only:
        cols = ["zone", "validated", "failed", "rejected", "received", "quarantined"]
    print(table(rows, [*cols, "warned", "error"]))
    if summary.validate_only:
        print("  validate only: nothing was loaded")
    for z in summary.zones:
        for note in z.notes:
            print(f"  ! {note}")
    for line in summary.failures():
        print(f"  ✗ {line}")
    if summary.late:
        print(f"  missing or overdue by the reporting calendar ({len(summary.late)}):")
        for late in summary.late:
            print(f"    {late}")
    if summary.overdue_announced:
        print(f"  announced overdue (Prefect event): {', '.join(summary.overdue_announced)}")
    if summary.revisions:
        print(f"  arrived as a revision ({len(summary.revisions)}; `zonestats diff` shows all):")
        for note in summary.revisions:
            print(f"    {note}")
    if summary.quality_report:
        print(f"  quality report: {summary.quality_report}")
    if summary.data_docs:
        print(f"  data docs: {summary.data_docs}")
    for cmd in summary.retry_commands():
        print(f"  retry: {cmd}")


def _report(result: FlowResult) -> int:
    """Print a finished run's summary and turn it into the exit code (a crash is 1 as well)."""
    from flows.zones import RunFailed

    if result.error is None:
        summary = result.value
    else:
        exc = result.error
        if not isinstance(exc, RunFailed):
            print(f"zonestats: the run crashed: {exc}", file=sys.stderr)
            return EXIT_FAILED
        summary = exc.summary
    _print_summary(summary)
    return int(summary.exit_code)


def cmd_run(args: argparse.Namespace, config: AppConfig | None = None) -> int:
    """Run the nightly flow in this process; exit 0 all loaded, 1 something failed."""
    config = config or load_app_config(args)
    zones = (
        [z.strip() for z in args.zones.split(",") if z.strip()]
        if getattr(args, "zones", None)
        else None
    )
    for code in zones or []:
        known_zone(code, "--zones")
    config.select(zones)  # unknown zone codes are a usage error before anything starts
    prefect_environment()
    through_prefect = orchestrated(args)
    run: Any
    if through_prefect:
        from flows.nightly import nightly as run
    else:
        from flows.zones import nightly_body as run
    print(
        f"zonestats: running nightly for {', '.join(z.code for z in config.select(zones))}",
        flush=True,
    )
    validate_only = bool(getattr(args, "validate_only", False))
    codes = [z.code for z in config.select(zones)]
    with zone_progress(codes, "validate only" if validate_only else "nightly"):
        result = run_flow(
            run,
            through_prefect,
            config_path=config.source_path,
            zones=zones,
            validate_only=validate_only,
            today=getattr(args, "today", None),
        )
    return _report(result)


def cmd_rerun(args: argparse.Namespace) -> int:
    """Re-attempt failed releases (the rerun flow); --dry-run only prints what it would do."""

    config = load_app_config(args)
    known_zone(args.zone)
    from warehouse.store import Warehouse

    plan = Warehouse(config.warehouse).failed_releases(args.zone, args.dataset, args.period)
    for ref in plan:
        print(f"  would retry {ref.key} ({ref.origin})" if args.dry_run else f"  retry {ref.key}")
    if args.dry_run or not plan:
        print(
            f"{len(plan)} failed releases match; {'nothing changed (dry run)' if args.dry_run else 'nothing to do'}"
        )
        return EXIT_OK
    prefect_environment()
    from flows.rerun import rerun

    through_prefect = orchestrated(args)
    with zone_progress(sorted({ref.zone_code for ref in plan}), "rerun --failed"):
        result = run_flow(
            rerun,
            through_prefect,
            reason=args.reason,
            operator=getpass.getuser(),
            zone=args.zone,
            dataset=args.dataset,
            period=args.period,
            config_path=config.source_path,
        )
    return _report(result)


def cmd_backfill(args: argparse.Namespace) -> int:
    """Re-pull a range of periods (the backfill flow); --dry-run only lists what it would do."""

    from zonestats.periods import infer_frequency

    config = load_app_config(args)
    known_zone(args.zone)
    for key, value in (("--from", args.period_from), ("--to", args.period_to)):
        if infer_frequency(value) is None:
            raise ConfigError(key, f"{value!r} is not a period (2025-10, 2025-Q3 or 2025)")
    try:
        source = config.zone(args.zone)
    except KeyError:
        raise ConfigError("--zone", f"{args.zone} is not configured") from None
    if args.dry_run:
        from tasks.extract import list_zone_releases
        from tasks.load import not_yet_loaded
        from tasks.operations import in_period_range

        refs = in_period_range(
            list_zone_releases(
                source, config.http, args.dataset, None, config.warehouse, record=False
            ),
            args.period_from,
            args.period_to,
        )
        todo = refs if args.force else not_yet_loaded(config.warehouse, refs)
        for ref in refs:
            verb = "would pull" if ref in todo else "already loaded"
            print(f"  {verb} {ref.key}")
        print(f"{len(todo)} of {len(refs)} releases in range; nothing changed (dry run)")
        return EXIT_OK
    prefect_environment()
    from flows.backfill import backfill

    through_prefect = orchestrated(args)
    with zone_progress([args.zone], f"backfill {args.period_from}..{args.period_to}"):
        result = run_flow(
            backfill,
            through_prefect,
            zone=args.zone,
            dataset=args.dataset,
            period_from=args.period_from,
            period_to=args.period_to,
            reason=args.reason,
            operator=getpass.getuser(),
            force=args.force,
            config_path=config.source_path,
        )
    return _report(result)
