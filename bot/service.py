"""The one place where I/O meets logic: de-duplicate, load, run the engine, store, reply."""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine

from analytics import Rubric, load_rubric
from analytics.assess import Criteria, load_criteria
from bot import access
from bot.cache import StateCache
from bot.commands import parse
from bot.desk import Desk
from bot.identity import Identity, looks_like_invite
from bot.office import Office
from bot.outreach import Outreach
from bot.reports import Reports
from bot.tracker import Tracker
from bot.writer import Writer
from conversations import Catalogue, Context, Engine, Incoming, Input, Reply, Result
from conversations.matching import pick
from storage import forum, polls, repo
from storage.committer import Committer
from storage.writes import Write

log = logging.getLogger(__name__)
Send = Callable[[Reply], Awaitable[str | None]]  # returns the message id where the channel has one
Edit = Callable[[str, str], Awaitable[None]]  # (message id, new text)
ENGINE_COMMANDS = {"start", "survey", "help", "language", "forget", "propose"}
PENDING = ("desk", "compose")  # typed answers a leader's desk or poll composer waits for
COMMUNES_TTL = 60.0


def utcnow() -> datetime:
    """The current time in UTC."""
    return datetime.now(UTC)


class Locks:
    """One lock per conversation, dropped when nobody waits on it."""

    def __init__(self) -> None:
        self._locks: dict[str, tuple[asyncio.Lock, int]] = {}

    @asynccontextmanager
    async def hold(self, key: str) -> AsyncIterator[None]:
        """Run the block alone for this key."""
        lock, users = self._locks.get(key) or (asyncio.Lock(), 0)
        self._locks[key] = (lock, users + 1)
        try:
            async with lock:
                yield
        finally:
            lock, users = self._locks[key]
            if users == 1:
                del self._locks[key]
            else:
                self._locks[key] = (lock, users - 1)


