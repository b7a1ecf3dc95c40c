"""Repository functions of the children's forum: proposals, their events, alerts."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Select, and_, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine
from sqlalchemy.sql import Executable

from storage import outbox
from storage.models import Proposal, ProposalEvent, RoleGrant
from storage.writes import Guard, Step

CLOSED = ("resolved", "merged")


@dataclass(frozen=True, slots=True)
class Item:
    """A proposal as leaders and its author see it; never the author's key."""

    id: int
    ref: str
    commune: str
    topic: str
    text: str
    publish: bool
    status: str
    created_at: datetime
    merged_into: int | None


def _item(row: Any) -> Item:
    """Copy a row into a value."""
    return Item(row.id, row.ref, row.commune, row.topic, row.text, row.publish, row.status, row.created_at,
                row.merged_into)


ITEM = (Proposal.id, Proposal.ref, Proposal.commune, Proposal.topic, Proposal.text, Proposal.publish,
        Proposal.status, Proposal.created_at, Proposal.merged_into)


def leaders(commune: str) -> Select:
    """The persons leading a commune."""
    return select(RoleGrant.person).where(RoleGrant.role == "leader", RoleGrant.commune == commune)


def agency_people(commune: str, agency: str) -> Select:
    """The persons who answer for an agency of a commune."""
    return select(RoleGrant.person).where(RoleGrant.role == f"agency:{agency}", RoleGrant.commune == commune)


async def agency_joined(engine: AsyncEngine, commune: str, agency: str) -> bool:
    """Whether anyone answers for that agency of the commune."""
    async with engine.connect() as conn:
        return (await conn.execute(agency_people(commune, agency).limit(1))).first() is not None


async def forwarded(engine: AsyncEngine, proposal_id: int) -> set[str]:
    """The agencies a proposal was forwarded to."""
    async with engine.connect() as conn:
        return {a for (a,) in await conn.execute(select(ProposalEvent.detail).where(
            ProposalEvent.proposal_id == proposal_id, ProposalEvent.kind == "forwarded")) if a}


async def forwarded_to(engine: AsyncEngine, pairs: Sequence[tuple[str, str]] | None) -> list[tuple[Item, str]]:
    """Open proposals forwarded to some (commune, agency) pairs (None: to any agency), oldest first, with the
    agency; an agency sees nothing else."""
    if pairs is not None and not pairs:
        return []
    query = (select(*ITEM, ProposalEvent.detail).join(ProposalEvent, ProposalEvent.proposal_id == Proposal.id)
             .where(ProposalEvent.kind == "forwarded", Proposal.status.not_in(CLOSED)))
    if pairs is not None:
        query = query.where(or_(*(and_(Proposal.commune == c, ProposalEvent.detail == a) for c, a in pairs)))
    async with engine.connect() as conn:
        rows = await conn.execute(query.order_by(Proposal.created_at, Proposal.id).limit(50))
        seen: dict[tuple[int, str], tuple[Item, str]] = {}
        for row in rows:
            seen.setdefault((row.id, row.detail), (_item(row), row.detail))
        return list(seen.values())


Notice = Callable[[str], dict[str, Any]]


def file(*, author: str | None, fingerprint: str | None, commune: str, topic: str, text: str, publish: bool,
         round_id: str | None, now: datetime, notice: Notice | None = None, sensitive: bool = False) -> Step:
    """File a proposal with the next reference of the year; the step gives (ref, created), or the twin's ref."""
    async def run(conn: AsyncConnection) -> tuple[str, bool]:
        if fingerprint:
            twin = (await conn.execute(select(Proposal.ref).where(Proposal.fingerprint == fingerprint))).scalar()
            if twin:
                return twin, False
        seq = (await conn.execute(select(func.coalesce(func.max(Proposal.seq), 0) + 1)
                                  .where(Proposal.year == now.year))).scalar_one()
        ref = f"KN-{now.year}-{seq:04d}"
        result = await conn.execute(Proposal.__table__.insert().values(
            ref=ref, year=now.year, seq=seq, round_id=round_id, commune=commune, topic=topic, text=text,
            publish=publish and not sensitive, author=author, fingerprint=fingerprint, status="received",
            created_at=now, sensitive=sensitive))
        await _event(conn, result.inserted_primary_key[0], now, "child", "received", None)
        if notice is not None:
            await conn.execute(outbox.enqueue(conn, f"new:{ref}", leaders(commune), "notice", notice(ref), now))
        return ref, True

    return Step("proposal", run)


async def sent_today(engine: AsyncEngine, author: str, now: datetime) -> int:
    """How many proposals a person sent in the last 24 hours."""
    async with engine.connect() as conn:
        return (await conn.execute(select(func.count()).select_from(Proposal).where(
            Proposal.author == author, Proposal.created_at > now - timedelta(days=1)))).scalar_one()


