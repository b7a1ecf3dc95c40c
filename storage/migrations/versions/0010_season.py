"""The season: a round's survey window and milestones, targets per commune, the 2025 map's hierarchy.

Revision ID: 0010
Revises: 0008 (the lead rechains this at merge)
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Add the window and hierarchy columns, the milestones and the targets."""
    with op.batch_alter_table("rounds") as batch:
        batch.add_column(sa.Column("opens", sa.String(length=10), nullable=True))
        batch.add_column(sa.Column("closes", sa.String(length=10), nullable=True))
    with op.batch_alter_table("communes") as batch:
        batch.add_column(sa.Column("province", sa.String(length=120), nullable=True))
        batch.add_column(sa.Column("former_district", sa.String(length=120), nullable=True))
        batch.add_column(sa.Column("children_count", sa.Integer(), nullable=True))
    op.create_table(
        "milestones",
        sa.Column("round_id", sa.String(length=20), nullable=False),
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("name_vi", sa.String(length=200), nullable=False),
        sa.Column("name_en", sa.String(length=200), nullable=False),
        sa.Column("due", sa.String(length=10), nullable=False),
        sa.Column("audience", sa.String(length=40), nullable=False),
        sa.Column("remind_days", sa.JSON(), nullable=False),
        sa.Column("kind", sa.String(length=10), nullable=False),
        sa.Column("done_on", sa.String(length=10), nullable=True),
        sa.ForeignKeyConstraint(["round_id"], ["rounds.id"], name=op.f("fk_milestones_round_id_rounds"),
                                ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("round_id", "id", name=op.f("pk_milestones")),
    )
    op.create_table(
        "targets",
        sa.Column("round_id", sa.String(length=20), nullable=False),
        sa.Column("commune", sa.String(length=40), nullable=False),
        sa.Column("group", sa.String(length=10), nullable=False),
        sa.Column("age_band", sa.String(length=10), nullable=False),
        sa.Column("target", sa.Integer(), nullable=False),
        sa.CheckConstraint("target > 0", name=op.f("ck_targets_positive")),
        sa.ForeignKeyConstraint(["round_id"], ["rounds.id"], name=op.f("fk_targets_round_id_rounds"),
                                ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["commune"], ["communes.code"], name=op.f("fk_targets_commune_communes")),
        sa.PrimaryKeyConstraint("round_id", "commune", "group", "age_band", name=op.f("pk_targets")),
    )


def downgrade() -> None:
    """Drop what upgrade added."""
    op.drop_table("targets")
    op.drop_table("milestones")
    with op.batch_alter_table("communes") as batch:
        batch.drop_column("children_count")
        batch.drop_column("former_district")
        batch.drop_column("province")
    with op.batch_alter_table("rounds") as batch:
        batch.drop_column("closes")
        batch.drop_column("opens")
