"""Observations stored compactly: a load number per row, the load's uuid and time once per load.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-03

Each observation row used to carry its load's uuid (36 characters) and load time (a timestamp
text on SQLite), beside a rowid B-tree, the key's index and an index on load_id: about 257 bytes
a value on SQLite. Now:

- ``load_commit``: one row per transaction that committed rows of a release (its load, or an
  operator's accept), with ``load_no`` (a small integer), ``load_id``, ``loaded_at``, the release
  and the Parquet batch its rows went to.
- ``obs_zone_base`` / ``obs_enterprise_base``: the observations with ``load_no`` instead of
  ``load_id`` and ``loaded_at``, keyed by the release first (zone, period, revision, ...), so a
  release is one contiguous key range; WITHOUT ROWID on SQLite (the key is the table).
- ``obs_zone`` / ``obs_enterprise`` become views with the contract's columns in the contract's
  order; the ``_current`` views and ``zone_monthly`` read them as before. INSTEAD OF triggers
  keep them writable for an operator's hand edit (the load writes the base tables directly).
- PostgreSQL: ``dim_enterprise`` gets fillfactor 70, so each load's update of its enterprises
  stays on the page (a HOT update).

Every row is copied across and the views show the same load_id and loaded_at as the tables did
(a load whose rows carry two load times, e.g. an accepted record, gets a load_commit row for
each). Reversible: the downgrade copies the rows back into the old tables. A frozen record: the
tables, view texts and triggers are spelled out here, never imported from warehouse.schema.
"""

from __future__ import annotations

import logging
from typing import Any

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | None = None
depends_on: str | None = None

log = logging.getLogger("warehouse.migrate")

_TS = sa.DateTime(timezone=True)

# the contract's columns of each view, in the contract's order
ZONE_COLUMNS = (
    "zone_code", "indicator_code", "period", "frequency", "revision", "value", "unit", "status",
    "load_id", "loaded_at",
)  # fmt: skip
ENTERPRISE_COLUMNS = (
    "zone_code", "uscc", "period", "revision", "indicator_code", "value", "unit", "load_id",
    "loaded_at",
)  # fmt: skip
# the physical key of each base table: the release first
ZONE_KEY = ("zone_code", "period", "revision", "indicator_code")
ENTERPRISE_KEY = ("zone_code", "period", "revision", "uscc", "indicator_code")
_LOAD = ("load_id", "loaded_at")

OBS = {
    # view: (dataset, base table, contract columns, physical key)
    "obs_zone": ("zone", "obs_zone_base", ZONE_COLUMNS, ZONE_KEY),
    "obs_enterprise": ("enterprise", "obs_enterprise_base", ENTERPRISE_COLUMNS, ENTERPRISE_KEY),
}

