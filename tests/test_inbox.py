"""The inbox on SQLite and PostgreSQL: stored once, processed once and in order per person, after a crash too.

Real parts throughout: the service of `make_service`, the inbox's own tables, `TelegramChannel.take`, and two
whole stacks (inbox, service, sender) on one PostgreSQL database with their own engines.
"""

from __future__ import annotations

import asyncio
import functools
import random
from collections import Counter, defaultdict
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

import bot.inbox
from analytics import Rubric, load_rubric
from bot.app import assemble
from bot.channels.telegram import TelegramChannel
from bot.identity import Identity
from bot.inbox import Inbox
from bot.sender import Item, Sender
from bot.service import Service
from conversations import Catalogue, Engine, Incoming, Reply, load_flows
from storage import inbox as stored_inbox
from storage.db import connect
from storage.models import Inbox as InboxRow
from storage.models import Outbox

try:
    from tests.conftest import SECRET
    from tests.support.send_worker import queue, seed
    from tests.test_service import NOW
except ImportError:  # pytest's default "prepend" import mode puts tests/ (not the repo root) on sys.path
    from conftest import SECRET  # type: ignore[no-redef]
    from support.send_worker import queue, seed  # type: ignore[no-redef]
    from test_service import NOW  # type: ignore[no-redef]

CHANNEL = "fake"


@functools.cache
def parts() -> tuple[Engine, Catalogue, Rubric]:
    """The conversation engine, texts and rubric, built once (the engine takes seconds)."""
    texts = Catalogue.load()
    return Engine(load_flows(), texts), texts, load_rubric()


def make_service(db: AsyncEngine) -> Service:
    """A service on the test database with a fixed clock, as tests/test_service.py builds it."""
    engine, texts, rubric = parts()
    return assemble(engine, db, Identity(SECRET), texts, clock=lambda: NOW, rubric=rubric)


class Recorder:
    """The service's `process`, noting each call's update key and outcome in the order they finish."""

    def __init__(self, service: Service, log: list[tuple[str, str]] | None = None) -> None:
        self.service = service
        self.log = [] if log is None else log
        self.calls = 0

    async def __call__(self, incoming: Incoming, stored: Sequence[Any] = ()) -> str:
        status = await self.service.process(incoming, stored)
        self.calls += 1
        self.log.append((str(incoming.update_key), status))  # no await between the person's lock and this
        return status


def update(person: int, n: int, text: str = "/help", key: str | None = None) -> Incoming:
    """Update number `n` of a person (chat id = user id)."""
    return Incoming(CHANNEL, str(person), str(person), text=text, update_key=key or f"{CHANNEL}:{person}:{n}")


def stack(db: AsyncEngine, log: list[tuple[str, str]] | None = None, worker: str = "",
          ) -> tuple[Service, Recorder, Inbox]:
    """A service and an inbox feeding it, on one engine."""
    service = make_service(db)
    recorder = Recorder(service, log)
    return service, recorder, Inbox(db, Identity(SECRET), recorder, parts()[1], worker=worker)


@asynccontextmanager
async def running(db: AsyncEngine, log: list[tuple[str, str]] | None = None, worker: str = "",
                  ) -> AsyncIterator[tuple[Service, Recorder, Inbox]]:
    """A started stack, stopped afterwards."""
    service, recorder, inbox = stack(db, log, worker)
    inbox.start()
    try:
        yield service, recorder, inbox
    finally:
        await inbox.stop()
        await service.close()


async def statuses(db: AsyncEngine) -> dict[str, str]:
    """Each stored update's status by key."""
    async with db.connect() as conn:
        return dict((await conn.execute(select(InboxRow.key, InboxRow.status))).all())


async def answers(db: AsyncEngine) -> list[tuple[int, str, str]]:
    """The queued answers (id, chat, key) in id order."""
    async with db.connect() as conn:
        rows = await conn.execute(select(Outbox.id, Outbox.chat_id, Outbox.key).where(Outbox.kind == "answer")
                                  .order_by(Outbox.id))
        return [tuple(r) for r in rows]  # type: ignore[misc]


def number(key: str) -> int:
    """The update number in a key `fake:<person>:<n>` (or an answer's `answer:fake:<person>:<n>:<i>`)."""
    parts = key.split(":")
    return int(parts[2] if parts[0] == CHANNEL else parts[3])


def in_order_per_person(keys: Sequence[str]) -> dict[str, list[int]]:
    """Update numbers per person in the order given; each list must be increasing."""
    seen: dict[str, list[int]] = defaultdict(list)
    for key in keys:
        person = key.split(":")[1] if key.startswith(f"{CHANNEL}:") else key.split(":")[2]
        seen[person].append(number(key))
    return seen


