"""The outbox sender on SQLite and PostgreSQL: pacing, 429/403/5xx/400, attempts, opt-out, idempotence, resuming.

The Telegram cases drive the real PTB `TelegramChannel` against the in-process stand-in Bot API, which
enforces flood limits with 429 answers; a small fake channel stands in where PTB is not the point.
"""

from __future__ import annotations

import asyncio
import time
import warnings
from collections import Counter
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncEngine
from telegram.error import BadRequest, ChatMigrated, Forbidden, NetworkError, RetryAfter, TimedOut

from bot.channels.errors import SendFailure
from bot.channels.telegram import TelegramChannel, send_failure
from bot.sender import Sender
from conversations import Reply
from storage.models import Contact, Outbox

try:
    from tests.support.send_worker import queue, seed
    from tests.support.telegram_standin import TelegramStandin
except ImportError:  # pytest's default "prepend" import mode puts tests/ (not the repo root) on sys.path
    from support.send_worker import queue, seed  # type: ignore[no-redef]
    from support.telegram_standin import TelegramStandin  # type: ignore[no-redef]

TOKEN = "7123456:sender-TEST-token"
BASE = 7_420_000_000


@pytest.fixture(autouse=True)
def _timedelta_retry_after(monkeypatch: pytest.MonkeyPatch) -> None:
    """PTB 22.2+ warns when RetryAfter is built in its int form; opt in to the timedelta form."""
    monkeypatch.setenv("PTB_TIMEDELTA", "true")


class TimedStandin(TelegramStandin):
    """The stand-in, noting when each send call arrived and how it was answered."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.log: list[tuple[float, int]] = []

    async def _handle(self, request):  # type: ignore[no-untyped-def]
        response = await super()._handle(request)
        if request.match_info["method"] == "sendMessage":
            self.log.append((time.monotonic(), response.status))
        return response


class FakeChannel:
    """A channel that records sends and fails them as `script(chat_id, attempt)` says."""

    name = "fake"

    def __init__(self, script: Callable[[str, int], SendFailure | None] = lambda chat, n: None,
                 delay: float = 0.0) -> None:
        self.script, self.delay = script, delay
        self.tries: Counter[str] = Counter()
        self.sent: list[tuple[str, Reply]] = []

    async def start(self) -> None:
        """Nothing to start."""

    async def stop(self) -> None:
        """Nothing to stop."""

    async def send(self, chat_id: str, reply: Reply) -> None:
        """Fail as scripted, or record the message."""
        self.tries[chat_id] += 1
        await asyncio.sleep(self.delay)
        failure = self.script(chat_id, self.tries[chat_id])
        if failure is not None:
            raise failure
        self.sent.append((chat_id, reply))


async def _ignore(incoming: object, send: object) -> None:
    """Updates are not read in these tests."""


@asynccontextmanager
async def telegram(tg: TelegramStandin) -> AsyncIterator[TelegramChannel]:
    """The real Telegram channel pointed at the stand-in, for sending only."""
    channel = TelegramChannel(TOKEN, tg.root, _ignore)
    await channel.bot.initialize()
    try:
        yield channel
    finally:
        await channel.bot.shutdown()


@asynccontextmanager
async def running(sender: Sender) -> AsyncIterator[Sender]:
    """A started sender, stopped afterwards."""
    sender.start()
    try:
        yield sender
    finally:
        await sender.stop()


async def rows(db: AsyncEngine, key: str) -> list[Any]:
    """The outbox rows of a key, with their contact's chat id, in id order."""
    query = (select(Outbox.status, Outbox.attempts, Outbox.error, Outbox.sent_at, Contact.chat_id)
             .join(Contact, Contact.id == Outbox.contact_id).where(Outbox.key.startswith(f"{key}:"))
             .order_by(Outbox.id))
    async with db.connect() as conn:
        return list((await conn.execute(query)).all())


def by_chat(tg: TelegramStandin) -> Counter[int]:
    """How many messages each chat received."""
    return Counter(s.chat_id for s in tg.sent())


# ---------------------------------------------------------------------------------------------- mapping
def test_telegram_errors_are_classified() -> None:
    assert send_failure(RetryAfter(timedelta(seconds=2.5))).retry_after == 2.5
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        flood = RetryAfter(3)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert (send_failure(flood).kind, send_failure(flood).retry_after) == ("retry", 3.0)
    assert send_failure(Forbidden("Forbidden: bot was blocked by the user")).kind == "blocked"
    assert send_failure(BadRequest("Bad Request: chat not found")).kind == "invalid"
    assert send_failure(ChatMigrated(42)).kind == "invalid"
    for fault in (TimedOut(), NetworkError("Bad Gateway")):
        failure = send_failure(fault)
        assert (failure.kind, failure.retry_after) == ("retry", None)
    with pytest.raises(ValueError):
        SendFailure("later", "no such kind")  # type: ignore[arg-type]


