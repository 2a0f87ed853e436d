"""Alembic environment: migrate the connection warehouse.migrate hands over, in its transaction.

Run through ``warehouse.migrate`` (``zonestats db upgrade``, ``Warehouse.ensure_schema``), which
passes the connection in ``config.attributes`` inside a transaction it holds (and, on PostgreSQL,
the migration advisory lock). Alembic joins that transaction; the caller commits.
"""

from __future__ import annotations

from alembic import context
from sqlalchemy import Connection, text

from warehouse.migrate import SCHEMA, VERSION_TABLE
from warehouse.schema import metadata

config = context.config


def _migrate(conn: Connection) -> None:
    postgres = conn.dialect.name == "postgresql"
    if postgres:
        # checked first: CREATE SCHEMA IF NOT EXISTS still needs CREATE on the database, which
        # the warehouse's role lacks when a DBA provisioned the schema for it
        if not conn.execute(
            text("SELECT 1 FROM pg_namespace WHERE nspname = :s"), {"s": SCHEMA}
        ).first():
            conn.exec_driver_sql(f"CREATE SCHEMA {SCHEMA}")
        # whatever search path the session has, the migrations create their objects here
        conn.exec_driver_sql(f"SET LOCAL search_path TO {SCHEMA}")
    context.configure(
        connection=conn,
        target_metadata=metadata,
        version_table=VERSION_TABLE,
        version_table_schema=SCHEMA if postgres else None,
        # SQLite alters a table by copying it; batch mode lets later migrations ALTER there too
        render_as_batch=not postgres,
        compare_type=True,
        zonestats_adopt=bool(config.attributes.get("adopt", False)),
    )
    with context.begin_transaction():
        context.run_migrations()


def run() -> None:
    """Run the migrations on the connection warehouse.migrate hands over."""
    conn = config.attributes.get("connection")
    if context.is_offline_mode() or conn is None:
        raise RuntimeError("run the migrations through warehouse.migrate (zonestats db upgrade)")
    _migrate(conn)


run()
