"""The inbox's order indexes hold only queued rows.

An update handed straight to the service is stored already done; with partial indexes (`status = 'queued'`) its
row no longer enters the two indexes that only the claim, the count of waiting updates and the start-up unclaim
read, which cuts an update's write. Those queries name 'queued' as a literal, so both databases use the indexes.

Revision ID: 0015
Revises: 0014
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None
QUEUED = sa.text("status = 'queued'")


def upgrade() -> None:
    """Replace the full indexes with partial ones."""
    op.drop_index("ix_inbox_status_id", table_name="inbox")
    op.drop_index("ix_inbox_person_status", table_name="inbox")
    op.create_index("ix_inbox_queued", "inbox", ["id"], sqlite_where=QUEUED, postgresql_where=QUEUED)
    op.create_index("ix_inbox_person_queued", "inbox", ["person", "id"], sqlite_where=QUEUED,
                    postgresql_where=QUEUED)


def downgrade() -> None:
    """Back to the full indexes."""
    op.drop_index("ix_inbox_person_queued", table_name="inbox")
    op.drop_index("ix_inbox_queued", table_name="inbox")
    op.create_index("ix_inbox_status_id", "inbox", ["status", "id"])
    op.create_index("ix_inbox_person_status", "inbox", ["person", "status", "id"])