class Service:
    """Handles each incoming message of every channel in order per person."""

    def __init__(self, engine: Engine, db: AsyncEngine, identity: Identity, texts: Catalogue, *,
                 admins: frozenset[str] = frozenset(), lang: str = "vi",
                 clock: Callable[[], datetime] = utcnow, links: dict[str, str] | None = None,
                 rubric: Rubric | None = None, criteria: Criteria | None = None, remind_days: int = 3) -> None:
        self.engine = engine
        self.db = db
        self.identity = identity
        self.texts = texts
        self.admins = admins
        self.lang = lang
        self.clock = clock
        self.committer = Committer(db)
        self.cache = StateCache(db)
        self.tracker = Tracker(db, texts)
        self.wake: Callable[[], None] | None = None
        self.locks = Locks()
        reports = Reports(db, texts, rubric or load_rubric(), criteria or load_criteria(),
                          engine.flows.questionnaires)
        self.office = Office(db, identity, texts, clock, links or {}, reports)
        self.office.communes = self.communes
        self.desk = Desk(db, texts, engine.proposals.forum, self._names, clock)
        self.outreach = Outreach(db, texts, self._names, clock, remind_days)
        self.writer = Writer(db, identity, texts, lang, admins)
        self.preset: tuple[tuple[str, str], ...] = ()
        self.buttonless: frozenset[str] = frozenset({"console", "zalo_bot", "zalo_oa"})
        self._communes: tuple[tuple[str, str], ...] = ()
        self._communes_at = 0.0

    async def close(self) -> None:
        """Finish pending writes and stop following broadcasts."""
        await self.tracker.stop()
        await self.committer.close()

    async def communes(self) -> tuple[tuple[str, str], ...]:
        """Current communes, cached for a minute."""
        if not self._communes or time.monotonic() - self._communes_at > COMMUNES_TTL:
            self._communes = tuple(await repo.communes(self.db))
            self._communes_at = time.monotonic()
        return self._communes

    async def _names(self) -> dict[str, str]:
        """Commune names by code."""
        return dict(await self.communes())

    async def handle(self, incoming: Incoming, send: Send, edit: Edit | None = None) -> None:
        """Process one update: at most once, in order for its person, replying through send."""
        person = self.identity.pseudonym(incoming.channel, incoming.user_id)
        async with self.locks.hold(person):
            try:
                replies = await self._process(person, incoming)
            except Exception:
                log.exception("failed to handle an update from %s", incoming.channel)
                replies = [Reply(self.texts.get(self.lang, "error"), key="error")]
            for reply in replies:
                message_id = await send(reply)
                if reply.track:
                    self.tracker.watch(reply.track, _shower(send, edit, message_id), self.lang)

    async def _process(self, person: str, incoming: Incoming) -> list[Reply]:
        """Decide, store and return the replies for one update."""
        state = await self.cache.load(person, incoming.update_key)
        if state.seen:
            log.info("ignored a redelivered update %s", incoming.update_key)
            return []
        now = self.clock()
        session = state.session
        lang = (session or {}).get("lang", self.lang)
        unit = [repo.mark_processed(incoming.update_key, now)] if incoming.update_key else []
        if person in self.admins:
            unit.append(repo.save_contact(person, incoming.channel, incoming.chat_id, now))
        bare = incoming.channel in self.buttonless
        command = parse(incoming.text, bare)
        if bare and incoming.text and not command:
            incoming = await self._typed_choice(incoming)
        choice = incoming.choice_id or ""
        command = command or ((choice[4:], "") if choice.startswith("cmd:") else None)
        waiting = {k: (session or {}).get(k) for k in PENDING}
        if any(waiting.values()) and (command or choice):
            session = {k: v for k, v in (session or {}).items() if k not in PENDING}
            unit.append(repo.save_session(person, session, now))
        replies, keep = await self._route(person, incoming, command, waiting, state.round_id, lang)
        routed = replies is not None
        if keep is not None:
            key, value = keep
            session = {k: v for k, v in (session or {}).items() if k not in PENDING}
            unit.append(repo.save_session(person, {**session, key: value} if value else session, now))
        if replies is None:
            if command and command[0] == "start":
                unit.append(repo.opt_in(person))
            result = await self._advance(person, state.round_id, session, incoming, command, now)
            result, alerts = await self.writer.forum(person, result, state.round_id, await self._names(), now)
            unit += alerts + self.writer.unit(person, incoming, session, result, now)
            replies = list(result.replies)
        shown = next((r.choices for r in reversed(replies) if r.choices), None)
        if bare and shown:
            unit.append(repo.remember_choices(incoming.channel, incoming.chat_id,
                                              [[c.id, c.label] for c in shown]))
        try:
            await self.committer.write(unit)
        except IntegrityError:
            self.cache.drop(person)
            if incoming.update_key and await repo.processed(self.db, incoming.update_key):
                log.info("ignored a redelivered update %s", incoming.update_key)
                return []
            raise
        except Exception:
            self.cache.drop(person)
            raise
        self.cache.settle(person, incoming.update_key, unit)
        if self.wake and (routed or any(not isinstance(item, Write) for item in unit)):
            self.wake()  # something may have been queued for the outbox: let the sender look now
        return replies

    async def _typed_choice(self, incoming: Incoming) -> Incoming:
        """On a channel without buttons, a number or label typed after a poll or desk message taps that choice."""
        shown = await repo.recall_choices(self.db, incoming.channel, incoming.chat_id)
        if not shown or shown[0][0].split(":", 1)[0].isdigit():
            return incoming  # nothing shown, or the engine's own question: the engine reads typed answers
        index = pick(incoming.text or "", [[label] for _, label in shown])
        return incoming if index is None else dataclasses.replace(incoming, text=None, choice_id=shown[index][0])

    async def _route(self, person: str, incoming: Incoming, command: tuple[str, str] | None,
                     waiting: dict[str, Any], round_id: str | None, lang: str
                     ) -> tuple[list[Reply] | None, tuple[str, Any] | None]:
        """Role commands, buttons and typed answers outside the engine; None hands the update to the engine."""
        choice, text = incoming.choice_id or "", incoming.text
        code = _invite_code(command, text)
        if code:
            return await self.office.redeem(person, incoming, code, lang), None
        if choice.startswith("f:"):
            replies, pending = await self.desk.tap(await self.person(person), choice, lang)
            return replies, ("desk", pending)
        if choice.startswith("p:"):
            replies, pending = await self.outreach.tap(await self.person(person), choice, waiting["compose"], lang)
            return replies, ("compose", pending)
        if choice.startswith("v:"):
            return await self.outreach.vote(person, choice, lang), None
        if not command and text is not None and waiting["desk"]:
            return await self.desk.typed(await self.person(person), waiting["desk"], text, lang), ("desk", None)
        if not command and text is not None and waiting["compose"]:
            replies, pending = await self.outreach.typed(await self.person(person), waiting["compose"], text, lang)
            return replies, ("compose", pending)
        name = command[0] if command else ""
        if name == "myproposals":
            return await self.desk.mine(person, lang), None
        if name == "stop":
            await polls.opt_out(self.db, person, True)
            return self.office.say(lang, "optout.stopped"), None
        if name in ("proposals", "poll", "remind", "progress"):
            who = await self.person(person)
            denied = access.check(who, name)
            if denied:
                return self.office.say(lang, denied), None
            if name == "proposals":
                return await self.desk.listing(who, 1, lang), None
            if name == "poll":
                return await self.outreach.polls(who, lang), None
            if name == "remind":
                return await self.outreach.remind(who, round_id, lang), None
            scope = access.scope(who, None)
            return await self.office.reports.progress(None if scope is None else list(scope), lang), None
        if command and name not in ENGINE_COMMANDS:
            return await self.office.run(await self.person(person), name, command[1], lang), None
        return None, None

    async def person(self, key: str) -> access.Person:
        """Load a person's roles."""
        return access.Person.from_roles(key, await repo.roles(self.db, key), key in self.admins)

    async def _advance(self, person: str, round_id: str | None, session: dict[str, Any] | None,
                       incoming: Incoming, command: tuple[str, str] | None, now: datetime) -> Result:
        """Call the engine with what it needs to know."""
        submitted = False
        if session is None and round_id:
            submitted = await repo.participated(self.db, round_id, self.identity.participation(round_id, person))
        name = command[0] if command else None
        extra: tuple[str, ...] = ()
        if name == "help":
            extra = self.office.help_lines(await self.person(person), (session or {}).get("lang", self.lang))
        today = await forum.sent_today(self.db, person, now) if name == "propose" else 0
        ctx = Context(now=now, new_id=uuid.uuid4().hex, round_id=round_id, communes=await self.communes(),
                      submitted=submitted, lang=self.lang, extra_help=extra, preset=self.preset,
                      proposals_today=today)
        inp = Input(text=None if command else incoming.text, choice=incoming.choice_id, command=name,
                    other=bool(incoming.other))
        return self.engine.advance(session, inp, ctx)


def _invite_code(command: tuple[str, str] | None, text: str | None) -> str | None:
    """The invite code in '/start CODE' or in a message that is only a code."""
    if command:
        return command[1] if command[0] == "start" and command[1] else None
    return text.strip() if text and looks_like_invite(text) else None


def _shower(send: Send, edit: Edit | None, message_id: str | None) -> Callable[[str, bool], Awaitable[None]]:
    """How a broadcast's progress is shown: by editing the message, or (without edits) one final line."""
    async def show(text: str, final: bool) -> None:
        if edit is not None and message_id:
            await edit(message_id, text)
        elif final:
            await send(Reply(text, key="sending.done"))

    return show
