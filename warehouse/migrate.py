"""Schema migrations (Alembic) run from code: upgrade, current, stamp; and the reader role's grants.

No alembic.ini: the configuration is built here, with the scripts in ``warehouse/migrations``.
On PostgreSQL every table, index, view and the version table live in schema ``zonestats``; on
SQLite there are no schemas. Two processes may upgrade at once: on PostgreSQL they queue on a
transaction-level advisory lock, on SQLite on the write lock ``BEGIN IMMEDIATE`` takes, and the
second finds the database at head and does nothing.
"""

from __future__ import annotations

import functools
import logging
import re
from dataclasses import dataclass
from importlib.resources import files

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, Engine, inspect, text

log = logging.getLogger(__name__)

SCHEMA = "zonestats"
VERSION_TABLE = "alembic_version"
#: the revision a warehouse created before migrations existed is adopted as
BASELINE = "0001"
# Any constant works: advisory locks are per database, and only schema work takes this one.
_LOCK_KEY = 0x7A6F6E65_73746174 & 0x7FFF_FFFF_FFFF_FFFF

# What a warehouse from before migrations has (revision 0001's tables and views): _adopt moves
# them into schema zonestats by these names, whatever later revisions renamed.
_PRE_MIGRATION_TABLES = (
    "dim_zone", "dim_indicator", "dim_enterprise", "obs_zone", "obs_enterprise", "quarantine",
    "load_ledger", "watermark", "operator_action", "dq_run", "mart_zone_evaluation",
    "mart_rd_subsidy", "mart_build",
)  # fmt: skip
_PRE_MIGRATION_VIEWS = ("obs_zone_current", "obs_enterprise_current", "zone_monthly")

#: columns a reader must never see, per table (the record as a zone sent it may carry names and
#: figures the statistics law keeps confidential until audited). A migration that creates such a
#: table adds it here; every upgrade re-applies the readers' grants, so the default privileges
#: that make new tables readable never expose it.
RESTRICTED_COLUMNS: dict[str, frozenset[str]] = {"quarantine": frozenset({"raw"})}

_ROLE = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")
# names that GRANT ... TO reads as something other than one role
_NOT_A_ROLE = {"public", "none", "all", "current_user", "current_role", "session_user"}


class MigrationError(RuntimeError):
    """The schema cannot be migrated or a grant cannot be made; the message says why."""


@dataclass(frozen=True)
class Upgrade:
    """What an upgrade did: the revision before and after, and whether it adopted an old warehouse."""

    before: str | None
    after: str | None
    adopted: bool = False


def script_location() -> str:
    """The directory of env.py and versions/, inside the installed package."""
    return str(files("warehouse") / "migrations")


def alembic_config(connection: Connection | None = None, adopt: bool = False) -> Config:
    """An Alembic configuration built in code; env.py migrates ``connection`` when given."""
    cfg = Config()
    cfg.set_main_option("script_location", script_location())
    if connection is not None:
        cfg.attributes["connection"] = connection
    cfg.attributes["adopt"] = adopt
    return cfg


@functools.cache
def head() -> str:
    """The latest revision of the migration scripts."""
    heads = ScriptDirectory.from_config(alembic_config()).get_heads()
    if len(heads) != 1:
        raise MigrationError(f"the migrations have {len(heads)} heads ({heads}); merge them")
    return heads[0]


def version_table_schema(conn: Connection) -> str | None:
    """Where the version table lives: schema zonestats on PostgreSQL, nowhere special on SQLite."""
    return SCHEMA if conn.dialect.name == "postgresql" else None


def current_revision(conn: Connection) -> str | None:
    """The revision the database is at on this connection, None before the first migration."""
    ctx = MigrationContext.configure(
        conn,
        opts={"version_table": VERSION_TABLE, "version_table_schema": version_table_schema(conn)},
    )
    return ctx.get_current_revision()


def current(engine: Engine) -> str | None:
    """The revision the database is at, None before the first migration."""
    with engine.connect() as conn:
        return current_revision(conn)


