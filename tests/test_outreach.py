"""Polls, votes, reminders, progress and opt-out through the service, over real storage."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import select

from bot.identity import Identity
from storage import rounds
from storage.models import Contact, Outbox, Poll, Session, Vote
from tests.conftest import SECRET
from tests.test_forum import LEADER_A, LEADER_B, OFFICIAL, Member
from tests.test_service import NOW, count, make_service

CHILD_A = ["/start", "start", "child", "agree", "agree", "my-an", "a10_12", "yes"]
CHILD_B = ["/start", "start", "child", "agree", "agree", "my-hoa", "a13_15", "yes"]
RESIDENT_A = ["/start", "start", "resident", "agree", "my-an", "a36_59", "yes"]


@pytest.fixture
async def commune(db):
    """Leaders of my-an and my-hoa, an official, three children and a resident of my-an, a child of my-hoa."""
    await rounds.open_round(db, "2024", NOW)
    service = make_service(db, frozenset({Identity(SECRET).pseudonym("telegram", OFFICIAL)}))
    people = {name: Member(service, name) for name in (OFFICIAL, LEADER_A, LEADER_B)}
    for leader, code in ((LEADER_A, "my-an"), (LEADER_B, "my-hoa")):
        created = (await people[OFFICIAL].say(f"/invite {code}"))[0].text
        invite = next(w for w in created.split() if re.fullmatch(r"[a-z2-7]{8}-[a-z2-7]{12}", w))
        await people[leader].say(f"/start {invite}")
    for name, script in (("a1", CHILD_A), ("a2", CHILD_A), ("a3", CHILD_A), ("ra", RESIDENT_A), ("b1", CHILD_B)):
        people[name] = Member(service, name)
        await people[name].run(script)
    yield service, people
    await service.close()


async def compose(leader: Member, question: str, options: list[str], audience: str, days: int = 1) -> list:
    """Go through the composer up to the preview."""
    await leader.say("/thamdo")
    await leader.press("p:new:0")
    await leader.say(f"={question}")
    for option in options:
        await leader.say(f"={option}")
    await leader.press("p:done:0")
    await leader.press(f"p:aud:{audience}")
    return await leader.press(f"p:end:{days}")


async def recipients(db, poll_id: int) -> set[str]:
    """Chat ids a poll was queued to."""
    async with db.connect() as conn:
        rows = await conn.execute(select(Contact.chat_id).join(Outbox, Outbox.contact_id == Contact.id)
                                  .where(Outbox.batch == f"poll:{poll_id}"))
        return {chat for (chat,) in rows}


async def test_a_leaders_poll_reaches_only_the_children_of_their_commune(db, commune) -> None:
    _, people = commune
    leader = people[LEADER_A]
    preview = await compose(leader, "Em muốn sân chơi mới ở đâu?", ["Gần trường", "Gần chợ", "Bờ sông"], "child")
    assert preview[0].key == "poll.preview" and "3 người" in preview[0].text
    queued = await leader.press("p:send:0")
    assert queued[0].key == "poll.queued" and queued[0].track.startswith("poll:")
    async with db.connect() as conn:
        poll_id = (await conn.execute(select(Poll.id))).scalar_one()
        payload = (await conn.execute(select(Outbox.payload).limit(1))).scalar_one()
    assert await recipients(db, poll_id) == {"a1", "a2", "a3"}
    assert [c[0] for c in payload["choices"]] == [f"v:o:{poll_id}:0", f"v:o:{poll_id}:1", f"v:o:{poll_id}:2"]

    assert (await people["a1"].press(f"v:o:{poll_id}:0"))[0].key == "poll.voted"
    assert (await people["a2"].press(f"v:o:{poll_id}:0"))[0].key == "poll.voted"
    assert (await people["a1"].press(f"v:o:{poll_id}:2"))[0].key == "poll.voted", "a vote may change"
    for forger, data in (("b1", f"v:o:{poll_id}:0"), ("ra", f"v:o:{poll_id}:1"), ("a3", f"v:o:{poll_id}:9"),
                         ("a3", "v:o:999:0"), ("a3", "v:x:y"), ("a3", "v:o:99999999999999999999:0")):
        assert (await people[forger].press(data))[0].key == "poll.bad_vote", (forger, data)
    assert (await people["a3"].press("v:o:²:0"))[0].key == "choice_old", "not even a button of ours"
    assert await count(db, Vote) == 2

    results = await leader.say("/poll")
    assert results[0].key == "poll.results" and results[0].image.startswith(b"\x89PNG")
    assert "Gần trường: 1 (50%)" in results[0].text and "Bờ sông: 1 (50%)" in results[0].text
    closed = await leader.press(f"p:x:{poll_id}")
    assert "đã đóng" in closed[0].text
    assert (await people["a3"].press(f"v:o:{poll_id}:1"))[0].key == "poll.vote_closed"
    assert await count(db, Vote) == 2


async def test_an_official_polls_every_commune_and_residents_only_when_asked(db, commune) -> None:
    _, people = commune
    official = people[OFFICIAL]
    await official.say("/poll")
    await official.press("p:new:0")
    await official.say("=Bạn có biết tổng đài 111 không?")
    await official.say("=Có")
    await official.say("=Không")
    await official.press("p:done:0")
    await official.press("p:aud:all")
    assert official.replies[-1].key == "poll.ask_commune"
    await official.press("p:com:*")
    await official.press("p:end:0")
    await official.press("p:send:0")
    async with db.connect() as conn:
        poll_id = (await conn.execute(select(Poll.id))).scalar_one()
    assert await recipients(db, poll_id) == {"a1", "a2", "a3", "ra", "b1"}


@pytest.mark.parametrize(("steps", "key"), [
    (["p:new:0", "="], "poll.bad_question"),
    (["p:new:0", "=" + "q" * 301], "poll.bad_question"),
    (["p:new:0", "=Câu hỏi?", "=" + "o" * 101], "poll.bad_option"),
    (["p:new:0", "=Câu hỏi?", "=Có", "=Có"], "poll.bad_option"),
    (["p:new:0", "=Câu hỏi?", "=Có", "p:done:0"], "poll.two_options"),
    (["p:send:0"], "poll.stale"),
    (["p:new:0", "=Câu hỏi?", "=Có", "=Không", "p:done:0", "p:aud:child", "p:end:5"], "poll.stale"),
])
async def test_bad_poll_input_is_refused_and_nothing_is_sent(db, commune, steps: list[str], key: str) -> None:
    _, people = commune
    leader = people[LEADER_A]
    for step in steps:
        replies = await (leader.press(step) if step.startswith("p:") else leader.say(step))
    assert replies[0].key == key
    assert await count(db, Poll) == 0 and await count(db, Outbox, Outbox.kind == "poll") == 0


async def test_ten_options_at_most(db, commune) -> None:
    _, people = commune
    leader = people[LEADER_A]
    await leader.press("p:new:0")
    await leader.say("=Chọn một?")
    for n in range(10):
        replies = await leader.say(f"=Lựa chọn {n}")
    assert replies[0].key == "poll.ask_audience"


async def test_others_cannot_poll_or_reach_another_commune(db, commune) -> None:
    _, people = commune
    assert (await people["a1"].press("p:new:0"))[0].key == "access.denied"
    assert (await people["a1"].say("/poll"))[0].key == "access.denied"
    leader = people[LEADER_A]
    await leader.press("p:new:0")
    await leader.say("=Câu hỏi?")
    await leader.say("=Có")
    await leader.say("=Không")
    await leader.press("p:done:0")
    await leader.press("p:aud:child")
    assert leader.replies[-1].key == "poll.ask_closing", "a leader of one commune is not asked"
    async with db.connect() as conn:
        person = Identity(SECRET).pseudonym("telegram", LEADER_A)
        compose_state = (await conn.execute(select(Session.data).where(Session.person == person))).scalar_one()
    assert compose_state["compose"]["commune"] == "my-an"
    assert (await leader.press("p:com:my-hoa"))[0].key == "poll.stale"
    polls_b = await people[LEADER_B].say("/poll")
    assert polls_b[-1].key == "poll.menu" and len(polls_b) == 1


async def test_reminders_go_once_to_unfinished_surveys_of_the_commune(db, commune) -> None:
    _, people = commune
    await people["a2"].run(["satisfied"] * 12 + ["skip", "submit"])
    await people["a3"].run(["satisfied"] * 3)
    first = await people[LEADER_A].say("/nhacnho")
    assert first[0].key == "remind.queued" and "nhắc 3 người" in first[0].text
    async with db.connect() as conn:
        reminded = {chat for (chat,) in await conn.execute(
            select(Contact.chat_id).join(Outbox, Outbox.contact_id == Contact.id).where(Outbox.kind == "reminder"))}
        resume = (await conn.execute(select(Outbox.payload).where(Outbox.kind == "reminder").limit(1))).scalar_one()
    assert reminded == {"a1", "a3", "ra"}, "the finished child and the other commune are left alone"
    assert resume["choices"][0][0] == "cmd:survey"
    assert (await people[LEADER_A].say("/remind"))[0].key == "remind.nobody"
    tapped = await people["a3"].press("cmd:survey")
    assert [r.key for r in tapped] == ["resume", "survey.item.no_violence"]


async def test_progress_shows_the_commune_against_its_target(db, commune) -> None:
    _, people = commune
    await people["a1"].run(["satisfied"] * 12 + ["skip", "submit"])
    replies = await people[LEADER_A].say("/tiendo")
    assert replies[0].key == "tally" and "Xã Mỹ An: trẻ em 1/30" in replies[0].text and "Mỹ Hòa" not in replies[0].text
    assert replies[1].image.startswith(b"\x89PNG")
    assert (await people["a1"].say("/progress"))[0].key == "access.denied"


async def test_stop_and_start_switch_proactive_messages(db, commune) -> None:
    _, people = commune
    assert (await people["a1"].say("/dung"))[0].key == "optout.stopped"
    async with db.connect() as conn:
        assert (await conn.execute(select(Contact.opted_out).where(Contact.chat_id == "a1"))).scalar_one()
    await people["a1"].say("/start")
    async with db.connect() as conn:
        assert not (await conn.execute(select(Contact.opted_out).where(Contact.chat_id == "a1"))).scalar_one()


async def test_polls_reach_only_who_said_yes_and_people_from_before_only_after_start(db, commune) -> None:
    _, people = commune
    leader = people[LEADER_A]
    declined = Member(people["a1"].service, "a4")
    await declined.run([*CHILD_A[:-1], "no"])
    assert declined.replies[-1].key == "survey.item.safe_home", "saying no to polls still leads to the survey"
    async with db.begin() as conn:  # a contact from before the question: the migration's default
        await conn.execute(Contact.__table__.update().where(Contact.chat_id == "a3").values(polls=False))
    preview = await compose(leader, "Em thích sân chơi nào?", ["Bóng đá", "Cầu lông"], "child")
    assert "2 người" in preview[0].text, "a1 and a2 said yes; a3 never answered; a4 said no"
    await leader.press("p:send:0")
    async with db.connect() as conn:
        poll_id = (await conn.execute(select(Poll.id))).scalar_one()
    assert await recipients(db, poll_id) == {"a1", "a2"}
    # The service keeps sessions in memory; a session from before the question has no answer to it.
    service = people["a3"].service
    person = Identity(SECRET).pseudonym("telegram", "a3")
    async with db.begin() as conn:
        data = (await conn.execute(select(Session.data).where(Session.person == person))).scalar_one()
        data.pop("polls", None)
        await conn.execute(Session.__table__.update().where(Session.person == person).values(data=data))
    service.cache.drop(person)
    asked = await people["a3"].say("/start")
    assert asked[-1].key == "onboarding.polls_child"  # a3 is a child: asked in a child's voice
    await people["a3"].say("yes")
    async with db.connect() as conn:
        agreed = (await conn.execute(select(Contact.polls).where(Contact.chat_id == "a3"))).scalar_one()
    assert agreed is True


async def test_forget_deletes_poll_votes_and_unlinks_proposals(db, commune) -> None:
    from storage.models import Proposal
    from tests.test_forum import GATE, PROPOSE, propose

    _, people = commune
    leader, kid = people[LEADER_A], people["a1"]
    await compose(leader, "Em thích sân chơi nào?", ["Bóng đá", "Cầu lông"], "child")
    await leader.press("p:send:0")
    async with db.connect() as conn:
        poll_id = (await conn.execute(select(Poll.id))).scalar_one()
    await kid.press(f"v:o:{poll_id}:0")
    await people["a2"].press(f"v:o:{poll_id}:1")
    assert GATE and await propose(kid, PROPOSE)
    await kid.run(["/forget", "yes"])
    async with db.connect() as conn:
        votes = [o for (o,) in await conn.execute(select(Vote.option))]
        links = [tuple(r) for r in await conn.execute(select(Proposal.author, Proposal.fingerprint))]
        contacts = (await conn.execute(select(Contact.id).where(Contact.chat_id == "a1"))).all()
    assert votes == [1], "the forgotten child's vote is gone, the other stays"
    assert links == [(None, None)] and contacts == []
