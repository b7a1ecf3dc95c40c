"""The children's forum over real storage: proposing, the leaders' desk, scope, privacy, safety alerts."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import func, select, text

from bot.identity import Identity
from conversations import Incoming
from storage import repo, rounds
from storage.models import Alert, AlertEvent, Consent, Outbox, Proposal, ProposalEvent
from tests.conftest import SECRET
from tests.test_service import CHILD, NOW, Person, count, make_service

PROPOSE = ["/kiennghi", "agree", "agree", "traffic", "=Cổng trường cần có vạch kẻ đường và biển báo", "yes"]
GATE = ["/kiennghi", "child", "a13_15", "agree", "agree"]  # without a survey profile: the survey's age gate first
OFFICIAL, LEADER_A, LEADER_B, KID, KID2 = "1001", "1002", "1003", "1004", "1005"


class Member(Person):
    """A person who can also tap buttons by their full id."""

    async def press(self, choice_id: str) -> list:
        """Tap a button by its callback data (forged ones too), marked with the screen last shown to the person.

        This is the strongest forger: one who knows the current screen number.
        """
        if choice_id[:2] in ("f:", "p:") and "~" not in choice_id:
            person = Identity(SECRET).pseudonym(self.channel, self.user)
            screen = ((await repo.load_state(self.service.db, person, None)).session or {}).get("screen")
            choice_id = choice_id if screen is None else f"{choice_id}~{screen}"
        self.updates += 1
        start = len(self.replies)
        await self.service.handle(Incoming(self.channel, self.user, self.user, choice_id=choice_id,
                                           update_key=f"{self.user}:press:{self.updates}"), self.send)
        return self.replies[start:]

    def buttons(self) -> list[str]:
        """Callback ids of the latest reply with buttons."""
        return next([c.id for c in r.choices] for r in reversed(self.replies) if r.choices)


@pytest.fixture
async def forum(db):
    """A service with an official, leaders of my-an and my-hoa, and a child in my-an."""
    service, people = await staffed(db)
    yield service, people
    await service.close()


async def staffed(db) -> tuple:
    """Round 2024 open, a service, an official, leaders of my-an and my-hoa, and two children."""
    await rounds.open_round(db, "2024", NOW)
    service = make_service(db, frozenset({Identity(SECRET).pseudonym("telegram", OFFICIAL)}))
    people = {name: Member(service, name) for name in (OFFICIAL, LEADER_A, LEADER_B, KID, KID2)}
    for leader, commune in ((LEADER_A, "my-an"), (LEADER_B, "my-hoa")):
        created = (await people[OFFICIAL].say(f"/invite {commune}"))[0].text
        code = next(w for w in created.split() if re.fullmatch(r"[a-z2-7]{8}-[a-z2-7]{12}", w))
        assert (await people[leader].say(f"/start {code}"))[0].key == "invite.joined_leader"
    return service, people


async def propose(child: Member, script: list[str] = PROPOSE) -> str:
    """Send a proposal and return the reference from the receipt."""
    await child.run(script[:-1])
    await child.say(script[-1])
    replies = await child.say("send")
    assert replies[-1].key == "forum.receipt", [r.key for r in replies]
    return re.search(r"KN-\d{4}-\d{4}", replies[-1].text).group(0)


async def test_a_child_proposes_and_gets_a_receipt(db, forum) -> None:
    _, people = forum
    kid = people[KID]
    await kid.say("/kiennghi")
    assert kid.replies[-1].key == "forum.role", "without a survey profile, the survey's age gate first"
    await kid.run(["child", "a13_15"])
    assert kid.replies[-1].key == "forum.consent_self"
    await kid.run(["agree", "agree"])
    assert kid.replies[-1].key == "forum.commune", "without a survey profile the child picks the commune"
    await kid.run(["my-an", "traffic", "=ngắn"])
    assert kid.replies[-2].key == "forum.text_short"
    await kid.say("=😀😀😀😀😀😀😀😀😀😀😀")
    assert kid.replies[-2].key == "forum.text_empty"
    await kid.say("=" + "a" * 1001)
    assert kid.replies[-2].key == "forum.text_long"
    await kid.run(["=Cổng trường cần có vạch kẻ đường và biển báo", "no"])
    assert kid.replies[-1].key == "forum.review" and "Cổng trường" in kid.replies[-1].text
    review_buttons = kid.buttons()
    first = await kid.say("send")
    assert "KN-2024-0001" in first[-1].text and "15 ngày" in first[-1].text
    again = await kid.press(review_buttons[0])
    assert [r.key for r in again] == ["idle"], "a second tap on Send files nothing"
    assert await count(db, Proposal) == 1 and await count(db, ProposalEvent) == 1
    assert await count(db, Consent) == 1
    notices = await count(db, Outbox, Outbox.kind == "notice")
    assert notices == 1, "the leader of my-an hears of the new proposal"


async def test_the_same_text_twice_is_one_proposal_and_the_daily_limit_holds(db, forum) -> None:
    _, people = forum
    kid = people[KID]
    ref = await propose(kid, [*GATE, "my-an", *PROPOSE[3:]])
    await kid.run(["/kiennghi", "traffic", "=Cổng trường cần có vạch kẻ đường và biển báo", "yes"])
    replies = await kid.say("send")
    assert replies[-1].key == "forum.duplicate" and ref in replies[-1].text
    await propose(kid, ["/kiennghi", "play", "=Xã cần thêm sân bóng cho thiếu nhi", "yes"])
    await propose(kid, ["/kiennghi", "roads", "=Đường vào trường bị ngập khi trời mưa", "yes"])
    assert (await kid.say("/kiennghi"))[-1].key == "forum.limit"
    assert await count(db, Proposal) == 3


async def test_a_resident_proposes_with_their_own_consent(db, forum) -> None:
    _, people = forum
    parent = people[KID2]
    await parent.run(["/start", "start", "resident", "agree", "my-an", "a36_59", "yes", "/kiennghi"])
    assert parent.replies[-1].key == "forum.consent_resident" and "Bạn muốn gửi" in parent.replies[-1].text
    ref = await propose(parent, ["agree", "traffic", "=Cổng trường cần có vạch kẻ đường và biển báo", "yes"])
    async with db.connect() as conn:
        given = [g for (g,) in await conn.execute(text(
            "SELECT given_by FROM consents WHERE purpose = 'children_forum'"))]
    assert ref.startswith("KN-") and given == ["self"]


@pytest.mark.parametrize(("gate", "key"), [
    (["child", "under10"], "end.too_young"), (["child", "over15"], "forum.end.too_old")])
async def test_the_forum_applies_the_surveys_age_gate_and_stores_nothing(db, forum, gate: list[str],
                                                                         key: str) -> None:
    _, people = forum
    kid = people[KID]
    await kid.run(["/kiennghi", *gate])
    assert kid.replies[-1].key == key and await count(db, Consent) == 0
    assert (await kid.say("=Cổng trường cần có vạch kẻ đường"))[-1].key != "forum.review", "the flow ended"


async def test_an_adult_at_the_forums_gate_is_asked_an_adults_consent(db, forum) -> None:
    _, people = forum
    adult = people[KID2]
    await adult.run(["/kiennghi", "resident"])
    assert adult.replies[-1].key == "forum.consent_resident"
    ref = await propose(adult, ["agree", "my-an", "traffic", "=Cổng trường cần có vạch kẻ đường và biển báo",
                                "yes"])
    assert ref.startswith("KN-")


async def test_leader_answers_forwards_resolves_and_the_child_hears_each_step(db, forum) -> None:
    _, people = forum
    kid, leader = people[KID], people[LEADER_A]
    await kid.run(CHILD)
    ref = await propose(kid, PROPOSE)
    listing = await leader.say("/proposals")
    assert listing[0].key == "desk.list" and ref in listing[0].text
    view = await leader.press(leader.buttons()[0])
    assert view[0].key == "desk.view" and "Cổng trường" in view[0].text
    pid = int(leader.buttons()[0].split(":")[2].split("~")[0])
    await leader.press(f"f:f:{pid}")
    forwarded = (await leader.press(f"f:t:{pid}:committee"))[0]
    assert forwarded.key == "desk.forwarded_nobody" and "/moi my-an committee" in forwarded.text, \
        "no one answers for the committee yet: the leader is told, with how to invite it"
    assert (await leader.press(f"f:a:{pid}"))[0].key == "desk.ask_answer"
    assert (await leader.say("=Xã sẽ kẻ vạch và đặt biển báo trước ngày 15/12."))[0].key == "desk.answered"
    assert (await leader.press(f"f:r:{pid}"))[0].key == "desk.resolved"
    assert (await leader.press(f"f:a:{pid}"))[0].key == "desk.closed"
    async with db.connect() as conn:
        row = (await conn.execute(select(Proposal.status, Proposal.first_answer_at).where(Proposal.id == pid))).one()
        kinds = [k for (k,) in await conn.execute(select(ProposalEvent.kind).where(ProposalEvent.proposal_id == pid)
                                                  .order_by(ProposalEvent.id))]
        actors = {a for (a,) in await conn.execute(select(ProposalEvent.actor))}
        sent = [(k, p["text"]) for k, p in await conn.execute(select(Outbox.kind, Outbox.payload)
                                                              .order_by(Outbox.id))]
    assert row.status == "resolved" and row.first_answer_at is not None
    assert kinds == ["received", "forwarded", "answered", "resolved"] and actors == {"child", "leader"}
    to_child = [(k, t) for k, t in sent if ref in t and not t.startswith("🆕")]
    assert [k for k, _ in to_child] == ["notice", "answer", "notice"]
    assert "UBND xã" in to_child[0][1] and "kẻ vạch" in to_child[1][1]
    mine = (await kid.say("/myproposals"))[0]
    assert ref in mine.text and "đã giải quyết" in mine.text and "kẻ vạch" in mine.text and "UBND xã" in mine.text


async def test_merge_into_a_duplicate(db, forum) -> None:
    _, people = forum
    leader = people[LEADER_A]
    first = await propose(people[KID], [*GATE, "my-an", *PROPOSE[3:]])
    second = await propose(people[KID2], [*GATE, "my-an", "traffic",
                                          "=Cần biển báo ở cổng trường tiểu học", "no"])
    proposal = await leader.say("/proposals")
    second_id = int(leader.buttons()[1].split(":")[2].split("~")[0])
    assert second in proposal[0].text
    await leader.press(f"f:m:{second_id}")
    assert (await leader.say(f"={second}"))[0].key == "desk.bad_merge", "not into itself"
    await leader.press(f"f:m:{second_id}")
    assert (await leader.say(f"={first.lower()}"))[0].key == "desk.merged"
    first_id = second_id - 1
    await leader.press(f"f:a:{first_id}")
    await leader.say("=Xã đã lắp biển báo ở cả hai cổng trường.")
    async with db.connect() as conn:
        answers = (await conn.execute(select(func.count()).select_from(Outbox).where(Outbox.kind == "answer"))).scalar()
    assert answers == 2, "the author of the merged proposal hears the shared answer too"


ACTIONS = ["f:v:{id}", "f:a:{id}", "f:f:{id}", "f:t:{id}:school", "f:r:{id}", "f:m:{id}"]


@pytest.mark.parametrize("action", ACTIONS)
async def test_a_leader_cannot_see_or_act_on_another_commune(db, forum, action: str) -> None:
    _, people = forum
    await propose(people[KID], [*GATE, "my-an", *PROPOSE[3:]])
    async with db.connect() as conn:
        pid = (await conn.execute(select(Proposal.id))).scalar_one()
    outsider = people[LEADER_B]
    assert (await outsider.say("/proposals"))[0].key == "desk.empty"
    before = await count(db, ProposalEvent), await count(db, Outbox)
    replies = await outsider.press(action.format(id=pid))
    assert [r.key for r in replies] == ["access.other_commune"]
    if action == "f:m:{id}":
        assert (await outsider.say("=KN-2024-0001"))[0].key != "desk.merged"
    assert (await count(db, ProposalEvent), await count(db, Outbox)) == before
    assert (await people[KID2].press(action.format(id=pid)))[0].key == "access.denied", "children have no desk"


@pytest.mark.parametrize("forged", ["f:v:99999", "f:zz:1", "f:v:abc", "f:", "f:t:1:nowhere", "a:c:4242", "f:v:²",
                                    "f:v:99999999999999999999", "a:c:²"])
async def test_forged_desk_buttons_are_refused(db, forum, forged: str) -> None:
    _, people = forum
    await propose(people[KID], [*GATE, "my-an", *PROPOSE[3:]])
    before = await count(db, ProposalEvent)
    await people[LEADER_A].say("/proposals")
    replies = await people[LEADER_A].press(forged)
    assert replies[0].key in ("desk.invalid", "choice_old")
    assert await count(db, ProposalEvent) == before


async def test_leader_messages_never_carry_the_childs_identity(db, forum) -> None:
    _, people = forum
    kid, leader = people[KID], people[LEADER_A]
    await kid.run(CHILD)
    ref = await propose(kid, PROPOSE)
    await leader.say("/proposals")
    pid = int(leader.buttons()[0].split(":")[2].split("~")[0])
    await leader.press(f"f:v:{pid}")
    await leader.press(f"f:a:{pid}")
    await leader.say("=Cảm ơn em, xã đã ghi nhận và sẽ trả lời sớm.")
    async with db.connect() as conn:
        queued = [p["text"] for (p,) in await conn.execute(select(Outbox.payload))]
    secret_bits = {KID, Identity(SECRET).pseudonym("telegram", KID)}
    for text_shown in [r.text + " ".join(c.id + c.label for c in r.choices) for r in leader.replies] + queued:
        assert not any(bit in text_shown for bit in secret_bits)
    assert ref in " ".join(r.text for r in leader.replies)


async def test_danger_in_a_proposal_alerts_at_once_and_the_proposal_is_still_filed(db, forum) -> None:
    _, people = forum
    kid, leader, other = people[KID], people[LEADER_A], people[LEADER_B]
    await kid.run([*GATE, "my-an", "abuse"])
    replies = await kid.say("=Dượng hay danh em moi toi, em so lam")
    assert [r.key for r in replies] == ["safety.child.told", "forum.publish"] and "111" in replies[0].text
    assert "113" in replies[0].text and await count(db, Alert) == 1, "the flow goes on: asked about publishing"
    await kid.say("yes")
    receipt = (await kid.say("send"))[-1]
    assert receipt.key == "forum.receipt", "a flagged proposal is still filed, with its receipt"
    async with db.connect() as conn:
        filed = (await conn.execute(select(Proposal.sensitive, Proposal.publish))).one()
        alerts = [p for (p,) in await conn.execute(select(Outbox.payload).where(Outbox.kind == "alert"))]
        alert_id = (await conn.execute(select(Alert.id))).scalar_one()
    assert tuple(filed) == (True, False), "marked sensitive and never published"
    assert "KN-" in (await kid.say("/myproposals"))[0].text
    assert len(alerts) == 2, "the leader of my-an and the official (not the leader of my-hoa)"
    assert "Dượng hay danh em" in alerts[0]["text"]
    assert [c[0] for c in alerts[0]["choices"]] == [f"a:{v}:{alert_id}" for v in "kchr"]
    assert (await other.press(f"a:k:{alert_id}"))[0].key == "access.other_commune"
    assert (await leader.press(f"a:c:{alert_id}"))[0].key == "alerts.ask_reason"
    assert (await leader.say("=Em kể chuyện trong phim"))[0].key == "alerts.false_done"
    async with db.connect() as conn:
        status = (await conn.execute(select(Alert.status))).scalar_one()
        actions = [(a, k) for a, k in await conn.execute(select(AlertEvent.actor, AlertEvent.kind))]
    assert status == "false_alarm" and actions == [("leader", "false_alarm")]


async def test_danger_in_a_survey_comment_alerts_too_and_the_comment_is_kept(db, forum) -> None:
    _, people = forum
    kid = people[KID]
    await kid.run([*CHILD, *["satisfied"] * 12])
    replies = await kid.say("=Em bị đánh ở nhà nhiều lắm")
    assert [r.key for r in replies] == ["safety.child.told", "survey.review"]
    assert "Em bị đánh ở nhà" in replies[1].text and await count(db, Alert) == 1


async def test_forget_unlinks_proposals(db, forum) -> None:
    _, people = forum
    kid = people[KID]
    await propose(kid, [*GATE, "my-an", *PROPOSE[3:]])
    await kid.run(["/forget", "yes"])
    async with db.connect() as conn:
        authors = [a for (a,) in await conn.execute(text("SELECT author FROM proposals"))]
    assert authors == [None] and await count(db, Consent) == 0
    assert (await kid.say("/myproposals"))[0].key == "mine.none"


class Recorder:
    """A channel that records what the sender gives it."""

    name = "telegram"

    def __init__(self) -> None:
        self.sent: list[tuple[str, str]] = []

    async def send(self, chat_id: str, reply) -> str:
        self.sent.append((chat_id, reply.text))
        return str(len(self.sent))


async def test_a_failed_commit_then_the_redelivery_gives_one_alert_that_reaches_the_leader_once(db, forum) -> None:
    from bot.sender import Sender

    service, people = forum
    kid = people[KID]
    await kid.run([*GATE, "my-an", "abuse"])
    real = service.committer._commit
    failures = []

    async def fails_once(units):
        if not failures:
            failures.append(len(units))
            raise ConnectionResetError("the database went away mid-commit")
        return await real(units)

    service.committer._commit = fails_once
    danger = Incoming("telegram", KID, KID, text="Dượng hay đánh em mỗi tối, em sợ lắm", update_key="tg:danger")
    await service.handle(danger, kid.send)
    assert kid.replies[-1].key == "error" and failures, "the first delivery failed and the child was told"
    assert await count(db, Alert) == 0 and await count(db, Outbox, Outbox.kind == "alert") == 0
    await service.handle(danger, kid.send)  # the platform delivers it again
    await service.handle(danger, kid.send)  # and once more: already done
    keys = [r.key for r in kid.replies]
    assert keys[-2] == "safety.child.told" and keys.count("safety.child.told") == 1
    assert await count(db, Alert) == 1
    channel = Recorder()
    sender = Sender(db, {"telegram": channel}, rate=100, per_chat=100)
    try:
        await sender.drain(10)
    finally:
        await sender.stop()
    to_leader = [text for chat, text in channel.sent if chat == LEADER_A and "111" in text]
    assert len(to_leader) == 1, "the alert reaches the commune's leader exactly once"
