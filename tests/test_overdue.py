"""Overdue proposals: the leader is reminded at the answer deadline, the officials are told after a further period,
each once, whatever restarts and however many workers run (SQLite file and PostgreSQL)."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from sqlalchemy import insert, select

from bot.identity import Identity
from bot.worker import overdue_proposals
from storage.models import Contact, Outbox, Proposal, ProposalEvent
from tests.conftest import SECRET
from tests.test_forum import LEADER_A, OFFICIAL, staffed
from tests.test_service import NOW, make_service

DAY = timedelta(days=1)


async def add(db, pid: int, commune: str, created, *, answered=None, status: str = "received") -> None:
    """A proposal received at `created`."""
    async with db.begin() as conn:
        await conn.execute(insert(Proposal).values(
            id=pid, ref=f"KN-2024-{pid:04d}", year=2024, seq=pid, round_id="2024", commune=commune, topic="traffic",
            text="Cổng trường cần vạch kẻ đường", publish=False, author=None, status=status, created_at=created,
            first_answer_at=answered))


async def contact_of(db, contact_id: int) -> str:
    """The pseudonym of a contact."""
    async with db.connect() as conn:
        return (await conn.execute(select(Contact.person).where(Contact.id == contact_id))).scalar_one()


async def sent(db) -> list[tuple[str, str]]:
    """(key, text) of the overdue messages queued, in order."""
    async with db.connect() as conn:
        return [(k, p["text"]) for k, p in await conn.execute(
            select(Outbox.key, Outbox.payload).where(Outbox.key.like("overdue:%")).order_by(Outbox.id))]


async def test_reminded_then_escalated_once_each(db) -> None:
    service, people = await staffed(db)
    try:
        await add(db, 1, "my-an", NOW - 16 * DAY)  # past 15 days: the leader of my-an
        await add(db, 2, "my-an", NOW - 10 * DAY)  # not due yet
        await add(db, 3, "my-an", NOW - 40 * DAY, answered=NOW - 35 * DAY, status="answered")  # answered in time
        await add(db, 4, "my-hoa", NOW - 60 * DAY, status="resolved")  # closed
        assert await overdue_proposals(service, NOW, 15, 15) == 1
        first = await sent(db)
        assert [k.rsplit(":", 1)[0] for k, _ in first] == ["overdue:1:1"]
        assert "KN-2024-0001" in first[0][1] and "16 ngày" in first[0][1] and "chuẩn của địa phương" in first[0][1]
        assert await overdue_proposals(service, NOW + DAY, 15, 15) == 0, "once: the next hour sends nothing"
        assert await overdue_proposals(service, NOW + 15 * DAY, 15, 15) == 2, \
            "1 reaches 31 days: the officials; 2 reaches 25 days: its leader"
        keys = [k.rsplit(":", 1)[0] for k, _ in await sent(db)]
        assert keys == ["overdue:1:1", "overdue:1:2", "overdue:2:1"], "each to its one contact"
        assert await overdue_proposals(service, NOW + 90 * DAY, 15, 15) == 1, "proposal 2's escalation only"
        assert await overdue_proposals(service, NOW + 91 * DAY, 15, 15) == 0
        async with db.connect() as conn:
            kinds = sorted(tuple(r) for r in await conn.execute(select(ProposalEvent.proposal_id, ProposalEvent.kind)))
            to_official = (await conn.execute(select(Outbox.contact_id).where(Outbox.key.like("overdue:1:2:%"))
                                              )).scalar_one()
            to_leader = (await conn.execute(select(Outbox.contact_id).where(Outbox.key.like("overdue:1:1:%"))
                                            )).scalar_one()
        assert kinds == [(1, "escalated"), (1, "overdue"), (2, "escalated"), (2, "overdue")]
        assert await contact_of(db, to_official) == Identity(SECRET).pseudonym("telegram", OFFICIAL)
        assert await contact_of(db, to_leader) == Identity(SECRET).pseudonym("telegram", LEADER_A)
        view = await people[LEADER_A].press("f:v:1")
        assert "hệ thống" in view[0].text and "đã nhắc cán bộ Đoàn" in view[0].text, "on the desk's history"
    finally:
        await service.close()


async def test_a_worker_down_for_long_sends_both_in_order_and_two_workers_send_once(db) -> None:
    service, _ = await staffed(db)
    other = make_service(db, service.admins)
    try:
        await add(db, 1, "my-an", NOW - 45 * DAY)
        await add(db, 2, "my-hoa", NOW - 20 * DAY)
        done = await asyncio.gather(*(overdue_proposals(s, NOW, 15, 15) for s in (service, other, service, other)))
        assert sum(done) == 3, "1: the leader then the officials; 2: its leader — by whichever worker came first"
        keys = [k.rsplit(":", 1)[0] for k, _ in await sent(db)]
        assert keys.count("overdue:1:1") == 1 and keys.count("overdue:1:2") == 1 and keys.count("overdue:2:1") == 1
        assert keys.index("overdue:1:1") < keys.index("overdue:1:2")
    finally:
        await other.close()
        await service.close()
