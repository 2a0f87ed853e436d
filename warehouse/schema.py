"""Every table of the warehouse, defined once (SQLAlchemy Core); names are a public contract."""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    DateTime,
    Float,
    Index,
    Integer,
    MetaData,
    PrimaryKeyConstraint,
    String,
    Table,
    Text,
    UniqueConstraint,
)

from marts.monthly import ZONE_MONTHLY_VIEW_SQL

metadata = MetaData()

# SQLite autoincrements only an INTEGER PRIMARY KEY; PostgreSQL gets a BIGINT identity.
_ID = BigInteger().with_variant(Integer(), "sqlite")
_TS = DateTime(timezone=True)

dim_zone = Table(
    "dim_zone",
    metadata,
    Column("zone_code", String(8), primary_key=True),
    Column("name_zh", Text, nullable=False),
    Column("name_en", Text, nullable=False),
    Column("city_zh", Text, nullable=False),
    Column("city_admin_code", String(6), nullable=False),
    Column("adapter", String(16), nullable=False),
)

dim_indicator = Table(
    "dim_indicator",
    metadata,
    Column("dataset", String(16), nullable=False),
    Column("code", String(64), nullable=False),
    Column("name_zh", Text, nullable=False),
    Column("name_en", Text, nullable=False),
    Column("unit", String(16), nullable=False),
    Column("frequency", String(1), nullable=False),
    Column("basis", String(8), nullable=False),
    Column("min_value", Float(53)),
    Column("max_value", Float(53)),
    Column("mandatory", Boolean, nullable=False),
    Column("is_integer", Boolean, nullable=False),
    Column("alt_units", Text, nullable=False),
    PrimaryKeyConstraint("dataset", "code"),
)

# on PostgreSQL with fillfactor 70 (migration 0004): every load updates its enterprises' rows
dim_enterprise = Table(
    "dim_enterprise",
    metadata,
    Column("uscc", String(18), primary_key=True),
    Column("name", Text),
    Column("industry_code", String(8)),
    Column("zone_code", String(8), nullable=False),
    Column("above_scale", Boolean),
    Column("first_period", String(8)),
    Column("last_period", String(8)),
)

# -- observations ---------------------------------------------------------------------------
# The contract's obs_zone and obs_enterprise are views (VIEWS below) over a physical table each,
# which holds a small load number instead of the load's uuid and time: one row per load in
# load_commit carries those. The physical key starts with the release (zone, period, revision),
# so one release is one contiguous key range: its rows insert in key order, export and delete by
# key prefix, and need no index of their own. On SQLite the tables are WITHOUT ROWID: the key is
# the table, with no rowid B-tree and no separate key index beside it.

# One row per transaction that committed rows of a release: its load (loaded or rejected), or an
# operator's accept of a quarantined record, which loads it later, under the same load_id.
load_commit = Table(
    "load_commit",
    metadata,
    Column("load_no", Integer, primary_key=True, autoincrement=True),
    Column("load_id", String(36), nullable=False),
    Column("loaded_at", _TS, nullable=False),
    Column("zone_code", String(8), nullable=False),
    Column("dataset", String(16), nullable=False),
    Column("period", String(8), nullable=False),
    Column("revision", Integer, nullable=False),
    # the Parquet batch whose files hold these rows (warehouse.paths.parquet_file); NULL: the
    # release's own files. Written in the load's transaction, so repair can write a batch's file
    # again from SQL after a crash.
    Column("parquet_batch", String(64)),
    Column("obs_rows", Integer, nullable=False),  # observation rows this commit added
    Column("quarantine_rows", Integer, nullable=False),  # quarantine rows it added
    Index("ix_load_commit_load", "load_id"),
    Index("ix_load_commit_batch", "parquet_batch"),
)

obs_zone_base = Table(
    "obs_zone_base",
    metadata,
    Column("zone_code", String(8), nullable=False),
    Column("period", String(8), nullable=False),
    Column("revision", Integer, nullable=False),
    Column("indicator_code", String(64), nullable=False),
    Column("frequency", String(1), nullable=False),
    Column("value", Float(53)),
    Column("unit", String(16), nullable=False),
    Column("status", String(1), nullable=False),
    Column("load_no", Integer, nullable=False),  # load_commit.load_no
    PrimaryKeyConstraint("zone_code", "period", "revision", "indicator_code"),
    sqlite_with_rowid=False,
)

