"""Agencies that answer: a school, health station, police or People's Committee sees only the proposals forwarded
to it, never who wrote them, and answers them; the answer reaches the child and the commune's leader."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from sqlalchemy import func
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.access import AGENCY, Person
from bot.router import Buttons, Call, Command, Outcome, Router, say
from conversations import Catalogue, Choice, Reply
from conversations.forum import Forum
from conversations.matching import clean
from conversations.model import LANGS
from storage import forum as store
from storage import outbox
from storage.db import aware
from storage.models import Proposal

Names = Callable[[], Awaitable[dict[str, str]]]


class AgencyDesk:
    """The agency's side of the forum: the proposals forwarded to it and its answers."""

    def __init__(self, db: AsyncEngine, texts: Catalogue, forum: Forum, names: Names, lang: str = "vi") -> None:
        self.db, self.texts, self.forum, self.names, self.lang = db, texts, forum, names, lang

    def router(self) -> Router:
        """The agency's command, its answer button (sent through the outbox, so not tied to a screen) and the
        answer it waits for."""
        return Router("agency", commands=(
            Command("forwarded", AGENCY, "menu.forwarded", self.on_list, vi="chuyenden"),
        ), taps={"g": Buttons(AGENCY, self.on_tap, screened=False)}, pending="agency", typed=self.on_typed)

    def _t(self, lang: str, key: str, **values: object) -> str:
        """A catalogue text."""
        return self.texts.get(lang, key, **values)

    def _label(self, agency: str, lang: str) -> str:
        """An agency's name in a language."""
        entry = self.forum.agency(agency)
        return entry.label.get(lang) if entry else agency

    async def on_list(self, call: Call) -> Outcome:
        """Open proposals forwarded to the person's agencies (officials see every forwarded one, without buttons)."""
        lang, who = call.lang, call.person
        pairs = None if who.official and not who.answers else sorted(who.answers)
        items = await store.forwarded_to(self.db, pairs)
        if not items:
            return say(self.texts, lang, "agency.empty")
        lines = [self._t(lang, "agency.title", count=len(items))]
        choices = []
        for item, agency in items:
            topic = self.forum.topic(item.topic)
            lines += ["", self._t(lang, "agency.line", ref=item.ref, agency=self._label(agency, lang),
                                  topic=topic.label.get(lang) if topic else item.topic,
                                  age=(call.now - aware(item.created_at)).days,
                                  status=self._t(lang, f"status.{item.status}"), text=item.text[:300])]
            if (item.commune, agency) in who.answers:
                choices.append(Choice(f"g:a:{item.id}", self._t(lang, "agency.choice", ref=item.ref)))
        return Outcome((Reply("\n".join(lines), tuple(choices), key="agency.list"),))

    async def _mine(self, who: Person, proposal_id: int | None) -> tuple[store.Item | None, str | None]:
        """The proposal and the person's agency it was forwarded to, or (item, None) when it was not."""
        item = await store.get(self.db, proposal_id) if proposal_id is not None else None
        if item is None:
            return None, None
        sent = await store.forwarded(self.db, item.id)
        return item, next((a for c, a in sorted(who.answers) if c == item.commune and a in sent), None)

    async def on_tap(self, call: Call) -> Outcome:
        """'Answer' on a forwarded proposal: ask for the text."""
        tap, lang = call.tap, call.lang
        if tap is None or tap.verb != "a":
            return say(self.texts, lang, "desk.invalid")
        item, agency = await self._mine(call.person, tap.number())
        if item is None:
            return say(self.texts, lang, "desk.invalid")
        if agency is None:
            return say(self.texts, lang, "agency.not_forwarded")
        if item.status in store.CLOSED:
            return say(self.texts, lang, "desk.closed", ref=item.ref, status=self._t(lang, f"status.{item.status}"))
        asked = say(self.texts, lang, "agency.ask_answer", agency=self._label(agency, lang), ref=item.ref,
                    low=self.forum.min_length, high=self.forum.max_length)
        return Outcome(asked.replies, keep={"id": item.id})

    async def on_typed(self, call: Call) -> Outcome:
        """The agency's answer: on the proposal's history as that agency's, to the child and to the leaders."""
        state, lang = call.state or {}, call.lang
        number = state.get("id")
        item, agency = await self._mine(call.person, number if isinstance(number, int) else None)
        if item is None or agency is None:
            return say(self.texts, lang, "agency.not_forwarded")
        if item.status in store.CLOSED:
            return say(self.texts, lang, "desk.closed", ref=item.ref, status=self._t(lang, f"status.{item.status}"))
        answer = clean(call.text or "", self.forum.max_length)
        if not self.forum.min_length <= len(answer) <= self.forum.max_length:
            return Outcome(say(self.texts, lang, "desk.answer_length", low=self.forum.min_length,
                               high=self.forum.max_length).replies, keep=state)
        labels = {g: self._label(agency, g) for g in LANGS}
        values: dict[str, Any] = {"ref": item.ref, "agency": labels, "text": answer}
        key = f"prop:{item.id}:agency-answer:{call.incoming.update_key or call.now.timestamp()}"
        child = outbox.payload(self._t(self.lang, "notify.answered_by", **_in(values, self.lang)),
                               key="notify.answered_by", values=values)
        leaders = outbox.payload(self._t(self.lang, "notify.agency_answered", **_in(values, self.lang)),
                                 key="notify.agency_answered", values=values)
        changes = {"status": "answered", "first_answer_at": func.coalesce(Proposal.first_answer_at, call.now)}
        writes = store.act(self.db, item, kind="answered", actor=AGENCY, detail=answer, now=call.now,
                           changes=changes, notify=(key, "answer", child), agency=agency)
        writes.append(outbox.enqueue(self.db, f"{key}:leaders", store.leaders(item.commune), "notice", leaders,
                                     call.now))
        done = say(self.texts, lang, "agency.answered", agency=self._label(agency, lang), ref=item.ref)
        return Outcome(done.replies, tuple(writes))


def _in(values: dict[str, Any], lang: str) -> dict[str, Any]:
    """Values with every per-language label resolved to one language."""
    return {k: v.get(lang, next(iter(v.values()))) if isinstance(v, dict) else v for k, v in values.items()}
