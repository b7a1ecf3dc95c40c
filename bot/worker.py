"""One running xtt process: channels in, the inbox, the service, the outbox sender, and an orderly stop."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from bot.channels.base import Channel
from bot.inbox import Inbox
from bot.sender import Item, Sender
from bot.service import Service, shower
from bot.web import WebServer
from conversations.model import LANGS
from storage import alerts, leases, outbox, overdue, reminders, retention

log = logging.getLogger("xtt")
LEASE = "sqlite-worker"
LEASE_SECONDS = 30.0
PRUNE_EVERY = 3600.0
ESCALATE_EVERY = 300.0


class AnotherWorker(RuntimeError):
    """A second process on a SQLite database; the message says who holds it and what to do."""


class Worker:
    """Starts the parts in order and stops them in the reverse order, within a bounded time."""

    def __init__(self, service: Service, inbox: Inbox, sender: Sender, channels: list[Channel],
                 web: WebServer | None, *, stop_seconds: float, retention_days: int, alert_hours: float = 12.0,
                 answer_days: int = 15, escalate_days: int = 15) -> None:
        self.service, self.inbox, self.sender, self.channels, self.web = service, inbox, sender, channels, web
        self.stop_seconds, self.retention_days, self.alert_hours = stop_seconds, retention_days, alert_hours
        self.answer_days, self.escalate_days = answer_days, escalate_days
        self.owner = leases.owner_name()
        self.sqlite = service.db.dialect.name == "sqlite"
        self._chores: list[asyncio.Task[None]] = []

    async def start(self) -> list[Channel]:
        """Take the SQLite lease, start the web server and the channels, then process and send."""
        if self.sqlite:
            holder = await leases.take(self.service.db, LEASE, self.owner, _now(), LEASE_SECONDS)
            if holder:
                raise AnotherWorker(f"another xtt process ({holder}) is running on this SQLite database; stop it "
                                    "first, or use PostgreSQL (DATABASE_URL) to run several workers")
            await self.sender.release_claims()  # claims left by a process that died
            self._chores.append(asyncio.create_task(self._renew(), name="lease"))
        else:
            freed = await leases.free_dead_claims(self.service.db)  # a restart takes over at once, not after leases
            if freed:
                log.info("took over %d claim(s) of a process that died", freed)
        self._chores.append(asyncio.create_task(self._prune(), name="retention"))
        self._chores.append(asyncio.create_task(self._milestones(), name="milestones"))
        self._chores.append(asyncio.create_task(self._escalate(), name="escalation"))
        self._chores.append(asyncio.create_task(self._overdue(), name="overdue"))
        if not await alerts.anyone_to_tell(self.service.db, sorted(self.service.admins)):
            log.error("NO ONE CAN RECEIVE SAFETY ALERTS: there is no official and no child-protection officer. "
                      "Set XTT_ADMINS, or invite one: xtt invite official / xtt invite officer --commune CODE")
        if self.web:
            await self.web.start()
        started = []
        for channel in self.channels:
            try:
                await channel.start()
                started.append(channel)
            except Exception:
                log.exception("channel %s failed to start", channel.name)
        self.sender.channels = {c.name: c for c in started}
        self.sender.paces = {name: pace for name, pace in self.sender.paces.items() if name in self.sender.channels}
        self.sender.start()
        self.inbox.start()
        if self.web:
            self.web.channels = [c.name for c in started]
            self.web.ready = True
        return started

    async def run_until_signalled(self) -> None:
        """Wait for SIGTERM or SIGINT, then stop."""
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        await stop.wait()
        await self.stop()

    async def stop(self) -> None:
        """Stop taking updates, finish those in hand, flush the writes, let the sender finish, within the bound."""
        log.info("stopping (at most %.0f s)", self.stop_seconds)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.stop_seconds

        def left(share: float = 1.0) -> float:
            return max(0.1, (deadline - loop.time()) * share)

        for channel in self.channels:  # polling stops (Zalo's open request is let finish); webhooks answer 503
            with contextlib.suppress(Exception):
                await asyncio.wait_for(channel.stop(), timeout=left(0.6))
        await self.inbox.stop(grace=left(0.5))
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self.service.close(), timeout=left(0.5))
        await self.sender.stop(grace=left(0.8))
        for task in self._chores:
            task.cancel()
        await asyncio.gather(*self._chores, return_exceptions=True)
        if self.sqlite:
            with contextlib.suppress(Exception):
                await leases.give_back(self.service.db, LEASE, self.owner)
        if self.web:
            await self.web.stop()
        log.info("stopped")

    async def _renew(self) -> None:
        """Keep the SQLite lease while running."""
        while True:
            await asyncio.sleep(LEASE_SECONDS / 3)
            with contextlib.suppress(Exception):
                await leases.take(self.service.db, LEASE, self.owner, _now(), LEASE_SECONDS)

    async def _prune(self) -> None:
        """Now and then, delete what is past its keeping time, in small batches."""
        while True:
            await asyncio.sleep(60.0)
            try:
                gone = await retention.prune(self.service.db, _now() - timedelta(days=self.retention_days))
                if gone:
                    log.info("retention: deleted %d old rows", gone)
            except Exception:
                log.warning("retention: pruning failed", exc_info=True)
            await asyncio.sleep(PRUNE_EVERY)


    async def _milestones(self) -> None:
        """Every hour, remind leaders and officials of the round's milestones that come near."""
        while True:
            try:
                added = await reminders.queue_reminders(self.service.db, _now(), self.service.texts,
                                                        self.service.lang, officials=sorted(self.service.admins))
                if added:
                    self.sender.wake()
            except Exception:
                log.warning("milestones: queueing reminders failed", exc_info=True)
            await asyncio.sleep(PRUNE_EVERY)


    async def _escalate(self) -> None:
        """Every few minutes, send alerts nobody acknowledged in time to every official, again and again."""
        while True:
            try:
                if await escalate(self.service, _now(), self.alert_hours):
                    self.sender.wake()
            except Exception:
                log.warning("alerts: escalating failed", exc_info=True)
            await asyncio.sleep(ESCALATE_EVERY)


    async def _overdue(self) -> None:
        """Every hour, remind leaders of proposals past the answer deadline, then tell the officials."""
        while True:
            try:
                if await overdue_proposals(self.service, _now(), self.answer_days, self.escalate_days):
                    self.sender.wake()
            except Exception:
                log.warning("proposals: queueing overdue reminders failed", exc_info=True)
            await asyncio.sleep(PRUNE_EVERY)


