"""The ``zonestats`` command: run, status, simulate, demo."""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Sequence
from datetime import date, datetime
from pathlib import Path
from typing import Any

from zonestats.cli_calendar import add_calendar_parsers, cmd_deadline, cmd_late
from zonestats.cli_common import known_zone
from zonestats.cli_common import load_app_config as _load
from zonestats.cli_common import table as _table
from zonestats.cli_db import WarehouseMissing, add_db_parser, cmd_db, require_warehouse
from zonestats.cli_history import add_history_parsers, cmd_asof, cmd_diff
from zonestats.cli_lake import add_lake_parser, cmd_lake
from zonestats.cli_publish import add_publish_parsers, cmd_evaluate, cmd_export, cmd_report
from zonestats.config import AppConfig, ConfigError, load_config
from zonestats.runtime import prefect_environment, rules_for, shipped_catalog
from zonestats.steps import FlowResult, run_flow

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2
#: what a shell reports for a producer that SIGPIPE ended (128 + 13), as for `yes | head`
EXIT_PIPE = 141


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> Any:  # argparse exits 2 on usage errors, as we want
        self.print_usage(sys.stderr)
        self.exit(EXIT_USAGE, f"zonestats: error: {message}\n")


def _add_config(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--config",
        metavar="PATH",
        help="config file (else $ZONESTATS_CONFIG, else ./zonestats.toml)",
    )


def _date_arg(value: str) -> date:
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a date YYYY-MM-DD, got {value!r}") from None


def _add_orchestration(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--prefect",
        action="store_true",
        help="run as a Prefect flow run even without PREFECT_API_URL (starts a temporary "
        "server); with PREFECT_API_URL set, runs always report to that server",
    )


