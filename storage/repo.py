"""Repository functions for conversations: reads, and the statements a unit of work writes."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import bindparam, delete, select, update
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlalchemy.sql import Executable

from conversations.turn import Window
from storage.models import (
    Alert,
    Answer,
    Commune,
    Consent,
    Contact,
    Participation,
    ProcessedUpdate,
    Proposal,
    Respondent,
    Response,
    RoleGrant,
    Round,
    Session,
    Vote,
)
from storage.rounds import window_state
from storage.writes import Write


@dataclass(frozen=True, slots=True)
class State:
    """What the service needs before calling the engine."""

    seen: bool
    session: dict[str, Any] | None
    round_id: str | None
    window: Window | None = None


def _open(column: Any) -> Any:
    """One column of the open round, as a scalar subquery."""
    return select(column).where(Round.status == "open").limit(1).scalar_subquery()


STATE = select(
    select(ProcessedUpdate.key).where(ProcessedUpdate.key == bindparam("key")).scalar_subquery(),
    select(Session.data).where(Session.person == bindparam("person")).scalar_subquery(),
    _open(Round.id), _open(Round.opens), _open(Round.closes),
)


async def load_state(engine: AsyncEngine, person: str, update_key: str | None, now: datetime | None = None) -> State:
    """Read in one round trip whether the update was seen, the person's session and the round taking answers.

    A round takes answers only between its opening and closing days (Vietnam time); outside them `round_id`
    is None and `window` says whether the survey is still to open or has closed, for the engine to tell.
    """
    async with engine.connect() as conn:
        row = (await conn.execute(STATE, {"key": update_key or "", "person": person})).one()
    seen, session, round_id, opens, closes = row
    if isinstance(session, str):
        session = json.loads(session)
    window = None
    if round_id is not None:
        state = window_state("open", opens, closes, now or datetime.now(UTC))
        if state != "open":
            window, round_id = Window(round_id, state, opens, closes), None
    return State(seen is not None, session, round_id, window)


async def participated(engine: AsyncEngine, round_id: str, token: str) -> bool:
    """Tell whether a participation token was recorded for a round."""
    async with engine.connect() as conn:
        query = select(Participation.token).where(Participation.round_id == round_id, Participation.token == token)
        return (await conn.execute(query)).first() is not None


async def communes(engine: AsyncEngine) -> list[tuple[str, str]]:
    """Current communes as (code, name), in name order."""
    async with engine.connect() as conn:
        rows = await conn.execute(select(Commune.code, Commune.name)
                                  .where(Commune.valid_to.is_(None), Commune.merged_into.is_(None))
                                  .order_by(Commune.name))
        return [(code, name) for code, name in rows]


async def roles(engine: AsyncEngine, person: str) -> list[tuple[str, str]]:
    """The roles a person holds as (role, commune)."""
    async with engine.connect() as conn:
        rows = await conn.execute(select(RoleGrant.role, RoleGrant.commune).where(RoleGrant.person == person))
        return [(role, commune) for role, commune in rows]


def mark_processed(key: str, now: datetime) -> Write:
    """Remember an update key."""
    return Write("processed", {"key": key, "seen_at": now})


def save_session(person: str, data: dict[str, Any], now: datetime) -> Write:
    """Store the conversation state, with the commune and the round of a survey in progress for reminders."""
    commune = (data.get("profile") or {}).get("commune")
    open_round = (data.get("survey") or {}).get("round")
    return Write("session", {"person": person, "data": data, "updated_at": now, "commune": commune,
                             "open_round": open_round})


def remember_choices(channel: str, chat_id: str, choices: list[list[str]]) -> Executable:
    """Keep the choices last shown in a chat, for channels where people type a number instead of tapping."""
    return update(Contact).where(Contact.channel == channel, Contact.chat_id == chat_id).values(last_choices=choices)


async def recall_choices(engine: AsyncEngine, channel: str, chat_id: str) -> list[list[str]]:
    """The choices last shown in a chat, as [id, label] pairs."""
    async with engine.connect() as conn:
        found = await conn.execute(select(Contact.last_choices).where(Contact.channel == channel,
                                                                      Contact.chat_id == chat_id))
        return found.scalar() or []


def opt_in(person: str) -> Executable:
    """Turn proactive messages back on for a person's contacts."""
    return update(Contact).where(Contact.person == person).values(opted_out=False)


def delete_session(person: str) -> Write:
    """Drop the conversation state."""
    return Write("session_delete", {"person": person})


async def processed(engine: AsyncEngine, key: str) -> bool:
    """Whether an update key is stored."""
    async with engine.connect() as conn:
        return (await conn.execute(select(ProcessedUpdate.key).where(ProcessedUpdate.key == key))).first() is not None


def save_profile(person: str, values: dict[str, Any]) -> Write:
    """Store consent and the least profile."""
    return Write("profile", {"key": person, **values})


def save_contact(person: str, channel: str, chat_id: str, now: datetime, lang: str | None = None) -> Write:
    """Store how to reach a person, and in which language."""
    return Write("contact", {"person": person, "channel": channel, "chat_id": chat_id, "created_at": now,
                             "opted_out": False, "unreachable": False, "lang": lang})


def reachable(channel: str, chat_id: str) -> Write:
    """A person who writes can be reached again (a Zalo OA window reopens; a Telegram block was lifted)."""
    return Write("reachable", {"ch": channel, "chat": chat_id})


def save_consent(person: str, purpose: str, given_by: str, version: str, at: datetime) -> Write:
    """Record consent for a purpose."""
    return Write("consent", {"person": person, "purpose": purpose, "given_by": given_by, "version": version, "at": at})


def start_response(values: dict[str, Any]) -> Write:
    """Create an unsubmitted response."""
    return Write("response", {"answers_scored": None, "answers_satisfied": None, "submitted_on": None, **values})


def save_answer(response_id: str, question: str, option: str | None, satisfied: bool | None,
                text: str | None) -> Write:
    """Store or replace one answer, or remove it when it is empty."""
    if option is None and text is None:
        return Write("answer_clear", {"rid": response_id, "q": question})
    return Write("answer", {"response_id": response_id, "question": question, "option": option,
                            "satisfied": None if satisfied is None else int(satisfied), "text": text})


def submit(response_id: str, day: str) -> Write:
    """Lock a response and fix its totals of scored and satisfied answers."""
    return Write("submit", {"rid": response_id, "day": day})


def participate(round_id: str, token: str) -> Write:
    """Record that a person answered the round; the primary key refuses a second time."""
    return Write("participate", {"round_id": round_id, "token": token})


def forget(person: str, open_response: str | None) -> list[Executable | Write]:
    """Erase a person: profile, consents, contacts, roles, poll votes, session, any unsubmitted response; unlink
    proposals (author and the fingerprint derived from the author and the text) and alerts."""
    statements: list[Executable | Write] = [
        delete(Respondent).where(Respondent.key == person),
        delete(Consent).where(Consent.person == person),
        update(Proposal).where(Proposal.author == person).values(author=None, fingerprint=None),
        update(Alert).where(Alert.author == person).values(author=None),
        delete(Contact).where(Contact.person == person),
        delete(RoleGrant).where(RoleGrant.person == person),
        delete(Vote).where(Vote.person == person),
        delete_session(person),
    ]
    if open_response:
        unsubmitted = select(Response.id).where(Response.id == open_response, Response.submitted.is_(False))
        statements += [delete(Answer).where(Answer.response_id.in_(unsubmitted)),
                       delete(Response).where(Response.id == open_response, Response.submitted.is_(False))]
    return statements
