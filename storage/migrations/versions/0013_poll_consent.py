"""Consent to receive leaders' polls, per contact: asked once in onboarding; everyone before it has not said yes.

Revision ID: 0013
Revises: 0012
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Add the column; existing contacts get no polls until they say yes."""
    with op.batch_alter_table("contacts") as batch:
        batch.add_column(sa.Column("polls", sa.Boolean(), server_default=sa.false(), nullable=False))


def downgrade() -> None:
    """Drop the column."""
    with op.batch_alter_table("contacts") as batch:
        batch.drop_column("polls")