VIEWS: dict[str, str] = {
    "obs_zone": (
        "CREATE VIEW obs_zone AS SELECT b.zone_code, b.indicator_code, b.period, b.frequency, "
        "b.revision, b.value, b.unit, b.status, c.load_id, c.loaded_at FROM obs_zone_base b "
        "LEFT JOIN load_commit c ON c.load_no = b.load_no"
    ),
    "obs_enterprise": (
        "CREATE VIEW obs_enterprise AS SELECT b.zone_code, b.uscc, b.period, b.revision, "
        "b.indicator_code, b.value, b.unit, c.load_id, c.loaded_at FROM obs_enterprise_base b "
        "LEFT JOIN load_commit c ON c.load_no = b.load_no"
    ),
    "obs_zone_current": (
        "CREATE VIEW obs_zone_current AS SELECT o.* FROM obs_zone o JOIN (SELECT zone_code, "
        "period, MAX(revision) AS revision FROM load_ledger WHERE dataset = 'zone' AND status = "
        "'loaded' GROUP BY zone_code, period) cur ON o.zone_code = cur.zone_code AND o.period = "
        "cur.period AND o.revision = cur.revision"
    ),
    "obs_enterprise_current": (
        "CREATE VIEW obs_enterprise_current AS SELECT o.* FROM obs_enterprise o JOIN (SELECT "
        "zone_code, period, MAX(revision) AS revision FROM load_ledger WHERE dataset = "
        "'enterprise' AND status = 'loaded' GROUP BY zone_code, period) cur ON o.zone_code = "
        "cur.zone_code AND o.period = cur.period AND o.revision = cur.revision"
    ),
    # reads obs_zone_current: created after it, dropped before it (the text of 0001, unchanged)
    "zone_monthly": """\
CREATE VIEW zone_monthly AS
WITH m AS (
    SELECT o.zone_code, o.indicator_code, o.period,
           CASE WHEN o.frequency = 'M' THEN CAST(SUBSTR(o.period, 1, 4) AS INTEGER) END AS yr,
           CASE WHEN o.frequency = 'M' THEN CAST(SUBSTR(o.period, 6, 2) AS INTEGER) END AS mo,
           o.value, o.unit
    FROM obs_zone_current o
    JOIN dim_indicator d ON d.dataset = 'zone' AND d.code = o.indicator_code
    WHERE o.frequency = 'M' AND d.frequency = 'M' AND d.basis = 'ytd'
)
SELECT c.zone_code, c.indicator_code, c.period,
       c.yr AS year, c.mo AS month,
       c.value AS ytd_value,
       CASE WHEN c.mo = 2 THEN c.value ELSE c.value - p.value END AS month_value,
       CASE WHEN b.value <> 0 THEN (c.value / b.value - 1) * 100 ELSE NULL END AS yoy_pct,
       c.unit
FROM m c
LEFT JOIN m p ON p.zone_code = c.zone_code AND p.indicator_code = c.indicator_code
             AND p.yr = c.yr AND p.mo = c.mo - 1
LEFT JOIN m b ON b.zone_code = c.zone_code AND b.indicator_code = c.indicator_code
             AND b.yr = c.yr - 1 AND b.mo = c.mo""",
}
# what 0001 created over the tables, restored by the downgrade
OLD_VIEWS: dict[str, str] = {
    name: VIEWS[name] for name in ("obs_zone_current", "obs_enterprise_current", "zone_monthly")
}
# the views that read the observation tables, in the order they are dropped
_DEPENDENT = ("zone_monthly", "obs_enterprise_current", "obs_zone_current")


def _commit_of(new: str) -> str:
    # the load_commit row of the load named by a written row (the first, if an accept added more)
    return (
        f"(SELECT min(load_no) FROM load_commit WHERE load_id = {new}.load_id "
        f"AND loaded_at = {new}.loaded_at)"
    )


def _sqlite_triggers(view: str) -> list[str]:
    """INSTEAD OF triggers that make a view over a base table writable on SQLite."""
    dataset, base, columns, key = OBS[view]
    data = [c for c in columns if c not in _LOAD]
    ensure = (
        "INSERT INTO load_commit (load_id, loaded_at, zone_code, dataset, period, revision, "
        f"obs_rows, quarantine_rows) SELECT NEW.load_id, NEW.loaded_at, NEW.zone_code, "
        f"'{dataset}', NEW.period, NEW.revision, 0, 0 WHERE NOT EXISTS (SELECT 1 FROM "
        "load_commit WHERE load_id = NEW.load_id AND loaded_at = NEW.loaded_at);"
    )
    old_key = " AND ".join(f"{c} = OLD.{c}" for c in key)
    return [
        f"CREATE TRIGGER {view}_insert INSTEAD OF INSERT ON {view} BEGIN {ensure} "
        f"INSERT INTO {base} ({', '.join(data)}, load_no) VALUES "
        f"({', '.join(f'NEW.{c}' for c in data)}, {_commit_of('NEW')}); "
        f"UPDATE load_commit SET obs_rows = obs_rows + 1 WHERE load_no = {_commit_of('NEW')}; END",
        f"CREATE TRIGGER {view}_update INSTEAD OF UPDATE ON {view} BEGIN {ensure} "
        f"UPDATE {base} SET {', '.join(f'{c} = NEW.{c}' for c in data)}, "
        f"load_no = {_commit_of('NEW')} WHERE {old_key}; END",
        f"CREATE TRIGGER {view}_delete INSTEAD OF DELETE ON {view} BEGIN "
        f"DELETE FROM {base} WHERE {old_key}; END",
    ]


