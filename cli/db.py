"""``zonestats db``: upgrade the warehouse schema, show its revision, make a read-only role."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from cli.common import add_config, load_app_config

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2


def add_db_parser(sub: Any, parser_class: type[argparse.ArgumentParser]) -> None:
    """Add ``db upgrade``, ``db current`` and ``db grant-reader ROLE [--create]`` to a subparsers."""
    db = sub.add_parser("db", help="the warehouse schema: migrations and the reader role")
    dsub = db.add_subparsers(dest="db_action", required=True, parser_class=parser_class)
    up = dsub.add_parser("upgrade", help="migrate the warehouse schema to the latest revision")
    add_config(up)
    cur = dsub.add_parser(
        "current",
        help="the warehouse's schema revision and whether it is the latest (exit 1 if not)",
    )
    add_config(cur)
    grant = dsub.add_parser(
        "grant-reader",
        help="PostgreSQL: let ROLE read the warehouse (not quarantine.raw), never write",
    )
    grant.add_argument("role", metavar="ROLE", help="role name: lower-case letters, digits, _")
    grant.add_argument(
        "--create", action="store_true", help="create ROLE (NOLOGIN) if it does not exist"
    )
    add_config(grant)


def cmd_db(args: argparse.Namespace) -> int:
    """Run a ``zonestats db`` subcommand; 0 done, 1 failed (or not at head), 2 usage or config."""
    config = load_app_config(args)
    from warehouse import migrate
    from warehouse.store import engine_for

    engine = engine_for(config.warehouse)
    try:
        if args.db_action == "upgrade":
            return _upgrade(engine)
        if args.db_action == "current":
            return _current(engine)
        if args.db_action == "grant-reader":
            return _grant_reader(engine, args.role, args.create)
    except migrate.MigrationError as exc:
        print(f"zonestats: {exc}", file=sys.stderr)
        return EXIT_FAILED
    raise AssertionError(f"unknown db action {args.db_action!r}")  # argparse allows no other


def _upgrade(engine: Any) -> int:
    from warehouse import migrate

    print(f"revision before: {migrate.current(engine) or 'none (empty database)'}", flush=True)
    done = migrate.upgrade(engine)
    if done.adopted:
        print(f"the warehouse predates migrations: adopted as revision {migrate.BASELINE}")
    print(f"revision after:  {done.after} (head)")
    return EXIT_OK


def _current(engine: Any) -> int:
    from warehouse import migrate

    rev, head = migrate.current(engine), migrate.head()
    if rev == head:
        print(f"{rev} (head)")
        return EXIT_OK
    print(f"{rev or 'none (empty database)'} (not head: head is {head}; run zonestats db upgrade)")
    return EXIT_FAILED


def _grant_reader(engine: Any, role: str, create: bool) -> int:
    from warehouse import migrate

    if engine.dialect.name != "postgresql":
        print(
            "zonestats: grant-reader is for PostgreSQL; an SQLite warehouse has no roles: "
            "its file's permissions are the access control (e.g. chmod 640 and a readers group)",
            file=sys.stderr,
        )
        return EXIT_USAGE
    try:
        migrate.check_role_name(role)
    except migrate.MigrationError as exc:
        print(f"zonestats: {exc}", file=sys.stderr)
        return EXIT_USAGE
    with engine.begin() as conn:
        for line in migrate.grant_reader(conn, role, create=create):
            print(line)
    return EXIT_OK
