"""Commands for Youth Union leaders and the district office, each checked in bot.access."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncEngine

from bot import access
from bot.identity import Identity
from bot.reports import Reports
from conversations import Catalogue, Incoming, Reply
from storage import invites, repo
from storage.rounds import current_round
from storage.writes import run

INVITE_DAYS = 7
Communes = Callable[[], Awaitable[tuple[tuple[str, str], ...]]]


class Office:
    """Role commands: invites and rounds here, scores and reports through Reports."""

    def __init__(self, db: AsyncEngine, identity: Identity, texts: Catalogue, clock: Callable[[], datetime],
                 links: dict[str, str], reports: Reports) -> None:
        self.db = db
        self.reports = reports
        self.identity = identity
        self.texts = texts
        self.clock = clock
        self.links = links
        self.communes: Communes | None = None

    def say(self, lang: str, key: str, **values: object) -> list[Reply]:
        """One catalogue reply."""
        return [Reply(self.texts.get(lang, key, **values), key=key)]

    async def _names(self) -> dict[str, str]:
        """Commune names by code."""
        return dict(await self.communes()) if self.communes else dict(await repo.communes(self.db))

    def help_lines(self, person: access.Person, lang: str) -> tuple[str, ...]:
        """Extra help for leaders and officials."""
        lines = []
        if person.leads:
            lines.append(self.texts.get(lang, "help_leader", commune=", ".join(sorted(person.leads))))
        if person.official:
            lines.append(self.texts.get(lang, "help_official"))
        return tuple(lines)

    async def redeem(self, person: str, incoming: Incoming, code: str, lang: str) -> list[Reply]:
        """Use an invite code and grant its role."""
        invite_id = self.identity.invite_id(code)
        now = self.clock()
        granted = await invites.redeem(self.db, invite_id, person, now) if invite_id else None
        if granted is None:
            return self.say(lang, "invite.invalid")
        async with self.db.begin() as conn:
            await run(conn, [[repo.save_contact(person, incoming.channel, incoming.chat_id, now)]])
        role, commune = granted
        if role == access.OFFICIAL:
            return self.say(lang, "invite.joined_official")
        return self.say(lang, "invite.joined", commune=(await self._names()).get(commune, commune))

    async def run(self, person: access.Person, command: str, arg: str, lang: str) -> list[Reply]:
        """Run a role command after checking who asks and for which commune."""
        if command.startswith("?"):
            return self.say(lang, "unknown_command")
        names = await self._names()
        commune = arg.strip().lower() or None
        if commune and command in ("score", "invite") and commune not in names:
            return self.say(lang, "access.unknown_commune", code=commune, codes=", ".join(names))
        denied = access.check(person, command, commune)
        if denied:
            return self.say(lang, denied)
        if command == "invite":
            return await self._invite(commune, lang, names)
        if command == "round":
            current = await current_round(self.db)
            return self.say(lang, "round.status", round=current) if current else self.say(lang, "round.none")
        if command == "score":
            covered = access.scope(person, commune)
            return await self.reports.score(None if covered is None else list(covered), lang)
        if command == "report":
            return await self.reports.report(lang)
        if command == "assess":
            return await self.reports.assess(lang)
        return self.say(lang, "unknown_command")

    async def create_invite(self, role: str, commune: str) -> tuple[str, datetime]:
        """Store a new invite and return its code and expiry."""
        invite_id, code = self.identity.invite_code()
        now = self.clock()
        expires = now + timedelta(days=INVITE_DAYS)
        await invites.create(self.db, invite_id, role, commune, now, expires)
        return code, expires

    async def _invite(self, commune: str | None, lang: str, names: dict[str, str]) -> list[Reply]:
        """An official creates a leader invite for a commune."""
        if not commune:
            return self.say(lang, "invite.usage")
        code, expires = await self.create_invite(access.LEADER, commune)
        link = self.links.get("telegram", "").format(code=code) or f"/start {code}"
        return self.say(lang, "invite.created", commune=names[commune], code=code,
                         expires=expires.strftime("%d/%m/%Y %H:%M UTC"), link=link)
