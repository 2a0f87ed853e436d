"""Alembic migrations create and upgrade the schema, on SQLite and in schema zonestats on PostgreSQL.

Also: the migrations match warehouse.schema (a column added there without a migration fails
here), a warehouse created before migrations is adopted, two callers at once on a fresh database
migrate it once, and ``zonestats db grant-reader`` makes a role that reads but never writes and
never sees quarantine.raw.
"""

from __future__ import annotations

import argparse
import logging
import shutil
import threading
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from pydantic import SecretStr
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError

from cli.db import add_db_parser, cmd_db
from warehouse import migrate, schema
from warehouse.engine import make_engine as _engine
from warehouse.store import Warehouse, engine_for
from zonestats.catalog import shipped_catalog
from zonestats.config import WarehouseSettings
from zonestats.models import utc


def settings(url: str, tmp_path: Path) -> WarehouseSettings:
    """The warehouse settings of a test: this URL, data under tmp_path."""
    return WarehouseSettings(SecretStr(url), tmp_path / "data")


def db(argv: list[str], url: str, tmp_path: Path) -> int:
    """Run ``zonestats db ...`` through the parser add_db_parser builds, as cli.py will."""
    cfg = tmp_path / "z.toml"
    cfg.write_text(f'[warehouse]\nurl = "{url}"\ndata_dir = "{(tmp_path / "data").as_posix()}"\n')
    parser = argparse.ArgumentParser(prog="zonestats")
    sub = parser.add_subparsers(dest="command", required=True)
    add_db_parser(sub, argparse.ArgumentParser)
    return cmd_db(parser.parse_args(["db", *argv, "--config", str(cfg)]))


def differences(engine: sa.Engine, metadata: sa.MetaData) -> list[Any]:
    """What autogenerate would write to bring the database to ``metadata``."""
    with engine.connect() as conn:
        ctx = MigrationContext.configure(
            conn,
            opts={
                "compare_type": True,
                # the version table is the migrations' own, not the model's
                "include_name": lambda name, kind, _: (
                    not (kind == "table" and name == migrate.VERSION_TABLE)
                ),
            },
        )
        return list(compare_metadata(ctx, metadata))


# -- (a) PostgreSQL: everything in schema zonestats -----------------------------------------


@pytest.mark.postgres
def test_upgrade_from_empty_puts_everything_in_schema_zonestats(
    pg_url: str, tmp_path: Path
) -> None:
    engine = engine_for(settings(pg_url, tmp_path))
    assert migrate.upgrade(engine) == migrate.Upgrade(None, migrate.head())
    with engine.connect() as conn:

        def names(sql: str, nsp: str) -> set[str]:
            return set(conn.execute(sa.text(sql), {"s": nsp}).scalars())

        tables_sql = (
            "SELECT table_name FROM information_schema.tables "
            "WHERE table_schema = :s AND table_type = 'BASE TABLE'"
        )
        views_sql = "SELECT viewname FROM pg_views WHERE schemaname = :s"
        everything_sql = (
            "SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
            "WHERE n.nspname = :s"
        )
        assert names(tables_sql, "zonestats") == {*schema.metadata.tables, "alembic_version"}
        assert names(views_sql, "zonestats") == set(schema.VIEWS)
        indexes = names("SELECT indexname FROM pg_indexes WHERE schemaname = :s", "zonestats")
        assert {i.name for t in schema.metadata.tables.values() for i in t.indexes} <= indexes
        # no table, view, index or sequence went to public
        assert names(everything_sql, "public") == set()
        version = conn.execute(sa.text("SELECT version_num FROM zonestats.alembic_version"))
        assert version.scalars().all() == [migrate.head()]
        assert conn.execute(sa.text("SHOW search_path")).scalar_one() == "zonestats"


@pytest.mark.postgres
def test_search_path_merges_with_options_already_in_the_url(pg_url: str) -> None:
    url = f"{pg_url}?options=-c%20statement_timeout%3D12345"
    engine = _engine(url)
    try:
        with engine.connect() as conn:
            assert conn.execute(sa.text("SHOW search_path")).scalar_one() == "zonestats"
            assert conn.execute(sa.text("SHOW statement_timeout")).scalar_one() == "12345ms"
    finally:
        engine.dispose()


# -- (b) the migrations match the model, on both databases -----------------------------------


