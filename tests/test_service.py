"""The service over real storage: de-duplication, ordering, roles, invites, forgetting."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

from sqlalchemy import func, select, text

from bot.app import assemble
from bot.identity import Identity
from bot.service import Service
from conversations import Engine, Incoming, Reply, load_flows
from storage import rounds
from storage.models import Answer, Contact, Participation, Respondent, Response, Session
from tests.conftest import SECRET

NOW = datetime(2024, 11, 5, 8, 0, tzinfo=UTC)
CHILD = ["/start", "start", "child", "agree", "agree", "my-an", "a10_12", "yes"]


class Person:
    """Someone talking to the service on one channel."""

    def __init__(self, service: Service, user: str, channel: str = "telegram") -> None:
        self.service = service
        self.user = user
        self.channel = channel
        self.replies: list[Reply] = []
        self.updates = 0

    async def send(self, reply: Reply) -> None:
        self.replies.append(reply)

    def choice(self, option: str) -> str:
        """The callback id of a choice in the latest question."""
        for reply in reversed(self.replies):
            if reply.choices:
                return next(c.id for c in reply.choices if c.id.endswith(f":{option}"))
        raise AssertionError("no question asked")

    async def say(self, said: str, key: str | None = None) -> list[Reply]:
        """Type text or a command, or tap an option of the latest question."""
        self.updates += 1
        start = len(self.replies)
        typed = said.startswith("/") or said.startswith("=") or not self.replies
        incoming = Incoming(self.channel, self.user, self.user, text=said.lstrip("=") if typed else None,
                            choice_id=None if typed else self.choice(said),
                            update_key=key or f"{self.channel}:{self.user}:{self.updates}")
        await self.service.handle(incoming, self.send)
        return self.replies[start:]

    async def run(self, script: list[str]) -> None:
        for said in script:
            await self.say(said)


def make_service(db, admins: frozenset[str] = frozenset()) -> Service:
    """A service on the test database with a fixed clock."""
    from conversations import Catalogue

    return assemble(Engine(load_flows(), Catalogue.load()), db, Identity(SECRET), Catalogue.load(), admins=admins,
                    clock=lambda: NOW)


async def count(db, model, *where) -> int:
    async with db.connect() as conn:
        query = select(func.count()).select_from(model)
        return (await conn.execute(query.where(*where) if where else query)).scalar_one()


async def test_a_redelivered_update_is_processed_once(db) -> None:
    await rounds.open_round(db, "2024", NOW)
    service = make_service(db)
    child = Person(service, "100")
    await child.run(CHILD)
    tap = child.choice("satisfied")
    for _ in range(2):
        await service.handle(Incoming("telegram", "100", "100", choice_id=tap, update_key="telegram:777"), child.send)
    assert sum("Câu 2/12" in r.text for r in child.replies) == 1
    assert await count(db, Answer) == 1
    await service.close()


async def test_one_persons_updates_run_in_order_while_others_run_concurrently(db) -> None:
    await rounds.open_round(db, "2024", NOW)
    service = make_service(db)
    people = [Person(service, str(i)) for i in range(20)]
    await asyncio.gather(*(p.run(CHILD) for p in people))
    for p in people:
        taps = [p.choice("satisfied")]
        await p.say("satisfied")
        taps.append(p.choice("satisfied"))
        assert taps[0] != taps[1]
    await asyncio.gather(*(p.run(["satisfied"] * 11 + ["skip", "submit"]) for p in people))
    assert await count(db, Response, Response.submitted.is_(True)) == 20
    assert await count(db, Answer) == 20 * 12
    await service.close()


async def test_concurrent_taps_from_one_person_are_serialised(db) -> None:
    await rounds.open_round(db, "2024", NOW)
    service = make_service(db)
    child = Person(service, "5")
    await child.run(CHILD)
    tap = child.choice("satisfied")
    await asyncio.gather(*(service.handle(Incoming("telegram", "5", "5", choice_id=tap, update_key=f"k{i}"),
                                          child.send) for i in range(5)))
    assert sum(r.key == "stale" for r in child.replies) == 4, "one tap answers, the four others are stale"
    assert await count(db, Answer) == 1
    await service.close()


async def test_forget_then_return_cannot_answer_the_same_round_twice(db) -> None:
    await rounds.open_round(db, "2024", NOW)
    service = make_service(db)
    child = Person(service, "42")
    await child.run([*CHILD, *["satisfied"] * 12, "skip", "submit"])
    assert await count(db, Participation) == 1 and await count(db, Contact) == 1
    await child.run(["/forget", "yes"])
    for model in (Respondent, Contact, Session):
        assert await count(db, model) == 0
    assert await count(db, Answer) == 12
    replies = await child.say("/start")
    assert [r.key for r in replies] == ["done"], "told at once, before consent and age are asked"
    assert await count(db, Response) == 1 and await count(db, Respondent) == 0
    await service.close()


async def test_forget_mid_survey_removes_the_unfinished_response(db) -> None:
    await rounds.open_round(db, "2024", NOW)
    service = make_service(db)
    child = Person(service, "43")
    await child.run([*CHILD, "satisfied", "satisfied", "/xoadulieu", "yes"])
    assert await count(db, Response) == 0 and await count(db, Answer) == 0
    await service.close()


async def test_invites_make_leaders_scoped_to_their_commune(db) -> None:
    await rounds.open_round(db, "2024", NOW)
    official_key = Identity(SECRET).pseudonym("telegram", "1")
    service = make_service(db, frozenset({official_key}))
    official, leader, child = Person(service, "1"), Person(service, "2"), Person(service, "3")
    created = await official.say("/invite my-an")
    assert created[0].key == "invite.created"
    code = next(word for word in created[0].text.split() if "-" in word and len(word) == 21)
    assert (await child.say("/score"))[0].key == "access.denied"
    assert (await leader.say(f"/start {code}"))[0].key == "invite.joined_leader"
    assert (await child.say(f"={code}"))[0].key == "invite.invalid", "an invite is single-use"
    assert (await child.say("/start aaaaaaaa-bbbbbbbbbbbb"))[0].key == "invite.invalid"
    assert (await leader.say("/score my-hoa"))[0].key == "access.other_commune"
    assert (await leader.say("/invite my-an"))[0].key == "access.denied"
    assert (await leader.say("/score nowhere"))[0].key == "access.unknown_commune"
    assert (await leader.say("/score"))[0].key == "score.hidden", "while the round is open a leader sees progress"
    await child.run([*CHILD, *["satisfied"] * 12, "skip", "submit"])
    mine = await leader.say("/diem")
    assert mine[0].key == "score.hidden" and "Xã Mỹ An" in mine[1].text and "Xã Mỹ Hòa" not in mine[1].text
    everyone = (await official.say("/score"))[0]
    assert "Xã Mỹ Hòa" in everyone.text and "100%" in everyone.text
    assert (await official.say("/round"))[0].key == "round.status"
    assert (await leader.say("/nonsense"))[0].key == "unknown_command"
    help_text = (await leader.say("/help"))[0].text
    assert "/xemkiennghi" in help_text and "/thamdo" in help_text and "Xã Mỹ An" in help_text
    assert "/baocao" not in help_text and "/moi" not in help_text, "help lists only what the leader may run"
    child_help = (await child.say("/huongdan"))[0].text
    assert "/khaosat" in child_help and "/xemkiennghi" not in child_help and "111" in child_help
    await service.close()


async def test_a_failure_apologises_and_keeps_the_update_retryable(db) -> None:
    await rounds.open_round(db, "2024", NOW)
    service = make_service(db)
    child = Person(service, "9")
    await child.run(CHILD)

    def broken(*args, **kwargs):
        raise RuntimeError("boom")

    service.engine.advance = broken  # a real fault inside the engine call
    replies = await child.say("satisfied", key="telegram:fails")
    assert [r.key for r in replies] == ["error"]
    del service.engine.advance
    replies = await child.say("satisfied", key="telegram:fails")
    assert "Câu 2/12" in replies[-1].text
    await service.close()


async def test_a_person_who_writes_can_be_reached_again(db) -> None:
    await rounds.open_round(db, "2024", NOW)
    service = make_service(db)
    child = Person(service, "41", channel="zalo_oa")
    await child.run(CHILD)
    async with db.begin() as conn:
        await conn.execute(Contact.__table__.update().values(unreachable=True))  # a 7-day window closed
    await child.say("satisfied")
    async with db.connect() as conn:
        assert (await conn.execute(select(Contact.unreachable))).scalar_one() is False
    await service.close()


async def test_start_with_a_poster_tag_or_a_commune_code_starts_the_survey(db) -> None:
    await rounds.open_round(db, "2024", NOW)
    service = make_service(db)
    tagged, local = Person(service, "51"), Person(service, "52")
    first = await tagged.say("/start ref_facebook")
    assert first[-1].key == "onboarding.intro", "a non-invite argument is a source tag, not a bad invite"
    await local.say("/start my-an")
    await local.run(["start", "child", "agree", "agree"])
    assert local.replies[-1].key == "onboarding.age_child", "the commune of the link is preselected"
    await service.close()


async def test_a_person_of_a_merged_commune_comes_back_to_the_new_unit(db) -> None:
    await rounds.open_round(db, "2024", NOW)
    child = Person(make_service(db), "61")
    await child.run(CHILD)  # a child of my-an
    async with db.begin() as conn:
        await conn.execute(text("UPDATE communes SET merged_into = 'my-hoa' WHERE code = 'my-an'"))
    child.service = make_service(db)  # after a restart, with the 2025 map
    await child.say("satisfied")
    async with db.connect() as conn:
        commune = (await conn.execute(select(Respondent.commune))).scalar_one()
        session = (await conn.execute(select(Session.commune))).scalar_one()
    assert commune == session == "my-hoa"