obs_enterprise_base = Table(
    "obs_enterprise_base",
    metadata,
    Column("zone_code", String(8), nullable=False),
    Column("period", String(8), nullable=False),
    Column("revision", Integer, nullable=False),
    Column("uscc", String(18), nullable=False),
    Column("indicator_code", String(64), nullable=False),
    Column("value", Float(53)),
    Column("unit", String(16), nullable=False),
    Column("load_no", Integer, nullable=False),  # load_commit.load_no
    PrimaryKeyConstraint("zone_code", "period", "revision", "uscc", "indicator_code"),
    sqlite_with_rowid=False,
)

#: the views of the contract that readers select from, described as tables for SQLAlchemy (never
#: created from here: migrations create the views); the key is the contract's
views = MetaData()

obs_zone = Table(
    "obs_zone",
    views,
    Column("zone_code", String(8), nullable=False),
    Column("indicator_code", String(64), nullable=False),
    Column("period", String(8), nullable=False),
    Column("frequency", String(1), nullable=False),
    Column("revision", Integer, nullable=False),
    Column("value", Float(53)),
    Column("unit", String(16), nullable=False),
    Column("status", String(1), nullable=False),
    Column("load_id", String(36), nullable=False),
    Column("loaded_at", _TS, nullable=False),
    PrimaryKeyConstraint("zone_code", "indicator_code", "period", "revision"),
)

obs_enterprise = Table(
    "obs_enterprise",
    views,
    Column("zone_code", String(8), nullable=False),
    Column("uscc", String(18), nullable=False),
    Column("period", String(8), nullable=False),
    Column("revision", Integer, nullable=False),
    Column("indicator_code", String(64), nullable=False),
    Column("value", Float(53)),
    Column("unit", String(16), nullable=False),
    Column("load_id", String(36), nullable=False),
    Column("loaded_at", _TS, nullable=False),
    PrimaryKeyConstraint("zone_code", "uscc", "period", "revision", "indicator_code"),
)

# every loaded revision of every release: when it loaded and when a later one superseded it
release_revision = Table(
    "release_revision",
    views,
    Column("zone_code", String(8), nullable=False),
    Column("dataset", String(16), nullable=False),
    Column("period", String(8), nullable=False),
    Column("frequency", String(1), nullable=False),
    Column("revision", Integer, nullable=False),
    Column("load_id", String(36), nullable=False),
    Column("loaded_at", _TS, nullable=False),
    Column("superseded_at", _TS),
    PrimaryKeyConstraint("zone_code", "dataset", "period", "revision"),
)

# every observation with the interval it was current in: loaded_at <= X < superseded_at
obs_zone_history = Table(
    "obs_zone_history",
    views,
    *(c._copy() for c in obs_zone.columns),
    Column("superseded_at", _TS),
    PrimaryKeyConstraint("zone_code", "indicator_code", "period", "revision"),
)

obs_enterprise_history = Table(
    "obs_enterprise_history",
    views,
    *(c._copy() for c in obs_enterprise.columns),
    Column("superseded_at", _TS),
    PrimaryKeyConstraint("zone_code", "uscc", "period", "revision", "indicator_code"),
)

quarantine = Table(
    "quarantine",
    metadata,
    Column("quarantine_id", _ID, primary_key=True, autoincrement=True),
    Column("load_id", String(36), nullable=False),
    Column("zone_code", String(8), nullable=False),
    Column("dataset", String(16), nullable=False),
    Column("period", String(8), nullable=False),
    Column("revision", Integer, nullable=False),
    Column("record_no", Integer, nullable=False),  # position in the release, 0 for a whole page
    Column("record_key", Text, nullable=False),
    Column("rule", String(64), nullable=False),
    Column("severity", String(8), nullable=False),
    Column("message", Text, nullable=False),
    Column("raw", Text, nullable=False),
    Column("status", String(8), nullable=False),
    Column("note", Text),
    Column("created_at", _TS, nullable=False),
    Column("resolved_at", _TS),
    Column("resolved_by", Text),
    # a release's quarantine is written once, in the transaction that loads it
    UniqueConstraint(
        "load_id", "record_no", "record_key", "rule", name="uq_quarantine_record_rule"
    ),
    Index("ix_quarantine_release", "zone_code", "dataset", "period", "revision"),
)

