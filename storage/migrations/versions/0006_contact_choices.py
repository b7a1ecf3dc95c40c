"""The choices last shown to a contact, so channels without buttons can take a typed number.

Revision ID: 0006
Revises: 0005
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Add the column."""
    with op.batch_alter_table("contacts") as batch:
        batch.add_column(sa.Column("last_choices", sa.JSON(), nullable=True))


def downgrade() -> None:
    """Drop the column."""
    with op.batch_alter_table("contacts") as batch:
        batch.drop_column("last_choices")
