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
from sqlalchemy.sql import Executable

from analytics import Rubric, load_rubric
from analytics.assess import Criteria, load_criteria
from bot import access
from bot.commands import parse
from bot.identity import Identity, looks_like_invite
from bot.office import Office
from bot.reports import Reports
from conversations import Catalogue, Context, Engine, Incoming, Input, Reply, Result
from conversations.effects import Forget, SaveAnswer, SaveProfile, StartResponse, Submit
from storage import repo
from storage.committer import Committer

log = logging.getLogger(__name__)
Send = Callable[[Reply], Awaitable[None]]
ENGINE_COMMANDS = {"start", "survey", "help", "language", "forget"}
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
        lang = (state.session or {}).get("lang", self.lang)
        done = [repo.mark_processed(self.db, incoming.update_key, now)] if incoming.update_key else []
        command = parse(incoming.text)
        code = _invite_code(command, incoming.text)
        if code:
            replies = await self.office.redeem(person, incoming, code, lang)
            await self.committer.write(done)
            return replies
        if command and command[0] not in ENGINE_COMMANDS:
            who = await self.person(person)
            replies = await self.office.run(who, command[0], command[1], lang)
            await self.committer.write(done)
            return replies
        result = await self._advance(person, state, incoming, command, now)
        await self.committer.write(done + self._unit(person, incoming, state.session, result, now))
        return list(result.replies)

    async def person(self, key: str) -> access.Person:
        """Load a person's roles."""
        return access.Person.from_roles(key, await repo.roles(self.db, key), key in self.admins)

    async def _advance(self, person: str, state: repo.State, incoming: Incoming,
                       command: tuple[str, str] | None, now: datetime) -> Result:
        """Call the engine with what it needs to know."""
        submitted = False
        if state.session is None and state.round_id:
            token = self.identity.participation(state.round_id, person)
            submitted = await repo.participated(self.db, state.round_id, token)
        extra: tuple[str, ...] = ()
        if command and command[0] == "help":
            extra = self.office.help_lines(await self.person(person), (state.session or {}).get("lang", self.lang))
        ctx = Context(now=now, new_id=uuid.uuid4().hex, round_id=state.round_id, communes=await self.communes(),
                      submitted=submitted, lang=self.lang, extra_help=extra, preset=self.preset)
        inp = Input(text=None if command else incoming.text, choice=incoming.choice_id,
                    command=command[0] if command else None, other=bool(incoming.other))
        return self.engine.advance(state.session, inp, ctx)

    def _unit(self, person: str, incoming: Incoming, before: dict[str, Any] | None, result: Result,
              now: datetime) -> list[Executable]:
        """Turn the engine's effects and new session into statements for one transaction."""
        db, day = self.db, now.date().isoformat()
        unit: list[Executable] = []
        for effect in result.effects:
            if isinstance(effect, SaveProfile):
                unit.append(repo.save_profile(db, person, {
                    "group": effect.group, "age_band": effect.age_band, "commune": effect.commune,
                    "consent": "+".join(effect.consent), "consent_version": effect.version,
                    "consent_purpose": effect.purpose, "consent_at": effect.at, "lang": effect.lang}))
                unit.append(repo.save_contact(db, person, incoming.channel, incoming.chat_id, now))
            elif isinstance(effect, StartResponse):
                unit.append(repo.start_response(db, {
                    "id": effect.response_id, "round_id": effect.round_id, "commune": effect.commune,
                    "group": effect.group, "age_band": effect.age_band, "version": effect.version,
                    "submitted": False, "started_on": day}))
            elif isinstance(effect, SaveAnswer):
                unit.append(repo.save_answer(db, effect.response_id, effect.question_id, effect.option_id,
                                             effect.satisfied, effect.text))
            elif isinstance(effect, Submit):
                unit.append(repo.submit(effect.response_id, day))
                unit.append(repo.participate(effect.round_id, self.identity.participation(effect.round_id, person)))
            elif isinstance(effect, Forget):
                survey = (before or {}).get("survey") or {}
                unit.extend(repo.forget(person, survey.get("response")))
        if result.session is None:
            unit.append(repo.delete_session(person))
        else:
            unit.append(repo.save_session(db, person, result.session, now))
        return unit


def _invite_code(command: tuple[str, str] | None, text: str | None) -> str | None:
    """The invite code in '/start CODE' or in a message that is only a code."""
    if command:
        return command[1] if command[0] == "start" and command[1] else None
    return text.strip() if text and looks_like_invite(text) else None
