"""Durable intake and delivery: the language of each contact, the inbox, answers in the outbox, claims and leases.

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
    """Add the columns and tables."""
    with op.batch_alter_table("contacts") as batch:
        batch.add_column(sa.Column("lang", sa.String(length=5), nullable=True))
    op.create_table(
        "inbox",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("key", sa.String(length=100), nullable=False),
        sa.Column("person", sa.String(length=64), nullable=False),
        sa.Column("data", sa.JSON(), nullable=False),
        sa.Column("status", sa.String(length=8), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("claimed_by", sa.String(length=40), nullable=True),
        sa.Column("claimed_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("done_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_inbox")),
        sa.UniqueConstraint("key", name=op.f("uq_inbox_key")),
    )
    op.create_index("ix_inbox_status_id", "inbox", ["status", "id"])
    op.create_index("ix_inbox_person_status", "inbox", ["person", "status", "id"])
    op.create_index("ix_inbox_done_at", "inbox", ["done_at"])
    with op.batch_alter_table("outbox") as batch:
        batch.alter_column("contact_id", existing_type=sa.Integer(), nullable=True)
        batch.add_column(sa.Column("channel", sa.String(length=20), nullable=True))
        batch.add_column(sa.Column("chat_id", sa.String(length=64), nullable=True))
        batch.add_column(sa.Column("claimed_by", sa.String(length=40), nullable=True))
        batch.add_column(sa.Column("claimed_until", sa.DateTime(timezone=True), nullable=True))
        batch.drop_index("ix_outbox_due")
        batch.create_index("ix_outbox_due", ["status", "kind", "id"])
        batch.create_index("ix_outbox_sent_at", ["sent_at"])
    op.create_table(
        "leases",
        sa.Column("name", sa.String(length=60), nullable=False),
        sa.Column("owner", sa.String(length=60), nullable=False),
        sa.Column("until", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_leases")),
    )
    op.create_index("ix_processed_updates_seen_at", "processed_updates", ["seen_at"])
    with op.batch_alter_table("alerts") as batch:
        batch.alter_column("commune", existing_type=sa.String(length=40), nullable=True)
        batch.add_column(sa.Column("status", sa.String(length=12), nullable=False, server_default="open"))
        batch.add_column(sa.Column("acted_at", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("escalated", sa.Integer(), nullable=False, server_default="0"))
    op.create_table(
        "alert_events",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("alert_id", sa.Integer(), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("actor", sa.String(length=12), nullable=False),
        sa.Column("kind", sa.String(length=12), nullable=False),
        sa.Column("detail", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(["alert_id"], ["alerts.id"], name=op.f("fk_alert_events_alert_id_alerts"),
                                ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_alert_events")),
    )
    op.create_index("ix_alert_events_alert_id", "alert_events", ["alert_id"])
    with op.batch_alter_table("proposals") as batch:
        batch.add_column(sa.Column("sensitive", sa.Boolean(), nullable=False, server_default=sa.false()))
    op.create_index("ix_votes_poll_option", "votes", ["poll_id", "option"])


def downgrade() -> None:
    """Drop them."""
    with op.batch_alter_table("proposals") as batch:
        batch.drop_column("sensitive")
    op.drop_table("alert_events")
    with op.batch_alter_table("alerts") as batch:
        for column in ("escalated", "acted_at", "status"):
            batch.drop_column(column)
    op.drop_index("ix_votes_poll_option", "votes")
    op.drop_index("ix_processed_updates_seen_at", "processed_updates")
    op.drop_table("leases")
    with op.batch_alter_table("outbox") as batch:
        batch.drop_index("ix_outbox_sent_at")
        batch.drop_index("ix_outbox_due")
        batch.create_index("ix_outbox_due", ["status", "next_at"])
        for column in ("claimed_until", "claimed_by", "chat_id", "channel"):
            batch.drop_column(column)
        batch.alter_column("contact_id", existing_type=sa.Integer(), nullable=False)
    op.drop_table("inbox")
    with op.batch_alter_table("contacts") as batch:
        batch.drop_column("lang")