def test_migrations_match_the_model(warehouse_url: str, tmp_path: Path) -> None:
    engine = engine_for(settings(warehouse_url, tmp_path))
    migrate.upgrade(engine)
    assert differences(engine, schema.metadata) == []
    # the comparison does see a column the model has and the migrations do not
    model = sa.MetaData()
    for t in schema.metadata.tables.values():
        t.to_metadata(model)
    model.tables["obs_zone_base"].append_column(sa.Column("flag", sa.String(1)))
    assert [d[0] for d in differences(engine, model)] == ["add_column"]
    if engine.dialect.name == "sqlite":
        # SQLite keeps a view's text as written: the views are schema.VIEWS, verbatim
        with engine.connect() as conn:
            views = dict(
                conn.execute(
                    sa.text("SELECT name, sql FROM sqlite_master WHERE type = 'view'")
                ).all()
            )
        assert views == schema.VIEWS


# -- (c) a warehouse from before migrations ---------------------------------------------------


# what 0004 made of the observation tables: a warehouse from before migrations had none of it
SINCE_0004 = ("load_commit", "obs_zone_base", "obs_enterprise_base")
# 0005: the reporting calendar
SINCE_0005 = ("release_seen", "deadline_extension", "release_calendar")
# 0006: the overdue notices (and the history views, which the model's metadata does not hold)
SINCE_0006 = ("overdue_notice",)


def _old_obs_tables(md: sa.MetaData) -> None:
    """obs_zone and obs_enterprise as tables with a load_id and loaded_at per row (before 0004)."""
    for view in (schema.obs_zone, schema.obs_enterprise):
        table = view.to_metadata(md)  # the view's columns and key are the old table's
        sa.Index(f"ix_{view.name}_load", table.c.load_id)


def _old_metadata() -> sa.MetaData:
    """The warehouse as the application created it before the marts and load_ledger.complete.

    Without what later migrations added too (0003: zone_claim, load_ledger.claim_holder; 0004:
    the observation views over load_commit; 0005: the calendar's tables; 0006: overdue_notice):
    a warehouse that predates migrations never had them.
    """
    old = sa.MetaData()
    for t in schema.metadata.tables.values():
        if not t.name.startswith("mart_") and t.name not in (
            "zone_claim",
            *SINCE_0004,
            *SINCE_0005,
            *SINCE_0006,
        ):
            t.to_metadata(old)
    _old_obs_tables(old)
    ledger = old.tables["load_ledger"]
    ledger._columns.remove(ledger.c.complete)
    ledger._columns.remove(ledger.c.claim_holder)
    return old


@pytest.mark.parametrize(
    "where", ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)]
)
def test_pre_migration_warehouse_is_adopted(
    where: str, tmp_path: Path, request: pytest.FixtureRequest, caplog: pytest.LogCaptureFixture
) -> None:
    url = (
        f"sqlite:///{(tmp_path / 'old.db').as_posix()}"
        if where == "sqlite"
        else str(request.getfixturevalue("pg_url"))
    )
    # as the application used to do it: create_all, the views, a release (PostgreSQL: in public)
    plain = sa.create_engine(url)
    old = _old_metadata()
    old.create_all(plain)
    old_obs_zone = old.tables["obs_zone"]
    with plain.begin() as conn:
        conn.exec_driver_sql(schema.VIEWS["obs_zone_current"])
        conn.execute(
            sa.text(
                "INSERT INTO operator_action (action, operator, reason, details, at) "
                "VALUES ('rerun', 'ops', 'old', '{}', CURRENT_TIMESTAMP)"
            )
        )
        conn.execute(sa.insert(old_obs_zone), [OLD_ZONE_ROW])
    plain.dispose()

    wh = Warehouse(settings(url, tmp_path))
    with caplog.at_level(logging.WARNING, logger="warehouse.migrate"):
        wh.ensure_schema(shipped_catalog())
    assert "predates migrations: adopted as revision 0001" in caplog.text
    assert migrate.current(wh.engine) == migrate.head()
    assert differences(wh.engine, schema.metadata) == []
    assert set(sa.inspect(wh.engine).get_view_names()) == set(schema.VIEWS)
    wh.record_action("rerun", "ops", "new", "{}")  # the old rows kept, the id sequence with them
    with wh.connect() as conn:
        ids = conn.execute(sa.text("SELECT action_id FROM operator_action ORDER BY 1")).scalars()
        assert ids.all() == [1, 2]
        assert conn.execute(sa.text("SELECT count(*) FROM dim_zone")).scalar_one() == 11
        # the old observation came through 0004 into the view, its load id and time with it
        [row] = conn.execute(sa.select(schema.obs_zone)).mappings().all()
        assert {k: _plain(v) for k, v in row.items()} == _plain_row(OLD_ZONE_ROW)
    caplog.clear()
    wh.ensure_schema(shipped_catalog())
    assert "adopted" not in caplog.text