def assert_in_order(keys: Sequence[str]) -> None:
    """Each person's update numbers appear in increasing order."""
    for person, numbers in in_order_per_person(keys).items():
        assert numbers == sorted(numbers), f"person {person} out of order: {numbers}"


# ---------------------------------------------------------------------------------------------- one worker
async def test_each_update_is_stored_once_and_processed_once_in_order(db: AsyncEngine) -> None:
    people, each = 12, 6
    rng = random.Random(3)
    stream = [update(p, n) for n in range(each) for p in range(people)]
    async with running(db) as (_, recorder, inbox):
        for start in range(0, len(stream), 7):  # several accepts, as polling batches or webhook calls come
            await inbox.accept(stream[start:start + 7])
        redelivered = rng.sample(stream, 10)
        await inbox.accept([*redelivered, redelivered[0]])  # the platform sends some again, once twice in a batch
        await inbox.drain()
        await inbox.accept(redelivered)  # and again after they were processed
        await inbox.drain()
    calls = Counter(key for key, _ in recorder.log)
    assert len(calls) == people * each and set(calls.values()) == {1}, "each update processed exactly once"
    assert {status for _, status in recorder.log} == {"done"}
    assert_in_order([key for key, _ in recorder.log])
    found = await statuses(db)
    assert len(found) == people * each and set(found.values()) == {"done"}
    queued = await answers(db)
    assert {number(k) for _, _, k in queued} == set(range(each)) and len({k.rsplit(":", 1)[0] for *_, k in queued}) \
        == people * each, "every update answered"
    assert_in_order([k for *_, k in queued])


async def test_an_update_without_a_key_is_processed_once(db: AsyncEngine) -> None:
    async with running(db) as (_, recorder, inbox):
        await inbox.accept([Incoming(CHANNEL, "9", "9", text="/help")])
        await inbox.drain(timeout=5)
    assert [status for _, status in recorder.log] == ["done"]
    assert list((await statuses(db)).values()) == ["done"]
    assert len(await answers(db)) >= 1


async def test_a_slow_update_handed_on_is_stored_before_accept_returns_and_finished_once(
        db: AsyncEngine, monkeypatch: pytest.MonkeyPatch) -> None:
    if db.dialect.name != "sqlite":
        pytest.skip("updates are handed straight to the service only where this process is the one worker")
    monkeypatch.setattr(bot.inbox, "HAND_WAIT", 0.05)
    slow = asyncio.Event()

    async with running(db) as (_, recorder, inbox):
        process = recorder.__call__

        async def held(incoming: Incoming, stored: Sequence[Any] = ()) -> str:
            await slow.wait()  # processing outruns accept's wait
            return await process(incoming, stored)

        await inbox.started()  # its first claim found nothing: fresh updates go straight on
        inbox.process = held
        await asyncio.wait_for(inbox.accept([update(1, 0)]), timeout=2)
        assert await statuses(db) == {f"{CHANNEL}:1:0": "queued"}  # durable before the platform is told
        slow.set()
        await asyncio.sleep(0.3)  # processing commits; the claim loop must not take the row meanwhile
        await inbox.drain(timeout=5)
    assert recorder.log == [(f"{CHANNEL}:1:0", "done")]
    assert await statuses(db) == {f"{CHANNEL}:1:0": "done"}
    assert len(await answers(db)) >= 1


async def test_an_update_handed_on_is_known_after_a_restart_by_its_inbox_row(db: AsyncEngine) -> None:
    if db.dialect.name != "sqlite":
        pytest.skip("updates are handed straight to the service only where this process is the one worker")
    async with running(db) as (_, _recorder, inbox):
        await inbox.started()
        await inbox.accept([update(1, 0)])
        await inbox.drain(timeout=5)
    assert await statuses(db) == {f"{CHANNEL}:1:0": "done"}
    queued = await answers(db)
    async with running(db) as (_, recorder, inbox):  # a new process: nothing in memory
        await inbox.started()
        await inbox.accept([update(1, 0)])  # the platform delivers it again
        await inbox.drain(timeout=5)
    assert recorder.log == [(f"{CHANNEL}:1:0", "seen")]
    assert await answers(db) == queued


async def test_after_a_crash_every_stored_update_is_processed_in_order(db: AsyncEngine) -> None:
    people, each = 20, 5
    service, _, first = stack(db)
    await first.accept([update(p, n) for n in range(each) for p in range(people)])
    await first.committer.close()  # the process dies here: stored, confirmed to the platform, nothing processed
    await service.close()
    assert set((await statuses(db)).values()) == {"queued"} and await answers(db) == []
    async with running(db) as (_, recorder, inbox):
        await inbox.drain()
    assert sorted(k for k, _ in recorder.log) == sorted(f"{CHANNEL}:{p}:{n}" for p in range(people)
                                                         for n in range(each))
    assert_in_order([k for k, _ in recorder.log])
    assert set((await statuses(db)).values()) == {"done"}
    queued = await answers(db)
    assert len({k.rsplit(":", 1)[0] for *_, k in queued}) == people * each
    assert_in_order([k for *_, k in queued])


