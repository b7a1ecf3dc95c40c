"""Agencies that answer forwarded proposals, and the overdue proposals' reminders.

Roles and invites name an agency as `agency:<id>` (longer than 20 characters for the office's own ids); an
event says which agency acted; a proposal remembers how far its overdue reminders went (0, 1 leader, 2 officials).

Revision ID: 0012
Revises: 0011
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Widen the role columns and add the columns."""
    for table in ("roles", "invites"):
        with op.batch_alter_table(table) as batch:
            batch.alter_column("role", existing_type=sa.String(length=20), type_=sa.String(length=40),
                               existing_nullable=False)
    with op.batch_alter_table("proposal_events") as batch:
        batch.add_column(sa.Column("agency", sa.String(length=30), nullable=True))
    with op.batch_alter_table("proposals") as batch:
        batch.add_column(sa.Column("overdue_step", sa.SmallInteger(), server_default="0", nullable=False))


def downgrade() -> None:
    """Drop the columns and narrow the role columns again."""
    with op.batch_alter_table("proposals") as batch:
        batch.drop_column("overdue_step")
    with op.batch_alter_table("proposal_events") as batch:
        batch.drop_column("agency")
    for table in ("invites", "roles"):
        with op.batch_alter_table(table) as batch:
            batch.alter_column("role", existing_type=sa.String(length=40), type_=sa.String(length=20),
                               existing_nullable=False)