# ---------------------------------------------------------------------------------------------- pacing
async def test_paces_to_the_flood_limits_with_several_chats_in_flight(db: AsyncEngine) -> None:
    chats = [BASE + i for i in range(40)]
    persons = await seed(db, chats)
    await queue(db, "first", persons, text="first", choices=[("c:yes", "Có"), ("c:no", "Không")])
    await queue(db, "second", persons, text="second")
    async with (TimedStandin(TOKEN, rate_limit_per_s=50, per_chat_per_s=1) as tg, telegram(tg) as channel,
                running(Sender(db, {"telegram": channel}, rate=50, per_chat=1)) as sender):
        await sender.drain(20)
        assert await sender.progress("first") == {"sent": 40}
    assert tg.rejected_429 == 0
    assert by_chat(tg) == Counter({chat: 2 for chat in chats})
    assert all([m.text for m in tg.sent(chat)] == ["first", "second"] for chat in chats)
    assert tg.sent(chats[0])[0].buttons == [("Có", "c:yes"), ("Không", "c:no")]
    # The gaps the stand-in saw: at most 50 sends in any second, and no chat twice within a second; with 40 chats
    # the 80 sends overlap (the second round starts while the first is still going out to other chats).
    times = [t for t, _ in tg.log]
    assert all(b - a >= 0.95 for a, b in zip(times, times[50:], strict=False)), "more than 50 sends in a second"
    gaps = [b.at - a.at for chat in chats for a, b in zip(tg.sent(chat), tg.sent(chat)[1:], strict=False)]
    assert min(gaps) >= 0.95, "a chat got two messages within a second"
    assert all(r.status == "sent" and r.attempts == 1 and r.sent_at for r in await rows(db, "second"))


async def test_slows_down_on_429_and_loses_nothing(db: AsyncEngine) -> None:
    # The platform allows 10/s and the sender is set to 30/s: slow enough for any loaded machine to reach, so
    # the 429 is certain (at 50/s vs 150/s a busy CI machine sometimes never outran the platform).
    chats = [BASE + i for i in range(60)]
    await queue(db, "flood", await seed(db, chats))
    async with TimedStandin(TOKEN, rate_limit_per_s=10, per_chat_per_s=1) as tg, telegram(tg) as channel:
        sender = Sender(db, {"telegram": channel}, rate=30, per_chat=1)  # three times what the platform allows
        async with running(sender):
            await sender.drain(20)
    assert by_chat(tg) == Counter({chat: 1 for chat in chats})
    assert 0 < tg.rejected_429 <= 12
    first = next(at for at, status in tg.log if status == 429)
    later = [at - first for at, _ in tg.log if at > first]
    # after a 429 ("retry after 1") only sends already in flight arrive, then nothing for about a second
    assert not [dt for dt in later if 0.1 < dt < 0.9], later[:10]
    statuses = Counter(r.status for r in await rows(db, "flood"))
    assert statuses == {"sent": 60}


# ---------------------------------------------------------------------------------------------- failures
async def test_blocked_chats_make_the_contact_unreachable(db: AsyncEngine) -> None:
    chats = [BASE + i for i in range(20)]
    blocked = set(chats[::4])
    persons = await seed(db, chats)
    await queue(db, "one", persons, batch="b1")
    await queue(db, "two", persons, batch="b2")
    async with TelegramStandin(TOKEN) as tg, telegram(tg) as channel:
        tg.blocked.update(blocked)
        async with running(Sender(db, {"telegram": channel}, rate=100, per_chat=50)) as sender:
            await sender.drain(10)
            assert await sender.progress("b1") == {"sent": 15, "failed": 5}
            assert await sender.progress("b2") == {"sent": 15, "skipped": 5}
        assert by_chat(tg) == Counter({chat: 2 for chat in chats if chat not in blocked})
        tried = Counter(int(p["chat_id"]) for p in tg.calls_of("sendMessage"))
        assert all(tried[chat] == 1 for chat in blocked)  # never retried, the second message never tried
    async with db.connect() as conn:
        unreachable = set((await conn.execute(select(Contact.chat_id).where(Contact.unreachable))).scalars())
    assert unreachable == {str(chat) for chat in blocked}
    assert {r.error for r in await rows(db, "one") if r.status == "failed"} == {"blocked"}


async def test_5xx_is_retried_then_sent(db: AsyncEngine) -> None:
    chats = [BASE + i for i in range(6)]
    await queue(db, "flaky", await seed(db, chats))
    async with TelegramStandin(TOKEN) as tg, telegram(tg) as channel:
        tg.fail_5xx = 4
        async with running(Sender(db, {"telegram": channel}, rate=100, per_chat=50, backoff=0.02)) as sender:
            await sender.drain(10)
        assert tg.fail_5xx == 0
    assert by_chat(tg) == Counter({chat: 1 for chat in chats})
    result = await rows(db, "flaky")
    assert {r.status for r in result} == {"sent"}
    assert sum(r.attempts for r in result) == 6 + 4


