"""Agencies that answer forwarded proposals, over real storage: invited like a leader, they see only what was
forwarded to them, never the child, and their answer reaches the child, the leader and the desk's history."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import select

from bot.identity import Identity
from storage.models import Outbox, Proposal, ProposalEvent, RoleGrant
from tests.conftest import SECRET
from tests.test_forum import KID, LEADER_A, LEADER_B, OFFICIAL, PROPOSE, Member, propose, staffed
from tests.test_service import CHILD, count

SCHOOL, POLICE_B = "2001", "2002"


@pytest.fixture
async def forum(db):
    """The forum's people (see tests/test_forum.py)."""
    service, people = await staffed(db)
    yield service, people
    await service.close()


async def join(people: dict[str, Member], who: str, args: str) -> str:
    """An official invites with `/invite ARGS`; the person redeems the code; returns the welcome's key."""
    created = (await people[OFFICIAL].say(f"/invite {args}"))[0]
    code = re.search(r"[a-z2-7]{8}-[a-z2-7]{12}", created.text).group(0)
    return (await people[who].say(f"/start {code}"))[0].key


async def test_an_agency_answers_what_was_forwarded_and_the_child_hears_it(db, forum) -> None:
    service, people = forum
    people[SCHOOL] = school = Member(service, SCHOOL)
    people[POLICE_B] = police = Member(service, POLICE_B)
    assert await join(people, SCHOOL, "my-an school") == "invite.joined_agency"
    assert await join(people, POLICE_B, "my-hoa police") == "invite.joined_agency"
    async with db.connect() as conn:
        assert {r for (r,) in await conn.execute(select(RoleGrant.role))} >= {"agency:school", "agency:police"}
    kid, leader = people[KID], people[LEADER_A]
    await kid.run(CHILD)
    ref = await propose(kid, PROPOSE)
    async with db.connect() as conn:
        pid = (await conn.execute(select(Proposal.id).where(Proposal.ref == ref))).scalar_one()
    assert (await school.say("/chuyenden"))[0].key == "agency.empty", "nothing was forwarded yet"
    assert (await school.say("/proposals"))[0].key == "access.denied", "an agency has no desk"
    assert (await school.press(f"g:a:{pid}"))[0].key == "agency.not_forwarded"
    await leader.say("/proposals")
    await leader.press(f"f:f:{pid}")
    assert (await leader.press(f"f:t:{pid}:school"))[0].key == "desk.forwarded"
    async with db.connect() as conn:
        queued = [p for (p,) in await conn.execute(select(Outbox.payload)
                                                   .where(Outbox.key.like(f"prop:{pid}:agency:%")))]
    assert len(queued) == 1, "the school's one contact gets the proposal"
    notice = queued[0]
    assert ref in notice["text"] and "Cổng trường cần có vạch kẻ đường" in notice["text"]
    assert [c[0] for c in notice["choices"]] == [f"g:a:{pid}"]
    secret_bits = {KID, Identity(SECRET).pseudonym("telegram", KID)}
    assert not any(bit in str(notice) for bit in secret_bits), "no child identity reaches the agency"
    listing = (await school.say("/chuyenden"))[0]
    assert listing.key == "agency.list" and ref in listing.text and [c.id for c in listing.choices] == [f"g:a:{pid}"]
    assert (await police.say("/chuyenden"))[0].key == "agency.empty", "another commune's agency sees nothing"
    assert (await police.press(f"g:a:{pid}"))[0].key == "agency.not_forwarded"
    assert (await school.press(f"g:a:{pid}"))[0].key == "agency.ask_answer"
    assert (await school.say("=ngắn"))[0].key == "desk.answer_length"
    done = await school.say("=Nhà trường sẽ nhờ công an xã kẻ vạch trước 20/12.")
    assert done[0].key == "agency.answered"
    async with db.connect() as conn:
        row = (await conn.execute(select(Proposal.status, Proposal.first_answer_at).where(Proposal.id == pid))).one()
        events = [tuple(e) for e in await conn.execute(select(ProposalEvent.kind, ProposalEvent.actor,
                                                                 ProposalEvent.agency).order_by(ProposalEvent.id))]
        to_child = [p for k, p in await conn.execute(select(Outbox.kind, Outbox.payload).where(
            Outbox.key.like(f"prop:{pid}:agency-answer:%"), Outbox.key.not_like("%:leaders:%")))]
        to_leader = await count(db, Outbox, Outbox.key.like(f"prop:{pid}:agency-answer:%:leaders:%"))
    assert row.status == "answered" and row.first_answer_at is not None, "a real answer, timed"
    assert events[-1] == ("answered", "agency", "school")
    assert len(to_child) == 1 and to_child[0]["key"] == "notify.answered_by"
    assert "Nhà trường" in to_child[0]["text"] and "kẻ vạch trước 20/12" in to_child[0]["text"]
    assert to_leader == 1, "the commune's leader hears the agency answered"
    mine = (await kid.say("/myproposals"))[0]
    assert "Nhà trường trả lời" in mine.text and "kẻ vạch trước 20/12" in mine.text
    view = await leader.press(f"f:v:{pid}")
    assert "(Nhà trường): trả lời: Nhà trường sẽ nhờ" in view[0].text, "the desk's history names the agency"
    assert (await school.say("/chuyenden"))[0].key == "agency.list", "still open until the leader resolves it"
    await leader.press(f"f:r:{pid}")
    assert (await school.press(f"g:a:{pid}"))[0].key == "desk.closed"


async def test_invites_for_agencies_are_checked(db, forum) -> None:
    _, people = forum
    official = people[OFFICIAL]
    assert (await official.say("/invite my-an nowhere"))[0].key == "invite.usage"
    assert "school" in (await official.say("/invite"))[0].text
    assert (await official.say("/invite my-an school"))[0].key == "invite.created_agency"
    assert (await people[LEADER_B].say("/invite my-an school"))[0].key == "access.denied"
