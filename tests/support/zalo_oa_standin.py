"""In-process stand-in for the Zalo OA API (message/cs) and Zalo OAuth (access_token), plus webhook helpers.

The stand-in issues access tokens that expire after `token_lifetime` seconds and single-use refresh tokens,
records every call, counts refreshes, and can inject errors: an error code for the next sends, users outside
the 7-day window (-230), a refused refresh, a slow refresh. `event()` and `sign()` build webhook bodies and
their `X-ZEvent-Signature` the way Zalo documents it, independently of the bot's own code.
"""

from __future__ import annotations

import asyncio
import hashlib
import itertools
import json
import time
from dataclasses import dataclass
from typing import Any

from aiohttp import web

JsonDict = dict[str, Any]


@dataclass(frozen=True)
class SentText:
    """One customer-service message the bot sent, as the stand-in accepted it."""

    user_id: str
    text: str
    token: str


def sign(app_id: str, body: bytes, timestamp: str, secret_key: str) -> str:
    """X-ZEvent-Signature: plain SHA-256 hex of app id + raw body + timestamp + OA secret key."""
    return hashlib.sha256(f"{app_id}{body.decode()}{timestamp}{secret_key}".encode()).hexdigest()


def now_ms() -> str:
    """The current time in milliseconds, as Zalo writes it."""
    return str(int(time.time() * 1000))


_msg_ids = itertools.count(1)


def event(app_id: str, user_id: str, name: str = "user_send_text", text: str | None = None, *,
          msg_id: str | None = None, timestamp: str | None = None, oa_id: str = "4100000000000000001") -> JsonDict:
    """A webhook event as Zalo sends it: user_send_* from a person, oa_send_* echoes, follow/unfollow."""
    stamp = timestamp or now_ms()
    if name in ("follow", "unfollow"):
        return {"app_id": app_id, "oa_id": oa_id, "follower": {"id": user_id}, "user_id_by_app": f"a{user_id}",
                "event_name": name, "source": "oa_profile", "timestamp": stamp}
    message: JsonDict = {"msg_id": msg_id or f"m{next(_msg_ids):06d}{int(time.time() * 1000)}"}
    if text is not None:
        message["text"] = text
    if name == "user_send_image":
        message["attachments"] = [{"type": "image", "payload": {"url": "https://example.invalid/p.jpg"}}]
    if name == "user_send_sticker":
        message["attachments"] = [{"type": "sticker", "payload": {"id": "1", "url": "https://example.invalid/s"}}]
    people = ({"id": oa_id}, {"id": user_id}) if name.startswith("oa_send_") else ({"id": user_id}, {"id": oa_id})
    return {"app_id": app_id, "user_id_by_app": f"a{user_id}", "event_name": name, "sender": people[0],
            "recipient": people[1], "message": message, "timestamp": stamp}