def upgrade(engine: Engine, target: str = "head") -> Upgrade:
    """Migrate the database to ``target``; at head already, only the version is read."""
    if target == "head":
        before = current(engine)
        if before == head():
            return Upgrade(before, before)
    with engine.begin() as conn:
        lock(conn)
        # read again under the lock: a concurrent caller may have migrated while we waited
        before = current_revision(conn)
        adopted = False
        if before is None and _is_pre_migration(conn):
            _adopt(conn)
            adopted = True
        command.upgrade(alembic_config(conn), target)
        after = current_revision(conn)
        if after != before and conn.dialect.name == "postgresql":
            for role in reader_roles(conn):
                apply_reader_grants(conn, role)
    if adopted:
        log.warning(
            "zonestats: the warehouse predates migrations: adopted as revision %s, now at %s",
            BASELINE,
            after,
        )
    return Upgrade(before, after, adopted)


def downgrade(engine: Engine, target: str) -> Upgrade:
    """Migrate the database back to ``target`` (for rollbacks and tests; keeps every row)."""
    with engine.begin() as conn:
        lock(conn)
        before = current_revision(conn)
        command.downgrade(alembic_config(conn), target)
        after = current_revision(conn)
        if after != before and conn.dialect.name == "postgresql":
            for role in reader_roles(conn):
                apply_reader_grants(conn, role)
    return Upgrade(before, after)


def stamp(engine: Engine, revision: str) -> None:
    """Record ``revision`` as the database's without running any migration (for repairs)."""
    with engine.begin() as conn:
        lock(conn)
        command.stamp(alembic_config(conn), revision)


def lock(conn: Connection) -> None:
    """Hold the warehouse's schema lock until this transaction ends (PostgreSQL).

    SQLite needs nothing: the engine's BEGIN IMMEDIATE already holds the database's write lock.
    """
    if conn.dialect.name == "postgresql":
        conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _LOCK_KEY})


def _is_pre_migration(conn: Connection) -> bool:
    """True for a warehouse the application created before migrations (no version table)."""
    insp = inspect(conn)
    if conn.dialect.name != "postgresql":
        return insp.has_table("load_ledger")
    return insp.has_table("load_ledger", schema=SCHEMA) or insp.has_table(
        "load_ledger", schema="public"
    )


def _adopt(conn: Connection) -> None:
    """Bring a pre-migration warehouse to exactly revision 0001 and record it there.

    Its tables are where the application used to create them (schema public on PostgreSQL): they
    move into schema zonestats. The baseline then runs in adopt mode, creating only what the old
    warehouse lacks (tables, nullable columns, indexes and views added since it was created), so
    stamping it 0001 tells the truth.
    """
    if conn.dialect.name == "postgresql":
        insp = inspect(conn)
        if not insp.has_table("load_ledger", schema=SCHEMA):
            if not conn.execute(
                text("SELECT 1 FROM pg_namespace WHERE nspname = :s"), {"s": SCHEMA}
            ).first():
                conn.exec_driver_sql(f"CREATE SCHEMA {SCHEMA}")
            tables = set(insp.get_table_names(schema="public"))
            views = set(insp.get_view_names(schema="public"))
            for name in _PRE_MIGRATION_TABLES:
                if name in tables:
                    conn.exec_driver_sql(f'ALTER TABLE public."{name}" SET SCHEMA {SCHEMA}')
            for name in _PRE_MIGRATION_VIEWS:
                if name in views:
                    conn.exec_driver_sql(f'ALTER VIEW public."{name}" SET SCHEMA {SCHEMA}')
            log.warning("zonestats: moved the warehouse's tables from schema public to %s", SCHEMA)
    command.upgrade(alembic_config(conn, adopt=True), BASELINE)


# -- the reader role (PostgreSQL) ------------------------------------------------------------


def check_role_name(role: str, conn: Connection | None = None) -> None:
    """Refuse a role name that is not one plain identifier, or that names the warehouse's owner."""
    if not _ROLE.match(role) or role in _NOT_A_ROLE or role.startswith("pg_"):
        raise MigrationError(
            f"{role!r} is not a plain role name (lower-case letters, digits, _; not a reserved name)"
        )
    if conn is not None and role == conn.execute(text("SELECT current_user")).scalar_one():
        raise MigrationError(f"{role!r} is the role the warehouse is written as; choose another")


