"""Overdue proposals: no answer after the answer deadline; the commune's leaders are reminded, then the officials.

Each step is taken once per proposal (`proposals.overdue_step`: 0, 1 leaders reminded, 2 officials told), by a
guarded update in the same transaction as its messages, so restarts and several workers never send it twice.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncEngine

from storage import outbox
from storage.db import aware
from storage.forum import CLOSED, leaders
from storage.models import Proposal, ProposalEvent, RoleGrant

LEADERS, OFFICIALS = 1, 2  # the steps


@dataclass(frozen=True, slots=True)
class Overdue:
    """A proposal past its deadline, as its reminder shows it: no author, no text."""

    id: int
    ref: str
    commune: str
    topic: str
    created_at: datetime
    days: int


Notice = Callable[[Overdue, int], dict[str, Any]]


def step_due(created: datetime, now: datetime, answer_days: int, escalate_days: int) -> int:
    """The step a still unanswered proposal has reached at `now`: 0, LEADERS or OFFICIALS."""
    waited = now - aware(created)
    if waited >= timedelta(days=answer_days + escalate_days):
        return OFFICIALS
    return LEADERS if waited >= timedelta(days=answer_days) else 0


async def remind(engine: AsyncEngine, now: datetime, answer_days: int, escalate_days: int, admins: Sequence[str],
                 notice: Notice) -> int:
    """Queue the reminders and escalations now due; returns how many steps were taken."""
    query = (select(Proposal.id, Proposal.ref, Proposal.commune, Proposal.topic, Proposal.created_at,
                    Proposal.overdue_step)
             .where(Proposal.status.not_in(CLOSED), Proposal.first_answer_at.is_(None),
                    Proposal.created_at <= now - timedelta(days=answer_days), Proposal.overdue_step < OFFICIALS)
             .order_by(Proposal.id))
    taken = 0
    async with engine.begin() as conn:
        rows = list(await conn.execute(query))
        if not rows:
            return 0
        officials = sorted({p for (p,) in await conn.execute(select(RoleGrant.person).where(
            RoleGrant.role == "official"))} | set(admins))
        for row in rows:
            reached = step_due(row.created_at, now, answer_days, escalate_days)
            if reached <= row.overdue_step:
                continue
            moved = await conn.execute(update(Proposal).where(Proposal.id == row.id,
                                                              Proposal.overdue_step == row.overdue_step)
                                       .values(overdue_step=reached))
            if moved.rowcount != 1:
                continue  # another worker took this step meanwhile
            item = Overdue(row.id, row.ref, row.commune, row.topic, aware(row.created_at),
                           (now - aware(row.created_at)).days)
            for step in range(row.overdue_step + 1, reached + 1):  # a worker down for long sends both, in order
                persons = leaders(row.commune) if step == LEADERS else officials
                await conn.execute(outbox.enqueue(conn, f"overdue:{row.id}:{step}", persons, "notice",
                                                  notice(item, step), now, batch=f"overdue:{step}"))
                await conn.execute(ProposalEvent.__table__.insert().values(
                    proposal_id=row.id, at=now, actor="system", kind="overdue" if step == LEADERS else "escalated",
                    detail=str(answer_days if step == LEADERS else answer_days + escalate_days)))
                taken += 1
    return taken
