"""Children's safety: every free text screened, an alert to the people who act, and their actions on it."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine

from analytics.dates import vn_datetime
from bot import access
from bot.access import OFFICER
from bot.router import Buttons, Call, Command, Outcome, Router, say
from conversations import Catalogue, Choice, Reply
from conversations.matching import clean
from conversations.model import LANGS
from conversations.safety import Screen
from storage import alerts, outbox
from storage.writes import Item

Names = Callable[[], Awaitable[dict[str, str]]]
PLACES = ("police", "school", "social", "hotline")  # where an alert may be handed on
REPLY_LIMIT = 1000


class Alerts:
    """Screens what people write and lets child-protection officers, leaders and officials act on alerts."""

    def __init__(self, db: AsyncEngine, texts: Catalogue, screen: Screen, names: Names, admins: frozenset[str],
                 lang: str = "vi") -> None:
        self.db, self.texts, self.screen, self.names, self.admins, self.lang = db, texts, screen, names, admins, lang

    def router(self) -> Router:
        """The alert queue and the buttons on every alert."""
        return Router("alerts", commands=(
            Command("alerts", OFFICER, "menu.alerts", self.on_list, vi="canhbao"),
        ), taps={"a": Buttons(OFFICER, self.on_tap, screened=False)}, pending="alert", typed=self.on_typed)

    # ------------------------------------------------------------------ screening
    async def screened(self, person: str, text: str, session: dict[str, Any] | None, lang: str,
                       now: datetime) -> tuple[Reply, Item] | None:
        """The first reply and the alert for a text that signals abuse or danger; None for any other text."""
        found = self.screen.check(text)
        if not found.categories:
            return None
        s = session or {}
        commune = ((s.get("profile") or {}).get("commune") or (s.get("proposal") or {}).get("commune")
                   or s.get("forum_commune") or (s.get("data") or {}).get("commune"))
        source = {"proposal": "proposal", "survey": "comment"}.get(str(s.get("flow")), "message")
        told = await alerts.receivers(self.db, commune, sorted(self.admins)) > 0
        group = (s.get("profile") or {}).get("group") or (s.get("data") or {}).get("group") or s.get("forum_group")
        voice = "adult" if group == "resident" else "child"
        key = f"safety.{voice}.{'told' if told else 'untold'}"
        names = await self.names()
        step = alerts.raise_alert(source=source, commune=commune, text=clean(text, 2000),
                                  categories=found.categories, author=person, now=now,
                                  notice=self._notice(found.categories, commune, names, source, clean(text, 2000)),
                                  admins=sorted(self.admins))
        return Reply(self.texts.get(lang, key), key=key), step

    def _notice(self, categories: tuple[str, ...], commune: str | None, names: dict[str, str], source: str,
                text: str) -> Callable[[str], dict[str, Any]]:
        """How the alert reads to each person who receives it, in their language, with its actions."""
        def label(key: str, fallback: str) -> dict[str, str]:
            return {g: self.texts.get(g, key) if self.texts.has(g, key) else fallback for g in LANGS}

        shown = {g: ", ".join(label(f"alert.category.{c}", c)[g] for c in categories) for g in LANGS}
        where = names.get(commune, commune) if commune else label("alerts.no_commune", "?")
        values = {"categories": shown, "commune": where, "source": label(f"alert.source.{source}", source),
                  "text": text}

        def notice(alert_id: str) -> dict[str, Any]:
            local = {k: v[self.lang] if isinstance(v, dict) else v for k, v in values.items()}
            buttons = [(f"a:{verb}:{alert_id}", label(f"alerts.choice.{name}", name))
                       for verb, name in (("k", "ack"), ("c", "false"), ("h", "handed"), ("r", "reply"))]
            return outbox.payload(self.texts.get(self.lang, "notify.alert", id=alert_id, **local), buttons,
                                  "notify.alert", values={**values, "id": alert_id})

        return notice

    # ------------------------------------------------------------------ the queue
    async def on_list(self, call: Call) -> Outcome:
        """Open alerts in the person's scope, oldest first, each with its age and its actions."""
        found = await alerts.listing(self.db, access.scope(call.person, None, OFFICER))
        if not found:
            return say(self.texts, call.lang, "alerts.none")
        names = await self.names()
        replies = [Reply(self.texts.get(call.lang, "alerts.title", count=len(found)), key="alerts.title")]
        for alert in found[:10]:
            hours = (call.now - alert.created_at).total_seconds() / 3600
            text = self.texts.get(call.lang, "alerts.line", id=alert.id, when=vn_datetime(alert.created_at),
                                  hours=f"{hours:.0f}", commune=names.get(alert.commune or "", alert.commune or "?"),
                                  text=alert.text[:300])
            choices = tuple(Choice(f"a:{verb}:{alert.id}", self.texts.get(call.lang, f"alerts.choice.{name}"))
                            for verb, name in (("k", "ack"), ("c", "false"), ("h", "handed"), ("r", "reply")))
            replies.append(Reply(text, choices, key="alerts.line"))
        return Outcome(tuple(replies))

    async def on_tap(self, call: Call) -> Outcome:
        """An action on an alert, checked against the alert's commune."""
        tap, lang = call.tap, call.lang
        alert_id = tap.number() if tap else None
        alert = await alerts.get(self.db, alert_id) if alert_id is not None else None
        if tap is None or alert is None:
            return say(self.texts, lang, "desk.invalid")
        denied = self._denied(call, alert)
        if denied:
            return say(self.texts, lang, denied)
        role = call.person.role
        if tap.verb == "k":
            return Outcome(say(self.texts, lang, "alerts.acked", id=alert.id).replies,
                           tuple(alerts.act(alert.id, kind="acknowledged", status="acknowledged", actor=role,
                                            detail=None, now=call.now)))
        if tap.verb == "c":
            return Outcome(say(self.texts, lang, "alerts.ask_reason", id=alert.id).replies,
                           keep={"do": "false", "id": alert.id})
        if tap.verb == "r":
            return Outcome(say(self.texts, lang, "alerts.ask_reply", id=alert.id).replies,
                           keep={"do": "reply", "id": alert.id})
        if tap.verb == "h":
            choices = tuple(Choice(f"a:t:{alert.id}:{p}", self.texts.get(lang, f"alerts.place.{p}")) for p in PLACES)
            return Outcome((Reply(self.texts.get(lang, "alerts.ask_where", id=alert.id), choices,
                                  key="alerts.ask_where"),))
        if tap.verb == "t" and tap.arg(1) in PLACES:
            place = tap.arg(1)
            return Outcome(say(self.texts, lang, "alerts.handed", id=alert.id,
                               place=self.texts.get(lang, f"alerts.place.{place}")).replies,
                           tuple(alerts.act(alert.id, kind="handed_on", status="handed_on", actor=role,
                                            detail=place, now=call.now)))
        return say(self.texts, lang, "desk.invalid")

    async def on_typed(self, call: Call) -> Outcome:
        """The reason for a false alarm, or the reply to the child."""
        state, lang = call.state or {}, call.lang
        number = state.get("id")
        alert = await alerts.get(self.db, int(number)) if isinstance(number, int) else None
        if alert is None or self._denied(call, alert):
            return say(self.texts, lang, "desk.invalid")
        text = clean(call.text or "", REPLY_LIMIT)
        if len(text) < 3:
            return Outcome(say(self.texts, lang, "alerts.too_short").replies, keep=state)
        role = call.person.role
        if state.get("do") == "false":
            return Outcome(say(self.texts, lang, "alerts.false_done", id=alert.id).replies,
                           tuple(alerts.act(alert.id, kind="false_alarm", status="false_alarm", actor=role,
                                            detail=text, now=call.now)))
        body = outbox.payload(self.texts.get(self.lang, "alerts.to_child", text=text), key="alerts.to_child",
                              values={"text": text})
        writes = [*alerts.act(alert.id, kind="replied", status=None, actor=role, detail=text, now=call.now),
                  alerts.reply_to_child(self.db, alert.id, alerts.author(alert.id), body, call.now)]
        return Outcome(say(self.texts, lang, "alerts.replied", id=alert.id).replies, tuple(writes))

    @staticmethod
    def _denied(call: Call, alert: alerts.AlertInfo) -> str | None:
        """Whether the person may act on this alert: officials always, others in its commune."""
        if alert.commune is None:
            return None if call.person.official else "access.other_commune"
        return access.check(call.person, OFFICER, alert.commune)
