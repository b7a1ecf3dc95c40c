"""One-time login links and browser sessions of the office's web page, kept by the hash of their token."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlalchemy.sql import Executable

from storage.db import aware
from storage.models import WebSession

LINK, SESSION = "link", "session"


def create_link(digest: str, person: str, now: datetime, expires: datetime) -> Executable:
    """A new one-time login link (written in the chat update's transaction)."""
    return WebSession.__table__.insert().values(id=digest, kind=LINK, person=person, created_at=now,
                                                expires_at=expires)


async def redeem(engine: AsyncEngine, link: str, session: str, now: datetime, expires: datetime) -> str | None:
    """Use a link once and open a session for its person; the person, or None for a used, expired or revoked link."""
    async with engine.begin() as conn:
        used = await conn.execute(update(WebSession).where(
            WebSession.id == link, WebSession.kind == LINK, WebSession.used_at.is_(None),
            WebSession.revoked_at.is_(None), WebSession.expires_at > now).values(used_at=now))
        if used.rowcount != 1:
            return None
        person = (await conn.execute(select(WebSession.person).where(WebSession.id == link))).scalar_one()
        await conn.execute(WebSession.__table__.insert().values(id=session, kind=SESSION, person=person,
                                                                created_at=now, expires_at=expires))
        return person


async def person(engine: AsyncEngine, session: str, now: datetime) -> str | None:
    """The person of a live session, else None."""
    async with engine.connect() as conn:
        row = (await conn.execute(select(WebSession.person, WebSession.expires_at).where(
            WebSession.id == session, WebSession.kind == SESSION, WebSession.revoked_at.is_(None)))).first()
    return row.person if row is not None and aware(row.expires_at) > now else None


async def end(engine: AsyncEngine, session: str, now: datetime) -> None:
    """Log one session out."""
    async with engine.begin() as conn:
        await conn.execute(update(WebSession).where(WebSession.id == session, WebSession.revoked_at.is_(None))
                           .values(revoked_at=now))


def end_all(person: str, now: datetime) -> Executable:
    """Revoke every link and session of a person (written in the chat update's transaction)."""
    return update(WebSession).where(WebSession.person == person, WebSession.revoked_at.is_(None)).values(
        revoked_at=now)
