"""Repository functions for polls, votes and survey reminders."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Select, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine
from sqlalchemy.sql import Executable

from storage import outbox
from storage.db import aware, upsert
from storage.models import Contact, Outbox, Poll, Respondent, Session, Vote
from storage.writes import Guard, Step

AUDIENCES = ("child", "resident", "all")


@dataclass(frozen=True, slots=True)
class PollInfo:
    """A poll with its live counts."""

    id: int
    commune: str | None
    audience: str
    question: str
    options: tuple[str, ...]
    created_at: datetime
    closes_at: datetime | None
    closed_at: datetime | None
    counts: tuple[int, ...]

    def closed(self, now: datetime) -> bool:
        """Whether votes are no longer taken."""
        return self.closed_at is not None or (self.closes_at is not None and aware(self.closes_at) <= now)


def audience(communes: Sequence[str] | None, who: str) -> Select:
    """The persons a poll reaches: respondents of the communes (None = all) and group who agreed to polls."""
    query = select(Respondent.key).where(Respondent.key.in_(select(Contact.person).where(Contact.polls.is_(True))))
    if communes is not None:
        query = query.where(Respondent.commune.in_(list(communes)))
    return query if who == "all" else query.where(Respondent.group == who)


async def reach(engine: AsyncEngine, communes: Sequence[str] | None, who: str) -> int:
    """How many contacts a poll would reach now."""
    async with engine.connect() as conn:
        return (await conn.execute(select(func.count()).select_from(Contact).where(
            Contact.person.in_(audience(communes, who)), Contact.unreachable.is_(False),
            Contact.opted_out.is_(False)))).scalar_one()


def create(*, commune: str | None, who: str, question: str, options: Sequence[str], owner: str, now: datetime,
           closes_at: datetime | None, body: dict[str, Any]) -> Step:
    """Store a poll and queue it to its audience; the step gives its id."""
    async def run(conn: AsyncConnection) -> int:
        result = await conn.execute(Poll.__table__.insert().values(
            commune=commune, audience=who, question=question, options=list(options), owner=owner,
            created_at=now, closes_at=closes_at))
        poll_id = int(result.inserted_primary_key[0])
        choices = {**body, "choices": [[f"v:o:{poll_id}:{n}", label] for n, label in enumerate(options)]}
        await conn.execute(outbox.enqueue(conn, f"poll:{poll_id}", audience([commune] if commune else None, who),
                                          "poll", choices, now, batch=f"poll:{poll_id}"))
        return poll_id

    return Step("poll", run)


async def get(engine: AsyncEngine, poll_id: int) -> PollInfo | None:
    """A poll with its counts."""
    polls = await _load(engine, select(Poll).where(Poll.id == poll_id))
    return polls[0] if polls else None


async def listing(engine: AsyncEngine, communes: Sequence[str] | None, limit: int = 5) -> list[PollInfo]:
    """The latest polls in scope (None = all); a leader sees their communes' polls."""
    query = select(Poll).order_by(Poll.id.desc()).limit(limit)
    if communes is not None:
        query = query.where(Poll.commune.in_(list(communes)))
    return await _load(engine, query)


async def _load(engine: AsyncEngine, query: Select) -> list[PollInfo]:
    """Polls and their vote counts."""
    async with engine.connect() as conn:
        polls = list(await conn.execute(query))
        ids = [p.id for p in polls]
        counts: dict[tuple[int, int], int] = {}
        if ids:
            rows = await conn.execute(select(Vote.poll_id, Vote.option, func.count()).where(Vote.poll_id.in_(ids))
                                      .group_by(Vote.poll_id, Vote.option))
            counts = {(pid, option): n for pid, option, n in rows}
    return [PollInfo(p.id, p.commune, p.audience, p.question, tuple(p.options), p.created_at, p.closes_at,
                     p.closed_at, tuple(counts.get((p.id, n), 0) for n in range(len(p.options)))) for p in polls]


async def received(engine: AsyncEngine, poll_id: int, person: str) -> bool:
    """Whether the poll was queued to this person (a vote from anyone else is forged)."""
    async with engine.connect() as conn:
        found = await conn.execute(select(Outbox.id).join(Contact, Contact.id == Outbox.contact_id).where(
            Outbox.batch == f"poll:{poll_id}", Contact.person == person).limit(1))
        return found.first() is not None


def vote(db: AsyncEngine, poll_id: int, person: str, option: int, now: datetime) -> Executable:
    """Record or change a vote."""
    return upsert(db, Vote.__table__, ["poll_id", "person"],
                  {"poll_id": poll_id, "person": person, "option": option, "at": now})


def close(poll_id: int, now: datetime) -> Guard:
    """Close a poll early; refused when it was closed already."""
    return Guard(update(Poll).where(Poll.id == poll_id, Poll.closed_at.is_(None)).values(closed_at=now),
                 "poll.vote_closed")


def remind(round_id: str, communes: Sequence[str] | None, now: datetime, days: int, body: dict[str, Any]) -> Step:
    """Queue a reminder to those who started but did not submit the round, at most once every `days`.

    The step gives (batch, how many people).
    """
    due = [Session.open_round == round_id,
           or_(Session.reminded_at.is_(None), Session.reminded_at <= now - timedelta(days=days))]
    if communes is not None:
        due.append(Session.commune.in_(list(communes)))
    batch = f"remind:{round_id}:{now.timestamp():.0f}"

    async def run(conn: AsyncConnection) -> tuple[str, int]:
        persons = [p for (p,) in await conn.execute(select(Session.person).where(*due))]
        if persons:
            await conn.execute(outbox.enqueue(conn, batch, persons, "reminder", body, now, batch=batch))
            await conn.execute(update(Session).where(Session.person.in_(persons)).values(reminded_at=now))
        return batch, len(persons)

    return Step("remind", run)


def consent(person: str, agree: bool) -> Executable:
    """Record whether a person's contacts may receive leaders' polls."""
    return update(Contact).where(Contact.person == person).values(polls=agree)


def opt_out(person: str, out: bool) -> Executable:
    """Stop (or restart) every proactive message to a person's contacts."""
    return update(Contact).where(Contact.person == person).values(opted_out=out)
