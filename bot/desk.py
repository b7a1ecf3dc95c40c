"""The forum desk: leaders and officials read, answer, forward, resolve and merge proposals; children follow theirs."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta, timezone
from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine

from bot import access
from conversations import Catalogue, Choice, Reply
from conversations.forum import Forum
from conversations.matching import clean
from storage import forum as store
from storage import outbox
from storage.db import aware

PAGE = 5
VIETNAM = timezone(timedelta(hours=7))
Names = Callable[[], Awaitable[dict[str, str]]]


def day(moment: datetime) -> str:
    """A date as people in Vietnam write it."""
    return aware(moment).astimezone(VIETNAM).strftime("%d/%m/%Y")


class Desk:
    """Every action checks the role and the commune of the proposal it touches."""

    def __init__(self, db: AsyncEngine, texts: Catalogue, forum: Forum, names: Names,
                 clock: Callable[[], datetime]) -> None:
        self.db = db
        self.texts = texts
        self.forum = forum
        self.names = names
        self.clock = clock

    def _t(self, lang: str, key: str, **values: object) -> str:
        """A catalogue text."""
        return self.texts.get(lang, key, **values)

    def _say(self, lang: str, key: str, **values: object) -> list[Reply]:
        """One catalogue reply."""
        return [Reply(self._t(lang, key, **values), key=key)]

    def _topic(self, topic_id: str, lang: str) -> str:
        """A topic's label."""
        topic = self.forum.topic(topic_id)
        return topic.label.get(lang) if topic else topic_id

    async def mine(self, author: str, lang: str) -> list[Reply]:
        """A child's proposals with their status and the answers received."""
        items = await store.mine(self.db, author)
        if not items:
            return self._say(lang, "mine.none")
        history = await store.events(self.db, [i.id for i in items])
        lines = [self._t(lang, "mine.title")]
        for item in items:
            lines += ["", self._t(lang, "mine.item", ref=item.ref, topic=self._topic(item.topic, lang),
                                  status=self._t(lang, f"status.{item.status}"), text=item.text[:300])]
            for at, _actor, kind, detail in history.get(item.id, []):
                if kind == "answered":
                    lines.append(self._t(lang, "mine.answer", date=day(at), text=detail))
                elif kind == "forwarded":
                    lines.append(self._t(lang, "mine.forwarded", date=day(at), agency=self._agency(detail, lang)))
        return [Reply("\n".join(lines), key="mine")]

    def _agency(self, agency_id: str, lang: str) -> str:
        """An agency's label."""
        agency = self.forum.agency(agency_id)
        return agency.label.get(lang) if agency else agency_id

    async def listing(self, who: access.Person, page: int, lang: str) -> list[Reply]:
        """One page of the open proposals in the person's scope, oldest first."""
        scope = access.scope(who, None)
        total, items = await store.open_items(self.db, scope, (page - 1) * PAGE, PAGE)
        if not total:
            return self._say(lang, "desk.empty")
        pages = (total + PAGE - 1) // PAGE
        names, now = await self.names(), self.clock()
        lines = [self._t(lang, "desk.title", count=total, page=page, pages=pages)]
        choices = []
        for item in items:
            age = (now - aware(item.created_at)).days
            lines.append(self._t(lang, "desk.line", ref=item.ref, commune=names.get(item.commune, item.commune),
                                 topic=self._topic(item.topic, lang), age=age,
                                 status=self._t(lang, f"status.{item.status}")))
            choices.append(Choice(f"f:v:{item.id}", self._t(lang, "desk.choice.view", ref=item.ref)))
        if page > 1:
            choices.append(Choice(f"f:p:{page - 1}", self._t(lang, "desk.choice.prev")))
        if page < pages:
            choices.append(Choice(f"f:p:{page + 1}", self._t(lang, "desk.choice.next")))
        return [Reply("\n".join(lines), tuple(choices), key="desk.list")]

    async def tap(self, who: access.Person, data: str, lang: str) -> tuple[list[Reply], dict[str, Any] | None]:
        """Act on a desk button; returns the replies and any text the desk now waits for."""
        parts = data.split(":")
        if len(parts) < 3 or parts[0] != "f" or not parts[2].isdigit():
            return self._say(lang, "desk.invalid"), None
        verb, number, arg = parts[1], int(parts[2]), ":".join(parts[3:])
        if verb == "p":
            return await self.listing(who, max(number, 1), lang), None
        if verb == "c":
            return await self._clear(who, number, lang), None
        item = await store.get(self.db, number)
        if item is None:
            return self._say(lang, "desk.invalid"), None
        denied = access.check(who, "proposals", item.commune)
        if denied:
            return self._say(lang, denied), None
        if verb == "v":
            return await self.view(item, lang), None
        if item.status in store.CLOSED:
            return self._say(lang, "desk.closed", ref=item.ref, status=self._t(lang, f"status.{item.status}")), None
        if verb == "a":
            return self._say(lang, "desk.ask_answer", ref=item.ref, low=self.forum.min_length,
                             high=self.forum.max_length), {"do": "answer", "id": item.id}
        if verb == "m":
            return self._say(lang, "desk.ask_merge", ref=item.ref), {"do": "merge", "id": item.id}
        if verb == "f":
            choices = tuple(Choice(f"f:t:{item.id}:{a.id}", a.label.get(lang)) for a in self.forum.agencies)
            return [Reply(self._t(lang, "desk.ask_agency", ref=item.ref), choices, key="desk.ask_agency")], None
        if verb == "t" and self.forum.agency(arg):
            return await self._forward(who, item, arg, lang), None
        if verb == "r":
            return await self._step(who, item, "resolved", None, {"status": "resolved", "resolved_at": self.clock()},
                                    "notify.resolved", {}, lang, "desk.resolved"), None
        return self._say(lang, "desk.invalid"), None

    async def typed(self, who: access.Person, state: dict[str, Any], text: str, lang: str) -> list[Reply]:
        """Take the text the desk waited for: an answer, or the reference to merge into."""
        item = await store.get(self.db, int(state.get("id", 0)))
        if item is None or access.check(who, "proposals", item.commune):
            return self._say(lang, "desk.invalid")
        if item.status in store.CLOSED:
            return self._say(lang, "desk.closed", ref=item.ref, status=self._t(lang, f"status.{item.status}"))
        if state.get("do") == "merge":
            return await self._merge(who, item, text.strip(), lang)
        answer = clean(text, self.forum.max_length)
        if not self.forum.min_length <= len(answer) <= self.forum.max_length:
            return self._say(lang, "desk.answer_length", low=self.forum.min_length, high=self.forum.max_length)
        changes: dict[str, Any] = {"status": "answered"}
        history = (await store.events(self.db, [item.id])).get(item.id, [])
        if not any(kind == "answered" for _, _, kind, _ in history):
            changes["first_answer_at"] = self.clock()
        return await self._step(who, item, "answered", answer, changes, "notify.answered", {"text": answer}, lang,
                                "desk.answered", kind_of_notice="answer")

    async def view(self, item: store.Item, lang: str) -> list[Reply]:
        """A proposal with its history and the actions left."""
        names = await self.names()
        history = (await store.events(self.db, [item.id])).get(item.id, [])
        lines = [self._t(lang, "desk.view", ref=item.ref, commune=names.get(item.commune, item.commune),
                         topic=self._topic(item.topic, lang), date=day(item.created_at),
                         status=self._t(lang, f"status.{item.status}"),
                         publish=self._t(lang, f"forum.choice.publish_{'yes' if item.publish else 'no'}"),
                         text=item.text), ""]
        for at, actor, kind, detail in history:
            shown = self._agency(detail, lang) if kind == "forwarded" else detail
            lines.append(self._t(lang, "desk.event", date=day(at), actor=actor,
                                 what=self._t(lang, f"desk.what.{kind}", detail=shown)))
        choices: tuple[Choice, ...] = ()
        if item.status not in store.CLOSED:
            choices = tuple(Choice(f"f:{verb}:{item.id}", self._t(lang, f"desk.choice.{name}"))
                            for verb, name in (("a", "answer"), ("f", "forward"), ("r", "resolve"), ("m", "merge")))
        return [Reply("\n".join(lines), (*choices, Choice("f:p:1", self._t(lang, "desk.choice.list"))),
                      key="desk.view")]

    async def _forward(self, who: access.Person, item: store.Item, agency: str, lang: str) -> list[Reply]:
        """Forward to an agency."""
        changes = {"status": "forwarded"} if item.status == "received" else {"status": item.status}
        label = self._agency(agency, lang)
        return await self._step(who, item, "forwarded", agency, changes, "notify.forwarded", {"agency": label},
                                lang, "desk.forwarded", agency=label)

    async def _merge(self, who: access.Person, item: store.Item, ref: str, lang: str) -> list[Reply]:
        """Merge into an open duplicate in the person's scope."""
        target = await store.get(self.db, ref=ref)
        if (target is None or target.id == item.id or target.status in store.CLOSED
                or access.check(who, "proposals", target.commune)):
            return self._say(lang, "desk.bad_merge", target=ref[:20], ref=item.ref)
        return await self._step(who, item, "merged", target.ref, {"status": "merged", "merged_into": target.id},
                                "notify.merged", {"target": target.ref}, lang, "desk.merged", target=target.ref)

    async def _step(self, who: access.Person, item: store.Item, kind: str, detail: str | None,
                    changes: dict[str, Any], notice: str, values: dict[str, Any], lang: str, done: str, *,
                    kind_of_notice: str = "notice", **shown: Any) -> list[Reply]:
        """Record a step, notify the child(ren), confirm to the person who acted."""
        now = self.clock()
        body = outbox.payload(self._t(lang, notice, ref=item.ref, **values), key=notice)
        key = f"prop:{item.id}:{kind}:{now.timestamp():.6f}"
        actor = access.OFFICIAL if who.official else access.LEADER
        moved = await store.act(self.db, item, kind=kind, actor=actor, detail=detail, now=now, changes=changes,
                                notify=(key, kind_of_notice, body))
        if not moved:
            return self._say(lang, "desk.closed", ref=item.ref, status="")
        return self._say(lang, done, ref=item.ref, **shown)

    async def _clear(self, who: access.Person, alert_id: int, lang: str) -> list[Reply]:
        """A leader of the alert's commune, or an official, clears a false alarm."""
        commune = await store.alert_commune(self.db, alert_id)
        if commune is None or access.check(who, "proposals", commune):
            return self._say(lang, "desk.invalid" if commune is None else "access.other_commune")
        role = access.OFFICIAL if who.official else access.LEADER
        if await store.clear_alert(self.db, alert_id, role, self.clock()) is None:
            return self._say(lang, "desk.invalid")
        return self._say(lang, "desk.alert_cleared", id=alert_id)

