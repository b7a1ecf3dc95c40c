"""Children's safety over real storage: screening everywhere, a human who answers, escalation, the truth told."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from bot.identity import Identity
from bot.worker import escalate
from storage import invites, rounds
from storage.models import Alert, AlertEvent, Contact, Outbox
from storage.writes import commit
from tests.conftest import SECRET
from tests.test_forum import Member
from tests.test_service import CHILD, NOW, make_service

OFFICIAL, OFFICER, KID = "2001", "2002", "2003"
DISCLOSURE = "dượng hay sờ vào chỗ kín của em"


async def officer_of(db, person: Member, commune: str) -> None:
    """Invite someone as the commune's child-protection officer, as the office would."""
    invite_id, code = Identity(SECRET).invite_code()
    await commit(db, [invites.create(invite_id, "officer", commune, NOW, NOW + timedelta(days=7))])
    assert (await person.say(f"/start {code}"))[0].key == "invite.joined_officer"


async def alerts_to(db, user: str) -> list[dict]:
    """The alert messages queued to one chat."""
    async with db.connect() as conn:
        rows = await conn.execute(select(Outbox.payload).join(Contact, Contact.id == Outbox.contact_id)
                                  .where(Outbox.kind == "alert", Contact.chat_id == user).order_by(Outbox.id))
        return [p for (p,) in rows]


@pytest.fixture
async def commune(db):
    """An official, the officer of my-an, and a child."""
    await rounds.open_round(db, "2024", NOW)
    service = make_service(db, frozenset({Identity(SECRET).pseudonym("telegram", OFFICIAL)}))
    people = {name: Member(service, name) for name in (OFFICIAL, OFFICER, KID)}
    await people[OFFICIAL].say("/start")
    await officer_of(db, people[OFFICER], "my-an")
    yield service, people
    await service.close()


@pytest.mark.parametrize("where", ["button question", "proposal topic", "no flow"])
async def test_a_disclosure_anywhere_gets_111_and_reaches_the_officer(db, commune, where: str) -> None:
    _, people = commune
    kid = people[KID]
    await kid.run(CHILD)  # a child of my-an, at survey question 1
    if where == "proposal topic":
        await kid.run(["/kiennghi", "agree", "agree"])
        assert kid.replies[-1].key == "forum.topic"
    elif where == "no flow":
        await kid.run(["/kiennghi", "no"])
        assert kid.replies[-1].key == "forum.no_consent"
    asked = kid.replies[-1].key
    replies = await kid.say(f"={DISCLOSURE}")
    assert replies[0].key == "safety.child.told" and "111" in replies[0].text and "113" in replies[0].text
    assert replies[-1].key == (asked if where != "no flow" else "idle"), "the flow goes on where it was"
    received = await alerts_to(db, OFFICER)
    assert len(received) == 1 and DISCLOSURE in received[0]["text"]
    assert KID not in received[0]["text"] and Identity(SECRET).pseudonym("telegram", KID) not in str(received[0])


async def test_an_officer_acts_and_the_unacknowledged_alert_is_escalated(db, commune) -> None:
    service, people = commune
    kid, officer = people[KID], people[OFFICER]
    await kid.run(CHILD)
    await kid.say(f"={DISCLOSURE}")
    await kid.say("=em không muốn sống nữa")
    async with db.connect() as conn:
        first, second = (await conn.execute(select(Alert.id).order_by(Alert.id))).scalars().all()
    listing = await officer.say("/canhbao")
    assert listing[0].key == "alerts.title" and len(listing) == 3
    assert (await officer.press(f"a:k:{first}"))[0].key == "alerts.acked"
    assert (await officer.press(f"a:k:{first}"))[0].key == "alerts.gone", "handled once"
    assert await escalate(service, NOW + timedelta(hours=11), 12) == 0, "not before the deadline"
    assert await escalate(service, NOW + timedelta(hours=13), 12) == 1
    assert await escalate(service, NOW + timedelta(hours=14), 12) == 0
    assert await escalate(service, NOW + timedelta(hours=25), 12) == 1, "repeated until someone acknowledges"
    to_official = [p for p in await alerts_to(db, OFFICIAL) if p.get("key") == "alerts.escalated"]
    assert len(to_official) == 2 and all(f"#{second}" in p["text"] for p in to_official)
    assert (await officer.press(f"a:r:{second}"))[0].key == "alerts.ask_reply"
    assert (await officer.say("=Cô sẽ gọi cho em chiều nay, em đang ở đâu?"))[0].key == "alerts.replied"
    async with db.connect() as conn:
        to_kid = [p for (p,) in await conn.execute(select(Outbox.payload).join(Contact).where(
            Outbox.kind == "answer", Contact.chat_id == KID))]
        actions = [(a, k) for a, k in await conn.execute(select(AlertEvent.actor, AlertEvent.kind)
                                                          .order_by(AlertEvent.id))]
    assert any("Cô sẽ gọi" in p["text"] for p in to_kid), "the child hears the officer through the bot"
    assert ("officer", "acknowledged") in actions and ("officer", "replied") in actions
    assert ("system", "escalated") in actions


async def test_an_alert_nobody_can_receive_is_not_promised(db) -> None:
    await rounds.open_round(db, "2024", NOW)
    service = make_service(db)
    resident = Member(service, "3001")
    await resident.run(["/start", "start", "resident", "agree", "my-an", "a36_59", "yes"])
    replies = await resident.say("=hàng xóm nhốt đứa nhỏ trong chuồng heo mấy ngày rồi")
    assert replies[0].key == "safety.adult.untold" and "Cảm ơn bạn" in replies[0].text
    assert "báo cho" not in replies[0].text, "no one is told, so the person is not told that someone was"
    await service.close()