def _orchestrated(args: argparse.Namespace) -> bool:
    """Whether a run goes through Prefect: a configured API, or --prefect asked for it."""
    from zonestats.steps import log_to_stderr, prefect_api_configured

    if getattr(args, "prefect", False) or prefect_api_configured():
        return True
    log_to_stderr()  # without Prefect's log handler, the run's log still reaches the operator
    return False


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of every subcommand."""
    parser = _Parser(prog="zonestats", description="Pull, audit and load the zones' statistics.")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

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
        type=_date_arg,
        help="the run's date, YYYY-MM-DD: its year and the last are the marts rebuilt "
        "(default: today in Asia/Shanghai)",
    )
    _add_orchestration(run)
    _add_config(run)

    quarantine = sub.add_parser("quarantine", help="list, accept or fix quarantined records")
    qsub = quarantine.add_subparsers(dest="action", required=True, parser_class=_Parser)
    qlist = qsub.add_parser("list", help="the quarantine rows (newest release first)")
    qlist.add_argument("--zone", help="only this zone")
    qlist.add_argument("--open", action="store_true", help="only rows still open")
    qlist.add_argument("--rule", help="only this rule id")
    qlist.add_argument("--limit", type=int, default=200)
    qlist.add_argument("--json", action="store_true", help="one JSON object per line")
    _add_config(qlist)
    qaccept = qsub.add_parser(
        "accept", help="the zone explained the figure: load the record as received (audited)"
    )
    qaccept.add_argument("id", type=int, help="quarantine_id")
    qaccept.add_argument("--note", required=True, help="what the zone said (recorded)")
    _add_config(qaccept)
    qfix = qsub.add_parser("fix", help="a corrected revision arrived: mark the row fixed (audited)")
    qfix.add_argument("id", type=int, help="quarantine_id")
    qfix.add_argument("--note", default="", help="optional remark (recorded)")
    _add_config(qfix)

    status = sub.add_parser("status", help="show the load ledger")
    status.add_argument("--zone", help="only this zone")
    status.add_argument("--failed", action="store_true", help="only failed or rejected releases")
    status.add_argument("--period", help="only this period, e.g. 2026-10")
    status.add_argument("--json", action="store_true", help="one JSON object per line, for scripts")
    _add_config(status)

    rerun = sub.add_parser("rerun", help="re-attempt the ledger's failed releases")
    rerun.add_argument(
        "--failed", action="store_true", required=True, help="the failed releases (required)"
    )
    rerun.add_argument("--zone", help="only this zone")
    rerun.add_argument("--dataset", choices=["zone", "enterprise"], help="only this dataset")
    rerun.add_argument("--period", help="only this period")
    rerun.add_argument("--reason", required=True, help="why (recorded with your user name)")
    rerun.add_argument("--dry-run", action="store_true", help="print the plan, change nothing")
    _add_orchestration(rerun)
    _add_config(rerun)

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
    _add_orchestration(back)
    _add_config(back)

    serve = sub.add_parser("serve", help="run the nightly, rerun and backfill deployments here")
    _add_config(serve)

    dep = sub.add_parser(
        "deploy", help="register nightly, zone-pull, rerun and backfill on a process work pool"
    )
    dep.add_argument(
        "--pool", default="zonestats", help="the process work pool (default zonestats)"
    )
    dep.add_argument(
        "--source", help="the checkout the workers run the code from (default: this one)"
    )
    dep.add_argument(
        "--heartbeat-s",
        type=int,
        default=30,
        help="flow-run heartbeat, seconds (Prefect's floor: 30)",
    )
    dep.add_argument(
        "--crash-after-s",
        type=int,
        help="a running flow run without heartbeat this long is Crashed (default 3 beats)",
    )
    dep.add_argument(
        "--pending-crash-s",
        type=int,
        default=300,
        help="a flow run pending this long (its worker died before starting it) is Crashed",
    )
    dep.add_argument(
        "--overdue-notify",
        metavar="BLOCK",
        help="a Prefect notification block, <block-type-slug>/<name>, that the overdue "
        "automation messages for each release turning overdue (default: the automation only)",
    )
    _add_config(dep)

    sim = sub.add_parser("simulate", help="serve the zone simulator and print a config for it")
    sim.add_argument("--port", type=int, default=8765)
    sim.add_argument("--seed", type=int, default=2026)
    sim.add_argument("--as-of", help="simulated date, YYYY-MM-DD (default: today)")
    sim.add_argument(
        "--data-dir", default="var", help="where the printed config puts the warehouse"
    )
    sim.add_argument("--write-config", metavar="PATH", help="also write the config to this file")
    _add_config(sim)

    submit = sub.add_parser("submit", help="load an operator-supplied report form (.xlsx)")
    submit.add_argument("--zone", required=True, help="zone code, e.g. YQ01")
    submit.add_argument("--form", required=True, help="表号: YQ1, YQ2, YQ3 or QY1")
    submit.add_argument("--period", required=True, help="period the form reports, e.g. 2026-10")
    submit.add_argument("--file", required=True, help="the .xlsx file")
    _add_config(submit)

    add_publish_parsers(sub, _add_config)
    add_calendar_parsers(sub, _add_config)
    add_lake_parser(sub, _add_config)
    add_history_parsers(sub, _add_config)

    demo = sub.add_parser("demo", help="simulator + nightly run into ./var (SQLite + Parquet)")
    demo.add_argument("--data-dir", default="var")
    demo.add_argument("--seed", type=int, default=2026)
    _add_orchestration(demo)
    _add_config(demo)
    add_db_parser(sub, _Parser)
    return parser


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
    print(_table(rows, [*cols, "warned", "error"]))
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
    config = config or _load(args)
    zones = (
        [z.strip() for z in args.zones.split(",") if z.strip()]
        if getattr(args, "zones", None)
        else None
    )
    for code in zones or []:
        known_zone(code, "--zones")
    config.select(zones)  # unknown zone codes are a usage error before anything starts
    prefect_environment()
    orchestrated = _orchestrated(args)
    run: Any
    if orchestrated:
        from flows.nightly import nightly as run
    else:
        from flows.zones import nightly_body as run
    print(
        f"zonestats: running nightly for {', '.join(z.code for z in config.select(zones))}",
        flush=True,
    )
    validate_only = bool(getattr(args, "validate_only", False))
    result = run_flow(
        run,
        orchestrated,
        config_path=config.source_path,
        zones=zones,
        validate_only=validate_only,
        today=getattr(args, "today", None),
    )
    return _report(result)


def cmd_status(args: argparse.Namespace) -> int:
    """Print the load ledger."""
    config = _load(args)
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
    print(_table(rows, cols) if rows else "no ledger rows match")
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


def cmd_submit(args: argparse.Namespace) -> int:
    """Load an operator's form through the same validation and ledger as the nightly run."""
    import hashlib

    from tasks.load import prepare_warehouse
    from tasks.release import run_release
    from warehouse.store import Warehouse
    from zonestats.config import ZoneSource
    from zonestats.models import ReleaseRef, utcnow
    from zonestats.periods import PeriodError, parse_period
    from zonestats.sources.form_xlsx import FORMS, ManualFormAdapter, assign_revision

    config = _load(args)
    catalog = shipped_catalog()
    known_zone(args.zone)
    if args.form not in FORMS:
        raise ConfigError("--form", f"{args.form!r} is not one of {', '.join(FORMS)}")
    dataset, frequency = FORMS[args.form]
    try:
        parse_period(args.period, frequency)
    except PeriodError as exc:
        raise ConfigError("--period", f"{exc} (form {args.form} is {frequency})") from None
    path = Path(args.file)
    try:
        content = path.read_bytes()
    except OSError as exc:
        raise ConfigError("--file", f"cannot read {path}: {exc.strerror}") from None
    if len(content) > config.http.max_body_mib * 1024 * 1024:
        raise ConfigError("--file", f"{path} is larger than http.max_body_mib")
    sha = hashlib.sha256(content).hexdigest()
    prepare_warehouse(config.warehouse, catalog)
    history = Warehouse(config.warehouse).release_history(args.zone, dataset)
    ref = ReleaseRef(
        zone_code=args.zone,
        dataset=dataset,
        period=args.period,
        frequency=frequency,
        revision=assign_revision(history.get(args.period, []), sha),
        published_at=utcnow(),
        origin="manual",
        source_sha256=sha,
        form=args.form,
    )
    try:
        source = config.zone(args.zone)
    except KeyError:
        source = ZoneSource(args.zone, "form-xlsx", "http://manual.invalid", "ZONESTATS_UNUSED")
    from flows.limits import run_claims

    # no zone claim (nothing is fetched from the zone), but a heartbeat keeps the release's
    # claim alive through a long load
    with run_claims(config, "submit", None) as claims:
        outcome = run_release(
            source,
            config,
            ref,
            flow_run_id=None,
            adapter=ManualFormAdapter(args.zone, content),
            holder=claims.token,
        )
    if outcome.status == "skipped":
        print(f"{ref.key}: this file (sha256 {sha[:12]}…) is already loaded; nothing to do")
        return EXIT_OK
    print(
        f"{outcome.key} {outcome.status} (manual, sha256 {sha[:12]}…): "
        f"{outcome.records_received} received, {outcome.records_loaded} loaded, "
        f"{outcome.records_quarantined} quarantined"
        + (f" — {outcome.error}" if outcome.error else "")
    )
    return EXIT_OK if outcome.status == "loaded" else EXIT_FAILED


