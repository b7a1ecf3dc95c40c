"""The one place where I/O meets logic: de-duplicate, load, run the engine, store, reply."""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine

from analytics import Rubric, load_rubric
from analytics.assess import Criteria, load_criteria
from bot import access
from bot.commands import parse
from bot.desk import Desk
from bot.identity import Identity, looks_like_invite
from bot.office import Office
from bot.reports import Reports
from bot.writer import Writer
from conversations import Catalogue, Context, Engine, Incoming, Input, Reply, Result
from storage import forum, repo
from storage.committer import Committer

log = logging.getLogger(__name__)
Send = Callable[[Reply], Awaitable[None]]
ENGINE_COMMANDS = {"start", "survey", "help", "language", "forget", "propose"}
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
                 rubric: Rubric | None = None, criteria: Criteria | None = None) -> None:
        self.engine = engine
        self.db = db
        self.identity = identity
        self.texts = texts
        self.admins = admins
        self.lang = lang
        self.clock = clock
        self.committer = Committer(db)
        self.locks = Locks()
        reports = Reports(db, texts, rubric or load_rubric(), criteria or load_criteria(),
                          engine.flows.questionnaires)
        self.office = Office(db, identity, texts, clock, links or {}, reports)
        self.office.communes = self.communes
        self.desk = Desk(db, texts, engine.proposals.forum, self._names, clock)
        self.writer = Writer(db, identity, texts, lang, admins)
        self.preset: tuple[tuple[str, str], ...] = ()
        self._communes: tuple[tuple[str, str], ...] = ()
        self._communes_at = 0.0

    async def close(self) -> None:
        """Finish pending writes."""
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

    async def handle(self, incoming: Incoming, send: Send) -> None:
        """Process one update: at most once, in order for its person, replying through send."""
        person = self.identity.pseudonym(incoming.channel, incoming.user_id)
        async with self.locks.hold(person):
            try:
                replies = await self._process(person, incoming)
            except Exception:
                log.exception("failed to handle an update from %s", incoming.channel)
                replies = [Reply(self.texts.get(self.lang, "error"), key="error")]
            for reply in replies:
                await send(reply)

    async def _process(self, person: str, incoming: Incoming) -> list[Reply]:
        """Decide, store and return the replies for one update."""
        state = await repo.load_state(self.db, person, incoming.update_key)
        if state.seen:
            log.info("ignored a redelivered update %s", incoming.update_key)
            return []
        now = self.clock()
        session = state.session
        lang = (session or {}).get("lang", self.lang)
        unit = [repo.mark_processed(self.db, incoming.update_key, now)] if incoming.update_key else []
        if person in self.admins:
            unit.append(repo.save_contact(self.db, person, incoming.channel, incoming.chat_id, now))
        command = parse(incoming.text)
        pending = (session or {}).get("desk")
        if pending and (command or incoming.choice_id):
            session = {k: v for k, v in (session or {}).items() if k != "desk"}
            unit.append(repo.save_session(self.db, person, session, now))
        code = _invite_code(command, incoming.text)
        if code:
            replies = await self.office.redeem(person, incoming, code, lang)
        elif incoming.choice_id and incoming.choice_id.startswith("f:"):
            replies, waiting = await self.desk.tap(await self.person(person), incoming.choice_id, lang)
            if waiting:
                unit.append(repo.save_session(self.db, person, {**(session or {}), "desk": waiting}, now))
        elif pending and not command and incoming.text:
            replies = await self.desk.typed(await self.person(person), pending, incoming.text, lang)
            unit.append(repo.save_session(self.db, person, {k: v for k, v in session.items() if k != "desk"}, now))
        elif command and command[0] == "myproposals":
            replies = await self.desk.mine(person, lang)
        elif command and command[0] == "proposals":
            who = await self.person(person)
            denied = access.check(who, "proposals")
            replies = self.office.say(lang, denied) if denied else await self.desk.listing(who, 1, lang)
        elif command and command[0] not in ENGINE_COMMANDS:
            replies = await self.office.run(await self.person(person), command[0], command[1], lang)
        else:
            result = await self._advance(person, state.round_id, session, incoming, command, now)
            result, alerts = await self.writer.forum(person, result, state.round_id, dict(await self.communes()), now)
            unit += alerts + self.writer.unit(person, incoming, session, result, now)
            replies = list(result.replies)
        await self.committer.write(unit)
        return replies

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
