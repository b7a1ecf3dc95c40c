"""Turns the engine's effects into the writes of the update's one transaction."""

from __future__ import annotations

import dataclasses
from datetime import datetime
from typing import Any

from bot.identity import Identity
from bot.router import Outcome, Results
from conversations import Catalogue, Incoming, Reply, Result
from conversations.effects import (
    CreateProposal,
    Forget,
    PollConsent,
    RecordConsent,
    SaveAnswer,
    SaveProfile,
    StartResponse,
    Submit,
)
from conversations.forum import Forum
from conversations.matching import fold
from conversations.model import LANGS
from conversations.safety import Screen
from storage import forum, outbox, polls, repo
from storage.writes import Item


class Writer:
    """Knows how each effect is stored; the engine only names them."""

    def __init__(self, identity: Identity, texts: Catalogue, forum_rules: Forum, lang: str,
                 admins: frozenset[str], screen: Screen) -> None:
        self.screen = screen
        self.identity = identity
        self.texts = texts
        self.forum = forum_rules
        self.lang = lang
        self.admins = admins

    def outcome(self, person: str, incoming: Incoming, before: dict[str, Any] | None, result: Result,
                round_id: str | None, names: dict[str, str], now: datetime) -> Outcome:
        """The writes that store the effects and the new session, and the replies once they are committed."""
        lang = (result.session or before or {}).get("lang", self.lang)
        writes = self._effects(person, incoming, before, result, round_id, names, now, lang)
        if result.session is None:
            if not any(isinstance(e, Forget) for e in result.effects):  # forgetting deleted it already
                writes.append(repo.delete_session(person))
        else:
            writes.append(repo.save_session(person, result.session, now))
        replies = result.replies
        if not any(isinstance(e, CreateProposal) for e in result.effects):
            return Outcome(replies, tuple(writes))

        async def receipt(results: Results) -> list[Reply]:
            ref, created = results["proposal"]
            return [_receipt(r, ref, created, self.texts, lang) for r in replies]

        return Outcome(writes=tuple(writes), after=receipt)

    def _effects(self, person: str, incoming: Incoming, before: dict[str, Any] | None, result: Result,
                 round_id: str | None, names: dict[str, str], now: datetime, lang: str) -> list[Item]:
        """One write (or step) per effect, in the engine's order."""
        day = now.date().isoformat()
        writes: list[Item] = []
        for effect in result.effects:
            if isinstance(effect, SaveProfile):
                writes.append(repo.save_profile(person, {
                    "group": effect.group, "age_band": effect.age_band, "commune": effect.commune,
                    "consent": "+".join(effect.consent), "consent_version": effect.version,
                    "consent_purpose": effect.purpose, "consent_at": effect.at, "lang": effect.lang}))
                writes.append(repo.save_contact(person, incoming.channel, incoming.chat_id, now, lang))
            elif isinstance(effect, RecordConsent):
                writes.append(repo.save_consent(person, effect.purpose, effect.given_by, effect.version, effect.at))
                writes.append(repo.save_contact(person, incoming.channel, incoming.chat_id, now, lang))
            elif isinstance(effect, StartResponse):
                writes.append(repo.start_response({
                    "id": effect.response_id, "round_id": effect.round_id, "commune": effect.commune,
                    "group": effect.group, "age_band": effect.age_band, "version": effect.version,
                    "submitted": False, "started_on": day}))
            elif isinstance(effect, SaveAnswer):
                writes.append(repo.save_answer(effect.response_id, effect.question_id, effect.option_id,
                                               effect.satisfied, effect.text))
            elif isinstance(effect, Submit):
                writes.append(repo.submit(effect.response_id, day))
                writes.append(repo.participate(effect.round_id,
                                               self.identity.participation(effect.round_id, person)))
            elif isinstance(effect, Forget):
                survey = (before or {}).get("survey") or {}
                writes.extend(repo.forget(person, survey.get("response")))
            elif isinstance(effect, CreateProposal):
                writes.append(self._proposal(person, effect, round_id, names, now))
            elif isinstance(effect, PollConsent):
                writes.append(repo.save_contact(person, incoming.channel, incoming.chat_id, now, lang))
                writes.append(polls.consent(person, effect.agree))
        return writes

    def _labels(self, key: str, fallback: str) -> dict[str, str]:
        """A catalogue label in every language, or the fallback where there is none."""
        return {g: self.texts.get(g, key) if self.texts.has(g, key) else fallback for g in LANGS}

    def _proposal(self, person: str, effect: CreateProposal, round_id: str | None, names: dict[str, str],
                  now: datetime) -> Item:
        """File the proposal and tell the commune's leaders, each in their language."""
        topic = self.forum.topic(effect.topic)
        values: dict[str, Any] = {
            "topic": {g: topic.label.get(g) for g in LANGS} if topic else effect.topic,
            "commune": names.get(effect.commune, effect.commune)}

        def notice(ref: str) -> dict[str, Any]:
            shown = {k: v[self.lang] if isinstance(v, dict) else v for k, v in values.items()}
            return outbox.payload(self.texts.get(self.lang, "notify.new", ref=ref, **shown), key="notify.new",
                                  values={**values, "ref": ref})

        return forum.file(author=person, fingerprint=self.identity.derived(f"proposal:{person}:{fold(effect.text)}"),
                          commune=effect.commune, topic=effect.topic, text=effect.text, publish=effect.publish,
                          round_id=round_id, now=now, notice=notice,
                          sensitive=bool(self.screen.categories(effect.text)))  # filed, never published


def _receipt(reply: Reply, ref: str, created: bool, texts: Catalogue, lang: str) -> Reply:
    """Fill the reference into the receipt, or say the same proposal was sent before."""
    if reply.key != "forum.receipt":
        return reply
    if created:
        return dataclasses.replace(reply, text=reply.text.replace("{ref}", ref))
    return Reply(texts.get(lang, "forum.duplicate", ref=ref), key="forum.duplicate")
