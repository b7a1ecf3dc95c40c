"""The Zalo OA token pair: kept in the database, refreshed before it expires by exactly one process.

Zalo's refresh token is single-use, so two processes refreshing at once would leave one of them with a dead
pair. A refresher first takes a lease with one compare-and-set UPDATE (`version` unchanged, no live lease);
only the process whose UPDATE matched calls OAuth, and it stores the new pair and drops the lease in one
statement that bumps `version`. Everyone else waits for the new version. A refusal from OAuth marks the row
`reauth` (stored, logged) and queues an alert to the officials; a new ZALO_OA_REFRESH_TOKEN and a restart
clear it. Network trouble only releases the lease, so the next caller tries again.

The SQL lives in `storage.oa_tokens`; this module reaches it only through the `TokenRepo` it is given.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

import aiohttp

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


class StoredPair(Protocol):
    """The stored pair as one process last read it."""

    @property
    def access(self) -> str | None: ...
    @property
    def refresh(self) -> str | None: ...
    @property
    def expires_at(self) -> datetime | None: ...
    @property
    def refreshed_at(self) -> datetime | None: ...
    @property
    def version(self) -> int: ...
    @property
    def status(self) -> str: ...
    @property
    def error(self) -> str | None: ...


class TokenRepo(Protocol):
    """Where the pair is kept (`storage.oa_tokens.OATokenRepo`); each call is one short transaction."""

    async def prepare(self, app_id: str, first_refresh_token: str, now: datetime) -> bool:
        """Create the row unless it exists, or renew it from a new first refresh token; True if renewed."""
        ...

    async def load(self, app_id: str) -> StoredPair:
        """Read the row."""
        ...

    async def take_lease(self, app_id: str, seen: int, owner: str, now: datetime, until: datetime) -> str | None:
        """Lease the usable, unleased pair of version `seen`; its refresh token, or None if not taken."""
        ...

    async def store_refreshed(self, app_id: str, seen: int, access: str, refresh: str, expires_at: datetime,
                              now: datetime) -> bool:
        """Store a refreshed pair over version `seen` and drop the lease; False if the version moved on."""
        ...

    async def release_lease(self, app_id: str, owner: str) -> None:
        """Drop the lease `owner` holds."""
        ...

    async def mark_reauth(self, app_id: str, owner: str, seen: int, reason: str, admins: Sequence[str], text: str,
                          now: datetime) -> bool:
        """Mark the row leased by `owner` `reauth` and queue `text` to the officials once per version."""
        ...


class TokenStore:
    """Reads the access token from the database and refreshes the pair through Zalo OAuth when it is due."""

    def __init__(self, repo: TokenRepo, *, app_id: str, app_secret: str, oauth_url: str, first_refresh_token: str,
                 admins: Sequence[str] = (), clock: Callable[[], datetime] = utcnow,
                 reauth_text: str = REAUTH_TEXT) -> None:
        self.repo, self.app_id, self.app_secret = repo, app_id, app_secret
        self.url = f"{oauth_url.rstrip('/')}/v4/oa/access_token"
        self.first = first_refresh_token
        self.admins = tuple(admins)
        self.clock = clock
        self.reauth_text = reauth_text
        self.owner = uuid.uuid4().hex  # this process, in the lease column
        self._http: aiohttp.ClientSession | None = None
        self._row: StoredPair | None = None
        self._read_at = 0.0

    async def prepare(self) -> None:
        """Create the row from ZALO_OA_REFRESH_TOKEN when there is none, or take a newly configured token."""
        if await self.repo.prepare(self.app_id, self.first, self.clock()):
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

    def due(self, row: StoredPair) -> datetime:
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
            refresh_token = await self.repo.take_lease(self.app_id, seen, self.owner, now, now + LEASE)
            if refresh_token is not None:
                return await self._refresh_held(seen, refresh_token, reason)
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
            await self.repo.release_lease(self.app_id, self.owner)
            log.warning("zalo_oa: token refresh failed for now: %s", exc or type(exc).__name__)
            raise TokenUnavailable(f"token refresh failed: {exc or type(exc).__name__}", reauth=False) from exc
        now = self.clock()
        lifetime = _lifetime(body.get("expires_in"))
        stored = await self.repo.store_refreshed(self.app_id, seen, body["access_token"], body["refresh_token"],
                                                 now + lifetime, now)
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
        await self.repo.mark_reauth(self.app_id, self.owner, seen, reason, self.admins,
                                    self.reauth_text.format(reason=reason), self.clock())
        self._row = None
        log.error("zalo_oa needs re-authorisation: the refresh token was refused (%s); officials alerted", reason)

    async def _load(self) -> StoredPair:
        """Read the row (and remember it for CACHE_SECONDS)."""
        self._row = await self.repo.load(self.app_id)
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