async def test_gives_up_after_max_attempts_and_on_invalid(db: AsyncEngine) -> None:
    def script(chat: str, attempt: int) -> SendFailure | None:
        if chat.endswith("0"):
            return SendFailure("retry", "Bad Gateway")
        if chat.endswith("1"):
            return SendFailure("invalid", "Bad Request: chat not found")
        return SendFailure("retry", "Timed out") if attempt < 3 else None

    channel = FakeChannel(script)
    await queue(db, "hard", await seed(db, [BASE + 10, BASE + 11, BASE + 12], channel="fake"))
    async with running(Sender(db, {"fake": channel}, rate=100, per_chat=100, max_attempts=4,
                              backoff=0.01)) as sender:
        await sender.drain(10)
    result = {r.chat_id: r for r in await rows(db, "hard")}
    assert (result[str(BASE + 10)].status, result[str(BASE + 10)].attempts) == ("failed", 4)
    assert result[str(BASE + 10)].error == "Bad Gateway"
    assert (result[str(BASE + 11)].status, result[str(BASE + 11)].attempts) == ("failed", 1)
    assert result[str(BASE + 11)].error == "Bad Request: chat not found"
    assert (result[str(BASE + 12)].status, result[str(BASE + 12)].attempts) == ("sent", 3)
    assert channel.tries == {str(BASE + 10): 4, str(BASE + 11): 1, str(BASE + 12): 3}


async def test_an_unexpected_channel_error_is_retried(db: AsyncEngine) -> None:
    class Broken(FakeChannel):
        async def send(self, chat_id: str, reply: Reply) -> None:
            self.tries[chat_id] += 1
            if self.tries[chat_id] == 1:
                raise RuntimeError("oops")
            self.sent.append((chat_id, reply))

    channel = Broken()
    await queue(db, "odd", await seed(db, [BASE], channel="fake"))
    async with running(Sender(db, {"fake": channel}, rate=10, per_chat=10, backoff=0.01)) as sender:
        await sender.drain(10)
    assert [(r.status, r.attempts) for r in await rows(db, "odd")] == [("sent", 2)]


# ---------------------------------------------------------------------------------------------- opt-out, keys
async def test_opt_out_is_honoured_for_queued_messages_but_answers_still_go(db: AsyncEngine) -> None:
    stays, leaves = BASE + 1, BASE + 2
    persons = await seed(db, [stays, leaves], channel="fake")
    await queue(db, "notice", persons, batch="notices")
    await queue(db, "answer", persons[1:], kind="answer", text="your proposal was answered")
    async with db.begin() as conn:  # opts out after the messages were queued
        await conn.execute(update(Contact).where(Contact.chat_id == str(leaves)).values(opted_out=True))
    channel = FakeChannel()
    async with running(Sender(db, {"fake": channel}, rate=50, per_chat=50)) as sender:
        await sender.drain(10)
        assert await sender.progress("notices") == {"sent": 1, "skipped": 1}
    assert sorted((chat, reply.text) for chat, reply in channel.sent) == [
        (str(stays), "message notice"), (str(leaves), "your proposal was answered")]
    assert [r.error for r in await rows(db, "notice") if r.status == "skipped"] == ["opted_out"]


async def test_the_same_key_queues_once(db: AsyncEngine) -> None:
    persons = await seed(db, [BASE, BASE + 1], channel="fake")
    for _ in range(2):
        await queue(db, "remind-2024-c1", persons, kind="reminder")
    assert len(await rows(db, "remind-2024-c1")) == 2
    channel = FakeChannel()
    async with running(Sender(db, {"fake": channel}, rate=50, per_chat=50)) as sender:
        sender.wake()
        await sender.drain(10)
    assert Counter(chat for chat, _ in channel.sent) == {str(BASE): 1, str(BASE + 1): 1}


# ---------------------------------------------------------------------------------------------- restart
async def test_a_new_sender_resumes_where_the_last_one_stopped(db: AsyncEngine) -> None:
    chats = [BASE + i for i in range(30)]
    await queue(db, "resume", await seed(db, chats, channel="fake"))
    first = FakeChannel(delay=0.02)
    sender = Sender(db, {"fake": first}, rate=40, per_chat=40)
    sender.start()
    async with asyncio.timeout(10):
        while len(first.sent) < 10:
            await asyncio.sleep(0.01)
    await sender.stop()  # lets the sends in flight finish and records them
    assert 10 <= len(first.sent) < 30
    second = FakeChannel()
    async with running(Sender(db, {"fake": second}, rate=100, per_chat=100)) as sender:
        await sender.drain(10)
    together = Counter(chat for chat, _ in [*first.sent, *second.sent])
    assert together == {str(chat): 1 for chat in chats}
    assert {r.status for r in await rows(db, "resume")} == {"sent"}


async def test_messages_for_channels_not_running_wait(db: AsyncEngine) -> None:
    await queue(db, "zalo", await seed(db, [BASE], channel="zalo"))
    await queue(db, "fake", await seed(db, [BASE + 1], channel="fake"))
    channel = FakeChannel()
    async with running(Sender(db, {"fake": channel}, rate=50, per_chat=50)) as sender:
        await sender.drain(5)
    assert [r.status for r in await rows(db, "zalo")] == ["queued"]
    assert [r.status for r in await rows(db, "fake")] == ["sent"]
