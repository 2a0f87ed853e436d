"""The ``zonestats`` command: its parser, one module per command group, and the entry point."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

from cli import calendar, db, demo, deploy, history, lake, publish, quarantine, run, status, submit
from cli.common import EXIT_PIPE, EXIT_USAGE, Parser, WarehouseMissing, add_config, load_app_config
from zonestats.config import ConfigError


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of every subcommand."""
    parser = Parser(prog="zonestats", description="Pull, audit and load the zones' statistics.")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=Parser)
    run.add_parsers(sub)
    quarantine.add_parsers(sub)
    status.add_parsers(sub)
    deploy.add_parsers(sub)
    demo.add_parsers(sub)
    submit.add_parsers(sub)
    publish.add_publish_parsers(sub, add_config)
    calendar.add_calendar_parsers(sub, add_config)
    lake.add_lake_parser(sub, add_config)
    history.add_history_parsers(sub, add_config)
    db.add_db_parser(sub, Parser)
    return parser


# the commands that read a config get it here, so that a bad one is exit 2 before any work
COMMANDS = {
    "db": db.cmd_db,
    "evaluate": lambda args: publish.cmd_evaluate(args, load_app_config(args)),
    "export": lambda args: publish.cmd_export(args, load_app_config(args)),
    "report": lambda args: publish.cmd_report(args, load_app_config(args)),
    "deadline": lambda args: calendar.cmd_deadline(args, load_app_config(args)),
    "late": lambda args: calendar.cmd_late(args, load_app_config(args)),
    "lake": lambda args: lake.cmd_lake(args, load_app_config(args)),
    "asof": lambda args: history.cmd_asof(args, load_app_config(args)),
    "diff": lambda args: history.cmd_diff(args, load_app_config(args)),
    "run": run.cmd_run,
    "quarantine": quarantine.cmd_quarantine,
    "status": status.cmd_status,
    "submit": submit.cmd_submit,
    "rerun": run.cmd_rerun,
    "backfill": run.cmd_backfill,
    "serve": deploy.cmd_serve,
    "deploy": deploy.cmd_deploy,
    "simulate": demo.cmd_simulate,
    "demo": demo.cmd_demo,
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