async def open_items(engine: AsyncEngine, communes: Sequence[str] | None, offset: int, limit: int
                     ) -> tuple[int, list[Item]]:
    """Open proposals in scope (None = all communes), oldest first, one page."""
    where = [Proposal.status.not_in(CLOSED)]
    if communes is not None:
        where.append(Proposal.commune.in_(list(communes)))
    async with engine.connect() as conn:
        total = (await conn.execute(select(func.count()).select_from(Proposal).where(*where))).scalar_one()
        rows = await conn.execute(select(*ITEM).where(*where).order_by(Proposal.created_at, Proposal.id)
                                  .offset(offset).limit(limit))
        return total, [_item(r) for r in rows]


async def get(engine: AsyncEngine, proposal_id: int | None = None, ref: str | None = None) -> Item | None:
    """One proposal by id or reference."""
    query = select(*ITEM).where(Proposal.id == proposal_id if ref is None else Proposal.ref == ref.upper())
    async with engine.connect() as conn:
        row = (await conn.execute(query)).first()
        return _item(row) if row else None


async def events(engine: AsyncEngine, proposal_ids: Sequence[int]) -> dict[int, list[tuple[datetime, str, str, str]]]:
    """Events of proposals as (at, actor, kind, detail), oldest first; an agency's actor is `agency:<id>`."""
    async with engine.connect() as conn:
        rows = await conn.execute(select(ProposalEvent.proposal_id, ProposalEvent.at, ProposalEvent.actor,
                                         ProposalEvent.kind, ProposalEvent.detail, ProposalEvent.agency)
                                  .where(ProposalEvent.proposal_id.in_(list(proposal_ids)))
                                  .order_by(ProposalEvent.at, ProposalEvent.id))
        found: dict[int, list[tuple[datetime, str, str, str]]] = {}
        for pid, at, actor, kind, detail, agency in rows:  # an agency's step reads as actor "agency:<id>"
            shown = f"{actor}:{agency}" if agency else actor
            found.setdefault(pid, []).append((at, shown, kind, detail or ""))
        return found


async def mine(engine: AsyncEngine, author: str) -> list[Item]:
    """A person's own proposals, newest first."""
    async with engine.connect() as conn:
        rows = await conn.execute(select(*ITEM).where(Proposal.author == author)
                                  .order_by(Proposal.created_at.desc()).limit(20))
        return [_item(r) for r in rows]


def authors(proposal_id: int) -> Select:
    """The authors of a proposal and of every proposal merged into it."""
    return select(Proposal.author).where(or_(Proposal.id == proposal_id, Proposal.merged_into == proposal_id),
                                         Proposal.author.is_not(None))


def act(db: AsyncEngine, item: Item, *, kind: str, actor: str, detail: str | None, now: datetime,
        changes: dict[str, Any], notify: tuple[str, str, dict[str, Any]] | None,
        agency: str | None = None) -> list[Executable | Guard]:
    """One step on an open proposal: its status change (refused once closed), its event and the child's notice."""
    moved = update(Proposal).where(Proposal.id == item.id, Proposal.status.not_in(CLOSED)).values(**changes)
    items: list[Executable | Guard] = [
        Guard(moved, "desk.gone", values={"ref": item.ref}),
        ProposalEvent.__table__.insert().values(proposal_id=item.id, at=now, actor=actor, kind=kind, detail=detail,
                                                agency=agency)]
    if notify is not None:
        key, notice_kind, body = notify
        items.append(outbox.enqueue(db, key, authors(item.id), notice_kind, body, now))
    return items


async def _event(conn: AsyncConnection, proposal_id: int, at: datetime, actor: str, kind: str,
                 detail: str | None) -> None:
    """Append an event."""
    await conn.execute(ProposalEvent.__table__.insert().values(proposal_id=proposal_id, at=at, actor=actor,
                                                               kind=kind, detail=detail))


async def board(engine: AsyncEngine, communes: Sequence[str] | None, *, status: str = "", topic: str = "",
                commune: str = "", late_before: datetime | None = None, limit: int = 100
                ) -> list[tuple[Item, bool, bool]]:
    """Proposals for the web board as (item, sensitive, awaiting an answer): filtered, open first, oldest first.

    `status` "open" means not resolved nor merged; `late_before` keeps open ones filed before it and never answered.
    """
    where = []
    if communes is not None:
        where.append(Proposal.commune.in_(list(communes)))
    if status == "open":
        where.append(Proposal.status.not_in(CLOSED))
    elif status:
        where.append(Proposal.status == status)
    if topic:
        where.append(Proposal.topic == topic)
    if commune:
        where.append(Proposal.commune == commune)
    if late_before is not None:
        where += [Proposal.status.not_in(CLOSED), Proposal.first_answer_at.is_(None),
                  Proposal.created_at < late_before]
    query = (select(*ITEM, Proposal.sensitive, Proposal.first_answer_at).where(*where)
             .order_by(Proposal.status.in_(CLOSED), Proposal.created_at, Proposal.id).limit(limit))
    async with engine.connect() as conn:
        return [(_item(r), bool(r.sensitive), r.first_answer_at is None and r.status not in CLOSED)
                for r in await conn.execute(query)]
