"""The inbox: each update is stored before its platform is told it arrived, then processed from the table.

Channels call `accept` with what they received; it returns once the updates are durable, so a channel
confirms them (the next getUpdates offset, a webhook's 200) only then. One task claims stored updates in
order and hands each to the service, whose transaction finishes the row together with everything the update
caused (answers included). After a crash, every stored but unfinished update is processed again, in order per
person; the update key makes the second time a no-op for what was already committed.

Where this process is the only worker (SQLite, whose lease keeps a second one out), an update whose person has
nothing older waiting is handed straight to the service, which stores its row in the transaction of what it
caused: one commit per update, as without the inbox. `accept` waits a moment for that commit; an update not yet
stored by then (slow, failed, or seen before) is stored by `accept` itself, so nothing is acknowledged unstored.

A person who sends much faster than anyone types is slowed (`bot.flood`): beyond a burst, their updates are
dropped (and recorded as such) and they are told once, politely.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import time
import uuid
from collections import OrderedDict, deque
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine

from bot.flood import Flood
from bot.identity import Identity
from conversations import Catalogue, Incoming, Reply
from storage import inbox, leases, outbox
from storage.committer import Committer
from storage.writes import Item

log = logging.getLogger(__name__)
Process = Callable[[Incoming, Sequence[Item]], Awaitable[str]]  # the update, and rows to store with its unit
FIELDS = ("channel", "chat_id", "user_id", "text", "choice_id", "update_key", "other", "sent_at")
RETRY = (1.0, 5.0, 30.0)  # seconds before a failed update is tried again; then it is recorded as failed
HAND_WAIT = 1.0  # seconds `accept` waits for updates handed straight on to be stored with their processing


def utcnow() -> datetime:
    """The current time in UTC."""
    return datetime.now(UTC)


class Inbox:
    """Stores updates durably, then feeds them to the service in order per person."""

    def __init__(self, db: AsyncEngine, identity: Identity, process: Process, texts: Catalogue, *,
                 lang: str = "vi", flood: Flood | None = None, concurrency: int = 1024, batch: int = 200,
                 lease: float = 60.0, late_after: float = 24 * 3600.0, worker: str = "",
                 committer: Committer | None = None, clock: Callable[[], datetime] = utcnow) -> None:
        self.db, self.identity, self.process, self.texts, self.lang = db, identity, process, texts, lang
        self.flood = flood or Flood(5.0, 60)
        self.concurrency, self.batch, self.lease, self.late_after = concurrency, batch, lease, late_after
        self.worker = worker or leases.worker_name()
        self.clock = clock
        self.committer = committer or Committer(db)
        self._own_committer = committer is None
        self.solo = db.dialect.name == "sqlite"  # the only worker: it may hand fresh updates straight on
        self._caught_up = False  # every stored update is known here (set once a claim finds no more)
        self._recent: OrderedDict[str, None] = OrderedDict()  # keys stored lately, to spot redeliveries
        self._waiting: dict[str, set[str]] = {}  # person → keys stored and not yet handed to a task
        self.wake_sender: Callable[[], None] | None = None
        self._event = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._watcher: asyncio.Task[None] | None = None
        self._due: deque[tuple[float, asyncio.Future[str]]] = deque()  # updates handed on, by deadline
        self._flight: set[asyncio.Task[None]] = set()
        self._held: set[str] = set()  # keys of claimed rows not yet finished here
        self._stopping = False

    # ------------------------------------------------------------------ in
    async def accept(self, received: Sequence[Incoming], bad: Sequence[tuple[str, str]] = ()) -> None:
        """Store updates (and the keys of unreadable ones) durably; the platform may be told once this returns."""
        now = self.clock()
        unit: list[Item] = []
        handed: list[tuple[inbox.Row, Incoming]] = []
        queued: list[inbox.Row] = []
        for i in received:  # an update without a key gets one: the service finishes its row and dedupes by it
            key = i.update_key or f"{i.channel}:{uuid.uuid4().hex}"
            if key != i.update_key:
                i = dataclasses.replace(i, update_key=key)
            person = self.identity.pseudonym(i.channel, i.user_id)
            if self._again(key):  # stored already: the insert is a no-op, unless the first one's commit failed
                unit.append(inbox.stored(key, person, _data(i), now))
                continue
            if not self._straight(person, i, now):
                row = inbox.Row(0, key, person, _data(i), 1, now)
                unit.append(inbox.stored(key, person, row.data, now))
                self._waiting.setdefault(person, set()).add(key)
                queued.append(row)
                continue
            allowed, tell = self.flood.allow(person, time.monotonic())
            if allowed:  # its data is built only if it has to be stored here
                handed.append((inbox.Row(0, key, person, {}, 1, now), i))
            else:  # a flood: kept as dropped, the person told once
                unit.append(inbox.stored(key, person, {}, now, status="dropped"))
                if tell:
                    unit.append(self._notice(key, i.channel, i.chat_id, "flood", now))
        unit += [inbox.stored(key, "-", {"error": reason[:200]}, now, status="bad") for key, reason in bad]
        retry = await self._hand(handed, now, now + timedelta(seconds=self.lease), unit)
        if unit:
            try:
                await self.committer.write(unit)
            except BaseException:
                for row in queued:
                    self._forget_waiting(row)
                raise
        if queued or retry:  # rows for the loop to claim (the rest are done, or at work here)
            self._event.set()

    async def _hand(self, rows: list[tuple[inbox.Row, Incoming]], now: datetime, until: datetime,
                    unit: list[Item]) -> bool:
        """Hand updates straight to the service, in order; add to `unit` the rows it did not store in time.

        Returns whether one of them failed (stored for the loop to try again)."""
        if not rows:
            return False
        loop = asyncio.get_running_loop()
        deadline = loop.time() + HAND_WAIT
        outcomes: list[asyncio.Future[str]] = []
        for row, incoming in rows:  # started now, in order, so each person's updates reach the service in order
            outcomes.append(loop.create_future())
            self._due.append((deadline, outcomes[-1]))  # the watch says "running" if it is not told by then
            self._start(row, outcomes[-1], incoming)
        retry = False
        for (row, incoming), outcome in zip(rows, outcomes, strict=True):
            done = await outcome
            while self._due and self._due[0][1].done():  # told: not the watch's to answer (freed now, not later)
                self._due.popleft()
            if done == "seen":  # handled before: its row is finished
                unit.append(inbox.stored(row.key, row.person, {}, now, status="done"))
            elif done == "running":  # still at work: stored as held here, so no one else takes it meanwhile
                unit.append(inbox.stored(row.key, row.person, _data(incoming), now, claim=(self.worker, until)))
            elif done != "stored":  # failed: stored for the loop to try again
                unit.append(inbox.stored(row.key, row.person, _data(incoming), now))
                retry = True
        return retry

    async def _watch(self) -> None:
        """Answer "running" for updates handed on whose processing has not stored them by their deadline."""
        loop = asyncio.get_running_loop()
        while True:
            await asyncio.sleep(HAND_WAIT / 5)
            now = loop.time()
            while self._due and (self._due[0][0] <= now or self._due[0][1].done()):
                _, outcome = self._due.popleft()
                if not outcome.done():
                    outcome.set_result("running")

    def _again(self, key: str) -> bool:
        """Whether this process stored the key lately (a redelivery); remember it if not."""
        if key in self._recent:
            return True
        self._recent[key] = None
        if len(self._recent) > 100_000:
            self._recent.popitem(last=False)
        return False

    def _straight(self, person: str, incoming: Incoming, now: datetime) -> bool:
        """Whether an update may skip the claim: sole worker, running, room, nothing older of its person waiting."""
        if not (self.solo and self._caught_up and not self._stopping and self._task is not None):
            return False
        if self._waiting.get(person) or len(self._flight) >= self.concurrency:
            return False
        sent = incoming.sent_at
        return not (sent and now.timestamp() - float(sent) > self.late_after)  # the claim path says sorry for it

    # ------------------------------------------------------------------ the loop
    def start(self) -> None:
        """Start processing what is stored."""
        if self._task is None or self._task.done():
            self._stopping = False
            self._task = asyncio.create_task(self._run(), name="inbox")
            self._watcher = asyncio.create_task(self._watch(), name="inbox-watch")

    async def stop(self, grace: float = 15.0) -> None:
        """Take nothing new; let the updates in hand finish (within `grace`), then stop."""
        self._stopping = True
        self._event.set()
        if self._task is not None:
            await asyncio.wait([self._task], timeout=grace)
        if self._flight:
            _, late = await asyncio.wait(set(self._flight), timeout=grace)
            for task in late:
                task.cancel()
            await asyncio.gather(*late, return_exceptions=True)
        if self._task is not None and not self._task.done():
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        self._task = None
        if self._watcher is not None:
            self._watcher.cancel()
            await asyncio.gather(self._watcher, return_exceptions=True)
            self._watcher = None
        if self._own_committer:
            await self.committer.close()

    async def started(self, timeout: float = 10.0) -> None:
        """Wait until the loop has taken everything stored (fresh updates may then go straight on)."""
        async with asyncio.timeout(timeout):
            while not self._caught_up:
                await asyncio.sleep(0.01)

    async def drain(self, timeout: float = 30.0) -> None:
        """Wait until nothing stored is left to process (tests, benchmarks)."""
        async with asyncio.timeout(timeout):
            while self._flight or await inbox.waiting(self.db):
                self._event.set()
                await asyncio.sleep(0.02)

    async def _run(self) -> None:
        """Claim stored updates in order and process them, as many at a time as allowed."""
        if self.db.dialect.name == "sqlite":  # one worker per SQLite file (its lease): a dead one's claims are free
            with contextlib.suppress(Exception):
                await inbox.unclaim(self.db)
        while not self._stopping:
            self._event.clear()
            room = self.concurrency - len(self._flight)
            rows = []
            if room > 0:
                try:
                    rows = await inbox.claim(self.db, self.worker, self.clock(), min(room, self.batch), self.lease)
                except Exception:
                    log.exception("inbox: claiming updates failed; trying again in a second")
                    await asyncio.sleep(1.0)
                    continue
            if room > 0 and len(rows) < min(room, self.batch):
                self._caught_up = True  # every free stored update is in hand now
            await self._dispatch([r for r in rows if r.key not in self._held])
            if not rows or room <= 0:
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(1.0):
                        await self._event.wait()

    async def _dispatch(self, rows: Sequence[inbox.Row]) -> None:
        """Start each update's task in order (the service keeps each person's order), slowing floods."""
        now, at = time.monotonic(), self.clock()
        unit: list[Item] = []
        started = []
        for row in rows:
            allowed, tell = self.flood.allow(row.person, now)
            if not allowed:
                unit.append(inbox.finished(row.key, at, "dropped"))
                if tell:
                    unit.append(self._notice(row.key, row.data.get("channel"), row.data.get("chat_id"), "flood", at))
                continue
            sent = row.data.get("sent_at") or _aware(row.received_at).timestamp()
            if row.attempts == 1 and at.timestamp() - float(sent) > self.late_after:
                unit.append(self._notice(row.key, row.data.get("channel"), row.data.get("chat_id"), "late",
                                         at))  # sent before its answer: sorry for the wait
            started.append(row)
        if unit:
            await self.committer.write(unit)  # before the tasks start, so a late apology comes first
            if self.wake_sender:
                self.wake_sender()
        for row in rows:
            self._forget_waiting(row)
        for row in started:
            self._start(row)

    def _start(self, row: inbox.Row, outcome: asyncio.Future[str] | None = None,
               incoming: Incoming | None = None) -> None:
        """Process an update in its own task; for one handed on unstored, `outcome` tells whether it was stored."""
        self._held.add(row.key)
        task = asyncio.create_task(self._one(row, outcome, incoming), name=f"inbox-{row.key}")
        self._flight.add(task)
        task.add_done_callback(self._flight.discard)

    def _forget_waiting(self, row: inbox.Row) -> None:
        """The update is in hand: its person's newer updates need not wait for it."""
        keys = self._waiting.get(row.person)
        if keys is not None:
            keys.discard(row.key)
            if not keys:
                del self._waiting[row.person]

    async def _one(self, row: inbox.Row, outcome: asyncio.Future[str] | None = None,
                   incoming: Incoming | None = None) -> None:
        """Process one update; a failure is tried again a few times, then recorded.

        An update handed on unstored has its row written in the service's transaction, and `outcome` says
        "stored", or "seen" (handled before) or "failed": then `accept` stores the row itself.
        """
        try:
            row_unit = [inbox.handled(row.key, row.person, self.clock())] if outcome else []
            status = await self.process(incoming or _incoming(row.data), row_unit)
            _tell(outcome, "stored" if status == "done" else status)
            if status == "seen":
                await self.committer.write([inbox.finished(row.key, self.clock())])
            elif status == "failed":
                await self._failed(row)
        except Exception:
            log.exception("inbox: update %s could not be processed", row.key)
            _tell(outcome, "failed")
            await self._failed(row)
        finally:
            _tell(outcome, "failed")
            self._held.discard(row.key)
            if outcome is None or self._waiting:  # room for the loop to take more
                self._event.set()

    async def _failed(self, row: inbox.Row) -> None:
        """Try a failed update again later, or record it as failed after the last try."""
        now = self.clock()
        if row.attempts > len(RETRY):
            log.error("inbox: update %s failed %d times; recorded as failed", row.key, row.attempts)
            await self.committer.write([inbox.finished(row.key, now, "failed")])
        else:
            self._waiting.setdefault(row.person, set()).add(row.key)  # its person's newer updates queue behind it
            await self.committer.write([inbox.release([row.key], now + timedelta(seconds=RETRY[row.attempts - 1]))])

    def _notice(self, key: str, channel: object, chat_id: object, what: str, now: datetime) -> Item:
        """A short answer about the update itself (too fast, or late), in the default language."""
        reply = Reply(self.texts.get(self.lang, f"inbox.{what}"), key=f"inbox.{what}")
        return outbox.answer(f"{what}:{key}", str(channel), str(chat_id), reply, now)


def _tell(outcome: asyncio.Future[str] | None, what: str) -> None:
    """Tell `accept` what became of an update handed on (the first word counts)."""
    if outcome is not None and not outcome.done():
        outcome.set_result(what)


def _data(incoming: Incoming) -> dict[str, Any]:
    """What is kept of an update: the neutral message, not the platform's whole body."""
    return {name: getattr(incoming, name) for name in FIELDS}


def _incoming(data: dict[str, Any]) -> Incoming:
    """The stored message again."""
    return Incoming(**{name: data.get(name) for name in FIELDS if name in data})


def _aware(moment: datetime) -> datetime:
    """A stored time in UTC."""
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)
