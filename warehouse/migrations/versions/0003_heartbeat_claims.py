"""Claims that follow the life of a run: zone_claim, and the holder of a release claim.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-03

A run's claims (on a zone, on the releases it loads) are kept alive by its heartbeat; a dead
run's claims expire within a lease (about a minute) instead of an hour. ``zone_claim`` replaces
the Prefect global concurrency slot per zone, which a killed process never gave back.
A frozen record: the columns are spelled out here.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | None = None
depends_on: str | None = None

_TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    """Create zone_claim; add load_ledger.claim_holder."""
    op.create_table(
        "zone_claim",
        sa.Column("zone_code", sa.String(8), primary_key=True),
        sa.Column("holder", sa.String(36), nullable=False),
        sa.Column("flow_run_id", sa.String(36)),
        sa.Column("run_kind", sa.String(16), nullable=False),
        sa.Column("host", sa.Text, nullable=False),
        sa.Column("pid", sa.Integer, nullable=False),
        sa.Column("claimed_at", _TS, nullable=False),
        sa.Column("heartbeat_at", _TS, nullable=False),
        sa.Column("lease_until", _TS, nullable=False),
    )
    with op.batch_alter_table("load_ledger") as batch:
        batch.add_column(sa.Column("claim_holder", sa.String(36)))


def downgrade() -> None:
    """Undo: drop load_ledger.claim_holder and zone_claim."""
    with op.batch_alter_table("load_ledger") as batch:
        batch.drop_column("claim_holder")
    op.drop_table("zone_claim")
