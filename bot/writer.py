"""Turns the engine's effects into storage writes: one unit per update, plus the forum's numbered records."""

from __future__ import annotations

import dataclasses
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine
from sqlalchemy.sql import Executable

from bot.identity import Identity
from conversations import Catalogue, Incoming, Reply, Result
from conversations.effects import (
    CreateProposal,
    Forget,
    RaiseAlert,
    RecordConsent,
    SaveAnswer,
    SaveProfile,
    StartResponse,
    Submit,
)
from conversations.matching import fold
from storage import forum, outbox, repo
from storage.writes import Write


class Writer:
    """Knows how each effect is stored; the engine only names them."""

    def __init__(self, db: AsyncEngine, identity: Identity, texts: Catalogue, lang: str,
                 admins: frozenset[str]) -> None:
        self.db = db
        self.identity = identity
        self.texts = texts
        self.lang = lang
        self.admins = admins

    async def forum(self, person: str, result: Result, round_id: str | None, names: dict[str, str],
                    now: datetime) -> tuple[Result, list[Executable]]:
        """File proposals and alerts (they need their numbers now) and fill the receipt with the reference."""
        replies, extra = list(result.replies), []
        for effect in result.effects:
            if isinstance(effect, CreateProposal):
                topic = effect.topic
                notice = {"text": self.texts.get(self.lang, "notify.new", ref="{ref}", topic=topic,
                                                  commune=names.get(effect.commune, effect.commune))}
                ref, created = await forum.create(
                    self.db, author=person, fingerprint=self.identity.derived(f"proposal:{person}:{fold(effect.text)}"),
                    commune=effect.commune, topic=effect.topic, text=effect.text, publish=effect.publish,
                    round_id=round_id, now=now, notice=notice)
                lang = (result.session or {}).get("lang", self.lang)
                replies = [_receipt(r, ref, created, self.texts, lang) for r in replies]
            elif isinstance(effect, RaiseAlert):
                alert_id = await forum.raise_alert(self.db, source=effect.source, commune=effect.commune,
                                                   text=effect.text, categories=effect.categories, author=person,
                                                   now=now)
                text = self.texts.get(self.lang, "notify.alert", id=alert_id, categories=", ".join(effect.categories),
                                      commune=names.get(effect.commune, effect.commune), source=effect.source,
                                      text=effect.text)
                body = outbox.payload(text, [(f"f:c:{alert_id}", self.texts.get(self.lang, "desk.choice.clear"))],
                                      "notify.alert")
                persons = await forum.responsible(self.db, effect.commune, sorted(self.admins))
                extra.append(outbox.enqueue(self.db, f"alert:{alert_id}", persons, "alert", body, now))
        return dataclasses.replace(result, replies=tuple(replies)), extra

    def unit(self, person: str, incoming: Incoming, before: dict[str, Any] | None, result: Result,
             now: datetime) -> list[Executable | Write]:
        """The statements that store the effects and the new session in one transaction."""
        day = now.date().isoformat()
        unit: list[Executable | Write] = []
        for effect in result.effects:
            if isinstance(effect, SaveProfile):
                unit.append(repo.save_profile(person, {
                    "group": effect.group, "age_band": effect.age_band, "commune": effect.commune,
                    "consent": "+".join(effect.consent), "consent_version": effect.version,
                    "consent_purpose": effect.purpose, "consent_at": effect.at, "lang": effect.lang}))
                unit.append(repo.save_contact(person, incoming.channel, incoming.chat_id, now))
            elif isinstance(effect, RecordConsent):
                unit.append(repo.save_consent(person, effect.purpose, effect.given_by, effect.version, effect.at))
                unit.append(repo.save_contact(person, incoming.channel, incoming.chat_id, now))
            elif isinstance(effect, StartResponse):
                unit.append(repo.start_response({
                    "id": effect.response_id, "round_id": effect.round_id, "commune": effect.commune,
                    "group": effect.group, "age_band": effect.age_band, "version": effect.version,
                    "submitted": False, "started_on": day}))
            elif isinstance(effect, SaveAnswer):
                unit.append(repo.save_answer(effect.response_id, effect.question_id, effect.option_id,
                                             effect.satisfied, effect.text))
            elif isinstance(effect, Submit):
                unit.append(repo.submit(effect.response_id, day))
                unit.append(repo.participate(effect.round_id, self.identity.participation(effect.round_id, person)))
            elif isinstance(effect, Forget):
                survey = (before or {}).get("survey") or {}
                unit.extend(repo.forget(person, survey.get("response")))
        if result.session is None:
            if not any(isinstance(e, Forget) for e in result.effects):  # forgetting deleted it already
                unit.append(repo.delete_session(person))
        else:
            unit.append(repo.save_session(person, result.session, now))
        return unit


def _receipt(reply: Reply, ref: str, created: bool, texts: Catalogue, lang: str) -> Reply:
    """Fill the reference into the receipt, or say the same proposal was sent before."""
    if reply.key != "forum.receipt":
        return reply
    if created:
        return dataclasses.replace(reply, text=reply.text.replace("{ref}", ref))
    return Reply(texts.get(lang, "forum.duplicate", ref=ref), key="forum.duplicate")