class ZaloOAStandin:
    """Fake openapi.zalo.me (/v3.0/oa/message/cs) and oauth.zaloapp.com (/v4/oa/access_token) on one server."""

    def __init__(self, *, app_id: str, app_secret: str, refresh_token: str, token_lifetime: float = 90_000) -> None:
        self.app_id, self.app_secret = app_id, app_secret
        self.token_lifetime = token_lifetime
        self.refresh_delay = 0.0
        self.refuse_refresh = False
        self.send_errors: list[int] = []  # error codes for the next sends, in order
        self.outside_window: set[str] = set()  # users who did not write within 7 days: -230
        self.refreshes = 0
        self.calls: list[tuple[str, JsonDict]] = []
        self._access: dict[str, float] = {}  # access token -> monotonic expiry
        self._refresh_tokens = {refresh_token}
        self._serial = itertools.count(1)
        self._sent: list[SentText] = []
        self._changed = asyncio.Condition()
        self.app = web.Application()
        self.app.router.add_post("/v3.0/oa/message/cs", self._send)
        self.app.router.add_post("/v4/oa/access_token", self._refresh)
        self._runner: web.AppRunner | None = None
        self._port = 0

    async def __aenter__(self) -> ZaloOAStandin:
        self._runner = web.AppRunner(self.app, access_log=None, shutdown_timeout=1.0)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", 0).start()
        self._port = self._runner.addresses[0][1]
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    @property
    def root(self) -> str:
        """Base URL, for both ZALO_OA_API_URL and ZALO_OAUTH_URL."""
        return f"http://127.0.0.1:{self._port}"

    # ------------------------------------------------------------------ test driver
    def expire_tokens(self) -> None:
        """Make every access token issued so far invalid (the next send gets -216)."""
        self._access.clear()

    def issue_refresh_token(self, token: str) -> None:
        """Accept another refresh token (as after an operator re-authorises the OA)."""
        self._refresh_tokens.add(token)

    def sent(self, user_id: str | None = None) -> list[SentText]:
        """Messages accepted, in order, optionally only those for one user."""
        return [s for s in self._sent if user_id is None or s.user_id == user_id]

    def calls_of(self, path: str) -> list[JsonDict]:
        """Bodies of every call to a path ("message/cs" or "access_token"), in order."""
        return [body for name, body in self.calls if name == path]

    async def wait_sent(self, user_id: str, count: int, timeout: float = 10.0) -> list[SentText]:
        """Wait until at least `count` messages reached `user_id`; return them all."""
        try:
            async with asyncio.timeout(timeout), self._changed:
                await self._changed.wait_for(lambda: len(self.sent(user_id)) >= count)
        except TimeoutError:
            got = "".join(f"\n  {s.text[:200]!r}" for s in self.sent(user_id)) or " nothing"
            raise TimeoutError(f"expected {count} message(s) to {user_id} within {timeout}s, "
                               f"got {len(self.sent(user_id))}:{got}") from None
        return self.sent(user_id)

    # ------------------------------------------------------------------ HTTP
    async def _send(self, request: web.Request) -> web.Response:
        """message/cs: check the token, apply injected errors, record the text."""
        body = await request.json()
        token = request.headers.get("access_token", "")
        self.calls.append(("message/cs", {**body, "access_token": token}))
        expiry = self._access.get(token)
        if expiry is None:
            return self._error(-216, "Access token is invalid")
        if expiry < time.monotonic():
            return self._error(-220, "Access token has expired")
        if self.send_errors:
            return self._error(self.send_errors.pop(0), "injected error")
        user, text = str(body["recipient"]["user_id"]), body["message"]["text"]
        if user in self.outside_window:
            return self._error(-230, "User has not interacted with the OA in the past 7 days")
        if not 1 <= len(text.encode("utf-16-le")) // 2 <= 2000:
            return self._error(-201, "Text length is invalid")
        async with self._changed:
            self._sent.append(SentText(user, text, token))
            self._changed.notify_all()
        return web.json_response({"error": 0, "message": "Success",
                                  "data": {"message_id": f"z{len(self._sent)}", "user_id": user}})

    async def _refresh(self, request: web.Request) -> web.Response:
        """access_token: a refresh token is good once; answer a new pair (expires_in as a string, like Zalo)."""
        form = dict(await request.post())
        self.calls.append(("access_token", {**form, "secret_key": request.headers.get("secret_key", "")}))
        self.refreshes += 1
        if self.refresh_delay:
            await asyncio.sleep(self.refresh_delay)
        good = (request.headers.get("secret_key") == self.app_secret and form.get("app_id") == self.app_id
                and form.get("grant_type") == "refresh_token" and form.get("refresh_token") in self._refresh_tokens)
        if self.refuse_refresh or not good:
            return web.json_response({"error": -14014, "error_name": "Invalid parameter",
                                      "error_reason": "Invalid refresh token",
                                      "error_description": "The refresh token is invalid or was already used"})
        self._refresh_tokens.discard(str(form["refresh_token"]))
        n = next(self._serial)
        access, refresh = f"access-{n}", f"refresh-{n}"
        self._access[access] = time.monotonic() + self.token_lifetime
        self._refresh_tokens.add(refresh)
        return web.json_response({"access_token": access, "refresh_token": refresh,
                                  "expires_in": str(int(self.token_lifetime))})

    @staticmethod
    def _error(code: int, message: str) -> web.Response:
        """An OA API error: HTTP 200 with a negative `error`."""
        return web.json_response({"error": code, "message": message})


def signed(app_id: str, secret_key: str, payload: JsonDict, *, prefix: str = "mac=") -> tuple[bytes, dict[str, str]]:
    """A raw body and its headers, signed with the body's own timestamp."""
    body = json.dumps(payload, ensure_ascii=False).encode()
    return body, {"X-ZEvent-Signature": prefix + sign(app_id, body, str(payload["timestamp"]), secret_key),
                  "Content-Type": "application/json"}