load_ledger = Table(
    "load_ledger",
    metadata,
    Column("zone_code", String(8), nullable=False),
    Column("dataset", String(16), nullable=False),
    Column("period", String(8), nullable=False),
    Column("revision", Integer, nullable=False),
    Column("frequency", String(1), nullable=False),
    Column("status", String(8), nullable=False),
    Column("attempts", Integer, nullable=False),
    Column("last_error", Text),
    Column("load_id", String(36), nullable=False),
    Column("flow_run_id", String(36)),
    Column("records_received", Integer),
    Column("records_loaded", Integer),
    Column("records_quarantined", Integer),
    Column("records_warned", Integer),
    # loaded without every mandatory indicator (each named by a mandatory_missing quarantine row)
    Column("complete", Boolean),
    Column("source_sha256", String(64)),
    Column("source", String(16)),  # api-v1 | form-xlsx | manual
    Column("published_at", _TS),
    Column("started_at", _TS, nullable=False),
    Column("finished_at", _TS),
    # while running: until when the claim holds; a run that died loses it when this passes
    Column("lease_until", _TS),
    # while running: the claim token of the run whose heartbeat keeps lease_until moving
    Column("claim_holder", String(36)),
    PrimaryKeyConstraint("zone_code", "dataset", "period", "revision"),
    UniqueConstraint("load_id", name="uq_load_ledger_load_id"),
)

watermark = Table(
    "watermark",
    metadata,
    Column("zone_code", String(8), nullable=False),
    Column("dataset", String(16), nullable=False),
    Column("published_at", _TS, nullable=False),
    Column("load_id", String(36), nullable=False),
    Column("updated_at", _TS, nullable=False),
    PrimaryKeyConstraint("zone_code", "dataset"),
)

# one run at a time against a zone's system: a row while a run works on the zone, kept alive by
# that run's heartbeat; a row whose lease passed belongs to a dead run and is taken over
zone_claim = Table(
    "zone_claim",
    metadata,
    Column("zone_code", String(8), primary_key=True),
    Column("holder", String(36), nullable=False),
    Column("flow_run_id", String(36)),
    Column("run_kind", String(16), nullable=False),  # nightly | rerun | backfill | submit
    Column("host", Text, nullable=False),  # where the holder runs: for the operator, not liveness
    Column("pid", Integer, nullable=False),
    Column("claimed_at", _TS, nullable=False),
    Column("heartbeat_at", _TS, nullable=False),
    Column("lease_until", _TS, nullable=False),
)

operator_action = Table(
    "operator_action",
    metadata,
    Column("action_id", _ID, primary_key=True, autoincrement=True),
    Column("action", String(32), nullable=False),  # rerun | backfill | accept | fix
    Column("operator", Text, nullable=False),
    Column("reason", Text, nullable=False),
    Column("details", Text, nullable=False),  # JSON: what it selected
    Column("at", _TS, nullable=False),
)

# -- the reporting calendar (zonestats/data/calendar.toml) ----------------------------------

# what the zones' systems list, as every listing sees it: the first published_at of a period is
# when it counts as handed in (a later revision does not make an on-time release late)
release_seen = Table(
    "release_seen",
    metadata,
    Column("zone_code", String(8), nullable=False),
    Column("dataset", String(16), nullable=False),
    Column("period", String(8), nullable=False),
    Column("frequency", String(1), nullable=False),
    Column("first_published_at", _TS, nullable=False),
    Column("first_revision", Integer, nullable=False),
    Column("last_published_at", _TS, nullable=False),
    Column("last_revision", Integer, nullable=False),
    Column("first_seen_at", _TS, nullable=False),
    Column("last_seen_at", _TS, nullable=False),
    PrimaryKeyConstraint("zone_code", "dataset", "period"),
)

# an operator's extension of one release's deadline (audited in operator_action too)
deadline_extension = Table(
    "deadline_extension",
    metadata,
    Column("zone_code", String(8), nullable=False),
    Column("dataset", String(16), nullable=False),
    Column("period", String(8), nullable=False),
    Column("until", _TS, nullable=False),
    Column("reason", Text, nullable=False),
    Column("granted_by", Text, nullable=False),
    Column("granted_at", _TS, nullable=False),
    PrimaryKeyConstraint("zone_code", "dataset", "period"),
)

# what each zone owes and how it stands, rewritten whole by every run (as of the run's time)
release_calendar = Table(
    "release_calendar",
    metadata,
    Column("zone_code", String(8), nullable=False),
    Column("dataset", String(16), nullable=False),
    Column("period", String(8), nullable=False),
    Column("frequency", String(1), nullable=False),
    Column("due_at", _TS, nullable=False),
    Column("extended_until", _TS),
    Column("deadline", _TS, nullable=False),
    Column("first_published_at", _TS),
    Column("first_loaded_at", _TS),
    Column("arrived_at", _TS),
    Column("state", String(8), nullable=False),
    Column("days_late", Integer),
    Column("as_of", _TS, nullable=False),
    PrimaryKeyConstraint("zone_code", "dataset", "period"),
)

