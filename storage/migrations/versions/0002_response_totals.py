"""Totals of scored and satisfied answers on each response, fixed on submit, for fast scores.

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Add the totals, fill them for responses already submitted, and index them for GROUP BY."""
    with op.batch_alter_table("responses") as batch:
        batch.add_column(sa.Column("answers_scored", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("answers_satisfied", sa.Integer(), nullable=True))
        batch.drop_index("ix_responses_round_commune")
        batch.create_index("ix_responses_score", ["round_id", "submitted", "commune", "group",
                                                  "answers_scored", "answers_satisfied"])
    op.execute(
        "UPDATE responses SET "
        "answers_scored = (SELECT count(satisfied) FROM answers WHERE answers.response_id = responses.id), "
        "answers_satisfied = (SELECT coalesce(sum(satisfied), 0) FROM answers "
        "WHERE answers.response_id = responses.id) "
        "WHERE submitted"
    )


def downgrade() -> None:
    """Drop the totals."""
    with op.batch_alter_table("responses") as batch:
        batch.drop_index("ix_responses_score")
        batch.create_index("ix_responses_round_commune", ["round_id", "submitted", "commune", "group"])
        batch.drop_column("answers_satisfied")
        batch.drop_column("answers_scored")