async def overdue_proposals(service: Service, now: datetime, answer_days: int, escalate_days: int) -> int:
    """Queue each overdue proposal's reminder to its leaders, then its escalation to the officials, once each."""
    texts, names = service.texts, await service.communes.names()
    forum = service.engine.proposals.forum

    def notice(item: overdue.Overdue, step: int) -> dict[str, Any]:
        topic = forum.topic(item.topic)
        values = {"ref": item.ref, "commune": names.get(item.commune, item.commune), "days": item.days,
                  "limit": answer_days, "topic": {g: topic.label.get(g) if topic else item.topic for g in LANGS}}
        key = "overdue.leader" if step == overdue.LEADERS else "overdue.official"
        local = {k: v[service.lang] if isinstance(v, dict) else v for k, v in values.items()}
        return outbox.payload(texts.get(service.lang, key, **local), key=key, values=values)

    return await overdue.remind(service.db, now, answer_days, escalate_days, sorted(service.admins), notice)


async def escalate(service: Service, now: datetime, hours: float) -> int:
    """Queue every overdue alert to the officials; how many."""
    texts, lang, names = service.texts, service.lang, await service.communes.names()

    def notice(alert: alerts.AlertInfo) -> dict[str, Any]:
        shown = ", ".join(texts.get(lang, f"alert.category.{c}") if texts.has(lang, f"alert.category.{c}") else c
                          for c in alert.categories)
        where = names.get(alert.commune or "", alert.commune or texts.get(lang, "alerts.no_commune"))
        hours_waited = f"{(now - alert.created_at).total_seconds() / 3600:.0f}"
        return outbox.payload(texts.get(lang, "alerts.escalated", id=alert.id, categories=shown, commune=where,
                                        hours=hours_waited, text=alert.text[:500]),
                              [(f"a:k:{alert.id}", texts.get(lang, "alerts.choice.ack"))], "alerts.escalated")

    return await alerts.escalate(service.db, now, hours, sorted(service.admins), notice)


def tracking(service: Service, channels: dict[str, Channel]) -> Callable[[Item, str | None], None]:
    """When an answer that follows a broadcast is sent, show the broadcast's progress by editing it."""
    def on_sent(item: Item, message_id: str | None) -> None:
        track = str(item.payload.get("track") or "")
        channel = channels.get(item.channel)
        if track and channel is not None:
            chat = item.chat_id
            edit = (lambda m, t: channel.edit(chat, m, t)) if channel.edits else None
            service.tracker.watch(track, shower(lambda r: channel.send(chat, r), edit, message_id),
                                  item.lang or service.lang)

    return on_sent


def _now() -> datetime:
    """The current time in UTC."""
    return datetime.now(UTC)
