"""The outbox sender: delivers queued messages at the platforms' pace and records each outcome at once.

The `outbox` table is the only state. One task reads due rows (`queued`, `next_at <= now`) in id order, at
most one per contact at a time, into a window of a few hundred; the loop sends each when its channel's pace
(`rate`/s) and its chat's (`per_chat`/s, counted from the previous answer) allow, several in flight. Each
outcome is committed as soon as the platform answers: `sent`; a retry with a later `next_at` (429: its
retry_after, which also pauses the channel; 5xx, timeouts: exponential backoff with jitter); `failed` (403,
which also marks the contact unreachable; 400; `max_attempts` used up); `skipped` (opted out, unless the kind
is `answer`; unreachable). Nothing marks a row as taken: a row leaves `queued` only with its outcome, so a
restart resumes from the table. Opt-out is read when a row enters the window, at most STALE seconds before.

Delivery is at least once. A process that dies after the platform accepted a message and before the `sent`
commit (the answer's way back plus one short transaction: a few ms) sends it again after a restart; Telegram
has no idempotency key, so that window is kept short, not closed. `stop()` (SIGTERM) lets sends in flight
finish and be recorded, so only a crash opens it; a crash repeats at most `concurrency` messages, and no send
starts while `unrecorded` answered ones wait for the database, so a slow disk pauses sending instead of
widening the window. A text split into several Telegram messages is repeated whole on a retry. On PostgreSQL
several workers' senders share the table: a chat's message waits while another worker holds an earlier one.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import and_, or_, select, update
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlalchemy.sql import Executable

from bot.channels.base import Channel
from bot.channels.errors import SendFailure
from conversations import Catalogue, Choice, Reply
from storage import claims, leases, outbox
from storage.committer import Committer
from storage.models import Contact, Outbox

log = logging.getLogger(__name__)
ALWAYS = frozenset({"answer", "alert"})  # kinds delivered even to people who opted out
SLACK = 0.02  # seconds a late loop may catch up on its channel's pace (a burst of a few messages)
STALE = 5.0  # seconds a row may wait in the window before it is read again (opt-out, reachability)


def utcnow() -> datetime:
    """The current time in UTC."""
    return datetime.now(UTC)


@dataclass(frozen=True, slots=True)
class Item:
    """One queued message in the window, with where it goes."""

    id: int
    contact: int | None
    channel: str
    chat_id: str
    kind: str
    payload: dict[str, Any]
    attempts: int
    read_at: float
    lang: str = ""

    @property
    def chat(self) -> tuple[str, str]:
        """Where it goes: one message at a time per chat, in order."""
        return self.channel, self.chat_id

    def reply(self, texts: Catalogue | None = None) -> Reply:
        """The message as a neutral Reply, in the recipient's language where the payload allows."""
        key = str(self.payload.get("key") or "")
        choices = tuple(Choice(str(i), _local(label, self.lang)) for i, label in self.payload.get("choices") or ())
        text = str(self.payload.get("text", ""))
        values = self.payload.get("values")
        if texts is not None and self.lang and isinstance(values, dict) and key and texts.has(self.lang, key):
            try:
                text = texts.get(self.lang, key, **{k: _local(v, self.lang) for k, v in values.items()})
            except (KeyError, IndexError, ValueError):
                log.warning("outbox: could not render %s in %s; sending the stored text", key, self.lang)
        return outbox.reply_of(self.payload, choices, text)


def _local(value: Any, lang: str) -> str:
    """A value, or its label in a language when it is a {"vi": …, "en": …} mapping."""
    if isinstance(value, dict):
        return str(value.get(lang) or value.get("vi") or next(iter(value.values()), ""))
    return str(value)


class Pace:
    """The next time a channel may send: `rate` per second, paused by a 429."""

    def __init__(self, rate: float) -> None:
        self.interval = 1.0 / rate
        self.slack = min(SLACK, 4 * self.interval)
        self.next_at = 0.0

    def take(self, now: float) -> None:
        """Use the current slot."""
        self.next_at = max(self.next_at, now - self.slack) + self.interval

    def pause(self, until: float) -> None:
        """Send nothing before `until`."""
        self.next_at = max(self.next_at, until)


