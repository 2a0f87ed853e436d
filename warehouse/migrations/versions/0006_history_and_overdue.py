"""What the warehouse held when, and overdue releases announced once.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-05

- ``release_revision`` (view): every loaded revision of every release, with when it loaded (the
  first commit of its load) and when a higher revision of the release superseded it.
- ``obs_zone_history`` / ``obs_enterprise_history`` (views): every observation with its own
  ``loaded_at`` and its revision's ``superseded_at``, so the figures as held at a moment X are
  ``WHERE loaded_at <= X AND (superseded_at IS NULL OR superseded_at > X)``.
- ``overdue_notice`` (table): each release that turned overdue against a deadline, with the
  Prefect event that announced it: the key lets no run announce it twice.

A frozen record: the view texts and columns are spelled out here, never imported.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | None = None
depends_on: str | None = None

_TS = sa.DateTime(timezone=True)

VIEWS: dict[str, str] = {
    "release_revision": """\
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
GROUP BY a.zone_code, a.dataset, a.period, a.frequency, a.revision, a.load_id, a.loaded_at""",
    "obs_zone_history": (
        "CREATE VIEW obs_zone_history AS SELECT o.zone_code, o.indicator_code, o.period, "
        "o.frequency, o.revision, o.value, o.unit, o.status, o.load_id, o.loaded_at, "
        "r.superseded_at FROM obs_zone o JOIN release_revision r ON r.dataset = 'zone' "
        "AND r.zone_code = o.zone_code AND r.period = o.period AND r.revision = o.revision"
    ),
    "obs_enterprise_history": (
        "CREATE VIEW obs_enterprise_history AS SELECT o.zone_code, o.uscc, o.period, "
        "o.revision, o.indicator_code, o.value, o.unit, o.load_id, o.loaded_at, "
        "r.superseded_at FROM obs_enterprise o JOIN release_revision r ON "
        "r.dataset = 'enterprise' AND r.zone_code = o.zone_code AND r.period = o.period "
        "AND r.revision = o.revision"
    ),
}


def upgrade() -> None:
    """Create the views release_revision and obs_*_history, and the table overdue_notice."""
    for statement in VIEWS.values():  # release_revision first: the others read it
        op.execute(statement)
    op.create_table(
        "overdue_notice",
        sa.Column("zone_code", sa.String(8), nullable=False),
        sa.Column("dataset", sa.String(16), nullable=False),
        sa.Column("period", sa.String(8), nullable=False),
        sa.Column("deadline", _TS, nullable=False),
        sa.Column("days_late", sa.Integer, nullable=False),
        sa.Column("noticed_at", _TS, nullable=False),
        sa.Column("run_id", sa.String(64)),
        sa.Column("event_id", sa.String(36)),
        sa.PrimaryKeyConstraint("zone_code", "dataset", "period", "deadline"),
    )


def downgrade() -> None:
    """Undo: drop the table and the views (the readers first)."""
    op.drop_table("overdue_notice")
    for name in reversed(list(VIEWS)):
        op.execute(f"DROP VIEW IF EXISTS {name}")
