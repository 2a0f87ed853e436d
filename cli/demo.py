"""The simulator and the demo: ``simulate`` serves it, ``demo`` runs the product against it."""

from __future__ import annotations

import argparse
import os
import sys
import time
from datetime import date, datetime
from datetime import time as dtime
from pathlib import Path
from typing import Any

from cli.common import EXIT_FAILED, EXIT_OK, add_config, add_orchestration, date_arg, known_zone
from cli.run import cmd_run
from tasks.runtime import rules_for
from zonestats.catalog import shipped_catalog
from zonestats.config import AppConfig, load_config


def add_parsers(sub: Any) -> None:
    """Add the simulate and demo subcommands."""
    sim = sub.add_parser("simulate", help="serve the zone simulator and print a config for it")
    sim.add_argument("--port", type=int, default=8765)
    sim.add_argument("--seed", type=int, default=2026)
    sim.add_argument("--as-of", help="simulated date, YYYY-MM-DD (default: today)")
    sim.add_argument(
        "--data-dir", default="var", help="where the printed config puts the warehouse"
    )
    sim.add_argument("--write-config", metavar="PATH", help="also write the config to this file")
    add_config(sim)

    demo = sub.add_parser("demo", help="simulator + nightly run into ./var (SQLite + Parquet)")
    demo.add_argument("--data-dir", default="var")
    demo.add_argument("--seed", type=int, default=2026)
    demo.add_argument(
        "--as-of",
        type=date_arg,
        help="the simulator's day, YYYY-MM-DD (09:00 Asia/Shanghai; default: today): the zones "
        "have published up to it, and the run's reporting calendar is its present",
    )
    demo.add_argument(
        "--zones",
        help="comma-separated zone codes, e.g. TY01,DT01,JZ01 (default: all eleven): only these "
        "go into the demo's config, so a quick demo is a few zones",
    )
    add_orchestration(demo)
    add_config(demo)


def simulator_config(sim: Any, data_dir: Path, zones: list[str] | None = None) -> str:
    """A config file pointing every zone (or those named) at the simulator (tokens stay in the
    environment)."""
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
        if zones is not None and code not in zones:
            continue
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
    zones = [z.strip() for z in (args.zones or "").split(",") if z.strip()] or None
    for code in zones or []:
        known_zone(code, "--zones")  # a usage error before the simulator starts
    as_of = (
        datetime.combine(args.as_of, dtime(9), tzinfo=shipped_catalog().calendar.tz)
        if args.as_of
        else None
    )
    # The simulator serves from a child process, on the other core: in this process it would
    # take its share of the GIL from the pipeline. The child goes with the with-block, and
    # with this process if it dies.
    try:
        # the demo scenario: a release in two revisions and a few bad records to try out
        sim = SimulatorProcess(seed=args.seed, as_of=as_of, scenario="demo").start()
    except SimulatorProcessError as exc:
        print(f"zonestats: {exc}", file=sys.stderr)
        return EXIT_FAILED
    with sim:
        for code in shipped_catalog().zones:
            os.environ[sim.token_env(code)] = sim.token(code)
        cfg_path = data_dir / "zonestats.toml"
        _write(cfg_path, simulator_config(sim, data_dir, zones))
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

    from cli.calendar import cmd_late

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


def _demo_marts(config: AppConfig, year: int) -> str:
    """Build the marts of the demo's years, the report and the export; say where they are."""
    from cli.publish import build, punctuality_of
    from publish.exports import export_xlsx
    from publish.report import write_report
    from warehouse import marts
    from warehouse.paths import export_file, report_dir
    from warehouse.store import Warehouse

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
