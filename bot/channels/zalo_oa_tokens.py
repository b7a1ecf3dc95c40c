"""The Zalo OA token pair: kept in the database, refreshed before it expires by exactly one process.

Zalo's refresh token is single-use, so two processes refreshing at once would leave one of them with a dead
pair. A refresher first takes a lease with one compare-and-set UPDATE (`version` unchanged, no live lease);
only the process whose UPDATE matched calls OAuth, and it stores the new pair and drops the lease in one
statement that bumps `version`. Everyone else waits for the new version. A refusal from OAuth marks the row
`reauth` (stored, logged) and queues an alert to the officials; a new ZALO_OA_REFRESH_TOKEN and a restart
clear it. Network trouble only releases the lease, so the next caller tries again.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import aiohttp
from sqlalchemy import or_, select, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from storage import outbox
from storage.db import aware, insert_ignore
from storage.models import OATokens, RoleGrant

log = logging.getLogger(__name__)
REFRESH_BEFORE = timedelta(hours=1)  # refresh this long before expiry (at most half the token's lifetime)
LEASE = timedelta(seconds=60)  # longer than OAUTH_TIMEOUT, so a lease never lapses during a refresh
OAUTH_TIMEOUT = 20.0
CACHE_SECONDS = 30.0  # how long a process trusts the row it read without looking again
WAIT_STEP = 0.1
REAUTH_TEXT = ("⚠️ Kênh Zalo OA không gia hạn được mã truy cập và cần được cấp quyền lại: đặt "
               "ZALO_OA_REFRESH_TOKEN mới rồi khởi động lại bot. Cho tới lúc đó bot không gửi được tin Zalo OA. "
               "(Lý do: {reason})")


def utcnow() -> datetime:
    """The current time in UTC."""
    return datetime.now(UTC)


class TokenUnavailable(Exception):
    """No usable access token: the channel needs re-authorisation (`reauth`) or a refresh failed for now."""

    def __init__(self, reason: str, reauth: bool) -> None:
        super().__init__(reason)
        self.reason = reason
        self.reauth = reauth


class _Refused(Exception):
    """OAuth refused the refresh token."""


@dataclass(frozen=True, slots=True)
class Token:
    """A usable access token and the row version it came from."""

    access: str
    version: int


@dataclass(frozen=True, slots=True)
class _Row:
    """The stored pair as one process last read it."""

    access: str | None
    refresh: str | None
    expires_at: datetime | None
    refreshed_at: datetime | None
    version: int
    status: str
    error: str | None


class TokenStore:
    """Reads the access token from the database and refreshes the pair through Zalo OAuth when it is due."""

    def __init__(self, db: AsyncEngine, *, app_id: str, app_secret: str, oauth_url: str, first_refresh_token: str,
                 admins: Sequence[str] = (), clock: Callable[[], datetime] = utcnow,
                 reauth_text: str = REAUTH_TEXT) -> None:
        self.db, self.app_id, self.app_secret = db, app_id, app_secret
        self.url = f"{oauth_url.rstrip('/')}/v4/oa/access_token"
        self.first = first_refresh_token
        self.admins = tuple(admins)
        self.clock = clock
        self.reauth_text = reauth_text
        self.owner = uuid.uuid4().hex  # this process, in the lease column
        self._http: aiohttp.ClientSession | None = None
        self._row: _Row | None = None
        self._read_at = 0.0

    async def prepare(self) -> None:
        """Create the row from ZALO_OA_REFRESH_TOKEN when there is none, or take a newly configured token."""
        seed = hashlib.sha256(self.first.encode()).hexdigest() if self.first else ""
        now = self.clock()
        async with self.db.begin() as conn:
            await conn.execute(insert_ignore(self.db, OATokens.__table__, {
                "app_id": self.app_id, "refresh_token": self.first or None, "version": 0, "seed": seed,
                "status": "ok" if self.first else "reauth", "updated_at": now,
                "error": None if self.first else "ZALO_OA_REFRESH_TOKEN is not set"}))
            renewed = 0
            if seed:
                renewed = (await conn.execute(update(OATokens).where(
                    OATokens.app_id == self.app_id, OATokens.seed != seed).values(
                    refresh_token=self.first, access_token=None, expires_at=None, refreshed_at=None, status="ok",
                    error=None, seed=seed, version=OATokens.version + 1, lease_until=None, lease_owner=None,
                    updated_at=now))).rowcount
        if renewed:
            log.info("zalo_oa: took the newly configured refresh token")
        row = await self._load()
        if row.status != "ok":
            log.error("zalo_oa needs re-authorisation (%s): set a new ZALO_OA_REFRESH_TOKEN and restart", row.error)

    async def close(self) -> None:
        """Close the HTTP session."""
        if self._http is not None:
            await self._http.close()
            self._http = None

    async def token(self) -> Token:
        """A usable access token, refreshed first when it is due; raises TokenUnavailable."""
        loop = asyncio.get_running_loop()
        row = self._row
        if row is None or loop.time() - self._read_at > CACHE_SECONDS or self.due(row) <= self.clock():
            row = await self._load()
        if row.status != "ok":
            raise TokenUnavailable(f"needs re-authorisation: {row.error}", reauth=True)
        if row.access and self.due(row) > self.clock():
            return Token(row.access, row.version)
        return await self.refresh(row.version, "due" if row.access else "no access token yet")

    def due(self, row: _Row) -> datetime:
        """When a pair should be refreshed: REFRESH_BEFORE its expiry, or halfway through a short lifetime."""
        if row.expires_at is None:
            return datetime.min.replace(tzinfo=UTC)
        margin = REFRESH_BEFORE
        if row.refreshed_at is not None:
            margin = min(margin, (row.expires_at - row.refreshed_at) / 2)
        return row.expires_at - margin

    async def seconds_to_refresh(self) -> float:
        """Seconds until the stored pair is due (negative when it already is)."""
        row = await self._load()
        return (self.due(row) - self.clock()).total_seconds()

    async def refresh(self, seen: int, reason: str) -> Token:
        """Replace the pair of version `seen`, or wait for the process already doing it; raises TokenUnavailable."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + LEASE.total_seconds() + 5
        while True:
            now = self.clock()
            async with self.db.begin() as conn:
                taken = (await conn.execute(update(OATokens).where(
                    OATokens.app_id == self.app_id, OATokens.version == seen, OATokens.status == "ok",
                    or_(OATokens.lease_until.is_(None), OATokens.lease_until < now)).values(
                    lease_until=now + LEASE, lease_owner=self.owner))).rowcount == 1
                refresh_token = (await conn.execute(select(OATokens.refresh_token).where(
                    OATokens.app_id == self.app_id))).scalar() if taken else None
            if taken:
                return await self._refresh_held(seen, refresh_token or "", reason)
            row = await self._load()
            if row.status != "ok":
                raise TokenUnavailable(f"needs re-authorisation: {row.error}", reauth=True)
            if row.version != seen and row.access:
                return Token(row.access, row.version)  # another process refreshed
            if row.version != seen:
                seen = row.version  # a new refresh token was configured: refresh it
                continue
            if loop.time() > deadline:
                raise TokenUnavailable("another process holds the refresh lease", reauth=False)
            await asyncio.sleep(WAIT_STEP)

    async def _refresh_held(self, seen: int, refresh_token: str, reason: str) -> Token:
        """Call OAuth under the lease and store the outcome."""
        log.info("zalo_oa: refreshing the access token (%s)", reason)
        try:
            body = await self._call(refresh_token)
        except _Refused as exc:
            await self._needs_reauth(seen, str(exc))
            raise TokenUnavailable(f"needs re-authorisation: {exc}", reauth=True) from exc
        except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
            async with self.db.begin() as conn:
                await conn.execute(update(OATokens).where(OATokens.app_id == self.app_id,
                                                          OATokens.lease_owner == self.owner)
                                   .values(lease_until=None, lease_owner=None))
            log.warning("zalo_oa: token refresh failed for now: %s", exc or type(exc).__name__)
            raise TokenUnavailable(f"token refresh failed: {exc or type(exc).__name__}", reauth=False) from exc
        now = self.clock()
        lifetime = _lifetime(body.get("expires_in"))
        async with self.db.begin() as conn:
            stored = (await conn.execute(update(OATokens).where(
                OATokens.app_id == self.app_id, OATokens.version == seen).values(
                access_token=body["access_token"], refresh_token=body["refresh_token"], expires_at=now + lifetime,
                refreshed_at=now, version=seen + 1, lease_until=None, lease_owner=None, status="ok", error=None,
                updated_at=now))).rowcount
        if not stored:
            log.error("zalo_oa: a new refresh token was configured during a refresh; the refreshed pair is dropped")
            row = await self._load()
            if row.status != "ok" or not row.access:
                raise TokenUnavailable("the token pair changed during a refresh", reauth=row.status != "ok")
            return Token(row.access, row.version)
        log.info("zalo_oa: access token refreshed; valid for %.0f s", lifetime.total_seconds())
        self._row = None
        return Token(body["access_token"], seen + 1)

    async def _call(self, refresh_token: str) -> dict[str, Any]:
        """POST the refresh; the answer when it carries a new pair, _Refused when OAuth said no."""
        if self._http is None or self._http.closed:
            self._http = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=OAUTH_TIMEOUT))
        form = {"refresh_token": refresh_token, "app_id": self.app_id, "grant_type": "refresh_token"}
        async with self._http.post(self.url, data=form, headers={"secret_key": self.app_secret}) as resp:
            if resp.status >= 500:
                raise aiohttp.ClientResponseError(resp.request_info, (), status=resp.status, message="server error")
            try:
                body = await resp.json(content_type=None)
            except ValueError:
                body = None
        if not isinstance(body, dict) or not body.get("access_token") or not body.get("refresh_token"):
            detail = body if isinstance(body, dict) else {}
            words = [str(detail[k]) for k in ("error", "error_name", "error_reason", "error_description", "message")
                     if k in detail]
            raise _Refused(f"HTTP {resp.status}: {' '.join(words) or 'no token in the answer'}"[:180])
        return body

    async def _needs_reauth(self, seen: int, reason: str) -> None:
        """Store the re-authorisation state and queue an alert to the officials, once per failed pair."""
        now = self.clock()
        async with self.db.begin() as conn:
            marked = (await conn.execute(update(OATokens).where(
                OATokens.app_id == self.app_id, OATokens.lease_owner == self.owner).values(
                status="reauth", error=reason[:200], lease_until=None, lease_owner=None, updated_at=now))).rowcount
            if marked:
                persons = await _officials(conn, self.admins)
                body = outbox.payload(self.reauth_text.format(reason=reason), key="zalo_oa.reauth")
                await conn.execute(outbox.enqueue(self.db, f"zalo-oa-reauth:{self.app_id}:{seen}", persons,
                                                  "alert", body, now))
        self._row = None
        log.error("zalo_oa needs re-authorisation: the refresh token was refused (%s); officials alerted", reason)

    async def _load(self) -> _Row:
        """Read the row (and remember it for CACHE_SECONDS)."""
        async with self.db.connect() as conn:
            row = (await conn.execute(select(OATokens.__table__).where(OATokens.app_id == self.app_id))).one()
        self._row = _Row(row.access_token, row.refresh_token, row.expires_at and aware(row.expires_at),
                         row.refreshed_at and aware(row.refreshed_at), row.version, row.status, row.error)
        self._read_at = asyncio.get_running_loop().time()
        return self._row

    async def keep_fresh(self) -> None:
        """Refresh the pair whenever it falls due, until cancelled (every process runs this; one refreshes)."""
        while True:
            try:
                await self.token()
                wait = min(max(await self.seconds_to_refresh(), 1.0), 300.0)
            except TokenUnavailable as exc:
                wait = 60.0 if exc.reauth else 5.0
            except Exception:
                log.exception("zalo_oa: the token refresher failed")
                wait = 30.0
            await asyncio.sleep(wait)


def _lifetime(expires_in: Any) -> timedelta:
    """The token lifetime OAuth announced (seconds, as a number or a string); an hour when it is unreadable."""
    try:
        seconds = float(expires_in)
    except (TypeError, ValueError):
        seconds = 0.0
    if seconds <= 0:
        log.warning("zalo_oa: OAuth gave no usable expires_in (%r); assuming one hour", expires_in)
        seconds = 3600.0
    return timedelta(seconds=seconds)


async def _officials(conn: AsyncConnection, admins: Sequence[str]) -> list[str]:
    """The officials and the bootstrap admins, who hear about channel faults."""
    rows = await conn.execute(select(RoleGrant.person).where(RoleGrant.role == "official"))
    return sorted({person for (person,) in rows} | set(admins))
