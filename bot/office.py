"""The office's chat commands: invites and rounds, and scores and reports through Reports."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import replace
from datetime import timedelta

from sqlalchemy.ext.asyncio import AsyncEngine

from analytics.dates import vn_datetime
from bot import access
from bot.access import AGENCY, LEADER, OFFICIAL, agency_role
from bot.calendar import calendar_reply
from bot.identity import Identity
from bot.reports import Reports
from bot.router import Call, Command, Outcome, Results, Router, say
from conversations import Catalogue, Reply
from conversations.forum import Entry
from storage import invites, repo
from storage.rounds import current_round

INVITE_DAYS = 7
Names = Callable[[], Awaitable[dict[str, str]]]
Menu = Callable[[access.Person, str], tuple[tuple[str, str], ...]]


class Office:
    """Invites, rounds and the reports the office asks for in chat."""

    def __init__(self, db: AsyncEngine, identity: Identity, texts: Catalogue, links: dict[str, str],
                 reports: Reports, names: Names, leader_live_index: bool = False,
                 agencies: tuple[Entry, ...] = ()) -> None:
        self.db = db
        self.agencies = agencies
        self.leader_live_index = leader_live_index
        self.reports = reports
        self.identity = identity
        self.texts = texts
        self.links = links
        self.names = names

    def router(self) -> Router:
        """Invites and rounds."""
        return Router("office", commands=(
            Command("invite", OFFICIAL, "menu.invite", self.on_invite, vi="moi", takes_argument=True),
            Command("round", OFFICIAL, "menu.round", self.on_round, vi="dot"),
            Command("calendar", LEADER, "menu.calendar", self.on_calendar, vi="lich"),
        ))

    def reports_router(self) -> Router:
        """Scores, the report and the recognition table."""
        return Router("reports", commands=(
            Command("score", LEADER, "menu.score", self.on_score, vi="diem", takes_argument=True),
            Command("report", OFFICIAL, "menu.report", self.on_report, vi="baocao"),
            Command("assess", OFFICIAL, "menu.assess", self.on_assess, vi="congnhan"),
        ))

    async def _commune(self, call: Call) -> tuple[str | None, Outcome | None]:
        """The commune code given as the argument, or a refusal naming the known codes."""
        code = call.arg.strip().lower() or None
        names = await self.names()
        if code and code not in names:
            return None, say(self.texts, call.lang, "access.unknown_commune", code=code[:40], codes=", ".join(names))
        return code, None

    async def on_score(self, call: Call) -> Outcome:
        """Scores of the person's communes, or of one commune."""
        commune, refusal = await self._commune(call)
        if refusal:
            return refusal
        denied = access.check(call.person, LEADER, commune)
        if denied:
            return say(self.texts, call.lang, denied)
        covered = access.scope(call.person, commune)
        live = call.person.official or self.leader_live_index  # leaders see progress until the round closes
        return Outcome(tuple(await self.reports.score(None if covered is None else list(covered), call.lang,
                                                      live_index=live, now=call.now)))

    async def on_calendar(self, call: Call) -> Outcome:
        """The round's calendar: what is due and what is late."""
        return Outcome(tuple(await calendar_reply(self.db, access.scope(call.person, None), call.lang, call.now,
                                                  self.texts)))

    async def on_report(self, call: Call) -> Outcome:
        """The round's report as charts and files."""
        return Outcome(tuple(await self.reports.report(call.lang)))

    async def on_assess(self, call: Call) -> Outcome:
        """The recognition table."""
        return Outcome(tuple(await self.reports.assess(call.lang)))

    async def on_round(self, call: Call) -> Outcome:
        """Which round is open."""
        current = await current_round(self.db)
        return say(self.texts, call.lang, "round.status", round=current) if current else say(
            self.texts, call.lang, "round.none")

    async def on_invite(self, call: Call) -> Outcome:
        """An official invites a commune's leader (`/invite CODE`) or an agency that answers (`/invite CODE AGENCY`)."""
        words = call.arg.split()
        usage = say(self.texts, call.lang, "invite.usage", agencies=", ".join(a.id for a in self.agencies))
        if not words or len(words) > 2:
            return usage
        commune, refusal = await self._commune(replace(call, arg=words[0]))
        if refusal:
            return refusal
        agency = next((a for a in self.agencies if len(words) == 2 and a.id == words[1].lower()), None)
        if commune is None or (len(words) == 2 and agency is None):
            return usage
        invite_id, code = self.identity.invite_code()
        expires = call.now + timedelta(days=INVITE_DAYS)
        link = self.links.get("telegram", "").format(code=code) or f"/start {code}"
        names = await self.names()
        role = agency_role(agency.id) if agency else LEADER
        key = "invite.created_agency" if agency else "invite.created"
        reply = say(self.texts, call.lang, key, commune=names[commune], code=code, expires=vn_datetime(expires),
                    link=link, agency=agency.label.get(call.lang) if agency else "")
        return Outcome(reply.replies, (invites.create(invite_id, role, commune, call.now, expires),))

    def redeem(self, call: Call, code: str, menu: Menu) -> Outcome:
        """Use an invite code: grant its role, remember how to reach the person, and give them their menu."""
        invite_id = self.identity.invite_id(code)
        if invite_id is None:
            return say(self.texts, call.lang, "invite.invalid")
        contact = repo.save_contact(call.person.key, call.incoming.channel, call.incoming.chat_id, call.now,
                                    call.lang)

        async def joined(results: Results) -> list[Reply]:
            role, commune = results["invite"]
            granted = access.Person.from_roles(call.person.key, [(role, commune)], call.person.official)
            staff = call.person.joined(granted)
            if role == OFFICIAL:
                key, values = "invite.joined_official", {}
            elif role.startswith(f"{AGENCY}:"):
                agency = next((a for a in self.agencies if agency_role(a.id) == role), None)
                key, values = "invite.joined_agency", {
                    "commune": (await self.names()).get(commune, commune),
                    "agency": agency.label.get(call.lang) if agency else role.split(":", 1)[1]}
            else:
                key, values = f"invite.joined_{role}", {"commune": (await self.names()).get(commune, commune)}
            return [Reply(self.texts.get(call.lang, key, **values), key=key, menu=menu(staff, call.lang))]

        return Outcome(writes=(invites.redeem(invite_id, call.person.key, call.now), contact), after=joined)
