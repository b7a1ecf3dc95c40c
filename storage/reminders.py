"""Reminders of the season's milestones to leaders and officials, queued in the outbox once per milestone and step."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlalchemy.sql import Executable

from analytics.dates import vn_date, vn_today
from conversations import Catalogue
from storage.calendar import Dated, milestones
from storage.models import RoleGrant
from storage.outbox import enqueue, payload
from storage.rounds import open_info


def reminder_step(milestone: Dated, now: datetime) -> int | None:
    """The reminder due now: the smallest of its 'days before' already reached, while the day is not past."""
    if milestone.done_on is not None:
        return None
    left = (milestone.due - vn_today(now)).days
    reached = [d for d in milestone.remind_days if d >= left >= 0]
    return min(reached) if reached else None


async def due_reminders(engine: AsyncEngine, now: datetime, texts: Catalogue, lang: str = "vi",
                        officials: Sequence[str] = ()) -> list[Executable]:
    """Outbox statements for the open round's milestones due a reminder; keys make running them twice harmless.

    `officials` are extra pseudonyms to reach as officials (the bootstrap admins of the settings).
    """
    info = await open_info(engine)
    if info is None:
        return []
    statements: list[Executable] = []
    holders: dict[str, list[str]] = {}
    async with engine.connect() as conn:
        for person, role in await conn.execute(select(RoleGrant.person, RoleGrant.role)):
            holders.setdefault(role, []).append(person)
    holders.setdefault("official", []).extend(officials)
    for m in await milestones(engine, info.id):
        step = reminder_step(m, now)
        persons = sorted({p for role in m.audience for p in holders.get(role, [])})
        if step is None or not persons:
            continue
        left = (m.due - vn_today(now)).days
        key = "calendar.today" if left == 0 else "calendar.reminder"
        text = texts.get(lang, key, name=m.name(lang), date=vn_date(m.due), days=left, round=info.id)
        statements.append(enqueue(engine, f"milestone:{info.id}:{m.id}:{step}", persons, "notice",
                                  payload(text, key=key), now, batch=f"milestone:{info.id}"))
    return statements


async def queue_reminders(engine: AsyncEngine, now: datetime, texts: Catalogue, lang: str = "vi",
                          officials: Sequence[str] = ()) -> int:
    """Queue the due reminders in one transaction (the periodic task's call); returns the messages added."""
    statements = await due_reminders(engine, now, texts, lang, officials)
    added = 0
    async with engine.begin() as conn:
        for statement in statements:
            added += max((await conn.execute(statement)).rowcount or 0, 0)
    return added
