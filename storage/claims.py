"""Claims on the outbox: a worker leases due rows, answers first, and a chat's order holds across workers."""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, exists, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from storage.models import Contact, Outbox

CHANNEL = func.coalesce(Outbox.channel, Contact.channel)  # an answer names its chat; other messages their contact
CHAT = func.coalesce(Outbox.chat_id, Contact.chat_id)


async def claim(engine: AsyncEngine, worker: str, channels: Collection[str], busy: Collection[str], now: datetime,
                limit: int, lease: float) -> list[Any]:
    """Lease up to `limit` due rows of `channels` to `worker`, answers first, each in id order, skipping `busy`
    chats; the lease runs out if the worker dies. Rows carry their contact's opt-out, reachability and language."""
    free = or_(Outbox.claimed_until.is_(None), Outbox.claimed_until <= now, Outbox.claimed_by == worker)
    async with engine.begin() as conn:
        ids: list[int] = []
        for answers in (True, False):  # answers to what people just sent go before broadcasts
            kind = Outbox.kind == "answer" if answers else Outbox.kind != "answer"
            due = (select(Outbox.id).outerjoin(Contact, Contact.id == Outbox.contact_id)
                   .where(Outbox.status == "queued", kind, Outbox.next_at <= now, free,
                          CHANNEL.in_(list(channels)), CHAT.not_in(list(busy)))
                   .order_by(Outbox.status, Outbox.kind, Outbox.id).limit(limit - len(ids)))
            if engine.dialect.name == "postgresql":  # several workers: a chat's order holds across them
                due = due.with_for_update(skip_locked=True, of=Outbox)
                found = [i for (i,) in await conn.execute(due)]
                ids += await _lock_chats(conn, worker, channels, found, answers, now)
            else:
                ids += [i for (i,) in await conn.execute(due)]
            if len(ids) >= limit:
                break
        if not ids:
            return []
        await conn.execute(update(Outbox).where(Outbox.id.in_(ids)).values(
            claimed_by=worker, claimed_until=now + timedelta(seconds=lease)))
        rows = await conn.execute(
            select(Outbox.id, Outbox.contact_id, Outbox.kind, Outbox.payload, Outbox.attempts,
                   CHANNEL.label("channel"), CHAT.label("chat_id"), Contact.opted_out, Contact.unreachable,
                   Contact.lang).outerjoin(Contact, Contact.id == Outbox.contact_id)
            .where(Outbox.id.in_(ids)).order_by(Outbox.id))
        return list(rows)


async def _lock_chats(conn: AsyncConnection, worker: str, channels: Collection[str], ids: list[int],
                      answers: bool, now: datetime) -> list[int]:
    """Of the rows found, those whose chat this claim locks (advisory) and no other worker holds."""
    if not ids:
        return []
    locked = (select(Outbox.id, CHAT).outerjoin(Contact, Contact.id == Outbox.contact_id)
              .where(Outbox.id.in_(ids), func.pg_try_advisory_xact_lock(2, func.hashtext(CHAT))))
    rows = list(await conn.execute(locked))
    if not rows:
        return []
    chats = list({chat for _, chat in rows})
    if answers:  # an earlier answer to the chat not among these (held or being claimed elsewhere) goes first
        earlier = (select(Outbox.chat_id, func.min(Outbox.id))
                   .where(Outbox.status == "queued", Outbox.kind == "answer", Outbox.chat_id.in_(chats),
                          Outbox.id.not_in(ids)).group_by(Outbox.chat_id))
        first = dict((await conn.execute(earlier)).all())
        return sorted(i for i, chat in rows if i < first.get(chat, i + 1))
    elsewhere = and_(Outbox.status == "queued", Outbox.claimed_by != worker, Outbox.claimed_until > now)
    held = select(Contact.chat_id).where(Contact.channel.in_(list(channels)), Contact.chat_id.in_(chats),
                                         exists().where(Outbox.contact_id == Contact.id, elsewhere))
    taken = set((await conn.execute(held)).scalars())
    return sorted(i for i, chat in rows if chat not in taken)


async def release(engine: AsyncEngine, worker: str | None = None) -> None:
    """Free `worker`'s claims, or every claim (the one worker of a SQLite database, at start)."""
    claimed = Outbox.claimed_by == worker if worker else Outbox.claimed_until.is_not(None)
    async with engine.begin() as conn:
        await conn.execute(update(Outbox).where(Outbox.status == "queued", claimed)
                           .values(claimed_by=None, claimed_until=None))


async def queued(engine: AsyncEngine, channels: Collection[str]) -> int:
    """How many messages for `channels` wait in the table."""
    query = (select(func.count()).select_from(Outbox).outerjoin(Contact, Contact.id == Outbox.contact_id)
             .where(Outbox.status == "queued", CHANNEL.in_(list(channels))))
    async with engine.connect() as conn:
        return int((await conn.execute(query)).scalar_one())
