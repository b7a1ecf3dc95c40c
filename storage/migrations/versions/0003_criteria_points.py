"""Points of criteria 1-12 per commune and round, entered by the office.

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Create the table."""
    op.create_table(
        "criteria_points",
        sa.Column("round_id", sa.String(length=20),
                  sa.ForeignKey("rounds.id", name="fk_criteria_points_round_id_rounds"), nullable=False),
        sa.Column("commune", sa.String(length=40),
                  sa.ForeignKey("communes.code", name="fk_criteria_points_commune_communes"), nullable=False),
        sa.Column("criterion", sa.SmallInteger(), nullable=False),
        sa.Column("points", sa.Float(), nullable=True),
        sa.PrimaryKeyConstraint("round_id", "commune", "criterion", name="pk_criteria_points"),
    )


def downgrade() -> None:
    """Drop the table."""
    op.drop_table("criteria_points")