async def test_a_restart_on_sqlite_takes_over_what_the_dead_process_had_claimed(db: AsyncEngine) -> None:
    if db.dialect.name != "sqlite":
        pytest.skip("on PostgreSQL another worker may be alive: a claim runs out with its lease")
    service, _, first = stack(db)
    await first.accept([update(1, n) for n in range(3)])
    await first.committer.close()
    await service.close()
    claimed = await stored_inbox.claim(db, "dead", bot.inbox.utcnow(), 10, 60.0)  # claimed, then SIGKILL
    assert len(claimed) == 3
    async with running(db) as (_, recorder, inbox):
        await inbox.drain(timeout=5)  # not after the 60 s lease
    assert [number(k) for k, _ in recorder.log] == [0, 1, 2]


async def test_an_unreadable_telegram_update_is_recorded_bad_and_the_rest_processed(db: AsyncEngine) -> None:
    def message(update_id: int, chat: int, text: str) -> dict[str, Any]:
        return {"update_id": update_id, "message": {
            "message_id": update_id, "date": 1_700_000_000, "chat": {"id": chat, "type": "private"},
            "from": {"id": chat, "is_bot": False, "first_name": "em"}, "text": text}}

    async with running(db) as (_, recorder, inbox):
        channel = TelegramChannel("7123456:inbox-TEST-token", "http://127.0.0.1:9", inbox.accept)
        channel.offset = 100
        await channel.take([message(100, 5, "/help"), {"update_id": 101, "message": 3},
                            {"update_id": 102, "poll": {"id": "p1"}}, message(103, 6, "/help"),
                            message(104, 5, "/start")])
        assert channel.offset == 105, "the next getUpdates confirms all five"
        await inbox.drain()
    found = await statuses(db)
    assert found == {"telegram:100": "done", "telegram:101": "bad", "telegram:102": "bad", "telegram:103": "done",
                     "telegram:104": "done"}
    assert [k for k, _ in recorder.log if k.endswith(("100", "104"))] == ["telegram:100", "telegram:104"]
    assert {k.split(":")[2] for *_, k in await answers(db)} == {"100", "103", "104"}
    async with db.connect() as conn:
        errors = (await conn.execute(select(InboxRow.data).where(InboxRow.status == "bad"))).scalars().all()
    assert all("error" in e for e in errors)


async def test_a_flood_from_one_person_is_slowed_and_told_once_others_untouched(db: AsyncEngine) -> None:
    flood = [update(1, n) for n in range(300)]
    calm = [update(p, n) for n in range(5) for p in range(2, 6)]
    async with running(db) as (_, recorder, inbox):
        await inbox.accept([*flood[:150], *calm, *flood[150:]])
        await inbox.drain()
    found = await statuses(db)
    mine = Counter(status for key, status in found.items() if key.startswith(f"{CHANNEL}:1:"))
    assert mine["dropped"] >= 200 and mine["done"] + mine["dropped"] == 300, mine
    assert all(status == "done" for key, status in found.items() if not key.startswith(f"{CHANNEL}:1:"))
    assert len([k for k, _ in recorder.log if not k.startswith(f"{CHANNEL}:1:")]) == 20
    async with db.connect() as conn:
        told = (await conn.execute(select(Outbox.chat_id, Outbox.payload).where(Outbox.key.startswith("flood:"))
                                   )).all()
    assert [(chat, body["key"]) for chat, body in told] == [("1", "inbox.flood")]


