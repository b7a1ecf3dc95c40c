"""The one place where I/O meets logic: de-duplicate, load, run the engine, store, reply."""

from __future__ import annotations

import dataclasses
import logging
import re
import uuid
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine

from bot import access
from bot.access import EVERYONE
from bot.alerts import Alerts
from bot.cache import Communes, StateCache
from bot.desk import Desk
from bot.identity import Identity, looks_like_invite
from bot.locks import Locks
from bot.office import Office
from bot.router import Call, Command, Outcome, Router, Routes, Tap, say
from bot.screens import shows_buttons, stamp
from bot.tracker import Tracker
from bot.web_auth import WebAuth
from bot.writer import Writer
from conversations import Catalogue, Context, Engine, Incoming, Input, Reply, Result
from conversations.matching import pick
from conversations.turn import voiced
from storage import communes, forum, inbox, outbox, repo
from storage.committer import Committer
from storage.writes import Item, Refused, Write

log = logging.getLogger(__name__)
Send = Callable[[Reply], Awaitable[str | None]]  # returns the message id where the channel has one
Edit = Callable[[str, str], Awaitable[None]]  # (message id, new text)
ENGINE_CHOICE = re.compile(r"^[0-9]{1,9}:")  # the conversation engine's choices carry its turn number
ATTEMPTS = 3  # an update whose commit collides with another (a proposal number taken) is decided again
# The conversation engine's commands: the survey and onboarding, the proposal flow, help, language, forget.
SURVEY = Router("survey", commands=(
    Command("start", EVERYONE, "menu.start", takes_argument=True),
    Command("survey", EVERYONE, "menu.survey", vi="khaosat"),
    Command("propose", EVERYONE, "menu.propose", vi="kiennghi"),
    Command("help", EVERYONE, "menu.help", vi="huongdan"),
    Command("language", EVERYONE, "menu.language", vi="ngonngu"),
    Command("forget", EVERYONE, "menu.forget", vi="xoadulieu"),
))


def utcnow() -> datetime:
    """The current time in UTC."""
    return datetime.now(UTC)


@dataclasses.dataclass(frozen=True, slots=True)
class Decision:
    """What one update comes to: the outcome, the person's session after it, and whether the service must save it."""

    outcome: Outcome
    session: dict[str, Any] | None
    save: bool = False