# each release that turned overdue against a deadline, announced once (a Prefect event) by the
# run that first saw it so: the key makes a second announcement, by any run, impossible
overdue_notice = Table(
    "overdue_notice",
    metadata,
    Column("zone_code", String(8), nullable=False),
    Column("dataset", String(16), nullable=False),
    Column("period", String(8), nullable=False),
    Column("deadline", _TS, nullable=False),  # the deadline in force when it turned overdue
    Column("days_late", Integer, nullable=False),
    Column("noticed_at", _TS, nullable=False),  # the moment the run's calendar was computed at
    Column("run_id", String(64)),
    Column("event_id", String(36)),  # the Prefect event's id
    PrimaryKeyConstraint("zone_code", "dataset", "period", "deadline"),
)

# the result of the data-quality checkpoint (Great Expectations) at the end of each run
dq_run = Table(
    "dq_run",
    metadata,
    Column("dq_run_id", _ID, primary_key=True, autoincrement=True),
    Column("run_id", String(64), nullable=False),  # the flow run, or the CLI run's own id
    Column("run_at", _TS, nullable=False),
    Column("table_name", String(64), nullable=False),
    Column("expectation", Text, nullable=False),
    Column("expectation_type", String(128), nullable=False),
    Column("success", Boolean, nullable=False),
    Column("observed_value", Text),
    Column("details", Text),
    Column("docs_path", Text),
    Index("ix_dq_run_run", "run_id"),
)

# --- marts (see marts/): rebuilt per year from the current observations ---------------------

_METRICS = (
    "tax_per_mu", "revenue_per_mu", "va_per_mu", "leading_industry_share",
    "land_development_rate", "rd_intensity", "revenue_growth", "investment_growth",
    "industrial_va_growth", "energy_per_va", "co2_per_va", "green_power_share",
)  # fmt: skip
_PILLARS = ("mujun", "jiju", "zengliang", "jiantan")

mart_zone_evaluation = Table(
    "mart_zone_evaluation",
    metadata,
    Column("year", Integer, nullable=False),
    Column("zone_code", String(8), nullable=False),
    *(Column(m, Float(53)) for m in _METRICS),
    *(Column(f"score_{p}", Float(53), nullable=False) for p in _PILLARS),
    Column("composite", Float(53), nullable=False),
    Column("rank", Integer, nullable=False),
    Column("grade", String(1), nullable=False),
    Column("watchlist", Boolean, nullable=False),
    Column("transition_candidate", Boolean),  # null: land figures missing
    Column("missing_metrics", Text, nullable=False),
    Column("method_version", String(32), nullable=False),
    Column("built_at", _TS, nullable=False),
    PrimaryKeyConstraint("year", "zone_code"),
)

mart_rd_subsidy = Table(
    "mart_rd_subsidy",
    metadata,
    Column("year", Integer, nullable=False),
    Column("zone_code", String(8), nullable=False),
    Column("uscc", String(18), nullable=False),
    Column("name", Text),
    Column("rd_expense", Float(53), nullable=False),
    Column("rd_expense_prev", Float(53), nullable=False),
    Column("prev_reported", Boolean, nullable=False),
    Column("stock", Float(53), nullable=False),
    Column("increment", Float(53), nullable=False),
    Column("provincial_cap", Float(53), nullable=False),
    Column("city_reference", Boolean, nullable=False),
    Column("method_version", String(32), nullable=False),
    Column("built_at", _TS, nullable=False),
    PrimaryKeyConstraint("year", "uscc"),
)

# what each mart of a year was built from: rebuilt only when its inputs changed
mart_build = Table(
    "mart_build",
    metadata,
    Column("mart", String(64), nullable=False),
    Column("year", Integer, nullable=False),
    Column("inputs", String(64), nullable=False),  # fingerprint of the input rows
    Column("method_version", String(32), nullable=False),
    Column("rows", Integer, nullable=False),
    Column("built_at", _TS, nullable=False),
    PrimaryKeyConstraint("mart", "year"),
)

MART_TABLES = {"mart_zone_evaluation": mart_zone_evaluation, "mart_rd_subsidy": mart_rd_subsidy}
#: per dataset, the contract's observation view (what readers select from)
OBS_TABLES = {"zone": obs_zone, "enterprise": obs_enterprise}
#: per dataset, the physical table under it (what the load writes)
OBS_BASE = {"zone": obs_zone_base, "enterprise": obs_enterprise_base}
#: per dataset, every observation with the interval it was current in (as-of reads)
OBS_HISTORY = {"zone": obs_zone_history, "enterprise": obs_enterprise_history}


