"""Paper questionnaires and children's forums: response and proposal sources, form codes, print runs, forums.

Revision ID: 0011
Revises: 0010
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Create the tables and add the columns."""
    op.create_table(
        "form_prints",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("commune", sa.String(length=40), nullable=False),
        sa.Column("group", sa.String(length=10), nullable=False),
        sa.Column("first", sa.Integer(), nullable=False),
        sa.Column("count", sa.Integer(), nullable=False),
        sa.Column("printed_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["commune"], ["communes.code"], name=op.f("fk_form_prints_commune_communes")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_form_prints")),
        sa.UniqueConstraint("first", name=op.f("uq_form_prints_first")),
    )
    op.create_table(
        "forums",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("commune", sa.String(length=40), nullable=False),
        sa.Column("held_on", sa.String(length=10), nullable=False),
        sa.Column("children", sa.Integer(), nullable=False),
        sa.Column("topics", sa.JSON(), nullable=False),
        sa.Column("report_due", sa.String(length=10), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["commune"], ["communes.code"], name=op.f("fk_forums_commune_communes")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_forums")),
    )
    op.create_index("ix_forums_commune_held", "forums", ["commune", "held_on"])
    with op.batch_alter_table("responses") as batch:
        batch.add_column(sa.Column("source", sa.String(length=10), server_default="chat", nullable=False))
        batch.add_column(sa.Column("form_code", sa.String(length=12), nullable=True))
        batch.create_unique_constraint(op.f("uq_responses_form_code"), ["form_code"])
    with op.batch_alter_table("proposals") as batch:
        batch.add_column(sa.Column("source", sa.String(length=10), server_default="chat", nullable=False))
        batch.add_column(sa.Column("forum_id", sa.Integer(), nullable=True))
        batch.create_foreign_key(op.f("fk_proposals_forum_id_forums"), "forums", ["forum_id"], ["id"])


def downgrade() -> None:
    """Drop the columns and the tables."""
    with op.batch_alter_table("proposals") as batch:
        batch.drop_constraint(op.f("fk_proposals_forum_id_forums"), type_="foreignkey")
        batch.drop_column("forum_id")
        batch.drop_column("source")
    with op.batch_alter_table("responses") as batch:
        batch.drop_constraint(op.f("uq_responses_form_code"), type_="unique")
        batch.drop_column("form_code")
        batch.drop_column("source")
    op.drop_index("ix_forums_commune_held", table_name="forums")
    op.drop_table("forums")
    op.drop_table("form_prints")