def _pg_trigger(view: str) -> list[str]:
    """An INSTEAD OF trigger (and its function) that makes a view writable on PostgreSQL."""
    dataset, base, columns, key = OBS[view]
    data = [c for c in columns if c not in _LOAD]
    old_key = " AND ".join(f"{c} = OLD.{c}" for c in key)
    # SET search_path FROM CURRENT: the schema the migration runs in (zonestats), whatever the
    # search path of the session that edits the view
    return [
        f"CREATE FUNCTION {view}_write() RETURNS trigger LANGUAGE plpgsql "
        f"SET search_path FROM CURRENT AS $fn$\n"
        "DECLARE n integer;\n"
        "BEGIN\n"
        "  IF TG_OP = 'DELETE' THEN\n"
        f"    DELETE FROM {base} WHERE {old_key};\n"
        "    RETURN OLD;\n"
        "  END IF;\n"
        f"  n := {_commit_of('NEW')};\n"
        "  IF n IS NULL THEN\n"
        "    INSERT INTO load_commit (load_id, loaded_at, zone_code, dataset, period, revision, "
        "obs_rows, quarantine_rows)\n"
        f"    VALUES (NEW.load_id, NEW.loaded_at, NEW.zone_code, '{dataset}', NEW.period, "
        "NEW.revision, 0, 0) RETURNING load_no INTO n;\n"
        "  END IF;\n"
        "  IF TG_OP = 'INSERT' THEN\n"
        f"    INSERT INTO {base} ({', '.join(data)}, load_no) "
        f"VALUES ({', '.join(f'NEW.{c}' for c in data)}, n);\n"
        "    UPDATE load_commit SET obs_rows = obs_rows + 1 WHERE load_no = n;\n"
        "  ELSE\n"
        f"    UPDATE {base} SET {', '.join(f'{c} = NEW.{c}' for c in data)}, load_no = n "
        f"WHERE {old_key};\n"
        "  END IF;\n"
        "  RETURN NEW;\n"
        "END\n"
        "$fn$",
        f"CREATE TRIGGER {view}_write INSTEAD OF INSERT OR UPDATE OR DELETE ON {view} "
        f"FOR EACH ROW EXECUTE FUNCTION {view}_write()",
    ]


def _triggers(postgres: bool) -> list[str]:
    make = _pg_trigger if postgres else _sqlite_triggers
    return [statement for view in OBS for statement in make(view)]


def _drop_triggers(postgres: bool) -> None:
    for view in OBS:
        if postgres:
            op.execute(f"DROP TRIGGER IF EXISTS {view}_write ON {view}")
            op.execute(f"DROP FUNCTION IF EXISTS {view}_write()")
        else:
            for kind in ("insert", "update", "delete"):
                op.execute(f"DROP TRIGGER IF EXISTS {view}_{kind}")