# -- (c2) 0004: the observations as views over compact tables, every row kept ------------------

T_LOAD = datetime(2026, 11, 15, 2, 0, 0, 123456, tzinfo=UTC)
T_ACCEPT = T_LOAD + timedelta(days=2, microseconds=7)
OLD_ZONE_ROW = {
    "zone_code": "TY01", "indicator_code": "revenue", "period": "2026-10", "frequency": "M",
    "revision": 1, "value": 1234567.8, "unit": "万元", "status": "A",
    "load_id": "00000000-0000-4000-8000-000000000001", "loaded_at": T_LOAD,
}  # fmt: skip


def _plain(value: Any) -> Any:
    # SQLite hands back naive UTC timestamps, PostgreSQL aware ones
    return utc(value) if isinstance(value, datetime) else value


def _plain_row(row: dict[str, Any]) -> dict[str, Any]:
    return {k: _plain(v) for k, v in row.items()}


def _ledger_row(zone: str, dataset: str, period: str, status: str, load_id: str) -> dict[str, Any]:
    return {
        "zone_code": zone, "dataset": dataset, "period": period, "revision": 1,
        "frequency": "M", "status": status, "attempts": 1, "load_id": load_id,
        "started_at": T_LOAD, "finished_at": T_LOAD,
    }  # fmt: skip


def _fill_0003(engine: sa.Engine) -> dict[str, int]:
    """Rows as the code before 0004 wrote them: releases, an accepted record, a rejection."""
    zone_ids = [f"00000000-0000-4000-8000-0000000000{n:02d}" for n in range(10, 13)]
    ent_id = "00000000-0000-4000-8000-000000000020"
    rejected_id = "00000000-0000-4000-8000-000000000030"
    zone_rows = [
        {**OLD_ZONE_ROW, "zone_code": zone, "indicator_code": code, "period": period,
         "value": None if code == "green_electricity" else 100.0 * n, "load_id": lid,
         "status": "M" if code == "green_electricity" else "A"}
        for n, (zone, period, lid) in enumerate(
            [("TY01", "2026-09", zone_ids[0]), ("TY01", "2026-10", zone_ids[1]),
             ("DT01", "2026-10", zone_ids[2])]
        )
        for code in ("revenue", "tax_revenue", "green_electricity")
    ]  # fmt: skip
    ent_rows = [
        {"zone_code": "TY01", "uscc": f"91140100MA{n:07d}X", "period": "2026-10", "revision": 1,
         "indicator_code": code, "value": None if (n + i) % 97 == 0 else n * 1.5 + i,
         "unit": "万元", "load_id": ent_id, "loaded_at": T_LOAD}
        for n in range(300)
        for i, code in enumerate(("revenue", "tax_revenue", "rd_expenditure"))
    ]  # fmt: skip
    # an operator accepted a held-out record two days later: same load id, a later load time
    ent_rows.append(
        {**ent_rows[0], "uscc": "91140100MA9999999X", "loaded_at": T_ACCEPT, "value": 42.0}
    )
    quarantine_rows = [
        {"load_id": lid, "zone_code": zone, "dataset": dataset, "period": "2026-10",
         "revision": 1, "record_no": n, "record_key": f"k{n}", "rule": "value_below_min",
         "severity": "error", "message": "m", "raw": "{}", "status": status,
         "created_at": T_LOAD}
        for lid, zone, dataset, n, status in (
            (ent_id, "TY01", "enterprise", 1, "accepted"),
            (ent_id, "TY01", "enterprise", 2, "open"),
            (rejected_id, "YQ01", "zone", 0, "open"),  # a rejected release: no observation
        )
    ]  # fmt: skip
    ledger = [
        _ledger_row("TY01", "zone", "2026-09", "loaded", zone_ids[0]),
        _ledger_row("TY01", "zone", "2026-10", "loaded", zone_ids[1]),
        _ledger_row("DT01", "zone", "2026-10", "loaded", zone_ids[2]),
        _ledger_row("TY01", "enterprise", "2026-10", "loaded", ent_id),
        _ledger_row("YQ01", "zone", "2026-10", "rejected", rejected_id),
    ]
    with engine.begin() as conn:
        conn.execute(sa.insert(schema.load_ledger.to_metadata(sa.MetaData())), ledger)
        conn.execute(sa.insert(schema.obs_zone), zone_rows)
        conn.execute(sa.insert(schema.obs_enterprise), ent_rows)
        conn.execute(sa.insert(schema.quarantine), quarantine_rows)
        conn.execute(
            sa.insert(schema.dim_indicator),
            [
                {"dataset": "zone", "code": code, "name_zh": code, "name_en": code,
                 "unit": "万元", "frequency": "M", "basis": "ytd", "mandatory": False,
                 "is_integer": False, "alt_units": ""}
                for code in ("revenue", "tax_revenue", "green_electricity")
            ],
        )  # fmt: skip
    return {"obs_zone": len(zone_rows), "obs_enterprise": len(ent_rows)}