def reader_roles(conn: Connection) -> list[str]:
    """The roles grant_reader made readers: those our default privileges let SELECT new tables."""
    rows = conn.execute(
        text(
            "SELECT DISTINCT a.grantee::regrole::text FROM pg_default_acl d "
            "JOIN pg_namespace n ON n.oid = d.defaclnamespace "
            "CROSS JOIN LATERAL aclexplode(d.defaclacl) a "
            "WHERE n.nspname = :s AND d.defaclobjtype = 'r' AND a.privilege_type = 'SELECT' "
            "AND d.defaclrole = (SELECT oid FROM pg_roles WHERE rolname = current_user) "
            "AND a.grantee <> 0"
        ),
        {"s": SCHEMA},
    ).scalars()
    return sorted(r for r in rows if _ROLE.match(r))


def grant_reader(conn: Connection, role: str, create: bool = False) -> list[str]:
    """Make ``role`` a reader of the warehouse (idempotent); return a line per thing done."""
    check_role_name(role, conn)
    lock(conn)  # not while an upgrade creates tables: it re-applies these grants when it ends
    done: list[str] = []
    exists = conn.execute(text("SELECT 1 FROM pg_roles WHERE rolname = :r"), {"r": role}).first()
    if not exists:
        if not create:
            raise MigrationError(f"role {role} does not exist (add --create to create it NOLOGIN)")
        conn.exec_driver_sql(f'CREATE ROLE "{role}" NOLOGIN')
        done.append(f"created role {role} (NOLOGIN: grant it to login roles)")
    if current_revision(conn) is None:
        raise MigrationError("the warehouse has no schema yet: run `zonestats db upgrade` first")
    done += apply_reader_grants(conn, role)
    return done


def apply_reader_grants(conn: Connection, role: str) -> list[str]:
    """Set ``role``'s privileges in schema zonestats to exactly a reader's."""
    check_role_name(role)
    q = f'"{role}"'
    # start from nothing, so a write privilege granted by hand or a column added to a restricted
    # table since the last grant cannot survive; one transaction, so no reader sees a gap
    conn.exec_driver_sql(f"REVOKE ALL ON SCHEMA {SCHEMA} FROM {q}")
    conn.exec_driver_sql(f"REVOKE ALL ON ALL TABLES IN SCHEMA {SCHEMA} FROM {q}")
    conn.exec_driver_sql(f"REVOKE ALL ON ALL SEQUENCES IN SCHEMA {SCHEMA} FROM {q}")
    conn.exec_driver_sql(f"GRANT USAGE ON SCHEMA {SCHEMA} TO {q}")
    conn.exec_driver_sql(f"GRANT SELECT ON ALL TABLES IN SCHEMA {SCHEMA} TO {q}")  # and views
    insp = inspect(conn)
    for name, hidden in sorted(RESTRICTED_COLUMNS.items()):
        if not insp.has_table(name, schema=SCHEMA):
            continue
        visible = [
            c["name"] for c in insp.get_columns(name, schema=SCHEMA) if c["name"] not in hidden
        ]
        cols = ", ".join(f'"{c}"' for c in visible)
        # a table-level REVOKE also drops column privileges; then grant the visible columns
        conn.exec_driver_sql(f'REVOKE ALL ON {SCHEMA}."{name}" FROM {q}')
        conn.exec_driver_sql(f'GRANT SELECT ({cols}) ON {SCHEMA}."{name}" TO {q}')
    # tables created later (new marts) by this role, i.e. by the migrations, are readable too
    conn.exec_driver_sql(
        f"ALTER DEFAULT PRIVILEGES IN SCHEMA {SCHEMA} GRANT SELECT ON TABLES TO {q}"
    )
    described = "; ".join(
        f"{t}: every column but {', '.join(sorted(c))}" for t, c in RESTRICTED_COLUMNS.items()
    )
    return [
        f"{role}: USAGE on schema {SCHEMA}; SELECT on every table and view ({described}); "
        "nothing else; tables created later readable too"
    ]


__all__ = [
    "BASELINE",
    "RESTRICTED_COLUMNS",
    "SCHEMA",
    "MigrationError",
    "Upgrade",
    "alembic_config",
    "apply_reader_grants",
    "current",
    "current_revision",
    "downgrade",
    "grant_reader",
    "head",
    "lock",
    "reader_roles",
    "stamp",
    "upgrade",
]
