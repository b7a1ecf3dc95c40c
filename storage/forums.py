"""Repository functions of children's forums held (Circular 29/2019) and the proposals raised there."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from storage.models import Commune, Forum, Proposal, ProposalEvent

SOURCE = "forum"
ACTOR = "forum"


@dataclass(frozen=True, slots=True)
class Raised:
    """A proposal children raised at a forum: topic id, text, and whether its answer may be published."""

    topic: str
    text: str
    publish: bool = False


@dataclass(frozen=True, slots=True)
class Held:
    """A forum as listed: where, when, how many children, topics, when its report is due, its proposals."""

    id: int
    commune: str
    commune_name: str
    held_on: str
    children: int
    topics: tuple[str, ...]
    report_due: str
    proposals: int


async def hold(engine: AsyncEngine, *, commune: str, held_on: date, children: int, topics: Sequence[str],
               report_due: date, raised: Sequence[Raised], created_at: datetime, round_id: str | None,
               now: datetime) -> tuple[int, list[str]]:
    """Record a forum and its proposals (source forum, no author, received) in one transaction; (id, references)."""
    for _ in range(5):
        try:
            async with engine.begin() as conn:
                forum_id = (await conn.execute(Forum.__table__.insert().values(
                    commune=commune, held_on=held_on.isoformat(), children=children, topics=list(topics),
                    report_due=report_due.isoformat(), created_at=now))).inserted_primary_key[0]
                refs = [await _file(conn, forum_id, commune, item, created_at, held_on.year, round_id)
                        for item in raised]
                return forum_id, refs
        except IntegrityError:
            continue
    raise RuntimeError("could not allocate proposal references")


async def _file(conn: AsyncConnection, forum_id: int, commune: str, item: Raised, at: datetime, year: int,
                round_id: str | None) -> str:
    """Insert one proposal with the year's next reference, and its received event."""
    seq = (await conn.execute(select(func.coalesce(func.max(Proposal.seq), 0) + 1)
                              .where(Proposal.year == year))).scalar_one()
    ref = f"KN-{year}-{seq:04d}"
    proposal_id = (await conn.execute(Proposal.__table__.insert().values(
        ref=ref, year=year, seq=seq, round_id=round_id, commune=commune, topic=item.topic, text=item.text,
        publish=item.publish, author=None, fingerprint=None, status="received", created_at=at, source=SOURCE,
        forum_id=forum_id))).inserted_primary_key[0]
    await conn.execute(ProposalEvent.__table__.insert().values(proposal_id=proposal_id, at=at, actor=ACTOR,
                                                               kind="received"))
    return ref


async def listing(engine: AsyncEngine, communes: Sequence[str] | None = None) -> list[Held]:
    """Forums held, newest first, with the number of proposals entered for each."""
    counts = (select(Proposal.forum_id, func.count().label("n")).where(Proposal.forum_id.is_not(None))
              .group_by(Proposal.forum_id).subquery())
    query = (select(Forum.id, Forum.commune, Commune.name, Forum.held_on, Forum.children, Forum.topics,
                    Forum.report_due, func.coalesce(counts.c.n, 0))
             .join(Commune, Commune.code == Forum.commune).outerjoin(counts, counts.c.forum_id == Forum.id)
             .order_by(Forum.held_on.desc(), Forum.id.desc()))
    if communes is not None:
        query = query.where(Forum.commune.in_(list(communes)))
    async with engine.connect() as conn:
        return [Held(i, code, name, held, kids, tuple(topics or ()), due, int(n))
                for i, code, name, held, kids, topics, due, n in await conn.execute(query)]