def cmd_rerun(args: argparse.Namespace) -> int:
    """Re-attempt failed releases (the rerun flow); --dry-run only prints what it would do."""
    import getpass

    config = _load(args)
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

    result = run_flow(
        rerun,
        _orchestrated(args),
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
    import getpass

    from zonestats.periods import infer_frequency

    config = _load(args)
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

    result = run_flow(
        backfill,
        _orchestrated(args),
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


def cmd_serve(args: argparse.Namespace) -> int:
    """Serve the deployments from this machine (flow.serve) until interrupted."""
    config = _load(args)
    prefect_environment()
    from deployments.nightly import serve

    print("zonestats: serving nightly (02:00 Asia/Shanghai), rerun and backfill; Ctrl-C to stop")
    serve(str(Path(config.source_path).resolve()) if config.source_path else None)
    return EXIT_OK


def cmd_deploy(args: argparse.Namespace) -> int:
    """Register the deployments on the work pool and the zombie automation (needs PREFECT_API_URL)."""
    config = _load(args)
    if not os.environ.get("PREFECT_API_URL"):
        print("zonestats: deploy needs PREFECT_API_URL (the Prefect server)", file=sys.stderr)
        return EXIT_USAGE
    if args.heartbeat_s < 30:
        print("zonestats: --heartbeat-s must be at least 30 (Prefect's floor)", file=sys.stderr)
        return EXIT_USAGE
    if config.source_path is None:
        print("zonestats: deploy needs a config file the workers can read", file=sys.stderr)
        return EXIT_USAGE
    prefect_environment()
    from deployments.nightly import UnknownBlock, deploy

    try:
        deploy(
            config.source_path,
            args.source,
            args.pool,
            args.heartbeat_s,
            args.crash_after_s,
            args.pending_crash_s,
            args.overdue_notify,
        )
    except UnknownBlock as exc:
        print(f"zonestats: --overdue-notify: {exc}", file=sys.stderr)
        return EXIT_USAGE
    notify = f", messaging {args.overdue_notify}" if args.overdue_notify else ""
    print(
        f"zonestats: nightly (02:00 Asia/Shanghai), zone-pull, rerun and backfill on pool "
        f"{args.pool!r}; zombie runs Crashed after "
        f"{args.crash_after_s or 3 * args.heartbeat_s} s without heartbeat; an automation on "
        f"each release turning overdue{notify}"
    )
    return EXIT_OK


def simulator_config(sim: Any, data_dir: Path) -> str:
    """A config file pointing every zone at the simulator (tokens stay in the environment)."""
    catalog = shipped_catalog()
    data_dir = data_dir.absolute()  # the file works from any directory, wherever it is put
    lines = [
        "# written by `zonestats simulate`: every zone points at the local simulator",
        "[warehouse]",
        f'url = "sqlite:///{(data_dir / "zonestats.db").as_posix()}"',
        f'data_dir = "{data_dir.as_posix()}"',
        "",
    ]
    for code, zone in catalog.zones.items():
        lines += [
            "[[zones]]",
            f'code = "{code}"',
            f'adapter = "{zone.adapter}"',  # as zones.csv says each zone hands in its data
            f'base_url = "{sim.base_url(code)}"',
            f'token_env = "{sim.token_env(code)}"',
            "",
        ]
    return "\n".join(lines)


def _write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(path)


def cmd_simulate(args: argparse.Namespace) -> int:
    """Serve the simulator until interrupted; print the config and token exports for it."""
    from zonesim import Simulator

    as_of = datetime.fromisoformat(args.as_of) if args.as_of else None
    sim = Simulator(seed=args.seed, as_of=as_of, port=args.port).start()
    text = simulator_config(sim, Path(args.data_dir))
    if args.write_config:
        _write(Path(args.write_config), text)
        print(f"# config written to {args.write_config}", file=sys.stderr)
    print(text)
    print(
        "# the simulator's (fake) tokens — paste into the shell that runs zonestats:",
        file=sys.stderr,
    )
    for code in shipped_catalog().zones:
        print(f"export {sim.token_env(code)}={sim.token(code)}", file=sys.stderr)
    print(f"# serving on 127.0.0.1:{sim.port}; Ctrl-C to stop", file=sys.stderr, flush=True)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        pass
    finally:
        sim.stop()
    return EXIT_OK


def cmd_demo(args: argparse.Namespace) -> int:
    """Start the simulator, run nightly into ./var with SQLite + Parquet, print what to query."""
    from zonesim import SimulatorProcess, SimulatorProcessError

    # absolute: the config it writes and the commands it prints work from any directory
    data_dir = Path(args.data_dir).absolute()
    # The simulator serves from a child process, on the other core: in this process it would
    # take its share of the GIL from the pipeline. The child goes with the with-block, and
    # with this process if it dies.
    try:
        # the demo scenario: a release in two revisions and a few bad records to try out
        sim = SimulatorProcess(seed=args.seed, scenario="demo").start()
    except SimulatorProcessError as exc:
        print(f"zonestats: {exc}", file=sys.stderr)
        return EXIT_FAILED
    with sim:
        for code in shipped_catalog().zones:
            os.environ[sim.token_env(code)] = sim.token(code)
        cfg_path = data_dir / "zonestats.toml"
        _write(cfg_path, simulator_config(sim, data_dir))
        config = load_config(cfg_path, shipped_catalog())
        args.zones = None
        # the runs are on the simulator's day: their reporting calendar is its present
        day = sim.as_of.date()
        args.today = day
        exit_code = cmd_run(args, config)
        revised = _demo_revise(sim, config)
        if revised is not None:
            # what a nightly sees when a zone corrects a month it sent: the next run loads it
            print(f"\nzonestats demo: {revised}; the next nightly run loads it", file=sys.stderr)
            exit_code = max(exit_code, cmd_run(args, config))
        complete = sim.as_of.year - 1  # the last complete year, evaluated against the one before
    db = data_dir / "zonestats.db"
    published = _demo_marts(config, complete)
    tryouts = _demo_tryouts(config, cfg_path.absolute())
    late = _demo_late(config, cfg_path.absolute(), day)
    print(
        f"""
Warehouse: {db} (SQLite) and {data_dir / "parquet"} (Parquet, Hive-partitioned)
Ledger:    zonestats status --config {cfg_path}
Quarantine: zonestats quarantine list --open --config {cfg_path}
{published}

Paste into DuckDB (duckdb) to read the current revision from Parquet (obs_zone/ keeps every one):
  SELECT zone_code, period, indicator_code, value, unit
  FROM read_parquet('{data_dir.as_posix()}/parquet/obs_zone_current/*/*/*.parquet', hive_partitioning = true)
  WHERE indicator_code = 'revenue' AND period LIKE '%-10' ORDER BY zone_code, period;

or into SQLite (sqlite3 {db}):
  SELECT zone_code, period, revision, value FROM obs_zone
  WHERE indicator_code = 'revenue' ORDER BY zone_code, period, revision;
{tryouts}{late}"""
    )
    return exit_code


def _demo_late(config: AppConfig, cfg_path: Path, day: date) -> str:
    """The `late` table of the demo's day: what the scenario's late zone has not handed in."""
    import contextlib
    import io
    import shlex

    from zonestats.cli_calendar import cmd_late

    cfg = shlex.quote(str(cfg_path))
    text = io.StringIO()
    with contextlib.redirect_stdout(text):
        cmd_late(argparse.Namespace(as_of=day, zone=None, json=False), config)
    table = "\n".join(f"  {line}" if line else "" for line in text.getvalue().splitlines())
    return (
        f"\nWhat is late by the reporting calendar — a zone that has not reported:\n"
        f"    zonestats late --as-of {day.isoformat()} --config {cfg}\n\n{table}\n"
    )


def _demo_revise(sim: Any, config: AppConfig) -> str | None:
    """Have the demo's zone publish revision 2 of its latest loaded month; say so (None: none)."""
    from warehouse.store import Warehouse
    from zonesim.scenario import DEMO_REVISED_ZONE

    ledger = Warehouse(config.warehouse).ledger(zone=DEMO_REVISED_ZONE, status="loaded")
    monthly = ledger[(ledger["dataset"] == "zone") & ledger["period"].str.match(r"^\d{4}-\d\d$")]
    if monthly.empty:
        return None
    period = str(monthly["period"].max())
    revision = sim.publish_revision(DEMO_REVISED_ZONE, "zone", period)
    return f"{DEMO_REVISED_ZONE} has published revision {revision} of its zone figures of {period}"


def _demo_tryouts(config: AppConfig, cfg_path: Path) -> str:
    """What the demo shows the product is for: a revised release, the quarantine, to paste."""
    import shlex

    from warehouse import quality
    from warehouse.store import Warehouse
    from zonesim.scenario import DEMO_REVISED_ZONE

    wh = Warehouse(config.warehouse)
    cfg = shlex.quote(str(cfg_path))
    # absolute: the commands are for pasting in any directory
    db = shlex.quote(str((config.warehouse.data_dir / "zonestats.db").absolute()))
    lines = ["", "What it is for — try these:"]
    ledger = wh.ledger(status="loaded")
    revised = ledger[ledger["revision"] > 1].assign(
        # the scenario's revised release (the latest published) first
        _ours=lambda f: f["zone_code"] != DEMO_REVISED_ZONE
    )
    revised = revised.sort_values(["_ours", "published_at"], ascending=[True, False])
    if len(revised):
        r = revised.iloc[0]
        query = (
            "SELECT indicator_code, revision, value FROM obs_zone "
            f"WHERE zone_code = '{r.zone_code}' AND period = '{r.period}' "
            "ORDER BY indicator_code, revision"
        )
        lines += [
            f"  {r.zone_code} {r.dataset} {r.period} arrived in {int(r.revision)} revisions; every"
            " revision is kept, obs_zone_current holds the latest:",
            f'    sqlite3 -readonly {db} "{query}"',  # the query holds no " nor $
            "  what the revision changed, per indicator (old, new, difference, percent):",
            f"    zonestats diff --zone {r.zone_code} --dataset {r.dataset} --period {r.period}"
            f" --config {cfg}",
        ]
    held = quality.list_quarantine(wh, None, True, None, 10_000)
    if len(held):
        rules = rules_for(config).rules
        acceptable = held[
            held["rule"].map(lambda r: getattr(rules.get(r), "acceptable", False))
            & (held["severity"] == "error")
        ]
        first = (acceptable if len(acceptable) else held).iloc[0]
        lines += [
            f"  {len(held)} records are held out in quarantine, each with its rule and reason:",
            f"    zonestats quarantine list --open --config {cfg}",
            f"  accept one after checking it with the zone ({first.zone_code} {first.period},"
            f" {first.rule}): it is loaded, with your note",
            f"    zonestats quarantine accept {int(first.quarantine_id)} --note"
            f" 'confirmed by the zone' --config {cfg}",
        ]
    return "\n".join(lines) + "\n"


def cmd_quarantine(args: argparse.Namespace) -> int:
    """List quarantine rows, or accept or fix one (audited with your user name)."""
    import getpass

    from tasks.quarantine import accept_row, fix_row
    from warehouse import quality
    from warehouse.quality import QuarantineError
    from warehouse.store import Warehouse

    config = _load(args)
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
            print(_table(rows, cols) if rows else "no quarantine rows match")
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


def _demo_marts(config: AppConfig, year: int) -> str:
    """Build the marts of the demo's years, the report and the export; say where they are."""
    from publish.exports import export_xlsx
    from publish.report import write_report
    from warehouse import marts
    from warehouse.paths import export_file, report_dir
    from warehouse.store import Warehouse
    from zonestats.cli_publish import build, punctuality_of

    for y in (year - 1, year, year + 1):
        build(config, y)
    wh = Warehouse(config.warehouse)
    ev = marts.mart_rows(wh, "mart_zone_evaluation", year)
    zones, indicators = marts.reference(wh, "dim_zone"), marts.reference(wh, "dim_indicator")
    report = write_report(
        report_dir(config.warehouse.data_dir),
        year,
        ev,
        marts.monthly_rows(wh, year),
        zones,
        indicators,
        *punctuality_of(wh, year),
    )
    xlsx = export_xlsx(
        export_file(config.warehouse.data_dir, str(year), "xlsx"),
        str(year),
        marts.zone_observations(wh, year, year),
        indicators,
        zones,
        ev,
    )
    top = ev.sort_values("rank").head(3)
    ranking = ", ".join(
        f"{r.rank}. {r.zone_code} ({r.grade}, {r.composite:.1f})" for r in top.itertuples()
    )
    root = config.warehouse.data_dir / "parquet" / "marts"
    return (
        f"Marts:     {root} (zone_monthly, mart_zone_evaluation, mart_rd_subsidy; also in SQL)\n"
        f"Evaluation {year}: {ranking}\n"
        f"Report:    {report}\n"
        f"Export:    {xlsx}   (also: zonestats export --period {year}-12 --format sdmx)"
    )


COMMANDS = {
    "db": cmd_db,
    "evaluate": lambda args: cmd_evaluate(args, _load(args)),
    "export": lambda args: cmd_export(args, _load(args)),
    "report": lambda args: cmd_report(args, _load(args)),
    "deadline": lambda args: cmd_deadline(args, _load(args)),
    "late": lambda args: cmd_late(args, _load(args)),
    "lake": lambda args: cmd_lake(args, _load(args)),
    "asof": lambda args: cmd_asof(args, _load(args)),
    "diff": lambda args: cmd_diff(args, _load(args)),
    "run": cmd_run,
    "quarantine": cmd_quarantine,
    "status": cmd_status,
    "submit": cmd_submit,
    "rerun": cmd_rerun,
    "backfill": cmd_backfill,
    "serve": cmd_serve,
    "deploy": cmd_deploy,
    "simulate": cmd_simulate,
    "demo": cmd_demo,
}


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the console script."""
    args = build_parser().parse_args(argv)
    try:
        code = int(COMMANDS[args.command](args))
        sys.stdout.flush()  # here, not at exit: a closed pipe must reach the handler below
        return code
    except ConfigError as exc:
        print(f"zonestats: config error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except WarehouseMissing as exc:
        print(f"zonestats: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except BrokenPipeError:
        # the reader (head, less) stopped reading: stop quietly; what is still buffered goes
        # nowhere instead of raising again when the interpreter flushes stdout at exit
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return EXIT_PIPE


if __name__ == "__main__":
    sys.exit(main())