def _base_tables() -> None:
    op.create_table(
        "obs_zone_base",
        sa.Column("zone_code", sa.String(8), nullable=False),
        sa.Column("period", sa.String(8), nullable=False),
        sa.Column("revision", sa.Integer(), nullable=False),
        sa.Column("indicator_code", sa.String(64), nullable=False),
        sa.Column("frequency", sa.String(1), nullable=False),
        sa.Column("value", sa.Float(53)),
        sa.Column("unit", sa.String(16), nullable=False),
        sa.Column("status", sa.String(1), nullable=False),
        sa.Column("load_no", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint(*ZONE_KEY),
        sqlite_with_rowid=False,
    )
    op.create_table(
        "obs_enterprise_base",
        sa.Column("zone_code", sa.String(8), nullable=False),
        sa.Column("period", sa.String(8), nullable=False),
        sa.Column("revision", sa.Integer(), nullable=False),
        sa.Column("uscc", sa.String(18), nullable=False),
        sa.Column("indicator_code", sa.String(64), nullable=False),
        sa.Column("value", sa.Float(53)),
        sa.Column("unit", sa.String(16), nullable=False),
        sa.Column("load_no", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint(*ENTERPRISE_KEY),
        sqlite_with_rowid=False,
    )


def _old_tables() -> None:
    """The observation tables as 0001 made them."""
    op.create_table(
        "obs_zone",
        sa.Column("zone_code", sa.String(8), nullable=False),
        sa.Column("indicator_code", sa.String(64), nullable=False),
        sa.Column("period", sa.String(8), nullable=False),
        sa.Column("frequency", sa.String(1), nullable=False),
        sa.Column("revision", sa.Integer(), nullable=False),
        sa.Column("value", sa.Float(53)),
        sa.Column("unit", sa.String(16), nullable=False),
        sa.Column("status", sa.String(1), nullable=False),
        sa.Column("load_id", sa.String(36), nullable=False),
        sa.Column("loaded_at", _TS, nullable=False),
        sa.PrimaryKeyConstraint("zone_code", "indicator_code", "period", "revision"),
    )
    op.create_index("ix_obs_zone_load", "obs_zone", ["load_id"])
    op.create_table(
        "obs_enterprise",
        sa.Column("zone_code", sa.String(8), nullable=False),
        sa.Column("uscc", sa.String(18), nullable=False),
        sa.Column("period", sa.String(8), nullable=False),
        sa.Column("revision", sa.Integer(), nullable=False),
        sa.Column("indicator_code", sa.String(64), nullable=False),
        sa.Column("value", sa.Float(53)),
        sa.Column("unit", sa.String(16), nullable=False),
        sa.Column("load_id", sa.String(36), nullable=False),
        sa.Column("loaded_at", _TS, nullable=False),
        sa.PrimaryKeyConstraint("zone_code", "uscc", "period", "revision", "indicator_code"),
    )
    op.create_index("ix_obs_enterprise_load", "obs_enterprise", ["load_id"])


def _commits(bind: sa.Connection) -> list[dict[str, Any]]:
    """The load_commit rows of the observations and quarantine as they are, oldest first.

    Raw driver values throughout (SQLite: the stored timestamp text), so the rows join back to
    the observations on (load_id, loaded_at) exactly as stored.
    """
    loads: dict[str, dict[str, Any]] = {}
    for view, (dataset, _, _, _) in OBS.items():
        groups = bind.exec_driver_sql(
            f"SELECT load_id, loaded_at, zone_code, period, revision, count(*) FROM {view} "
            "GROUP BY load_id, loaded_at, zone_code, period, revision"
        )
        for load_id, at, zone, period, rev, n in groups:
            load = loads.setdefault(load_id, {"obs": [], "q": None})
            load["obs"].append((at, (zone, dataset, period, int(rev)), int(n)))
    found = bind.exec_driver_sql(
        "SELECT load_id, zone_code, dataset, period, revision, min(created_at), count(*) "
        "FROM quarantine GROUP BY load_id, zone_code, dataset, period, revision"
    )
    for load_id, zone, dataset, period, rev, at, n in found:
        load = loads.setdefault(load_id, {"obs": [], "q": None})
        load["q"] = (at, (zone, dataset, period, int(rev)), int(n))

    rows: list[dict[str, Any]] = []
    for load_id, load in loads.items():
        times = [at for at, _, _ in load["obs"]] + ([load["q"][0]] if load["q"] else [])
        first = min(times)  # the load itself; a later time is an accept under the same load
        by_time = {at: (key, n) for at, key, n in load["obs"]}
        key, n = by_time.pop(first, (load["q"][1] if load["q"] else None, 0))
        entries = [(first, key, n, load["q"][2] if load["q"] else 0)]
        entries += [(at, k, m, 0) for at, (k, m) in by_time.items()]
        for at, (zone, dataset, period, rev), n_obs, n_q in entries:
            rows.append(
                {
                    "load_id": load_id,
                    "loaded_at": at,
                    "zone_code": zone,
                    "dataset": dataset,
                    "period": period,
                    "revision": rev,
                    "obs_rows": n_obs,
                    "quarantine_rows": n_q,
                }
            )
    rows.sort(key=lambda r: (r["loaded_at"], r["load_id"]))
    for n, row in enumerate(rows, 1):
        row["load_no"] = n
    return rows


def _count(bind: sa.Connection, table: str) -> int:
    return int(bind.exec_driver_sql(f"SELECT count(*) FROM {table}").scalar_one())


def upgrade() -> None:
    """Create load_commit and the base tables, copy every row, make obs_* views over them."""
    bind = op.get_bind()
    postgres = bind.dialect.name == "postgresql"
    for name in _DEPENDENT:
        op.execute(f"DROP VIEW IF EXISTS {name}")
    commits = _commits(bind)
    op.create_table(
        "load_commit",
        sa.Column("load_no", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("load_id", sa.String(36), nullable=False),
        sa.Column("loaded_at", _TS, nullable=False),
        sa.Column("zone_code", sa.String(8), nullable=False),
        sa.Column("dataset", sa.String(16), nullable=False),
        sa.Column("period", sa.String(8), nullable=False),
        sa.Column("revision", sa.Integer(), nullable=False),
        sa.Column("parquet_batch", sa.String(64)),
        sa.Column("obs_rows", sa.Integer(), nullable=False),
        sa.Column("quarantine_rows", sa.Integer(), nullable=False),
    )
    op.create_index("ix_load_commit_load", "load_commit", ["load_id"])
    op.create_index("ix_load_commit_batch", "load_commit", ["parquet_batch"])
    if commits:
        names = list(commits[0])
        marks = ", ".join("%s" if postgres else "?" for _ in names)
        # executemany on the driver: raw values in, exactly as they were read
        bind.exec_driver_sql(
            f"INSERT INTO load_commit ({', '.join(names)}) VALUES ({marks})",
            [tuple(r[c] for c in names) for r in commits],
        )
        if postgres:
            bind.exec_driver_sql(
                "SELECT setval(pg_get_serial_sequence('load_commit', 'load_no'), max(load_no)) "
                "FROM load_commit"
            )
    _base_tables()
    for view, (_, base, columns, key) in OBS.items():
        data = [c for c in columns if c not in _LOAD]
        before = _count(bind, view)
        # in key order: the B-tree fills page after page
        bind.exec_driver_sql(
            f"INSERT INTO {base} ({', '.join(data)}, load_no) "
            f"SELECT {', '.join(f'o.{c}' for c in data)}, c.load_no FROM {view} o "
            "JOIN load_commit c ON c.load_id = o.load_id AND c.loaded_at = o.loaded_at "
            f"ORDER BY {', '.join(f'o.{c}' for c in key)}"
        )
        after = _count(bind, base)
        if after != before:
            raise RuntimeError(f"0004: {view} has {before} rows but {after} were copied")
        op.drop_table(view)
    for name in ("obs_zone", "obs_enterprise", "obs_zone_current", "obs_enterprise_current"):
        op.execute(VIEWS[name])
    op.execute(VIEWS["zone_monthly"])
    for statement in _triggers(postgres):
        op.execute(statement)
    if postgres:
        # every load rewrites its enterprises' rows (last_period moves on): room on the page
        # lets PostgreSQL update them in place (HOT), without a new key entry each time
        op.execute("ALTER TABLE dim_enterprise SET (fillfactor = 70)")


def downgrade() -> None:
    """Undo: copy every row back into obs_zone and obs_enterprise tables, drop load_commit."""
    bind = op.get_bind()
    postgres = bind.dialect.name == "postgresql"
    batched = int(
        bind.exec_driver_sql(
            "SELECT count(*) FROM load_commit WHERE parquet_batch IS NOT NULL"
        ).scalar_one()
    )
    if batched:
        # the code before 0004 knows one Parquet file per release: its repair would write those
        # releases' files again beside the batch files that hold their rows already
        log.warning(
            "0004 downgrade: %d loads have their Parquet rows in batch files (batch-*.parquet); "
            "remove those files, the next run's repair writes each release's file from SQL",
            batched,
        )
    _drop_triggers(postgres)
    if postgres:
        op.execute("ALTER TABLE dim_enterprise RESET (fillfactor)")
    for name in ("zone_monthly", "obs_enterprise_current", "obs_zone_current"):
        op.execute(f"DROP VIEW IF EXISTS {name}")
    for view in OBS:
        op.execute(f"DROP VIEW IF EXISTS {view}")
    _old_tables()
    for view, (_, base, columns, _) in OBS.items():
        cols = ", ".join(f"c.{c}" if c in _LOAD else f"b.{c}" for c in columns)
        bind.exec_driver_sql(
            f"INSERT INTO {view} ({', '.join(columns)}) SELECT {cols} FROM {base} b "
            "JOIN load_commit c ON c.load_no = b.load_no"
        )
        if _count(bind, view) != _count(bind, base):
            raise RuntimeError(f"0004 downgrade: {base} was not copied whole")
        op.drop_table(base)
    op.drop_index("ix_load_commit_batch", "load_commit")
    op.drop_index("ix_load_commit_load", "load_commit")
    op.drop_table("load_commit")
    for statement in OLD_VIEWS.values():
        op.execute(statement)
