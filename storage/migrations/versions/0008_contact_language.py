"""The language of each contact, so proactive messages go out in the recipient's language.

Revision ID: 0008
Revises: 0007
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Add the column."""
    with op.batch_alter_table("contacts") as batch:
        batch.add_column(sa.Column("lang", sa.String(length=5), nullable=True))


def downgrade() -> None:
    """Drop the column."""
    with op.batch_alter_table("contacts") as batch:
        batch.drop_column("lang")
