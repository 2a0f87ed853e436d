"""The quarantine without its raw payloads, for readers: view quarantine_findings.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-27

Statisticians may not read quarantine.raw (the record as received); a SELECT * on quarantine is
refused to them. This view holds every other column, so they can read what was held out and why
without naming columns. A frozen record: the view text is spelled out here.
"""

from __future__ import annotations

from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | None = None
depends_on: str | None = None

VIEW = (
    "CREATE VIEW quarantine_findings AS SELECT quarantine_id, load_id, zone_code, dataset, "
    "period, revision, record_no, record_key, rule, severity, message, status, note, "
    "created_at, resolved_at, resolved_by FROM quarantine"
)


def upgrade() -> None:
    """Create view quarantine_findings."""
    op.execute(VIEW)


def downgrade() -> None:
    """Undo: drop view quarantine_findings."""
    op.execute("DROP VIEW IF EXISTS quarantine_findings")
