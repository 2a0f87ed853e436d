"""The warehouse as it stood when migrations began: every table, index and view.

Revision ID: 0001
Revises:
Create Date: 2026-11-27

A frozen record: tables, columns and view texts are spelled out here and never imported from
warehouse.schema, which moves on. On PostgreSQL everything goes into schema zonestats (env.py
sets the search path for the migration).

Adopt mode (``zonestats_adopt``, set by warehouse.migrate for a warehouse created before
migrations existed): only what is missing is created (tables, nullable columns, indexes, views),
so that recording the warehouse at this revision is true.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | None = None
depends_on: str | None = None

SCHEMA = "zonestats"

# SQLite autoincrements only an INTEGER PRIMARY KEY; PostgreSQL gets a BIGSERIAL.
_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
_TS = sa.DateTime(timezone=True)
_F = sa.Float(53)

_METRICS = (
    "tax_per_mu", "revenue_per_mu", "va_per_mu", "leading_industry_share",
    "land_development_rate", "rd_intensity", "revenue_growth", "investment_growth",
    "industrial_va_growth", "energy_per_va", "co2_per_va", "green_power_share",
)  # fmt: skip
_PILLARS = ("mujun", "jiju", "zengliang", "jiantan")

VIEWS: dict[str, str] = {
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
    # reads obs_zone_current: created after it, dropped before it
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

TABLES = (
    "dim_zone", "dim_indicator", "dim_enterprise", "obs_zone", "obs_enterprise", "quarantine",
    "load_ledger", "watermark", "operator_action", "dq_run", "mart_zone_evaluation",
    "mart_rd_subsidy", "mart_build",
)  # fmt: skip


class _Existing:
    """What a pre-migration warehouse already has (adopt mode); nothing in a fresh database."""

    def __init__(self) -> None:
        self.tables: set[str] = set()
        self.views: set[str] = set()
        self.columns: dict[str, set[str]] = {}
        self.indexes: dict[str, set[str | None]] = {}
        if not op.get_context().opts.get("zonestats_adopt"):
            return
        bind = op.get_bind()
        schema = SCHEMA if bind.dialect.name == "postgresql" else None
        insp = sa.inspect(bind)
        self.tables = set(insp.get_table_names(schema=schema))
        self.views = set(insp.get_view_names(schema=schema))
        for t in self.tables:
            self.columns[t] = {c["name"] for c in insp.get_columns(t, schema=schema)}
            self.indexes[t] = {i["name"] for i in insp.get_indexes(t, schema=schema)}


def _table(have: _Existing, name: str, *items: sa.Column | sa.Constraint) -> None:
    if name not in have.tables:
        op.create_table(name, *items)
        return
    for col in items:
        if isinstance(col, sa.Column) and col.name not in have.columns[name]:
            if not col.nullable:
                raise RuntimeError(f"cannot adopt: {name}.{col.name} is NOT NULL and missing")
            op.add_column(name, col)


def _index(have: _Existing, name: str, table: str, columns: list[str]) -> None:
    if name not in have.indexes.get(table, set()):
        op.create_index(name, table, columns)


def upgrade() -> None:
    """Create every table, index and view of the warehouse."""
    bind = op.get_bind()
    if bind.dialect.name == "postgresql":
        exists = bind.execute(
            sa.text("SELECT 1 FROM pg_namespace WHERE nspname = :s"), {"s": SCHEMA}
        ).first()
        if not exists:  # env.py creates it before the version table; kept for the record
            op.execute(f"CREATE SCHEMA {SCHEMA}")
    have = _Existing()

    _table(
        have,
        "dim_zone",
        sa.Column("zone_code", sa.String(8), primary_key=True),
        sa.Column("name_zh", sa.Text(), nullable=False),
        sa.Column("name_en", sa.Text(), nullable=False),
        sa.Column("city_zh", sa.Text(), nullable=False),
        sa.Column("city_admin_code", sa.String(6), nullable=False),
        sa.Column("adapter", sa.String(16), nullable=False),
    )
    _table(
        have,
        "dim_indicator",
        sa.Column("dataset", sa.String(16), nullable=False),
        sa.Column("code", sa.String(64), nullable=False),
        sa.Column("name_zh", sa.Text(), nullable=False),
        sa.Column("name_en", sa.Text(), nullable=False),
        sa.Column("unit", sa.String(16), nullable=False),
        sa.Column("frequency", sa.String(1), nullable=False),
        sa.Column("basis", sa.String(8), nullable=False),
        sa.Column("min_value", _F),
        sa.Column("max_value", _F),
        sa.Column("mandatory", sa.Boolean(), nullable=False),
        sa.Column("is_integer", sa.Boolean(), nullable=False),
        sa.Column("alt_units", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("dataset", "code"),
    )
    _table(
        have,
        "dim_enterprise",
        sa.Column("uscc", sa.String(18), primary_key=True),
        sa.Column("name", sa.Text()),
        sa.Column("industry_code", sa.String(8)),
        sa.Column("zone_code", sa.String(8), nullable=False),
        sa.Column("above_scale", sa.Boolean()),
        sa.Column("first_period", sa.String(8)),
        sa.Column("last_period", sa.String(8)),
    )
    _table(
        have,
        "obs_zone",
        sa.Column("zone_code", sa.String(8), nullable=False),
        sa.Column("indicator_code", sa.String(64), nullable=False),
        sa.Column("period", sa.String(8), nullable=False),
        sa.Column("frequency", sa.String(1), nullable=False),
        sa.Column("revision", sa.Integer(), nullable=False),
        sa.Column("value", _F),
        sa.Column("unit", sa.String(16), nullable=False),
        sa.Column("status", sa.String(1), nullable=False),
        sa.Column("load_id", sa.String(36), nullable=False),
        sa.Column("loaded_at", _TS, nullable=False),
        sa.PrimaryKeyConstraint("zone_code", "indicator_code", "period", "revision"),
    )
    _index(have, "ix_obs_zone_load", "obs_zone", ["load_id"])
    _table(
        have,
        "obs_enterprise",
        sa.Column("zone_code", sa.String(8), nullable=False),
        sa.Column("uscc", sa.String(18), nullable=False),
        sa.Column("period", sa.String(8), nullable=False),
        sa.Column("revision", sa.Integer(), nullable=False),
        sa.Column("indicator_code", sa.String(64), nullable=False),
        sa.Column("value", _F),
        sa.Column("unit", sa.String(16), nullable=False),
        sa.Column("load_id", sa.String(36), nullable=False),
        sa.Column("loaded_at", _TS, nullable=False),
        sa.PrimaryKeyConstraint("zone_code", "uscc", "period", "revision", "indicator_code"),
    )
    _index(have, "ix_obs_enterprise_load", "obs_enterprise", ["load_id"])
    _table(
        have,
        "quarantine",
        sa.Column("quarantine_id", _ID, primary_key=True, autoincrement=True),
        sa.Column("load_id", sa.String(36), nullable=False),
        sa.Column("zone_code", sa.String(8), nullable=False),
        sa.Column("dataset", sa.String(16), nullable=False),
        sa.Column("period", sa.String(8), nullable=False),
        sa.Column("revision", sa.Integer(), nullable=False),
        sa.Column("record_no", sa.Integer(), nullable=False),
        sa.Column("record_key", sa.Text(), nullable=False),
        sa.Column("rule", sa.String(64), nullable=False),
        sa.Column("severity", sa.String(8), nullable=False),
        sa.Column("message", sa.Text(), nullable=False),
        sa.Column("raw", sa.Text(), nullable=False),
        sa.Column("status", sa.String(8), nullable=False),
        sa.Column("note", sa.Text()),
        sa.Column("created_at", _TS, nullable=False),
        sa.Column("resolved_at", _TS),
        sa.Column("resolved_by", sa.Text()),
        sa.UniqueConstraint(
            "load_id", "record_no", "record_key", "rule", name="uq_quarantine_record_rule"
        ),
    )
    _index(
        have,
        "ix_quarantine_release",
        "quarantine",
        ["zone_code", "dataset", "period", "revision"],
    )
    _table(
        have,
        "load_ledger",
        sa.Column("zone_code", sa.String(8), nullable=False),
        sa.Column("dataset", sa.String(16), nullable=False),
        sa.Column("period", sa.String(8), nullable=False),
        sa.Column("revision", sa.Integer(), nullable=False),
        sa.Column("frequency", sa.String(1), nullable=False),
        sa.Column("status", sa.String(8), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("last_error", sa.Text()),
        sa.Column("load_id", sa.String(36), nullable=False),
        sa.Column("flow_run_id", sa.String(36)),
        sa.Column("records_received", sa.Integer()),
        sa.Column("records_loaded", sa.Integer()),
        sa.Column("records_quarantined", sa.Integer()),
        sa.Column("records_warned", sa.Integer()),
        sa.Column("complete", sa.Boolean()),
        sa.Column("source_sha256", sa.String(64)),
        sa.Column("source", sa.String(16)),
        sa.Column("published_at", _TS),
        sa.Column("started_at", _TS, nullable=False),
        sa.Column("finished_at", _TS),
        sa.Column("lease_until", _TS),
        sa.PrimaryKeyConstraint("zone_code", "dataset", "period", "revision"),
        sa.UniqueConstraint("load_id", name="uq_load_ledger_load_id"),
    )
    _table(
        have,
        "watermark",
        sa.Column("zone_code", sa.String(8), nullable=False),
        sa.Column("dataset", sa.String(16), nullable=False),
        sa.Column("published_at", _TS, nullable=False),
        sa.Column("load_id", sa.String(36), nullable=False),
        sa.Column("updated_at", _TS, nullable=False),
        sa.PrimaryKeyConstraint("zone_code", "dataset"),
    )
    _table(
        have,
        "operator_action",
        sa.Column("action_id", _ID, primary_key=True, autoincrement=True),
        sa.Column("action", sa.String(32), nullable=False),
        sa.Column("operator", sa.Text(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("details", sa.Text(), nullable=False),
        sa.Column("at", _TS, nullable=False),
    )
    _table(
        have,
        "dq_run",
        sa.Column("dq_run_id", _ID, primary_key=True, autoincrement=True),
        sa.Column("run_id", sa.String(64), nullable=False),
        sa.Column("run_at", _TS, nullable=False),
        sa.Column("table_name", sa.String(64), nullable=False),
        sa.Column("expectation", sa.Text(), nullable=False),
        sa.Column("expectation_type", sa.String(128), nullable=False),
        sa.Column("success", sa.Boolean(), nullable=False),
        sa.Column("observed_value", sa.Text()),
        sa.Column("details", sa.Text()),
        sa.Column("docs_path", sa.Text()),
    )
    _index(have, "ix_dq_run_run", "dq_run", ["run_id"])
    _table(
        have,
        "mart_zone_evaluation",
        sa.Column("year", sa.Integer(), nullable=False),
        sa.Column("zone_code", sa.String(8), nullable=False),
        *(sa.Column(m, _F) for m in _METRICS),
        *(sa.Column(f"score_{p}", _F, nullable=False) for p in _PILLARS),
        sa.Column("composite", _F, nullable=False),
        sa.Column("rank", sa.Integer(), nullable=False),
        sa.Column("grade", sa.String(1), nullable=False),
        sa.Column("watchlist", sa.Boolean(), nullable=False),
        sa.Column("transition_candidate", sa.Boolean()),
        sa.Column("missing_metrics", sa.Text(), nullable=False),
        sa.Column("method_version", sa.String(32), nullable=False),
        sa.Column("built_at", _TS, nullable=False),
        sa.PrimaryKeyConstraint("year", "zone_code"),
    )
    _table(
        have,
        "mart_rd_subsidy",
        sa.Column("year", sa.Integer(), nullable=False),
        sa.Column("zone_code", sa.String(8), nullable=False),
        sa.Column("uscc", sa.String(18), nullable=False),
        sa.Column("name", sa.Text()),
        sa.Column("rd_expense", _F, nullable=False),
        sa.Column("rd_expense_prev", _F, nullable=False),
        sa.Column("prev_reported", sa.Boolean(), nullable=False),
        sa.Column("stock", _F, nullable=False),
        sa.Column("increment", _F, nullable=False),
        sa.Column("provincial_cap", _F, nullable=False),
        sa.Column("city_reference", sa.Boolean(), nullable=False),
        sa.Column("method_version", sa.String(32), nullable=False),
        sa.Column("built_at", _TS, nullable=False),
        sa.PrimaryKeyConstraint("year", "uscc"),
    )
    _table(
        have,
        "mart_build",
        sa.Column("mart", sa.String(64), nullable=False),
        sa.Column("year", sa.Integer(), nullable=False),
        sa.Column("inputs", sa.String(64), nullable=False),
        sa.Column("method_version", sa.String(32), nullable=False),
        sa.Column("rows", sa.Integer(), nullable=False),
        sa.Column("built_at", _TS, nullable=False),
        sa.PrimaryKeyConstraint("mart", "year"),
    )

    for name, ddl in VIEWS.items():
        if name not in have.views:
            op.execute(ddl)


def downgrade() -> None:
    """Drop every view and table (the data with them)."""
    for name in reversed(VIEWS):
        op.execute(f"DROP VIEW IF EXISTS {name}")
    for name in reversed(TABLES):
        op.drop_table(name)
