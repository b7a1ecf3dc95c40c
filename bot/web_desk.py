"""The proposals board and the alert queue on the web: the chat's own handlers act, with the same checks and notices."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta

from aiohttp import web
from sqlalchemy.ext.asyncio import AsyncEngine

from analytics.dates import vn_date, vn_datetime
from bot import access
from bot.alerts import PLACES, Alerts
from bot.desk import Desk
from bot.router import Call, Outcome, Tap, number
from bot.web_auth import FLASH
from bot.web_site import Site, Visitor
from conversations import Incoming
from storage import alerts as alert_store
from storage import forum as store
from storage import writes
from storage.db import aware
from storage.writes import Refused

Names = Callable[[], Awaitable[dict[str, str]]]
STATUSES = ("open", "received", "forwarded", "answered", "resolved", "merged")


class Board:
    """GET and POST of the proposals board and the alert queue."""

    def __init__(self, site: Site, db: AsyncEngine, desk: Desk, alerts: Alerts, names: Names, *,
                 alert_hours: float = 12.0, wake: Callable[[], None] | None = None) -> None:
        self.site, self.db, self.desk, self.alerts, self.names = site, db, desk, alerts, names
        self.alert_hours, self.wake = alert_hours, wake

    def _call(self, me: Visitor, now: datetime, **more: object) -> Call:
        """A chat call for the visitor: the same person, role and scope as in chat."""
        incoming = Incoming("web", me.session[:16], me.person.key, update_key=f"web:{uuid.uuid4().hex}")
        return Call(me.person, me.lang, now, incoming, **more)  # type: ignore[arg-type]

    async def _commit(self, me: Visitor, outcome: Outcome) -> tuple[str, bool]:
        """Write what the handler decided in one transaction; its reply (or refusal) to show, and whether it acted."""
        text = "\n".join(r.text for r in outcome.replies)
        if not outcome.writes or outcome.keep is not None:
            return text, False  # refused or asked again (too short, wrong reference)
        try:
            await writes.commit(self.db, outcome.writes)
        except Refused as refused:
            return self.site.texts.get(me.lang, refused.key, **refused.values), False
        if self.wake:
            self.wake()  # the child's notice is in the outbox: let the sender look now
        return text, True

    def _done(self, request: web.Request, me: Visitor, note: tuple[str, bool], back: str,
              fallback: str) -> web.StreamResponse:
        """Back to the page, the action's result kept in a signed cookie (any worker shows it, once)."""
        response = web.HTTPSeeOther(_back(back, fallback))
        self.site.auth.set_flash(response, request, me.session, *note)
        return response

    def _page(self, request: web.Request, me: Visitor, name: str, **values: object) -> web.Response:
        """A page showing the last action's result once."""
        note = self.site.auth.flash(request, me.session)
        response = self.site.render(request, name, me.lang, visitor=me, flash=note, **values)
        if FLASH in request.cookies:
            response.del_cookie(FLASH, path="/web")
        return response

    # ------------------------------------------------------------------ proposals
    async def proposals(self, request: web.Request) -> web.Response:
        """GET /web/proposals: filtered by status, topic, commune and overdue, each with its history and actions."""
        me = await self.site.visitor(request, access.LEADER)
        if not isinstance(me, Visitor):
            return me
        q = {k: request.query.get(k, "")[:40] for k in ("status", "topic", "commune", "late")}
        q["status"] = q["status"] if q["status"] in (*STATUSES, "all") else "open"
        forum, now = self.desk.forum, self.site.clock()
        late_before = now - timedelta(days=forum.answer_days) if q["late"] == "1" else None
        found = await store.board(self.db, access.scope(me.person, None), status="" if q["status"] == "all"
                                  else q["status"], topic=q["topic"], commune=q["commune"], late_before=late_before)
        history = await store.events(self.db, [i.id for i, _, _ in found]) if found else {}
        names = await self.names()
        scope = access.scope(me.person, None)
        communes = sorted((c for c in names if scope is None or c in scope), key=lambda c: names[c])
        due = now - timedelta(days=forum.answer_days)
        cards = [{"item": i, "sensitive": sensitive, "late": waiting and aware(i.created_at) < due,
                  "history": history.get(i.id, [])} for i, sensitive, waiting in found]
        return self._page(
            request, me, "proposals.html", cards=cards, q=q, statuses=STATUSES, names=names,
            communes=communes, topics=[(t.id, t.label.get(me.lang)) for t in forum.topics],
            agencies=[(a.id, a.label.get(me.lang)) for a in forum.agencies], closed=store.CLOSED,
            topic=lambda t: self.desk._topic(t, me.lang), agency=lambda a: self.desk._agency(a, me.lang),
            day=vn_date, low=forum.min_length, high=forum.max_length)

    async def act_on_proposal(self, request: web.Request) -> web.StreamResponse:
        """POST /web/proposals/<id>: answer, forward, resolve or merge, through the desk's own handlers."""
        posted = await self._posted(request, access.LEADER)
        if not isinstance(posted, tuple):
            return posted
        me, fields, key = posted
        action, now = fields.get("action", ""), self.site.clock()
        item = await store.get(self.db, key)
        if item is None:
            raise web.HTTPNotFound()
        if access.check(me.person, access.LEADER, item.commune):  # the desk checks it too; a forged form stops here
            return self.site.denied(request, me)
        text = fields.get("text", "")
        if action == "answer":
            outcome = await self.desk.on_typed(self._call(me, now, text=text, state={"do": "answer", "id": item.id}))
        elif action == "merge":
            outcome = await self.desk.on_typed(self._call(me, now, text=text, state={"do": "merge", "id": item.id}))
        elif action == "forward":
            outcome = await self.desk.on_tap(self._call(me, now, tap=Tap("f", "t", (str(item.id),
                                                                                   fields.get("agency", "")))))
        elif action == "resolve":
            outcome = await self.desk.on_tap(self._call(me, now, tap=Tap("f", "r", (str(item.id),))))
        else:
            raise web.HTTPBadRequest()
        return self._done(request, me, await self._commit(me, outcome), fields.get("back", ""), "/web/proposals")

    async def _posted(self, request: web.Request, role: str,
                      ) -> tuple[Visitor, dict[str, str], int] | web.StreamResponse:
        """A form posted to /…/<id> by a visitor of `role`: who, the fields and the id (404 for no id)."""
        me = await self.site.visitor(request, role)
        if not isinstance(me, Visitor):
            return me
        fields = await self.site.form(request, me)
        if not isinstance(fields, dict):
            return fields
        key = number(request.match_info["id"])
        if key is None:
            raise web.HTTPNotFound()
        return me, fields, key

    # ------------------------------------------------------------------ alerts
    async def alert_queue(self, request: web.Request) -> web.Response:
        """GET /web/alerts: open alerts in scope (all with ?all=1), each with its age against the deadline."""
        me = await self.site.visitor(request, access.OFFICER)
        if not isinstance(me, Visitor):
            return me
        everything = request.query.get("all") == "1"
        found = await alert_store.listing(self.db, access.scope(me.person, None, access.OFFICER), everything, 200)
        names, now = await self.names(), self.site.clock()
        deadline = self.alert_hours
        cards = [{"a": a, "hours": (now - a.created_at).total_seconds() / 3600,
                  "overdue": a.status == alert_store.OPEN and now - a.created_at > timedelta(hours=deadline)}
                 for a in found]
        return self._page(
            request, me, "alerts.html", cards=cards, names=names, deadline=deadline,
            places=PLACES, everything=everything, when=vn_datetime,
            category=lambda c: self.site.texts.get(me.lang, f"alert.category.{c}")
            if self.site.texts.has(me.lang, f"alert.category.{c}") else c)

    async def act_on_alert(self, request: web.Request) -> web.StreamResponse:
        """POST /web/alerts/<id>: acknowledge, false alarm with a reason, handed on, or a reply to the child."""
        posted = await self._posted(request, access.OFFICER)
        if not isinstance(posted, tuple):
            return posted
        me, fields, key = posted
        action, now = fields.get("action", ""), self.site.clock()
        alert = await alert_store.get(self.db, key)
        if alert is None:
            raise web.HTTPNotFound()
        if Alerts._denied(self._call(me, now), alert):
            return self.site.denied(request, me)
        text = fields.get("text", "")
        if action == "ack":
            outcome = await self.alerts.on_tap(self._call(me, now, tap=Tap("a", "k", (str(alert.id),))))
        elif action == "handed":
            outcome = await self.alerts.on_tap(self._call(me, now, tap=Tap("a", "t", (str(alert.id),
                                                                                     fields.get("place", "")))))
        elif action in ("false", "reply"):
            outcome = await self.alerts.on_typed(self._call(me, now, text=text, state={"do": action, "id": alert.id}))
        else:
            raise web.HTTPBadRequest()
        return self._done(request, me, await self._commit(me, outcome), fields.get("back", ""), "/web/alerts")


def _back(path: str, fallback: str) -> str:
    """Where to go after an action: a page of this site only."""
    return path if path.startswith("/web/") and "//" not in path and "\\" not in path else fallback
