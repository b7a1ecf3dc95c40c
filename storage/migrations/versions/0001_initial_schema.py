"""initial schema

Revision ID: 0001
Revises: (none)
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Apply this revision."""
    op.create_table(
        "communes",
        sa.Column("code", sa.String(length=40), nullable=False),
        sa.Column("name", sa.String(length=120), nullable=False),
        sa.Column("type", sa.String(length=20), nullable=False),
        sa.Column("valid_from", sa.String(length=10), nullable=True),
        sa.Column("valid_to", sa.String(length=10), nullable=True),
        sa.Column("merged_into", sa.String(length=40), nullable=True),
        sa.PrimaryKeyConstraint("code", name=op.f("pk_communes")),
    )
    op.create_table(
        "contacts",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("person", sa.String(length=64), nullable=False),
        sa.Column("channel", sa.String(length=20), nullable=False),
        sa.Column("chat_id", sa.String(length=64), nullable=False),
        sa.Column("opted_out", sa.Boolean(), nullable=False),
        sa.Column("unreachable", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_contacts")),
        sa.UniqueConstraint("channel", "chat_id", name=op.f("uq_contacts_channel")),
    )
    with op.batch_alter_table("contacts", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_contacts_person"), ["person"], unique=False)

    op.create_table(
        "invites",
        sa.Column("id", sa.String(length=16), nullable=False),
        sa.Column("role", sa.String(length=20), nullable=False),
        sa.Column("commune", sa.String(length=40), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("used_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_invites")),
    )
    op.create_table(
        "processed_updates",
        sa.Column("key", sa.String(length=80), nullable=False),
        sa.Column("seen_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("key", name=op.f("pk_processed_updates")),
    )
    op.create_table(
        "roles",
        sa.Column("person", sa.String(length=64), nullable=False),
        sa.Column("role", sa.String(length=20), nullable=False),
        sa.Column("commune", sa.String(length=40), nullable=False),
        sa.Column("granted_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("person", "role", "commune", name=op.f("pk_roles")),
    )
    op.create_table(
        "rounds",
        sa.Column("id", sa.String(length=20), nullable=False),
        sa.Column("status", sa.String(length=10), nullable=False),
        sa.Column("opened_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("closed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("target_children", sa.Integer(), nullable=False),
        sa.Column("target_residents", sa.Integer(), nullable=False),
        sa.Column("rubric", sa.String(length=120), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_rounds")),
    )
    with op.batch_alter_table("rounds", schema=None) as batch_op:
        batch_op.create_index(
            "uq_rounds_one_open",
            ["status"],
            unique=True,
            sqlite_where=sa.text("status = 'open'"),
            postgresql_where=sa.text("status = 'open'"),
        )

    op.create_table(
        "sessions",
        sa.Column("person", sa.String(length=64), nullable=False),
        sa.Column("data", sa.JSON(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("person", name=op.f("pk_sessions")),
    )
    op.create_table(
        "participations",
        sa.Column("round_id", sa.String(length=20), nullable=False),
        sa.Column("token", sa.String(length=64), nullable=False),
        sa.ForeignKeyConstraint(["round_id"], ["rounds.id"], name=op.f("fk_participations_round_id_rounds")),
        sa.PrimaryKeyConstraint("round_id", "token", name=op.f("pk_participations")),
    )
    op.create_table(
        "respondents",
        sa.Column("key", sa.String(length=64), nullable=False),
        sa.Column("group", sa.String(length=10), nullable=False),
        sa.Column("age_band", sa.String(length=10), nullable=False),
        sa.Column("commune", sa.String(length=40), nullable=False),
        sa.Column("consent", sa.String(length=40), nullable=False),
        sa.Column("consent_version", sa.String(length=20), nullable=False),
        sa.Column("consent_purpose", sa.String(length=60), nullable=False),
        sa.Column("consent_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("lang", sa.String(length=5), nullable=False),
        sa.ForeignKeyConstraint(["commune"], ["communes.code"], name=op.f("fk_respondents_commune_communes")),
        sa.PrimaryKeyConstraint("key", name=op.f("pk_respondents")),
    )
    op.create_table(
        "responses",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("round_id", sa.String(length=20), nullable=False),
        sa.Column("commune", sa.String(length=40), nullable=False),
        sa.Column("group", sa.String(length=10), nullable=False),
        sa.Column("age_band", sa.String(length=10), nullable=False),
        sa.Column("version", sa.String(length=20), nullable=False),
        sa.Column("submitted", sa.Boolean(), nullable=False),
        sa.Column("started_on", sa.String(length=10), nullable=False),
        sa.Column("submitted_on", sa.String(length=10), nullable=True),
        sa.ForeignKeyConstraint(["commune"], ["communes.code"], name=op.f("fk_responses_commune_communes")),
        sa.ForeignKeyConstraint(["round_id"], ["rounds.id"], name=op.f("fk_responses_round_id_rounds")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_responses")),
    )
    with op.batch_alter_table("responses", schema=None) as batch_op:
        batch_op.create_index("ix_responses_round_commune", ["round_id", "submitted", "commune", "group"], unique=False)

    op.create_table(
        "answers",
        sa.Column("response_id", sa.String(length=32), nullable=False),
        sa.Column("question", sa.String(length=40), nullable=False),
        sa.Column("option", sa.String(length=40), nullable=True),
        sa.Column("satisfied", sa.SmallInteger(), nullable=True),
        sa.Column("text", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(
            ["response_id"], ["responses.id"], name=op.f("fk_answers_response_id_responses"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("response_id", "question", name=op.f("pk_answers")),
    )


def downgrade() -> None:
    """Revert this revision."""
    op.drop_table("answers")
    with op.batch_alter_table("responses", schema=None) as batch_op:
        batch_op.drop_index("ix_responses_round_commune")

    op.drop_table("responses")
    op.drop_table("respondents")
    op.drop_table("participations")
    op.drop_table("sessions")
    with op.batch_alter_table("rounds", schema=None) as batch_op:
        batch_op.drop_index(
            "uq_rounds_one_open", sqlite_where=sa.text("status = 'open'"), postgresql_where=sa.text("status = 'open'")
        )

    op.drop_table("rounds")
    op.drop_table("roles")
    op.drop_table("processed_updates")
    op.drop_table("invites")
    with op.batch_alter_table("contacts", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_contacts_person"))

    op.drop_table("contacts")
    op.drop_table("communes")
