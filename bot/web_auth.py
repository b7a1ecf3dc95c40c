"""Login to the office's web page without passwords: one-time signed links from `/web`, sessions, CSRF tokens."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from aiohttp import web
from sqlalchemy.ext.asyncio import AsyncEngine

from bot import access
from bot.access import OFFICER
from bot.identity import Identity
from bot.router import Call, Command, Outcome, Router, say
from conversations import Catalogue
from storage import repo
from storage import web_sessions as store

COOKIE = "xtt_session"
FLASH = "xtt_flash"  # the result of the last action, shown once by whichever process serves the next page
FLASH_CHARS = 600
LINK_MINUTES = 15
REVOKE_WORDS = ("off", "logout", "thoat", "huy")


def digest(token: str) -> str:
    """What the database keeps of a token."""
    return hashlib.sha256(token.encode()).hexdigest()


def utcnow() -> datetime:
    """The current time in UTC."""
    return datetime.now(UTC)


class WebAuth:
    """Makes login links in chat, opens sessions from them, and finds the person behind a request."""

    def __init__(self, db: AsyncEngine, identity: Identity, texts: Catalogue, base_url: str, *,
                 session_hours: float = 12, admins: frozenset[str] = frozenset(),
                 clock: Callable[[], datetime] = utcnow) -> None:
        self.db, self.identity, self.texts = db, identity, texts
        self.base_url = base_url.rstrip("/")
        self.session_hours, self.admins, self.clock = session_hours, admins, clock
        self._key = identity.derived("web-page").encode()

    def router(self) -> Router:
        """`/web`: a login link for leaders, child-protection officers and officials; `/web off` ends every session."""
        return Router("web", commands=(Command("web", OFFICER, "menu.web", self.on_web, takes_argument=True),))

    # ------------------------------------------------------------------ links
    def _sign(self, value: str) -> str:
        """A short signature of a value with the page's derived key."""
        return hmac.new(self._key, value.encode(), hashlib.sha256).hexdigest()[:20]

    def link_token(self) -> str:
        """A new random link token with its signature."""
        value = secrets.token_urlsafe(24)
        return f"{value}.{self._sign('link:' + value)}"

    def signed(self, token: str) -> bool:
        """Whether a link token carries our signature (checked before the database is asked)."""
        value, _, signature = token.partition(".")
        return bool(value) and hmac.compare_digest(signature, self._sign("link:" + value))

    async def on_web(self, call: Call) -> Outcome:
        """Reply with a one-time link valid for a few minutes, or revoke every session of the person."""
        if call.arg.strip().lower() in REVOKE_WORDS:
            return Outcome(say(self.texts, call.lang, "web.revoked").replies,
                           (store.end_all(call.person.key, call.now),))
        if not self.base_url:
            return say(self.texts, call.lang, "web.unavailable")
        token = self.link_token()
        write = store.create_link(digest(token), call.person.key, call.now,
                                  call.now + timedelta(minutes=LINK_MINUTES))
        url = f"{self.base_url}/web/login/{token}"
        return Outcome(say(self.texts, call.lang, "web.link", url=url, minutes=LINK_MINUTES).replies, (write,))

    # ------------------------------------------------------------------ sessions
    async def login(self, token: str) -> str | None:
        """Use a link token; the new session's token, or None when the link is forged, used or expired."""
        if not self.signed(token):
            return None
        session = secrets.token_urlsafe(32)
        now = self.clock()
        found = await store.redeem(self.db, digest(token), digest(session), now,
                                   now + timedelta(hours=self.session_hours))
        return session if found else None

    async def person(self, request: web.Request) -> tuple[str, access.Person] | None:
        """The session digest and the person behind a request's cookie, or None."""
        token = request.cookies.get(COOKIE, "")
        if not token or len(token) > 100:
            return None
        session = digest(token)
        key = await store.person(self.db, session, self.clock())
        if key is None:
            return None
        return session, access.Person.from_roles(key, await repo.roles(self.db, key), key in self.admins)

    async def logout(self, session: str) -> None:
        """End one session."""
        await store.end(self.db, session, self.clock())

    def cookie(self, response: web.StreamResponse, request: web.Request, token: str) -> None:
        """Set the session cookie: HttpOnly, SameSite=Lax, Secure when served over HTTPS."""
        secure = request.secure or self.base_url.startswith("https://")
        response.set_cookie(COOKIE, token, max_age=int(self.session_hours * 3600), path="/web", httponly=True,
                            samesite="Lax", secure=secure)

    # ------------------------------------------------------------------ the note after an action
    def set_flash(self, response: web.StreamResponse, request: web.Request, session: str, text: str,
                  ok: bool) -> None:
        """Keep an action's result in a short-lived cookie signed for this session."""
        payload = base64.urlsafe_b64encode(json.dumps([text[:FLASH_CHARS], ok]).encode()).decode().rstrip("=")
        response.set_cookie(FLASH, f"{payload}.{self._sign(f'flash:{session}:{payload}')}", max_age=300,
                            path="/web", httponly=True, samesite="Lax",
                            secure=request.secure or self.base_url.startswith("https://"))

    def flash(self, request: web.Request, session: str) -> tuple[str, bool] | None:
        """The result kept for this session by `set_flash`, or None (none, another session's, or forged)."""
        payload, _, signature = request.cookies.get(FLASH, "").rpartition(".")
        if not payload or not hmac.compare_digest(signature, self._sign(f"flash:{session}:{payload}")):
            return None
        text, ok = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
        return str(text), bool(ok)

    # ------------------------------------------------------------------ CSRF
    def csrf(self, session: str) -> str:
        """The form token of a session."""
        return self._sign("csrf:" + session)

    def csrf_ok(self, session: str, token: str) -> bool:
        """Whether a submitted form token belongs to the session."""
        return bool(token) and hmac.compare_digest(token, self.csrf(session))
