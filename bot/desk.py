"""The forum desk: leaders and officials read, answer, forward, resolve and merge proposals; children follow theirs."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta, timezone
from typing import Any

from sqlalchemy import func
from sqlalchemy.ext.asyncio import AsyncEngine

from bot import access
from bot.access import EVERYONE, LEADER
from bot.router import Buttons, Call, Command, Outcome, Results, Router, say
from conversations import Catalogue, Choice, Reply
from conversations.forum import Forum
from conversations.matching import clean
from conversations.model import LANGS
from storage import forum as store
from storage import outbox
from storage.db import aware
from storage.models import Proposal

PAGE = 5
VIETNAM = timezone(timedelta(hours=7))
Names = Callable[[], Awaitable[dict[str, str]]]


def day(moment: datetime) -> str:
    """A date as people in Vietnam write it."""
    return aware(moment).astimezone(VIETNAM).strftime("%d/%m/%Y")


class Desk:
    """Every action checks the role and the commune of the proposal it touches."""

    def __init__(self, db: AsyncEngine, texts: Catalogue, forum: Forum, names: Names, lang: str = "vi") -> None:
        self.db = db
        self.texts_lang = lang
        self.texts = texts
        self.forum = forum
        self.names = names

    def router(self) -> Router:
        """The desk's commands and buttons."""
        return Router("forum", commands=(
            Command("proposals", LEADER, "menu.proposals", self.on_list, vi="xemkiennghi"),
            Command("myproposals", EVERYONE, "menu.myproposals", self.on_mine, aliases=("kiennghicuatoi",)),
        ), taps={"f": Buttons(LEADER, self.on_tap)}, pending="desk", typed=self.on_typed)

    def _t(self, lang: str, key: str, **values: object) -> str:
        """A catalogue text."""
        return self.texts.get(lang, key, **values)

    def _say(self, lang: str, key: str, **values: object) -> Outcome:
        """One catalogue reply."""
        return say(self.texts, lang, key, **values)

    def _topic(self, topic_id: str, lang: str) -> str:
        """A topic's label."""
        topic = self.forum.topic(topic_id)
        return topic.label.get(lang) if topic else topic_id

    def _agency(self, agency_id: str, lang: str) -> str:
        """An agency's label."""
        agency = self.forum.agency(agency_id)
        return agency.label.get(lang) if agency else agency_id

    def _labels(self, entry_id: str, find: Callable[[str], Any]) -> dict[str, str]:
        """A topic's or agency's label in every language, for a notice rendered in its recipient's."""
        entry = find(entry_id)
        return {lang: entry.label.get(lang) if entry else entry_id for lang in LANGS}

    async def on_mine(self, call: Call) -> Outcome:
        """A child's proposals with their status and the answers received."""
        lang = call.lang
        items = await store.mine(self.db, call.person.key)
        if not items:
            return self._say(lang, "mine.none")
        history = await store.events(self.db, [i.id for i in items])
        lines = [self._t(lang, "mine.title")]
        for item in items:
            lines += ["", self._t(lang, "mine.item", ref=item.ref, topic=self._topic(item.topic, lang),
                                  status=self._t(lang, f"status.{item.status}"), text=item.text[:300])]
            for at, actor, kind, detail in history.get(item.id, []):
                if kind == "answered" and actor.startswith("agency:"):
                    lines.append(self._t(lang, "mine.answer_by", agency=self._agency(actor[7:], lang), date=day(at),
                                         text=detail))
                elif kind == "answered":
                    lines.append(self._t(lang, "mine.answer", date=day(at), text=detail))
                elif kind == "forwarded":
                    lines.append(self._t(lang, "mine.forwarded", date=day(at), agency=self._agency(detail, lang)))
        return Outcome((Reply("\n".join(lines), key="mine"),))

    async def on_list(self, call: Call) -> Outcome:
        """The first page of open proposals."""
        return await self.listing(call, 1)

    async def listing(self, call: Call, page: int) -> Outcome:
        """One page of the open proposals in the person's scope, oldest first."""
        lang, scope = call.lang, access.scope(call.person, None)
        total, items = await store.open_items(self.db, scope, (page - 1) * PAGE, PAGE)
        if not total:
            return self._say(lang, "desk.empty")
        pages = (total + PAGE - 1) // PAGE
        names = await self.names()
        lines = [self._t(lang, "desk.title", count=total, page=page, pages=pages)]
        choices = []
        for item in items:
            age = (call.now - aware(item.created_at)).days
            lines.append(self._t(lang, "desk.line", ref=item.ref, commune=names.get(item.commune, item.commune),
                                 topic=self._topic(item.topic, lang), age=age,
                                 status=self._t(lang, f"status.{item.status}")))
            choices.append(Choice(f"f:v:{item.id}", self._t(lang, "desk.choice.view", ref=item.ref)))
        if page > 1:
            choices.append(Choice(f"f:p:{page - 1}", self._t(lang, "desk.choice.prev")))
        if page < pages:
            choices.append(Choice(f"f:p:{page + 1}", self._t(lang, "desk.choice.next")))
        return Outcome((Reply("\n".join(lines), tuple(choices), key="desk.list"),))

    async def on_tap(self, call: Call) -> Outcome:
        """Act on a desk button; the outcome keeps any text the desk now waits for."""
        tap, lang, who = call.tap, call.lang, call.person
        number = tap.number() if tap else None
        if tap is None or number is None:
            return self._say(lang, "desk.invalid")
        if tap.verb == "p":
            return await self.listing(call, max(number, 1))
        item = await store.get(self.db, number)
        if item is None:
            return self._say(lang, "desk.invalid")
        denied = access.check(who, LEADER, item.commune)
        if denied:
            return self._say(lang, denied)
        if tap.verb == "v":
            return await self.view(item, lang)
        if item.status in store.CLOSED:
            return self._say(lang, "desk.closed", ref=item.ref, status=self._t(lang, f"status.{item.status}"))
        if tap.verb == "a":
            return Outcome(self._say(lang, "desk.ask_answer", ref=item.ref, low=self.forum.min_length,
                                     high=self.forum.max_length).replies, keep={"do": "answer", "id": item.id})
        if tap.verb == "m":
            return Outcome(self._say(lang, "desk.ask_merge", ref=item.ref).replies, keep={"do": "merge", "id": item.id})
        if tap.verb == "f":
            choices = tuple(Choice(f"f:t:{item.id}:{a.id}", a.label.get(lang)) for a in self.forum.agencies)
            return Outcome((Reply(self._t(lang, "desk.ask_agency", ref=item.ref), choices, key="desk.ask_agency"),))
        if tap.verb == "t" and self.forum.agency(tap.arg(1)):
            return await self._forward(call, item, tap.arg(1))
        if tap.verb == "r":
            return self._step(call, item, "resolved", None, {"status": "resolved", "resolved_at": call.now},
                              "notify.resolved", {}, "desk.resolved")
        return self._say(lang, "desk.invalid")

    async def on_typed(self, call: Call) -> Outcome:
        """Take the text the desk waited for: an answer, or the reference to merge into."""
        state, lang, who = call.state or {}, call.lang, call.person
        number = state.get("id")
        item = await store.get(self.db, int(number)) if isinstance(number, int) else None
        if item is None or access.check(who, LEADER, item.commune):
            return self._say(lang, "desk.invalid")
        if item.status in store.CLOSED:
            return self._say(lang, "desk.closed", ref=item.ref, status=self._t(lang, f"status.{item.status}"))
        text = call.text or ""
        if state.get("do") == "merge":
            return await self._merge(call, item, text.strip())
        answer = clean(text, self.forum.max_length)
        if not self.forum.min_length <= len(answer) <= self.forum.max_length:
            return Outcome(self._say(lang, "desk.answer_length", low=self.forum.min_length,
                                     high=self.forum.max_length).replies, keep=state)
        changes = {"status": "answered", "first_answer_at": func.coalesce(Proposal.first_answer_at, call.now)}
        return self._step(call, item, "answered", answer, changes, "notify.answered", {"text": answer},
                          "desk.answered", kind_of_notice="answer")

    async def view(self, item: store.Item, lang: str) -> Outcome:
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
            who = self._agency(actor[7:], lang) if actor.startswith("agency:") else self._t(lang, f"actor.{actor}")
            lines.append(self._t(lang, "desk.event", date=day(at), actor=who,
                                 what=self._t(lang, f"desk.what.{kind}", detail=shown)))
        choices: tuple[Choice, ...] = ()
        if item.status not in store.CLOSED:
            choices = tuple(Choice(f"f:{verb}:{item.id}", self._t(lang, f"desk.choice.{name}"))
                            for verb, name in (("a", "answer"), ("f", "forward"), ("r", "resolve"), ("m", "merge")))
        return Outcome((Reply("\n".join(lines), (*choices, Choice("f:p:1", self._t(lang, "desk.choice.list"))),
                              key="desk.view"),))

    async def _forward(self, call: Call, item: store.Item, agency: str) -> Outcome:
        """Forward to an agency: the child hears of it, and the agency's people get the proposal (ref, topic, text;
        never the child) with a button to answer; the leader is told when nobody answers for that agency yet."""
        changes = {"status": "forwarded"} if item.status == "received" else {"status": item.status}
        labels = self._labels(agency, self.forum.agency)
        topics = self._labels(item.topic, self.forum.topic)
        commune = (await self.names()).get(item.commune, item.commune)
        values = {"ref": item.ref, "commune": commune, "agency": labels, "topic": topics, "text": item.text}
        button = (f"g:a:{item.id}", {lang: self._t(lang, "agency.choice", ref=item.ref) for lang in LANGS})
        body = outbox.payload(self._t(self.texts_lang, "agency.notice", **_in(values, self.texts_lang)), [button],
                              "agency.notice", values=values)
        key = f"prop:{item.id}:agency:{agency}:{call.incoming.update_key or call.now.timestamp()}"
        to_agency = outbox.enqueue(self.db, key, store.agency_people(item.commune, agency), "notice", body, call.now)
        joined = await store.agency_joined(self.db, item.commune, agency)
        return self._step(call, item, "forwarded", agency, changes, "notify.forwarded", {"agency": labels},
                          "desk.forwarded" if joined else "desk.forwarded_nobody", extra=(to_agency,),
                          agency=self._agency(agency, call.lang), commune=item.commune, agency_id=agency)

    async def _merge(self, call: Call, item: store.Item, ref: str) -> Outcome:
        """Merge into an open duplicate in the person's scope."""
        target = await store.get(self.db, ref=ref[:20])
        if (target is None or target.id == item.id or target.status in store.CLOSED
                or access.check(call.person, LEADER, target.commune)):
            return Outcome(self._say(call.lang, "desk.bad_merge", target=ref[:20], ref=item.ref).replies,
                           keep=call.state)
        return self._step(call, item, "merged", target.ref, {"status": "merged", "merged_into": target.id},
                          "notify.merged", {"target": target.ref}, "desk.merged", target=target.ref)

    def _step(self, call: Call, item: store.Item, kind: str, detail: str | None, changes: dict[str, Any],
              notice: str, values: dict[str, Any], done: str, *, kind_of_notice: str = "notice",
              extra: tuple[Any, ...] = (), **shown: Any) -> Outcome:
        """Record a step, notify the child(ren) in their language, confirm to the person who acted."""
        body = outbox.payload(self._t(call.lang, notice, ref=item.ref, **_in(values, call.lang)), key=notice,
                              values={"ref": item.ref, **values})
        key = f"prop:{item.id}:{kind}:{call.incoming.update_key or call.now.timestamp()}"
        writes = store.act(self.db, item, kind=kind, actor=call.person.role, detail=detail, now=call.now,
                           changes=changes, notify=(key, kind_of_notice, body))

        async def again(_results: Results) -> list[Reply]:
            fresh = await store.get(self.db, item.id)
            return list((await self.view(fresh, call.lang)).replies) if fresh else []

        return Outcome(self._say(call.lang, done, ref=item.ref, **shown).replies, (*writes, *extra), after=again)


def _in(values: dict[str, Any], lang: str) -> dict[str, Any]:
    """Values with every per-language label resolved to one language."""
    return {k: v.get(lang, next(iter(v.values()))) if isinstance(v, dict) else v for k, v in values.items()}