class Sender:
    """Sends the outbox through the channels, paced, and records every outcome in the table."""

    def __init__(self, db: AsyncEngine, channels: Mapping[str, Channel], *, rate: float, per_chat: float,
                 texts: Catalogue | None = None,
                 max_attempts: int = 8, clock: Callable[[], datetime] = utcnow, concurrency: int = 16,
                 unrecorded: int = 4, window: int = 0, backoff: float = 2.0, max_backoff: float = 600.0,
                 poll: float = 1.0, burst: int = 1, lease: float = 30.0, worker: str = "",
                 on_sent: Callable[[Item, str | None], None] | None = None) -> None:
        if rate <= 0 or per_chat <= 0 or max_attempts < 1:
            raise ValueError("rate and per_chat must be positive and max_attempts at least 1")
        self.db, self.channels, self.clock, self.texts = db, dict(channels), clock, texts
        self.per_chat, self.max_attempts, self.concurrency = 1.0 / per_chat, max_attempts, concurrency
        self.burst = (max(burst, 1) - 1) / per_chat  # a chat may get a few messages at once, then `per_chat`/s
        self.lease, self.worker, self.on_sent = lease, worker or leases.worker_name(), on_sent
        self.unrecorded = unrecorded  # answered sends whose outcome is not yet committed: no new send beyond
        self.window = window or max(32, min(512, int(rate * 2)))
        self.backoff, self.max_backoff, self.poll = backoff, max_backoff, poll
        self.paces = {name: Pace(rate) for name in self.channels}
        self.committer = Committer(db)
        self._ready: dict[int, Item] = {}  # fetched, not yet sent; at most one per chat
        self._busy: set[tuple[str, str]] = set()  # chats with a message in the window or in flight
        self._flight: set[asyncio.Task[None]] = set()
        self._answered = 0  # sends answered by the platform and not yet recorded
        self._chat_free: dict[tuple[str, str], float] = {}  # (channel, chat) -> earliest next send
        self._fill_after = 0.0
        self._event = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._stopping = False

    def start(self) -> None:
        """Start the background loop."""
        if self._task is None or self._task.done():
            self._stopping = False
            self._task = asyncio.create_task(self._run(), name="outbox-sender")

    def wake(self) -> None:
        """Look for due messages now (call after enqueueing)."""
        self._fill_after = 0.0
        self._event.set()

    async def stop(self, grace: float = 10.0) -> None:
        """Stop sending; the loop and the sends in flight get `grace` seconds to finish and be recorded."""
        self._stopping = True  # the loop ends by itself: cancelling it mid-query could leave a connection busy
        self._event.set()
        for tasks in ([self._task] if self._task else [], list(self._flight)):
            if tasks:
                _, late = await asyncio.wait(tasks, timeout=grace)
                for task in late:
                    task.cancel()
                await asyncio.gather(*tasks, return_exceptions=True)
        self._task = None
        self._ready.clear()
        self._busy.clear()
        await self.committer.close()
        try:
            await self.release_claims(mine=True)  # what this worker read but did not send is free for the next one
        except Exception:
            log.warning("outbox: could not release this worker's claims; they run out by themselves",
                        exc_info=True)

    async def drain(self, timeout: float = 30.0) -> None:
        """Wait until nothing is queued or in flight for the configured channels (starting the loop if needed)."""
        self.start()
        async with asyncio.timeout(timeout):
            while True:
                if self._task is not None and self._task.done():
                    self._task.result()
                    raise RuntimeError("the sender loop has stopped")
                if not self._ready and not self._flight and await self.queued() == 0:
                    return
                self.wake()
                await asyncio.sleep(0.05)

    async def queued(self) -> int:
        """How many messages for the configured channels wait in the table."""
        return await claims.queued(self.db, self.channels)

    async def progress(self, batch: str) -> dict[str, int]:
        """How many messages of a batch are in each status."""
        return await outbox.progress(self.db, batch)

    # ------------------------------------------------------------------ the loop
    async def _run(self) -> None:
        """Start sends as the pace allows while another task reads the table, until cancelled."""
        loop = asyncio.get_running_loop()
        reading: asyncio.Task[None] | None = None
        try:
            while not self._stopping:
                self._event.clear()
                idle = reading is None or reading.done()
                if idle and len(self._ready) <= self.window // 2 and loop.time() >= self._fill_after:
                    reading, idle = asyncio.create_task(self._read(), name="outbox-read"), False
                wait = self._dispatch(loop.time())
                if idle and len(self._ready) <= self.window // 2:  # room in the window: read when it is time
                    wait = min(wait, self._fill_after - loop.time())
                if wait > 0:  # (not wait_for: on 3.11 it can swallow a cancellation that meets a wake-up)
                    with contextlib.suppress(TimeoutError):
                        async with asyncio.timeout(wait):
                            await self._event.wait()
        finally:
            if reading is not None:
                await asyncio.wait([reading], timeout=5.0)
                reading.cancel()
                await asyncio.gather(reading, return_exceptions=True)

    async def _read(self) -> None:
        """Fill the window; after a database error, try again at the next poll."""
        loop = asyncio.get_running_loop()
        try:
            await self._fill(loop.time())
        except Exception:
            log.exception("outbox sender: reading the queue failed; trying again in %.0f s", self.poll)
            self._fill_after = loop.time() + self.poll
        finally:
            self._event.set()

    async def _fill(self, now: float) -> None:
        """Claim due rows into the window, skipping those for people who opted out or cannot be reached."""
        self._chat_free = {k: t for k, t in self._chat_free.items() if t > now}
        while True:  # one query, unless most of what it found was skipped
            limit = self.window - len(self._ready)
            rows = await self._claim(limit)
            skips: dict[str, list[int]] = {"unreachable": [], "opted_out": []}
            late: list[int] = []
            for row in rows:
                chat = (row.channel, row.chat_id)
                if row.unreachable or (row.opted_out and row.kind not in ALWAYS):
                    skips["unreachable" if row.unreachable else "opted_out"].append(row.id)
                elif chat in self._busy:
                    late.append(row.id)  # an earlier message to this chat goes first
                else:
                    self._busy.add(chat)
                    self._ready[row.id] = Item(row.id, row.contact_id, row.channel, row.chat_id, row.kind,
                                               row.payload, row.attempts, now, row.lang or "")
            writes = [update(Outbox).where(Outbox.id.in_(ids), Outbox.status == "queued")
                      .values(status="skipped", error=reason) for reason, ids in skips.items() if ids]
            if late:
                writes.append(update(Outbox).where(Outbox.id.in_(late)).values(claimed_until=None))
            await self._write(writes)
            if len(rows) < limit or late:  # nothing more due, or a chat's queue: look again soon if busy, else later
                active = bool(self._flight or self._ready)
                self._fill_after = asyncio.get_running_loop().time() + (min(0.05, self.poll) if active else self.poll)
                return
            if len(self._ready) > self.window // 2:
                self._fill_after = 0.0
                return

    async def _claim(self, limit: int) -> list[Any]:
        """Take due rows for this worker, answers first, each in id order, with a lease that runs out if it dies."""
        busy = [chat for _, chat in self._busy]
        return await claims.claim(self.db, self.worker, self.channels, busy, self.clock(), limit, self.lease)

    async def release_claims(self, mine: bool = False) -> None:
        """Free this worker's claims, or every claim (the one worker of a SQLite database, at start)."""
        await claims.release(self.db, self.worker if mine else None)

    def _dispatch(self, now: float) -> float:
        """Start every send the pace allows now; return the seconds until another one may start."""
        wait = self.poll
        held: set[str] = set()
        for item in list(self._ready.values()):
            if (len(self._flight) >= self.concurrency or self._answered >= self.unrecorded
                    or len(held) == len(self.paces)):
                break
            if now - item.read_at > STALE:  # held back (a long 429 pause): read it again before sending
                del self._ready[item.id]
                self._busy.discard(item.chat)
                continue
            pace = self.paces[item.channel]
            ready = max(pace.next_at, self._chat_free.get(item.chat, 0.0) - self.burst)
            if pace.next_at > now:
                held.add(item.channel)
            if ready > now:
                wait = min(wait, ready - now)
                continue
            pace.take(now)
            del self._ready[item.id]
            task = asyncio.create_task(self._deliver(item), name=f"outbox-{item.id}")
            self._flight.add(task)
            wait = min(wait, max(pace.next_at - now, 0.0))
        return wait

    # ------------------------------------------------------------------ one send
    async def _deliver(self, item: Item) -> None:
        """Send one message and record its outcome; the contact stays busy until the record is durable."""
        loop = asyncio.get_running_loop()
        answered = False
        try:
            try:
                message_id = await self.channels[item.channel].send(item.chat_id, item.reply(self.texts))
                failure = None
            except SendFailure as exc:
                failure = exc
            except Exception as exc:  # a fault in the channel: keep the message, try again later
                log.warning("outbox %d: unexpected send error", item.id, exc_info=True)
                failure, message_id = SendFailure("retry", f"{type(exc).__name__}: {exc}"), None
            answered, self._answered = True, self._answered + 1
            free = self._chat_free.get(item.chat, 0.0)
            self._chat_free[item.chat] = max(free, loop.time() - self.burst) + self.per_chat
            if failure is None and self.on_sent is not None:
                self.on_sent(item, message_id)
            if failure is not None and failure.retry_after is not None:
                self.paces[item.channel].pause(loop.time() + failure.retry_after)
                log.info("outbox: %s asks to wait %.1f s", item.channel, failure.retry_after)
            await self._write(self._outcome(item, failure))
        finally:
            self._answered -= answered
            self._busy.discard(item.chat)
            self._flight.discard(asyncio.current_task())  # type: ignore[arg-type]
            self._event.set()

    def _outcome(self, item: Item, failure: SendFailure | None) -> list[Executable]:
        """The statements that record how one send went."""
        now, attempts = self.clock(), item.attempts + 1
        row = update(Outbox).where(Outbox.id == item.id, Outbox.status == "queued")
        forget = {"chat_id": None, "payload": {}} if item.kind == "answer" else {}  # an answer is kept no longer
        if failure is None:
            return [row.values(status="sent", sent_at=now, attempts=attempts, error=None, **forget)]
        reason = failure.reason[:200]
        if failure.kind == "blocked":
            log.info("outbox %d: a chat blocked the bot", item.id)
            blocked = update(Contact).where(Contact.channel == item.channel, Contact.chat_id == item.chat_id)
            return [blocked.values(unreachable=True),
                    row.values(status="failed", attempts=attempts, error="blocked", **forget)]
        if failure.kind == "invalid" or attempts >= self.max_attempts:
            log.warning("outbox %d failed after %d attempt(s): %s", item.id, attempts, reason)
            return [row.values(status="failed", attempts=attempts, error=reason, **forget)]
        delay = failure.retry_after
        if delay is None:
            delay = min(self.max_backoff, self.backoff * 2 ** (attempts - 1)) * random.uniform(0.5, 1.0)
        later = now + timedelta(seconds=delay)
        same_chat = or_(and_(Outbox.channel == item.channel, Outbox.chat_id == item.chat_id),
                        Outbox.contact_id.in_(select(Contact.id).where(Contact.channel == item.channel,
                                                                       Contact.chat_id == item.chat_id)))
        return [row.values(attempts=attempts, next_at=later, error=reason, claimed_by=None, claimed_until=None),
                update(Outbox).where(Outbox.status == "queued", Outbox.id > item.id, Outbox.next_at < later, same_chat)
                .values(next_at=later)]  # what follows in the same chat waits, so the chat keeps its order

    async def _write(self, unit: list[Executable]) -> None:
        """Commit statements, trying again until the database takes them."""
        pause = 0.1
        while unit:
            try:
                await self.committer.write(unit)
                return
            except Exception:
                log.warning("outbox: recording failed; retrying in %.1f s", pause, exc_info=True)
                await asyncio.sleep(pause)
                pause = min(pause * 2, 5.0)