READS = {
    "obs_zone": "SELECT * FROM obs_zone ORDER BY zone_code, indicator_code, period, revision",
    "obs_enterprise": (
        "SELECT * FROM obs_enterprise ORDER BY zone_code, uscc, period, revision, indicator_code"
    ),
    "obs_zone_current": (
        "SELECT * FROM obs_zone_current ORDER BY zone_code, indicator_code, period, revision"
    ),
    "obs_enterprise_current": (
        "SELECT * FROM obs_enterprise_current "
        "ORDER BY zone_code, uscc, period, revision, indicator_code"
    ),
    "zone_monthly": "SELECT * FROM zone_monthly ORDER BY zone_code, indicator_code, period",
}


def _reads(engine: sa.Engine) -> dict[str, list[dict[str, Any]]]:
    """What a statistician's SELECT * returns from each public relation, typed by the model."""
    typed = {"obs_zone": schema.obs_zone, "obs_enterprise": schema.obs_enterprise}
    out = {}
    with engine.connect() as conn:
        for name, sql in READS.items():
            rows = conn.execute(sa.text(sql)).mappings().all()
            out[name] = [{k: _plain(v) for k, v in r.items()} for r in rows]
        for name, table in typed.items():
            # and through SQLAlchemy's types: the load time as a datetime, to the microsecond
            rows = conn.execute(sa.select(table)).mappings().all()
            out[f"{name} typed"] = sorted(
                ({k: _plain(v) for k, v in r.items()} for r in rows),
                key=lambda r: [str(r[c.name]) for c in table.primary_key.columns],
            )
    return out


def test_0004_keeps_every_row_and_what_readers_see(warehouse_url: str, tmp_path: Path) -> None:
    engine = engine_for(settings(warehouse_url, tmp_path))
    migrate.upgrade(engine, "0003")
    counts = _fill_0003(engine)
    before = _reads(engine)
    assert len(before["obs_enterprise"]) == counts["obs_enterprise"]
    assert len(before["zone_monthly"]) > 0  # the chain of views has something to show

    assert migrate.upgrade(engine).after == migrate.head()

    assert _reads(engine) == before  # same columns, same order, same load ids and times
    with engine.connect() as conn:
        commits = conn.execute(sa.select(schema.load_commit)).mappings().all()
        for view, base in (
            ("obs_zone", "obs_zone_base"),
            ("obs_enterprise", "obs_enterprise_base"),
        ):
            n = conn.execute(sa.text(f"SELECT count(*) FROM {base}")).scalar_one()
            assert n == counts[view], base
        if engine.dialect.name == "sqlite":
            ddl = dict(
                conn.execute(
                    sa.text("SELECT name, sql FROM sqlite_master WHERE type = 'table'")
                ).all()
            )
            indexes = conn.execute(
                sa.text(
                    "SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name LIKE 'obs_%'"
                )
            ).scalars()
            assert "WITHOUT ROWID" in ddl["obs_enterprise_base"]
            assert "WITHOUT ROWID" in ddl["obs_zone_base"]
            assert indexes.all() == []  # the key is the table; nothing else to keep up
    # one row per load, and one more for the accept that came later under the same load id
    by_id: dict[str, list[Any]] = {}
    for c in commits:
        by_id.setdefault(c["load_id"], []).append(c)
    ent = sorted(by_id.pop("00000000-0000-4000-8000-000000000020"), key=lambda c: c["load_no"])
    assert [(_plain(c["loaded_at"]), c["obs_rows"], c["quarantine_rows"]) for c in ent] == [
        (T_LOAD, counts["obs_enterprise"] - 1, 2),
        (T_ACCEPT, 1, 0),
    ]
    rejected = by_id.pop("00000000-0000-4000-8000-000000000030")
    assert [(c["obs_rows"], c["quarantine_rows"]) for c in rejected] == [(0, 1)]
    assert sorted(len(v) for v in by_id.values()) == [1, 1, 1]
    assert {c["parquet_batch"] for c in commits} == {None}  # their files are the releases' own
    assert len({c["load_no"] for c in commits}) == len(commits)

    # reversible: the old tables come back with every row as they were
    assert migrate.downgrade(engine, "0003").after == "0003"
    assert _reads(engine) == before
    names = set(sa.inspect(engine).get_table_names())
    assert {"obs_zone", "obs_enterprise"} <= names
    assert not names & set(SINCE_0004)
    assert migrate.upgrade(engine).after == migrate.head()
    assert _reads(engine) == before
    assert differences(engine, schema.metadata) == []


