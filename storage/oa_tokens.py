"""The Zalo OA token row: create it, read it, lease it for one refresher, store a refreshed pair, mark re-auth.

Every function is one short transaction and does no network I/O; the HTTP call to OAuth and the timing stay in
`bot.channels.zalo_oa_tokens`, which reaches these functions through `OATokenRepo`.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import or_, select, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from storage import outbox
from storage.db import aware, insert_ignore
from storage.models import OATokens, RoleGrant


@dataclass(frozen=True, slots=True)
class OATokenRow:
    """The stored token pair of one OA app."""

    access: str | None
    refresh: str | None
    expires_at: datetime | None
    refreshed_at: datetime | None
    version: int
    status: str
    error: str | None


async def prepare(db: AsyncEngine, app_id: str, first_refresh_token: str, now: datetime) -> bool:
    """Create the row from the configured refresh token, or renew it from a newly configured one; True if renewed."""
    seed = hashlib.sha256(first_refresh_token.encode()).hexdigest() if first_refresh_token else ""
    async with db.begin() as conn:
        await conn.execute(insert_ignore(db, OATokens.__table__, {
            "app_id": app_id, "refresh_token": first_refresh_token or None, "version": 0, "seed": seed,
            "status": "ok" if first_refresh_token else "reauth", "updated_at": now,
            "error": None if first_refresh_token else "ZALO_OA_REFRESH_TOKEN is not set"}))
        if not seed:
            return False
        renewed = (await conn.execute(update(OATokens).where(
            OATokens.app_id == app_id, OATokens.seed != seed).values(
            refresh_token=first_refresh_token, access_token=None, expires_at=None, refreshed_at=None, status="ok",
            error=None, seed=seed, version=OATokens.version + 1, lease_until=None, lease_owner=None,
            updated_at=now))).rowcount
    return bool(renewed)


async def load(db: AsyncEngine, app_id: str) -> OATokenRow:
    """Read the row of an app (it must exist: `prepare` creates it)."""
    async with db.connect() as conn:
        row = (await conn.execute(select(OATokens.__table__).where(OATokens.app_id == app_id))).one()
    return OATokenRow(row.access_token, row.refresh_token, row.expires_at and aware(row.expires_at),
                      row.refreshed_at and aware(row.refreshed_at), row.version, row.status, row.error)


async def take_lease(db: AsyncEngine, app_id: str, seen: int, owner: str, now: datetime,
                     until: datetime) -> str | None:
    """Lease the pair of version `seen` when it is usable and unleased; its refresh token, or None if not taken."""
    async with db.begin() as conn:
        taken = (await conn.execute(update(OATokens).where(
            OATokens.app_id == app_id, OATokens.version == seen, OATokens.status == "ok",
            or_(OATokens.lease_until.is_(None), OATokens.lease_until < now)).values(
            lease_until=until, lease_owner=owner))).rowcount == 1
        if not taken:
            return None
        refresh = (await conn.execute(select(OATokens.refresh_token).where(OATokens.app_id == app_id))).scalar()
    return refresh or ""


async def store_refreshed(db: AsyncEngine, app_id: str, seen: int, access: str, refresh: str, expires_at: datetime,
                          now: datetime) -> bool:
    """Replace the pair of version `seen` by a refreshed one and drop the lease; False if the version moved on."""
    async with db.begin() as conn:
        stored = (await conn.execute(update(OATokens).where(
            OATokens.app_id == app_id, OATokens.version == seen).values(
            access_token=access, refresh_token=refresh, expires_at=expires_at, refreshed_at=now, version=seen + 1,
            lease_until=None, lease_owner=None, status="ok", error=None, updated_at=now))).rowcount
    return bool(stored)


async def release_lease(db: AsyncEngine, app_id: str, owner: str) -> None:
    """Drop the lease `owner` holds, leaving the pair as it was."""
    async with db.begin() as conn:
        await conn.execute(update(OATokens).where(OATokens.app_id == app_id, OATokens.lease_owner == owner)
                           .values(lease_until=None, lease_owner=None))


async def mark_reauth(db: AsyncEngine, app_id: str, owner: str, seen: int, reason: str, admins: Sequence[str],
                      text: str, now: datetime) -> bool:
    """Mark the leased row `reauth` and queue `text` to the officials once per version; False if not leased."""
    async with db.begin() as conn:
        marked = (await conn.execute(update(OATokens).where(
            OATokens.app_id == app_id, OATokens.lease_owner == owner).values(
            status="reauth", error=reason[:200], lease_until=None, lease_owner=None, updated_at=now))).rowcount
        if marked:
            persons = await _officials(conn, admins)
            body = outbox.payload(text, key="zalo_oa.reauth")
            await conn.execute(outbox.enqueue(db, f"zalo-oa-reauth:{app_id}:{seen}", persons, "alert", body, now))
    return bool(marked)


async def officials(db: AsyncEngine, admins: Sequence[str]) -> list[str]:
    """The officials and the bootstrap admins, who hear about channel faults."""
    async with db.connect() as conn:
        return await _officials(conn, admins)


async def _officials(conn: AsyncConnection, admins: Sequence[str]) -> list[str]:
    """The officials and the bootstrap admins, read on an open connection."""
    rows = await conn.execute(select(RoleGrant.person).where(RoleGrant.role == "official"))
    return sorted({person for (person,) in rows} | set(admins))


class OATokenRepo:
    """The token row functions bound to one database, as `bot.channels.zalo_oa_tokens.TokenStore` needs them."""

    def __init__(self, db: AsyncEngine) -> None:
        self.db = db

    async def prepare(self, app_id: str, first_refresh_token: str, now: datetime) -> bool:
        """Create or renew the row; True if a newly configured refresh token was taken."""
        return await prepare(self.db, app_id, first_refresh_token, now)

    async def load(self, app_id: str) -> OATokenRow:
        """Read the row."""
        return await load(self.db, app_id)

    async def take_lease(self, app_id: str, seen: int, owner: str, now: datetime, until: datetime) -> str | None:
        """Lease the pair of version `seen`; its refresh token, or None if not taken."""
        return await take_lease(self.db, app_id, seen, owner, now, until)

    async def store_refreshed(self, app_id: str, seen: int, access: str, refresh: str, expires_at: datetime,
                              now: datetime) -> bool:
        """Store a refreshed pair over version `seen`; False if the version moved on."""
        return await store_refreshed(self.db, app_id, seen, access, refresh, expires_at, now)

    async def release_lease(self, app_id: str, owner: str) -> None:
        """Drop the lease `owner` holds."""
        await release_lease(self.db, app_id, owner)

    async def mark_reauth(self, app_id: str, owner: str, seen: int, reason: str, admins: Sequence[str], text: str,
                          now: datetime) -> bool:
        """Mark the leased row `reauth` and queue the officials' alert; False if not leased."""
        return await mark_reauth(self.db, app_id, owner, seen, reason, admins, text, now)

    async def officials(self, admins: Sequence[str]) -> list[str]:
        """The officials and the bootstrap admins."""
        return await officials(self.db, admins)
