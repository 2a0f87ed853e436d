"""What every command module of the CLI shares: the exit codes, the parser class, the --config
and --prefect flags, the config a command runs with, the --zone check and plain tables. A leaf
of the ``cli`` package: its command modules import it and not each other (no import circle)."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from datetime import date
from pathlib import Path
from typing import Any

from tasks.runtime import rules_for
from zonestats.catalog import shipped_catalog
from zonestats.config import AppConfig, ConfigError, load_config, resolve_config_path

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2
#: what a shell reports for a producer that SIGPIPE ended (128 + 13), as for `yes | head`
EXIT_PIPE = 141


class Parser(argparse.ArgumentParser):
    """argparse with our usage-error line (exit 2, as argparse does)."""

    def error(self, message: str) -> Any:  # argparse exits 2 on usage errors, as we want
        self.print_usage(sys.stderr)
        self.exit(EXIT_USAGE, f"zonestats: error: {message}\n")


def add_config(p: argparse.ArgumentParser) -> None:
    """Add --config to a subcommand."""
    p.add_argument(
        "--config",
        metavar="PATH",
        help="config file (else $ZONESTATS_CONFIG, else ./zonestats.toml)",
    )


def date_arg(value: str) -> date:
    """An argparse type: a date YYYY-MM-DD."""
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a date YYYY-MM-DD, got {value!r}") from None


def add_orchestration(parser: argparse.ArgumentParser) -> None:
    """Add --prefect to a subcommand that runs a flow."""
    parser.add_argument(
        "--prefect",
        action="store_true",
        help="run as a Prefect flow run even without PREFECT_API_URL (starts a temporary "
        "server); with PREFECT_API_URL set, runs always report to that server",
    )


def orchestrated(args: argparse.Namespace) -> bool:
    """Whether a run goes through Prefect: a configured API, or --prefect asked for it."""
    from zonestats.steps import log_to_stderr, prefect_api_configured

    if getattr(args, "prefect", False) or prefect_api_configured():
        return True
    log_to_stderr()  # without Prefect's log handler, the run's log still reaches the operator
    return False


def load_app_config(args: argparse.Namespace) -> AppConfig:
    """The config of a command's --config (else $ZONESTATS_CONFIG, else ./zonestats.toml)."""
    path = resolve_config_path(args.config, os.environ)
    config = load_config(path, shipped_catalog())
    rules_for(config)  # a severity override of an unknown rule is a config error, exit 2
    return config


def known_zone(code: str | None, flag: str = "--zone") -> str | None:
    """A --zone value checked against the zone registry (unknown: exit 2, with the known codes)."""
    if code is None:
        return None
    zones = shipped_catalog().zones
    if code not in zones:
        raise ConfigError(flag, f"{code!r} is not a zone; the zones are {', '.join(zones)}")
    return code


def table(rows: list[dict[str, Any]], columns: Sequence[str]) -> str:
    """Rows as a plain text table of the given columns, a header and a rule first."""
    widths = {c: max([len(c)] + [len(str(r.get(c, ""))) for r in rows]) for c in columns}
    lines = ["  ".join(c.ljust(widths[c]) for c in columns)]
    lines.append("  ".join("-" * widths[c] for c in columns))
    lines += ["  ".join(str(r.get(c, "")).ljust(widths[c]) for c in columns) for r in rows]
    return "\n".join(lines)


class WarehouseMissing(Exception):
    """A read-only command met a warehouse that does not exist or was never set up (exit 2)."""


def require_warehouse(settings: Any) -> None:
    """Refuse a warehouse that does not exist or has no zonestats tables, without creating it.

    Read-only commands call this before they open the warehouse: SQLite creates a missing file
    on connect, and a migration would create the tables; neither is a reader's business.
    """
    from sqlalchemy import create_engine, inspect
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import SQLAlchemyError

    url = make_url(settings.url.get_secret_value())
    shown = url.render_as_string(hide_password=True)
    if url.get_backend_name() == "sqlite":
        path = url.database or ""
        if path not in ("", ":memory:") and not Path(path).is_file():
            raise WarehouseMissing(
                f"no warehouse at {Path(path).absolute()} (the SQLite file does not exist); "
                "`zonestats db upgrade` or a run creates it"
            )
    else:
        # a probe of its own with a bounded connect: an unreachable server must not hang a reader
        probe = create_engine(url, connect_args={"connect_timeout": 10})
        try:
            with probe.connect():
                pass
        except SQLAlchemyError as exc:
            reason = str(getattr(exc, "orig", exc)).strip().splitlines()[0]
            raise WarehouseMissing(f"cannot open the warehouse {shown}: {reason}") from None
        finally:
            probe.dispose()
    from warehouse.store import Warehouse

    if not inspect(Warehouse(settings).engine).has_table("load_ledger"):
        raise WarehouseMissing(
            f"the warehouse {shown} has no zonestats tables; `zonestats db upgrade` creates them"
        )