def test_the_observation_views_take_an_operators_hand_edit(
    warehouse_url: str, tmp_path: Path
) -> None:
    from warehouse.bulk import bulk_insert

    engine = engine_for(settings(warehouse_url, tmp_path))
    migrate.upgrade(engine)
    row = dict(OLD_ZONE_ROW)
    with engine.begin() as conn:
        conn.execute(sa.insert(schema.obs_zone), [row])
        # what an operator's accept does: the driver's bulk path (COPY on PostgreSQL)
        frame = pd.DataFrame([{**row, "indicator_code": "tax_revenue", "loaded_at": T_ACCEPT}])
        assert bulk_insert(conn, schema.obs_zone, frame) == 1
    with engine.begin() as conn:
        t = schema.obs_zone
        conn.execute(sa.update(t).where(t.c.indicator_code == "revenue").values(unit="元"))
    with engine.connect() as conn:
        got = [
            _plain_row(dict(r))
            for r in conn.execute(sa.select(schema.obs_zone).order_by(t.c.indicator_code))
            .mappings()
            .all()
        ]
        commits = conn.execute(
            sa.select(
                schema.load_commit.c.load_id,
                schema.load_commit.c.loaded_at,
                schema.load_commit.c.dataset,
                schema.load_commit.c.obs_rows,
            ).order_by(schema.load_commit.c.load_no)
        ).all()
    assert got == [
        {**_plain_row(row), "unit": "元"},
        {**_plain_row(row), "indicator_code": "tax_revenue", "loaded_at": T_ACCEPT},
    ]
    assert [(lid, _plain(at), ds, n) for lid, at, ds, n in commits] == [
        (row["load_id"], T_LOAD, "zone", 1),
        (row["load_id"], T_ACCEPT, "zone", 1),
    ]
    with engine.begin() as conn:
        conn.execute(sa.delete(t).where(t.c.indicator_code == "tax_revenue"))
    with engine.connect() as conn:
        assert conn.execute(sa.text("SELECT count(*) FROM obs_zone_base")).scalar_one() == 1


# -- (d) idempotent, and safe when two callers race on a fresh database -----------------------


def test_upgrade_twice_is_a_noop(warehouse_url: str, tmp_path: Path) -> None:
    engine = engine_for(settings(warehouse_url, tmp_path))
    first = migrate.upgrade(engine)
    assert (first.before, first.after) == (None, migrate.head())
    statements: list[str] = []

    def record(conn: Any, cursor: Any, statement: str, *_: Any) -> None:
        statements.append(statement)

    sa.event.listen(engine, "before_cursor_execute", record)
    try:
        assert migrate.upgrade(engine) == migrate.Upgrade(migrate.head(), migrate.head())
    finally:
        sa.event.remove(engine, "before_cursor_execute", record)
    written = [s for s in statements if s.split()[0].upper() in ("CREATE", "ALTER", "INSERT")]
    assert written == []
    assert migrate.current(engine) == migrate.head()