def _obs_view(view: Table, base: Table) -> str:
    # the contract's columns in the contract's order; load_id and loaded_at from the load's row.
    # LEFT JOIN on load_commit's key: a query that reads neither column skips the join (SQLite
    # and PostgreSQL both remove it), e.g. the current view's reads by the data-quality checks
    cols = ", ".join(
        f"c.{c.name}" if c.name in ("load_id", "loaded_at") else f"b.{c.name}" for c in view.columns
    )
    return (
        f"CREATE VIEW {view.name} AS SELECT {cols} FROM {base.name} b "
        f"LEFT JOIN load_commit c ON c.load_no = b.load_no"
    )


def _current_view(obs: str, dataset: str) -> str:
    # the latest loaded revision of each release; portable SQL, the same on SQLite and PostgreSQL
    return (
        f"CREATE VIEW {obs}_current AS "
        f"SELECT o.* FROM {obs} o JOIN ("
        f"SELECT zone_code, period, MAX(revision) AS revision FROM load_ledger "
        f"WHERE dataset = '{dataset}' AND status = 'loaded' GROUP BY zone_code, period"
        f") cur ON o.zone_code = cur.zone_code AND o.period = cur.period "
        f"AND o.revision = cur.revision"
    )


# When each loaded revision of a release was loaded, and superseded: a revision is current from
# its load (the first commit of its load id; an operator's accept commits later rows under the
# same id) until a higher revision of the release loads, the rule of the _current views. Portable
# SQL: a revision loaded before a lower one (a late backfill) is superseded before it loads, so
# it is current at no moment, as MAX(revision) says.
RELEASE_REVISION_VIEW = """\
CREATE VIEW release_revision AS
WITH r AS (
    SELECT l.zone_code, l.dataset, l.period, l.frequency, l.revision, l.load_id,
           COALESCE(MIN(c.loaded_at), l.finished_at) AS loaded_at
    FROM load_ledger l
    LEFT JOIN load_commit c ON c.load_id = l.load_id
    WHERE l.status = 'loaded'
    GROUP BY l.zone_code, l.dataset, l.period, l.frequency, l.revision, l.load_id, l.finished_at
)
SELECT a.zone_code, a.dataset, a.period, a.frequency, a.revision, a.load_id, a.loaded_at,
       MIN(b.loaded_at) AS superseded_at
FROM r a
LEFT JOIN r b ON b.zone_code = a.zone_code AND b.dataset = a.dataset AND b.period = a.period
             AND b.revision > a.revision
GROUP BY a.zone_code, a.dataset, a.period, a.frequency, a.revision, a.load_id, a.loaded_at"""


def _history_view(view: Table, obs: Table, dataset: str) -> str:
    # each row's own loaded_at (an accepted record's is the accept's) and its revision's end
    cols = ", ".join(f"o.{c.name}" for c in obs.columns)
    return (
        f"CREATE VIEW {view.name} AS SELECT {cols}, r.superseded_at FROM {obs.name} o "
        f"JOIN release_revision r ON r.dataset = '{dataset}' AND r.zone_code = o.zone_code "
        f"AND r.period = o.period AND r.revision = o.revision"
    )


#: view name -> CREATE VIEW statement (created after the tables, dropped before them, in order)
VIEWS: dict[str, str] = {
    "obs_zone": _obs_view(obs_zone, obs_zone_base),
    "obs_enterprise": _obs_view(obs_enterprise, obs_enterprise_base),
    # after obs_zone and obs_enterprise, which they read
    "obs_zone_current": _current_view("obs_zone", "zone"),
    "obs_enterprise_current": _current_view("obs_enterprise", "enterprise"),
    # after obs_zone_current, which it reads
    "zone_monthly": ZONE_MONTHLY_VIEW_SQL,
    # after obs_zone and obs_enterprise; the history views read release_revision
    "release_revision": RELEASE_REVISION_VIEW,
    "obs_zone_history": _history_view(obs_zone_history, obs_zone, "zone"),
    "obs_enterprise_history": _history_view(obs_enterprise_history, obs_enterprise, "enterprise"),
    # the quarantine without the raw payloads, which readers may not see
    "quarantine_findings": (
        "CREATE VIEW quarantine_findings AS SELECT quarantine_id, load_id, zone_code, dataset, "
        "period, revision, record_no, record_key, rule, severity, message, status, note, "
        "created_at, resolved_at, resolved_by FROM quarantine"
    ),
}
