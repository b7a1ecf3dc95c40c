"""The inbox table: updates stored before they are acknowledged, claimed in order, finished in the update's unit."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, exists, func, literal_column, select, update
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlalchemy.orm import aliased
from sqlalchemy.sql import Executable

from storage.models import Inbox
from storage.writes import Write

QUEUED = "queued"


def _waiting(table: Any) -> ColumnElement[bool]:
    """Rows still to process, with 'queued' as a literal: the partial indexes' condition (0015) must match it."""
    return table.status == literal_column(f"'{QUEUED}'")


WAITING = _waiting(Inbox)


@dataclass(frozen=True, slots=True)
class Row:
    """A claimed update."""

    id: int
    key: str
    person: str
    data: dict[str, Any]
    attempts: int
    received_at: datetime


def stored(key: str, person: str, data: dict[str, Any], now: datetime, status: str = QUEUED,
           claim: tuple[str, datetime] | None = None) -> Write:
    """Store an update once (already claimed by a worker and its lease's end, if given); a redelivery is ignored."""
    by, until = claim or (None, None)
    return Write("inbox", {"key": key, "person": person, "data": data, "status": status,
                           "attempts": int(by is not None), "received_at": now,
                           "done_at": None if status == QUEUED else now, "claimed_by": by, "claimed_until": until})


def handled(key: str, person: str, now: datetime) -> Write:
    """Store as done an update handed to the service before it was stored (in the unit of what it caused); if it
    was stored meanwhile (its processing outran `accept`'s wait), finish that row instead."""
    return Write("inbox_handled", stored(key, person, {}, now, status="done").params)


def finished(key: str, now: datetime, status: str = "done") -> Write:
    """Mark an update done (in the same transaction as what it caused), or bad, failed or dropped."""
    return Write("inbox_done", {"k": key, "s": status, "at": now})


async def claim(engine: AsyncEngine, worker: str, now: datetime, limit: int, lease: float) -> list[Row]:
    """Take due updates in order, at most `limit`; a person whose earlier update another worker holds waits.

    On PostgreSQL rows another worker is claiming are skipped (SKIP LOCKED); then a per-person advisory lock,
    taken only on the rows found (a lock per scanned row could fill the lock table), keeps two workers from
    taking one person's updates at once, and a second look after the locks sees claims committed meanwhile.
    """
    earlier = aliased(Inbox)
    held_elsewhere = exists().where(
        earlier.person == Inbox.person, _waiting(earlier), earlier.id < Inbox.id,
        earlier.claimed_by != worker, earlier.claimed_until > now)
    free = (Inbox.claimed_until.is_(None)) | (Inbox.claimed_until <= now)
    due = select(Inbox.id).where(WAITING, free, ~held_elsewhere).order_by(Inbox.id).limit(limit)
    postgres = engine.dialect.name == "postgresql"
    if postgres:
        due = due.with_for_update(skip_locked=True, of=Inbox)
    until = now + timedelta(seconds=lease)
    async with engine.begin() as conn:
        ids = [i for (i,) in await conn.execute(due)]
        if postgres and ids:
            locked = select(Inbox.id).where(Inbox.id.in_(ids), func.pg_try_advisory_xact_lock(func.hashtext(
                Inbox.person)))
            ids = [i for (i,) in await conn.execute(locked)]
            if ids:
                ids = [i for (i,) in await conn.execute(select(Inbox.id).where(Inbox.id.in_(ids), ~held_elsewhere))]
        if not ids:
            return []
        rows = await conn.execute(update(Inbox).where(Inbox.id.in_(ids)).values(claimed_by=worker, claimed_until=until,
                                                                              attempts=Inbox.attempts + 1)
                                  .returning(Inbox.id, Inbox.key, Inbox.person, Inbox.data, Inbox.attempts,
                                             Inbox.received_at))
        found = [Row(*r) for r in rows]
    return sorted(found, key=lambda r: r.id)


def release(keys: Sequence[str], after: datetime) -> Executable:
    """Let updates be claimed again from `after` (a failed attempt)."""
    return update(Inbox).where(Inbox.key.in_(list(keys)), Inbox.status == QUEUED).values(
        claimed_by=None, claimed_until=after)


async def unclaim(engine: AsyncEngine) -> None:
    """Free every claim and retry delay: the one worker of a SQLite database, at start, takes over everything."""
    async with engine.begin() as conn:
        await conn.execute(update(Inbox).where(WAITING, Inbox.claimed_until.is_not(None))
                           .values(claimed_by=None, claimed_until=None))


async def waiting(engine: AsyncEngine) -> int:
    """How many updates wait to be processed."""
    async with engine.connect() as conn:
        return int((await conn.execute(select(func.count()).select_from(Inbox).where(WAITING)))
                   .scalar_one())