class Service:
    """Handles each incoming message of every channel in order per person."""

    def __init__(self, engine: Engine, db: AsyncEngine, identity: Identity, texts: Catalogue, *,
                 routers: tuple[Router, ...], office: Office, writer: Writer, tracker: Tracker, communes: Communes,
                 alerts: Alerts,
                 admins: frozenset[str] = frozenset(), lang: str = "vi",
                 clock: Callable[[], datetime] = utcnow) -> None:
        self.engine = engine
        self.db = db
        self.identity = identity
        self.texts = texts
        self.admins = admins
        self.lang = lang
        self.clock = clock
        self.routes = Routes((SURVEY, *routers), texts)
        self.office = office
        self.alerts = alerts
        self.writer = writer
        self.tracker = tracker
        self.committer = Committer(db)
        # Sessions are kept in memory only where one worker owns the database (SQLite): on PostgreSQL another
        # worker may have changed a person's session since, so it is read every time.
        self.cache = StateCache(db, sessions=20_000 if db.dialect.name == "sqlite" else 0)
        self.wake: Callable[[], None] | None = None
        self.locks = Locks()
        self.communes = communes
        self.preset: tuple[tuple[str, str], ...] = ()
        self.buttonless: frozenset[str] = frozenset({"console", "zalo_bot", "zalo_oa"})
        self.web_auth: WebAuth | None = None  # login links to the office's web page, which acts through the desk
        self.desk: Desk | None = None

    async def close(self) -> None:
        """Finish pending writes and stop following broadcasts."""
        await self.tracker.stop()
        await self.committer.close()

    def menu(self, person: access.Person, lang: str) -> tuple[tuple[str, str], ...]:
        """A person's command menu."""
        return self.routes.menu(person, lang, self.texts)

    async def handle(self, incoming: Incoming, send: Send, edit: Edit | None = None) -> None:
        """Process one update at most once, in order for its person, and reply through `send` (console, tests)."""
        person = self.identity.pseudonym(incoming.channel, incoming.user_id)
        async with self.locks.hold(person):
            try:
                replies = (await self._process(person, incoming, durable=False))[1]
            except Exception:
                log.exception("failed to handle an update from %s", incoming.channel)
                replies = [Reply(self.texts.get(self.lang, "error"), key="error")]
            for reply in replies:
                message_id = await send(reply)
                if reply.track:
                    self.tracker.watch(reply.track, shower(send, edit, message_id), self.lang)

    async def process(self, incoming: Incoming, stored: Sequence[Item] = ()) -> str:
        """Process an update from the inbox: its replies are queued as answers in the same transaction.

        `stored` is written in that transaction too (the inbox row of an update handed on before it was stored).
        Returns "done" (committed, the inbox row finished with it), "seen" (handled before) or "failed".
        """
        person = self.identity.pseudonym(incoming.channel, incoming.user_id)
        if incoming.text and "\x00" in incoming.text:  # PostgreSQL text cannot hold NUL: it carries nothing anyway
            incoming = dataclasses.replace(incoming, text=incoming.text.replace("\x00", ""))
        async with self.locks.hold(person):
            try:
                status, late = await self._process(person, incoming, durable=True, stored=stored)
            except Exception:
                log.exception("failed to handle an update from %s", incoming.channel)
                return "failed"
            if late:  # replies built after the commit (a new reference): queued at once, in a second transaction
                await self.committer.write(self._answers(incoming, late, self.clock(), first=100))
            return status

    async def person(self, key: str) -> access.Person:
        """Load a person's roles."""
        return access.Person.from_roles(key, await repo.roles(self.db, key), key in self.admins)

    async def _process(self, person: str, incoming: Incoming, *, durable: bool, stored: Sequence[Item] = (),
                       ) -> tuple[str, list[Reply]]:
        """Decide and store in one transaction with the update's key; the status and the replies left to send.

        `durable` queues the replies as answers in the same transaction (only those built after the commit,
        from its results, are returned); otherwise every reply is returned for the caller to send.
        """
        for attempt in range(ATTEMPTS):
            state = await self.cache.load(person, incoming.update_key)
            if state.seen:
                log.info("ignored a redelivered update %s", incoming.update_key)
                return "seen", []
            now = self.clock()
            moved = communes.remap_session(state.session, await self.communes.merges())
            if moved is not None:  # the person's commune was merged (2025): they come back to the new unit
                state = dataclasses.replace(state, session=moved)
            decision = await self._decide(person, incoming, state, now)
            decision = await self._screened(person, incoming, state.session, decision, now)
            base: list[Item] = [*stored, repo.reachable(incoming.channel, incoming.chat_id)]
            if incoming.update_key:  # (the inbox row `stored` with the unit finishes itself)
                base.append(repo.mark_processed(incoming.update_key, now))
                if not stored:
                    base.append(inbox.finished(incoming.update_key, now))
            lang = (decision.session or state.session or {}).get("lang", self.lang)
            if person in self.admins:
                base.append(repo.save_contact(person, incoming.channel, incoming.chat_id, now, lang))
            replies = list(decision.outcome.replies)
            unit = [*base, *decision.outcome.writes]
            if moved is not None:
                unit += communes.move_person(person, moved["profile"]["commune"])
                if not decision.save and decision.session is moved:
                    unit.append(repo.save_session(person, moved, now))
            if decision.save:
                unit.append(repo.save_session(person, decision.session, now) if decision.session is not None
                            else repo.delete_session(person))
            unit += self._remember(incoming, decision.outcome.replies)
            if durable:
                unit += self._answers(incoming, replies, now)
            try:
                results = await self.committer.write(unit)
            except Refused as refused:
                replies = [Reply(self.texts.get(lang, refused.key, **refused.values), key=refused.key)]
                unit = base + (self._answers(incoming, replies, now) if durable else [])
                await self.committer.write(unit)
                after: list[Reply] = []
            except IntegrityError:
                self.cache.drop(person)
                if incoming.update_key and await repo.processed(self.db, incoming.update_key):
                    log.info("ignored a redelivered update %s", incoming.update_key)
                    return "seen", []
                if attempt == ATTEMPTS - 1:
                    raise
                log.info("a commit collided with another; deciding update %s again", incoming.update_key)
                continue
            except Exception:
                self.cache.drop(person)
                raise
            else:
                after = await decision.outcome.after(results) if decision.outcome.after else []
            self.cache.settle(person, incoming.update_key, unit)
            if self.wake and (durable or any(not isinstance(item, Write) for item in unit)):
                self.wake()  # answers or messages were queued in the outbox: let the sender look now
            return "done", after if durable else [*replies, *after]
        return "failed", []

    async def _screened(self, person: str, incoming: Incoming, session: dict[str, Any] | None, decision: Decision,
                        now: datetime) -> Decision:
        """Screen what a person typed, wherever they are: a sign of danger answers with 111 first and alerts the
        people who protect children, and the flow goes on as if nothing stopped it."""
        text = incoming.text
        typed_by_staff = any((session or {}).get(k) for k in self.routes.pending)
        if not text or text.startswith("/") or typed_by_staff:
            return decision
        lang = (session or {}).get("lang", self.lang)
        flagged = await self.alerts.screened(person, text, session, lang, now)
        if flagged is None:
            return decision
        reply, step = flagged
        outcome = dataclasses.replace(decision.outcome, replies=(reply, *decision.outcome.replies),
                                      writes=(*decision.outcome.writes, step))
        return dataclasses.replace(decision, outcome=outcome)

    def _answers(self, incoming: Incoming, replies: list[Reply], now: datetime, first: int = 0) -> list[Item]:
        """Replies as answers in the outbox, keyed by the update so a redelivery queues nothing twice."""
        key = incoming.update_key or f"{incoming.channel}:{incoming.chat_id}:{now.timestamp()}"
        return [outbox.answer(f"answer:{key}:{first + n}", incoming.channel, incoming.chat_id, reply, now)
                for n, reply in enumerate(replies)]

    def _remember(self, incoming: Incoming, replies: tuple[Reply, ...]) -> list[Item]:
        """On a channel without buttons, the choices shown last, so a typed number can pick one."""
        shown = next((r.choices for r in reversed(replies) if r.choices), None)
        if incoming.channel not in self.buttonless or not shown:
            return []
        return [repo.remember_choices(incoming.channel, incoming.chat_id, [[c.id, c.label] for c in shown])]

    async def _typed_choice(self, incoming: Incoming) -> Incoming:
        """On a channel without buttons, a number or label typed after a feature's message taps that choice."""
        shown = await repo.recall_choices(self.db, incoming.channel, incoming.chat_id)
        if not shown or shown[0][0].split(":", 1)[0].isdigit():
            return incoming  # nothing shown, or the engine's own question: the engine reads typed answers
        index = pick(incoming.text or "", [[label] for _, label in shown])
        return incoming if index is None else dataclasses.replace(incoming, text=None, choice_id=shown[index][0])

    async def _decide(self, person: str, incoming: Incoming, state: repo.State, now: datetime) -> Decision:
        """Route the update to a feature or to the conversation engine."""
        session, round_id = state.session, state.round_id
        routes, bare = self.routes, incoming.channel in self.buttonless
        parsed = routes.parse(incoming.text, bare)
        if bare and incoming.text and parsed is None:
            incoming = await self._typed_choice(incoming)
        choice = incoming.choice_id or ""
        if choice.startswith("cmd:"):  # a button that runs a command, such as a reminder's "resume"
            command = routes.commands.get(choice[4:])
            parsed, choice = ((command, "") if command else None), ""
        lang = (session or {}).get("lang", self.lang)
        tap = Tap.parse(choice) if choice else None
        waiting = next((k for k in routes.pending if (session or {}).get(k)), None)
        command, arg = parsed if parsed else (None, "")
        code = arg if command and command.name == "start" and looks_like_invite(arg) else None
        if parsed is None and incoming.text and looks_like_invite(incoming.text):
            code = incoming.text.strip()
        if choice and not ENGINE_CHOICE.match(choice) and not (tap and tap.prefix in routes.taps):
            return Decision(say(self.texts, lang, "choice_old"), session)  # forged, or from an older version
        feature = bool(code or (tap and tap.prefix in routes.taps) or (parsed and (command is None or command.run))
                       or (waiting and incoming.text is not None and parsed is None))
        if not feature:
            who = None
            if command is None and incoming.text is not None and (session or {}).get("flow", "idle") == "idle":
                who = await self.person(person)
                if who.staff:  # staff who type something the bot does not know get their own help
                    command = routes.commands["help"]
            return await self._engine(person, incoming, state, now, command, who, arg)
        who = await self.person(person)
        call = Call(who, lang, now, incoming, round_id, arg=arg)
        router, outcome = None, None
        if code:
            outcome = self.office.redeem(call, code, self.menu)
        elif tap and tap.prefix in routes.taps:
            buttons, router = routes.taps[tap.prefix], routes.owners[tap.prefix]
            if not access.permits(who, buttons.role):
                return Decision(say(self.texts, lang, "access.denied"), session)
            if buttons.screened and (tap.screen is None or tap.screen != (session or {}).get("screen")):
                return Decision(say(self.texts, lang, "choice_old"), session)  # what the person waits on stays
            state = (session or {}).get(router.pending) if router.pending else None
            outcome = await buttons.run(dataclasses.replace(call, tap=tap, state=state))
        elif parsed and command is None:
            outcome = say(self.texts, lang, "unknown_command")
        elif command is not None:
            router = next(r for r in routes.routers if command in r.commands)
            if not access.permits(who, command.role):
                outcome = say(self.texts, lang, "access.denied")
            else:
                assert command.run is not None
                outcome = await command.run(call)
        else:
            assert waiting is not None
            router = next(r for r in routes.routers if r.pending == waiting)
            handler = routes.pending[waiting]
            outcome = await handler(dataclasses.replace(call, text=incoming.text, state=(session or {})[waiting]))
        return self._screen(session, outcome, router)

    def _screen(self, session: dict[str, Any] | None, outcome: Outcome, router: Router | None) -> Decision:
        """The session after a feature's outcome: the typed answer it waits for, and a new screen for its buttons."""
        before = session or {}
        after = {k: v for k, v in before.items() if k not in self.routes.pending}
        if router is not None and router.pending and outcome.keep is not None:
            after[router.pending] = outcome.keep
        screened = {p for p, b in self.routes.taps.items() if b.screened}
        if shows_buttons(outcome, screened) or "screen" in before or outcome.after is not None:
            after["screen"] = screen = int(before.get("screen", 0)) + 1
            outcome = stamp(outcome, screened, screen)
        if after == before:
            return Decision(outcome, session)
        return Decision(outcome, after or None, save=True)

    async def _engine(self, person: str, incoming: Incoming, state: repo.State, now: datetime,
                      command: Command | None, who: access.Person | None, arg: str = "") -> Decision:
        """Run the conversation engine and turn its effects into writes."""
        session, round_id = state.session, state.round_id
        opt_in = [repo.opt_in(person)] if command is not None and command.name == "start" else []
        result = await self._advance(person, state, incoming, command, now, who, arg)
        outcome = self.writer.outcome(person, incoming, session, result, round_id, await self.communes.names(), now)
        if any(r.key == "forget.done" for r in outcome.replies):  # a forgotten person's menu is the default again
            outcome = dataclasses.replace(outcome, replies=tuple(
                dataclasses.replace(r, menu=()) if r.key == "forget.done" else r for r in outcome.replies))
        return Decision(dataclasses.replace(outcome, writes=(*opt_in, *outcome.writes)), result.session)

    async def _advance(self, person: str, state: repo.State, incoming: Incoming, command: Command | None,
                       now: datetime, who: access.Person | None, arg: str = "") -> Result:
        """Call the engine with what it needs to know; `/start CODE` of a commune (a poster's link) preselects it."""
        session, round_id = state.session, state.round_id
        preset = self.preset
        if command is not None and command.name == "start" and arg:
            code = arg.strip().lower()[:40]
            if code in await self.communes.names():
                preset = (*preset, ("commune", code))
            else:
                log.info("started from a link tagged %r", code[:20])  # a source tag (a poster, a page): not an error
        submitted = False
        if session is None and round_id:
            submitted = await repo.participated(self.db, round_id, self.identity.participation(round_id, person))
        name = command.name if command else None
        extra: tuple[str, ...] = ()
        if name == "help":
            lang = (session or {}).get("lang", self.lang)
            who = who or await self.person(person)
            extra = (*self._scope(who, lang, await self.communes.names()),
                     *self.routes.help_lines(who, lang, self.texts),
                     self.texts.get(lang, voiced(self.texts, session, "help_footer")))
        today = await forum.sent_today(self.db, person, now) if name == "propose" else 0
        ctx = Context(now=now, new_id=uuid.uuid4().hex, round_id=round_id, communes=await self.communes.all(),
                      submitted=submitted, lang=self.lang, extra_help=extra, preset=preset,
                      proposals_today=today, window=state.window)
        inp = Input(text=None if command else incoming.text, choice=incoming.choice_id, command=name,
                    other=bool(incoming.other))
        return self.engine.advance(session, inp, ctx)


    def _scope(self, who: access.Person, lang: str, names: dict[str, str]) -> tuple[str, ...]:
        """Where a member of staff acts, communes by name."""
        lines = []
        for role in (access.LEADER, access.OFFICER):
            if communes := who.communes(role) - (who.leads if role == access.OFFICER else frozenset()):
                shown = ", ".join(sorted(names.get(c, c) for c in communes))
                lines.append(self.texts.get(lang, f"help_scope.{role}", communes=shown))
        if who.answers:
            labels = {a.id: a.label.get(lang) for a in self.engine.proposals.forum.agencies}
            shown = ", ".join(sorted(f"{labels.get(a, a)} — {names.get(c, c)}" for c, a in who.answers))
            lines.append(self.texts.get(lang, "help_scope.agency", agencies=shown))
        if who.official:
            lines.append(self.texts.get(lang, "help_scope.official"))
        return tuple(lines)


def shower(send: Send, edit: Edit | None, message_id: str | None) -> Callable[[str, bool], Awaitable[None]]:
    """How a broadcast's progress is shown: by editing the message, or (without edits) one final line."""
    async def show(text: str, final: bool) -> None:
        if edit is not None and message_id:
            await edit(message_id, text)
        elif final:
            await send(Reply(text, key="sending.done"))

    return show
