"""Invites and roles: create, redeem once, revoke, list."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine
from sqlalchemy.sql import Executable

from storage.db import aware, upsert
from storage.models import Invite, RoleGrant
from storage.writes import Refused, Step


@dataclass(frozen=True, slots=True)
class InviteInfo:
    """An invite as the office sees it."""

    id: str
    role: str
    commune: str
    expires_at: datetime
    state: str


def redeem(invite_id: str, person: str, now: datetime) -> Step:
    """Use an invite once and grant its role; the step gives (role, commune) or refuses with `invite.invalid`."""
    async def run(conn: AsyncConnection) -> tuple[str, str]:
        row = (await conn.execute(select(Invite.role, Invite.commune, Invite.expires_at)
                                  .where(Invite.id == invite_id))).first()
        if row is None or aware(row.expires_at) <= now:
            raise Refused("invite.invalid")
        used = await conn.execute(update(Invite).where(Invite.id == invite_id, Invite.used_at.is_(None),
                                                       Invite.revoked_at.is_(None)).values(used_at=now))
        if used.rowcount != 1:
            raise Refused("invite.invalid")
        await conn.execute(upsert(conn, RoleGrant.__table__, ["person", "role", "commune"],
                                  {"person": person, "role": row.role, "commune": row.commune, "granted_at": now}))
        return row.role, row.commune

    return Step("invite", run)


def create(invite_id: str, role: str, commune: str, now: datetime, expires: datetime) -> Executable:
    """A new invite."""
    return Invite.__table__.insert().values(id=invite_id, role=role, commune=commune, created_at=now,
                                            expires_at=expires)


async def revoke(engine: AsyncEngine, invite_id: str, now: datetime) -> bool:
    """Revoke an unused invite; returns whether one was revoked."""
    async with engine.begin() as conn:
        result = await conn.execute(update(Invite).where(Invite.id == invite_id, Invite.used_at.is_(None),
                                                         Invite.revoked_at.is_(None)).values(revoked_at=now))
        return result.rowcount == 1


async def listing(engine: AsyncEngine, now: datetime) -> list[InviteInfo]:
    """Every invite with its state: open, used, revoked or expired."""
    async with engine.connect() as conn:
        rows = await conn.execute(select(Invite).order_by(Invite.created_at.desc()))
        return [InviteInfo(i.id, i.role, i.commune, aware(i.expires_at), _state(i, now)) for i in rows]


def _state(invite: Any, now: datetime) -> str:
    """Name the state of an invite."""
    if invite.used_at:
        return "used"
    if invite.revoked_at:
        return "revoked"
    return "expired" if aware(invite.expires_at) <= now else "open"

