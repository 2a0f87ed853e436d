"""The reporting calendar: release_seen, deadline_extension, release_calendar.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-05

Which releases are late needs what the zones list (``release_seen``: the first published_at of
each period, recorded by every listing, also when nothing new loads), the deadlines operators
extended (``deadline_extension``) and, for readers, each owed release's state
(``release_calendar``, rewritten by every run). A frozen record: the columns are spelled out here.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | None = None
depends_on: str | None = None

_TS = sa.DateTime(timezone=True)


def _release_key() -> list[sa.Column]:
    return [
        sa.Column("zone_code", sa.String(8), nullable=False),
        sa.Column("dataset", sa.String(16), nullable=False),
        sa.Column("period", sa.String(8), nullable=False),
    ]


def upgrade() -> None:
    """Create release_seen, deadline_extension and release_calendar."""
    op.create_table(
        "release_seen",
        *_release_key(),
        sa.Column("frequency", sa.String(1), nullable=False),
        sa.Column("first_published_at", _TS, nullable=False),
        sa.Column("first_revision", sa.Integer, nullable=False),
        sa.Column("last_published_at", _TS, nullable=False),
        sa.Column("last_revision", sa.Integer, nullable=False),
        sa.Column("first_seen_at", _TS, nullable=False),
        sa.Column("last_seen_at", _TS, nullable=False),
        sa.PrimaryKeyConstraint("zone_code", "dataset", "period"),
    )
    op.create_table(
        "deadline_extension",
        *_release_key(),
        sa.Column("until", _TS, nullable=False),
        sa.Column("reason", sa.Text, nullable=False),
        sa.Column("granted_by", sa.Text, nullable=False),
        sa.Column("granted_at", _TS, nullable=False),
        sa.PrimaryKeyConstraint("zone_code", "dataset", "period"),
    )
    op.create_table(
        "release_calendar",
        *_release_key(),
        sa.Column("frequency", sa.String(1), nullable=False),
        sa.Column("due_at", _TS, nullable=False),
        sa.Column("extended_until", _TS),
        sa.Column("deadline", _TS, nullable=False),
        sa.Column("first_published_at", _TS),
        sa.Column("first_loaded_at", _TS),
        sa.Column("arrived_at", _TS),
        sa.Column("state", sa.String(8), nullable=False),
        sa.Column("days_late", sa.Integer),
        sa.Column("as_of", _TS, nullable=False),
        sa.PrimaryKeyConstraint("zone_code", "dataset", "period"),
    )


def downgrade() -> None:
    """Undo: drop the three tables."""
    for table in ("release_calendar", "deadline_extension", "release_seen"):
        op.drop_table(table)