async def test_a_failing_update_is_tried_again_then_recorded_failed(db: AsyncEngine,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(bot.inbox, "RETRY", (0.05, 0.05, 0.05))
    tries: Counter[str] = Counter()
    service, recorder, inbox = stack(db)

    async def flaky(incoming: Incoming, stored: Sequence[Any] = ()) -> str:
        key = str(incoming.update_key)
        tries[key] += 1
        if key.endswith(":0"):
            raise RuntimeError("always")
        if key.endswith(":1") and tries[key] == 1:
            return "failed"
        return await recorder(incoming, stored)

    inbox.process = flaky
    inbox.start()
    try:
        await inbox.accept([update(7, 0), update(7, 1), update(7, 2)])
        await inbox.drain(timeout=10)
    finally:
        await inbox.stop()
        await service.close()
    assert tries == {f"{CHANNEL}:7:0": len(bot.inbox.RETRY) + 1, f"{CHANNEL}:7:1": 2, f"{CHANNEL}:7:2": 1}
    assert await statuses(db) == {f"{CHANNEL}:7:0": "failed", f"{CHANNEL}:7:1": "done", f"{CHANNEL}:7:2": "done"}


# ---------------------------------------------------------------------------------------------- two workers
class Recording:
    """A channel of one worker; the shared `state` notes every send and any chat sent to twice at once."""

    name = CHANNEL

    def __init__(self, state: dict[str, Any]) -> None:
        self.state = state

    async def start(self) -> None:
        """Nothing to start."""

    async def stop(self) -> None:
        """Nothing to stop."""

    async def send(self, chat_id: str, reply: Reply) -> None:
        """Note the send; two at once to one chat is a fault."""
        busy: set[str] = self.state["busy"]
        if chat_id in busy:
            self.state["overlaps"] += 1
        busy.add(chat_id)
        await asyncio.sleep(random.uniform(0, 0.003))
        busy.discard(chat_id)


@pytest.mark.postgres
async def test_two_workers_lose_nothing_repeat_nothing_and_keep_each_persons_order(database_url: str) -> None:
    if not database_url.startswith("postgresql"):
        pytest.skip("several workers need PostgreSQL")
    from storage import communes, migrate

    engines = [connect(database_url), connect(database_url)]
    await migrate.upgrade(engines[0])
    await communes.seed_default(engines[0])
    people, each = 200, 5
    log: list[tuple[str, str]] = []
    state: dict[str, Any] = {"busy": set(), "overlaps": 0}
    sent: list[tuple[str, int, str, str]] = []  # (worker, outbox id, kind, chat)

    def on_sent(worker: str) -> Any:
        def note(item: Item, message_id: str | None) -> None:
            sent.append((worker, item.id, item.kind, item.chat_id))
        return note

    stacks = [stack(engine, log, worker=f"w{n}") for n, engine in enumerate(engines)]
    senders = [Sender(engine, {CHANNEL: Recording(state)}, rate=2000, per_chat=1000, worker=f"s{n}",
                      on_sent=on_sent(f"s{n}")) for n, engine in enumerate(engines)]
    for _, _, inbox in stacks:
        inbox.start()
    for service, (_, _, inbox), sender in zip([s for s, _, _ in stacks], stacks, senders, strict=True):
        service.wake = sender.wake
        inbox.wake_sender = sender.wake
        sender.start()
    try:
        stream = [update(p, n) for n in range(each) for p in range(people)]
        for start in range(0, len(stream), 25):  # interleaved: each person's updates go to both workers
            await stacks[(start // 25) % 2][2].accept(stream[start:start + 25])
        chats = list(range(10_000, 10_000 + people))
        persons = await seed(engines[0], chats, channel=CHANNEL)
        await queue(engines[0], "broadcast-1", persons)
        for sender in senders:
            sender.wake()
        await asyncio.gather(*(inbox.drain(timeout=60) for _, _, inbox in stacks))
        await asyncio.gather(*(sender.drain(timeout=60) for sender in senders))
    finally:
        for (service, _, inbox), sender in zip(stacks, senders, strict=True):
            await inbox.stop()
            await service.close()
            await sender.stop()
    try:
        calls = Counter(key for key, _ in log)
        assert len(calls) == people * each, "nothing lost"
        assert set(calls.values()) == {1} and {s for _, s in log} == {"done"}, "nothing processed twice"
        assert_in_order([key for key, _ in log])
        assert set((await statuses(engines[0])).values()) == {"done"}
        queued = await answers(engines[0])
        assert len({k.rsplit(":", 1)[0] for *_, k in queued}) == people * each
        assert_in_order([k for *_, k in queued])
        ids = Counter(i for _, i, _, _ in sent)
        assert set(ids.values()) == {1}, "no message sent twice"
        notices = Counter(chat for _, _, kind, chat in sent if kind == "notice")
        assert sorted(notices) == [str(c) for c in chats] and set(notices.values()) == {1}, "the broadcast: 1 each"
        assert len([1 for _, _, kind, _ in sent if kind == "answer"]) == len(queued), "every answer sent"
        async with engines[0].connect() as conn:
            left = (await conn.execute(select(Outbox.status, func.count()).group_by(Outbox.status))).all()
        assert dict(left) == {"sent": len(queued) + people}
        assert {w for w, *_ in sent} == {"s0", "s1"} and all(r.calls for _, r, _ in stacks), "both took part"
        per_chat: dict[str, list[int]] = defaultdict(list)
        for _, i, kind, chat in sent:
            if kind == "answer":
                per_chat[chat].append(i)
        misordered = [chat for chat, v in per_chat.items() if v != sorted(v)]
        assert not misordered, f"each chat's answers sent in order: {len(misordered)} chats were not"
        assert state["overlaps"] == 0, "one message at a time per chat, across workers"
    finally:
        for engine in engines:
            await engine.dispose()