def test_two_callers_at_once_on_a_fresh_database(warehouse_url: str, tmp_path: Path) -> None:
    errors: list[BaseException] = []
    start = threading.Barrier(2)

    def worker() -> None:
        # its own engine: two processes of two nightly runs, not two threads sharing a pool
        engine = _engine(warehouse_url)
        try:
            start.wait()
            wh = Warehouse(settings(warehouse_url, tmp_path))
            wh.engine = engine
            wh.ensure_schema(shipped_catalog())
        except BaseException as exc:
            errors.append(exc)
        finally:
            engine.dispose()

    threads = [threading.Thread(target=worker) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not errors, errors
    engine = engine_for(settings(warehouse_url, tmp_path))
    assert migrate.current(engine) == migrate.head()
    with engine.connect() as conn:
        assert conn.execute(sa.text("SELECT count(*) FROM dim_zone")).scalar_one() == 11
        assert conn.execute(sa.text("SELECT count(*) FROM alembic_version")).scalar_one() == 1


def test_db_current_and_upgrade_commands(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    url = f"sqlite:///{(tmp_path / 'w.db').as_posix()}"
    assert db(["current"], url, tmp_path) == 1
    assert "none (empty database) (not head" in capsys.readouterr().out
    assert db(["upgrade"], url, tmp_path) == 0
    out = capsys.readouterr().out
    assert "revision before: none" in out
    assert f"revision after:  {migrate.head()} (head)" in out
    assert db(["current"], url, tmp_path) == 0
    assert capsys.readouterr().out.strip() == f"{migrate.head()} (head)"
    # SQLite has no roles: a usage error that says what does the job there
    assert db(["grant-reader", "stats"], url, tmp_path) == 2
    assert "file's permissions" in capsys.readouterr().err


# -- (e) the reader role ----------------------------------------------------------------------


@pytest.fixture
def login_role(pg_url: str, pg_admin: Any) -> Iterator[str]:
    """A LOGIN role of this test only (the server is shared), dropped with what it was granted."""
    role = f"zs_reader_{uuid.uuid4().hex[:10]}"
    with pg_admin.connect() as conn:
        conn.execute(sa.text(f'CREATE ROLE "{role}" LOGIN'))
    yield role
    owner = sa.create_engine(pg_url, isolation_level="AUTOCOMMIT")
    try:
        with owner.connect() as conn:
            # revokes every privilege granted to it here, default privileges included
            conn.execute(sa.text(f'DROP OWNED BY "{role}"'))
    finally:
        owner.dispose()
    with pg_admin.connect() as conn:
        conn.execute(sa.text(f'DROP ROLE IF EXISTS "{role}"'))


def _denied(engine: sa.Engine, sql: str) -> None:
    with pytest.raises(DBAPIError) as err, engine.begin() as conn:
        conn.execute(sa.text(sql))
    assert getattr(err.value.orig, "sqlstate", None) == "42501", err.value  # insufficient_privilege


@pytest.mark.postgres
def test_reader_reads_but_never_writes_nor_sees_raw(
    pg_url: str, login_role: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    owner = Warehouse(settings(pg_url, tmp_path))
    owner.ensure_schema(shipped_catalog())
    assert db(["grant-reader", login_role], pg_url, tmp_path) == 0
    assert db(["grant-reader", login_role], pg_url, tmp_path) == 0  # idempotent
    assert login_role in capsys.readouterr().out
    with owner.engine.begin() as conn:
        assert migrate.reader_roles(conn) == [login_role]
        # a table a later migration creates (a new mart) is readable without a new grant
        conn.execute(sa.text("CREATE TABLE mart_future (year integer)"))

    reader = _engine(make_url(pg_url).set(username=login_role).render_as_string(False))
    try:
        with reader.connect() as conn:
            for relation in (
                "obs_zone_current",
                "zone_monthly",
                "mart_zone_evaluation",
                "dim_zone",
                "quarantine_findings",  # all of quarantine but raw
            ):
                conn.execute(sa.text(f"SELECT * FROM {relation}")).all()
            assert conn.execute(sa.text("SELECT count(*) FROM dim_zone")).scalar_one() == 11
            conn.execute(sa.text("SELECT quarantine_id, rule FROM quarantine")).all()
            conn.execute(sa.text("SELECT * FROM mart_future")).all()
        _denied(reader, "SELECT raw FROM quarantine")
        _denied(reader, "SELECT * FROM quarantine")
        _denied(
            reader,
            "INSERT INTO obs_zone (zone_code, indicator_code, period, frequency, revision, "
            "unit, status, load_id, loaded_at) "
            "VALUES ('TY01', 'revenue', '2026-10', 'M', 1, 'x', 'A', 'l', now())",
        )
        _denied(
            reader,
            "INSERT INTO obs_zone_base (zone_code, indicator_code, period, frequency, revision, "
            "unit, status, load_no) VALUES ('TY01', 'revenue', '2026-10', 'M', 1, 'x', 'A', 1)",
        )
        _denied(reader, "DELETE FROM load_commit")
        _denied(reader, "UPDATE dim_zone SET name_en = 'x'")
        _denied(reader, "DELETE FROM load_ledger")
        _denied(reader, "CREATE TABLE zonestats.mine (x integer)")
    finally:
        reader.dispose()


@pytest.mark.postgres
@pytest.mark.parametrize(
    "role", ["public", "Robert", "x; DROP TABLE obs_zone", "pg_monitor", "postgres"]
)
def test_grant_reader_refuses_a_role_that_is_not_one_plain_name(
    role: str, pg_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    migrate.upgrade(engine_for(settings(pg_url, tmp_path)))
    code = db(["grant-reader", role, "--create"], pg_url, tmp_path)
    # postgres is a plain name, but it is the role the warehouse is written as here
    assert code == (1 if role == "postgres" else 2)
    assert repr(role) in capsys.readouterr().err


@pytest.mark.postgres
def test_grant_reader_create_makes_a_nologin_role(
    pg_url: str, pg_admin: Any, tmp_path: Path
) -> None:
    role = f"zs_group_{uuid.uuid4().hex[:10]}"
    migrate.upgrade(engine_for(settings(pg_url, tmp_path)))
    try:
        assert db(["grant-reader", role], pg_url, tmp_path) == 1  # missing, and no --create
        assert db(["grant-reader", role, "--create"], pg_url, tmp_path) == 0
        with pg_admin.connect() as conn:
            login = conn.execute(
                sa.text("SELECT rolcanlogin FROM pg_roles WHERE rolname = :r"), {"r": role}
            ).scalar_one()
        assert login is False
    finally:
        owner = sa.create_engine(pg_url, isolation_level="AUTOCOMMIT")
        with owner.connect() as conn:
            conn.execute(sa.text(f'DROP OWNED BY "{role}"'))
        owner.dispose()
        with pg_admin.connect() as conn:
            conn.execute(sa.text(f'DROP ROLE IF EXISTS "{role}"'))


@pytest.mark.postgres
def test_an_upgrade_keeps_a_new_restricted_table_from_readers(
    pg_url: str, login_role: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    engine = engine_for(settings(pg_url, tmp_path))
    migrate.upgrade(engine)
    with engine.begin() as conn:
        migrate.grant_reader(conn, login_role)
    # a later migration adds a table holding payloads, and names it in RESTRICTED_COLUMNS
    scripts = tmp_path / "migrations"
    shutil.copytree(
        migrate.script_location(), scripts, ignore=shutil.ignore_patterns("__pycache__")
    )
    base = migrate.head()  # the newest shipped migration; the test's one comes after it
    (scripts / "versions" / "9999_payloads.py").write_text(
        '"""payloads."""\n\nimport sqlalchemy as sa\nfrom alembic import op\n\n'
        f'revision = "9999"\ndown_revision = "{base}"\nbranch_labels = None\ndepends_on = None\n\n\n'
        "def upgrade() -> None:\n"
        '    op.create_table("payload", sa.Column("id", sa.Integer, primary_key=True),'
        ' sa.Column("raw", sa.Text))\n\n\n'
        "def downgrade() -> None:\n"
        '    op.drop_table("payload")\n'
    )
    monkeypatch.setattr(migrate, "script_location", lambda: str(scripts))
    monkeypatch.setitem(migrate.RESTRICTED_COLUMNS, "payload", frozenset({"raw"}))
    migrate.head.cache_clear()
    try:
        assert migrate.upgrade(engine) == migrate.Upgrade(base, "9999")
    finally:
        migrate.head.cache_clear()
    reader = _engine(make_url(pg_url).set(username=login_role).render_as_string(False))
    try:
        with reader.connect() as conn:
            conn.execute(sa.text("SELECT id FROM payload")).all()  # the default privileges
        _denied(reader, "SELECT raw FROM payload")  # and the re-applied restriction
    finally:
        reader.dispose()
