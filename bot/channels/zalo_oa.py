"""Zalo Official Account (OA API v3): a signed webhook in, customer-service text messages out.

The webhook checks `X-ZEvent-Signature` (plain SHA-256 of app id + raw body + timestamp + OA secret key, with
or without a `mac=` prefix), refuses stale timestamps, stores the event in the inbox and answers 200 once it is
stored (503 while stopping). An event without `msg_id` is keyed by its signed body, so a replay is stored once.
Replies go out as numbered text through `/v3.0/oa/message/cs`; the token pair lives in the database
(`bot.channels.zalo_oa_tokens`).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import json
import logging
import math
import time
from collections.abc import Iterable
from typing import Any

import aiohttp
from aiohttp import web

from bot.channels.base import Accept, numbered
from bot.channels.errors import SendFailure
from bot.channels.zalo_oa_tokens import Token, TokenStore, TokenUnavailable
from conversations import Incoming, Reply

log = logging.getLogger(__name__)
SIGNATURE = "X-ZEvent-Signature"
TIMESTAMP = "X-ZEvent-Timestamp"
MAX_SKEW = 300.0  # seconds a signed timestamp may be away from now
TEXT_LIMIT = 2000  # characters of one message (counted in UTF-16 units, to be safe with emoji)
TOKEN_ERRORS = frozenset({-216, -220})  # access token invalid or expired: refresh and retry once
WINDOW_ERRORS = frozenset({-230, -232})  # outside the 7-day interaction window: never retry
RATE_LIMITED = -32
RATE_PAUSE = 60.0  # the quota is per minute
REAUTH_PAUSE = 300.0
SEND_TIMEOUT = 15.0


def signature(app_id: str, body: bytes, timestamp: str, secret_key: str) -> str:
    """The expected X-ZEvent-Signature: SHA-256 hex of app id + raw body + timestamp + OA secret key."""
    return hashlib.sha256(app_id.encode() + body + timestamp.encode() + secret_key.encode()).hexdigest()


def verify(given: str, app_id: str, body: bytes, timestamps: Iterable[str], secret_key: str) -> str | None:
    """The timestamp under which the signature matches (constant-time compare), or None."""
    mac = given.strip()
    if mac[:4].lower() == "mac=":
        mac = mac[4:].strip()
    mac_bytes = mac.lower().encode()
    found = None
    for stamp in timestamps:
        if hmac.compare_digest(mac_bytes, signature(app_id, body, stamp, secret_key).encode()) and found is None:
            found = stamp
    return found


def seconds(stamp: str) -> float | None:
    """A Zalo timestamp (milliseconds, or seconds) as Unix seconds; None when it is not a number."""
    try:
        value = float(stamp)
    except ValueError:
        return None
    if not math.isfinite(value):  # "NaN" would never be stale
        return None
    return value / 1000 if value > 1e11 else value


def _units(text: str) -> int:
    """Length in UTF-16 code units."""
    return len(text.encode("utf-16-le")) // 2


def split(text: str, limit: int = TEXT_LIMIT) -> list[str]:
    """Cut text into pieces that fit one message, at a paragraph, line or word end when one is near."""
    pieces, rest = [], text
    while _units(rest) > limit:
        head = rest[:limit]
        while _units(head) > limit:
            head = head[:-1]
        cut = next((i for sep in ("\n\n", "\n", " ") if (i := head.rfind(sep)) > len(head) // 2), len(head))
        pieces.append(rest[:cut].rstrip())
        rest = rest[cut:].lstrip()
    return [*pieces, rest] if rest.strip() else pieces


class ZaloOAChannel:
    """Receives signed OA webhook events and sends customer-service text messages."""

    name = "zalo_oa"
    route = "zalo-oa"
    buttons = False
    edits = False
    menus = False
    media = None
    invite_link = ""

    def __init__(self, app_id: str, secret_key: str, api_url: str, tokens: TokenStore, accept: Accept, *,
                 max_skew: float = MAX_SKEW) -> None:
        if not secret_key:
            raise ValueError("ZALO_OA_SECRET_KEY is empty: without it anyone could forge signed events; "
                             "set the OA secret key from the webhook page")
        self.app_id, self.secret_key, self.tokens, self.accept = app_id, secret_key, tokens, accept
        self.stopping = False
        self.url = f"{api_url.rstrip('/')}/v3.0/oa/message/cs"
        self.max_skew = max_skew
        self._http: aiohttp.ClientSession | None = None
        self._refresher: asyncio.Task[None] | None = None

    async def start(self) -> None:
        """Open the HTTP session, make sure the token row exists and start the refresher."""
        self._http = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=SEND_TIMEOUT))
        await self.tokens.prepare()
        self._refresher = asyncio.create_task(self.tokens.keep_fresh(), name="zalo-oa-tokens")

    async def stop(self) -> None:
        """Take no more events (503), stop the refresher and close the sessions."""
        self.stopping = True
        if self._refresher is not None:
            self._refresher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._refresher
        if self._http is not None:
            await self._http.close()
        await self.tokens.close()

    # ------------------------------------------------------------------ in
    async def webhook(self, request: web.Request) -> web.Response:
        """Check the signature and the timestamp, store the event, then answer 200."""
        if self.stopping:
            return web.Response(status=503)
        body = await request.read()
        given = request.headers.get(SIGNATURE, "")
        where = f"from {request.remote}, {len(body)} bytes"  # never the body: it holds what people wrote
        if not given:
            log.warning("rejected a zalo_oa webhook call without a signature (%s)", where)
            return web.Response(status=401)
        try:
            event = json.loads(body)
        except (ValueError, RecursionError):  # RecursionError: nesting deeper than the parser goes
            event = None
        stamps = [request.headers.get(TIMESTAMP, "")]
        if isinstance(event, dict):
            stamps.append(str(event.get("timestamp", "")))
        stamp = verify(given, self.app_id, body, [s for s in stamps if s], self.secret_key)
        if stamp is None:
            log.warning("rejected a zalo_oa webhook call with a wrong signature (%s)", where)
            return web.Response(status=403)
        moment = seconds(stamp)
        if moment is None or abs(time.time() - moment) > self.max_skew:
            log.warning("rejected a zalo_oa webhook call with a stale timestamp %s (%s)", stamp, where)
            return web.Response(status=403)
        if not isinstance(event, dict):
            log.warning("rejected a malformed zalo_oa webhook body (%s)", where)
            return web.Response(status=400)
        incoming = self.incoming(event, hashlib.sha256(body).hexdigest())
        if incoming is not None:
            await self.accept([incoming], ())
        return web.Response(text="ok")

    def incoming(self, event: dict[str, Any], digest: str = "") -> Incoming | None:
        """Translate an event; None for echoes, receipts and follows. Without a msg_id the body's digest is its key."""
        name = str(event.get("event_name") or "")
        if name.startswith("oa_send_"):
            return None  # the echo of our own message
        if name in ("follow", "unfollow"):
            log.info("zalo_oa: a person used %s", name)
            return None
        sender, message = event.get("sender"), event.get("message")
        user = sender.get("id") if isinstance(sender, dict) else None
        user = str(user) if isinstance(user, str | int) and not isinstance(user, bool) and user != "" else ""
        message = message if isinstance(message, dict) else {}
        if not name.startswith("user_send_") or not user:
            log.info("ignored a zalo_oa %s event", name or "unnamed")
            return None
        msg_id = str(message.get("msg_id") or "") or (f"body-{digest[:40]}" if digest else "")
        if len(msg_id) > 64:  # the stored key has room for 80 characters
            msg_id = hashlib.sha256(msg_id.encode()).hexdigest()
        base = {"channel": self.name, "chat_id": user[:64], "user_id": user[:64],
                "update_key": f"zalo_oa:{msg_id}" if msg_id else None}
        text = message.get("text")
        if name == "user_send_text" and isinstance(text, str):
            return Incoming(**base, text=text[:TEXT_LIMIT])
        return Incoming(**base, other="media")

    # ------------------------------------------------------------------ out
    async def edit(self, chat_id: str, message_id: str, text: str) -> None:
        """Zalo OA cannot edit a sent message."""
        raise NotImplementedError("zalo_oa cannot edit messages")

    async def send(self, chat_id: str, reply: Reply) -> None:
        """Send a reply as numbered text, in pieces when long; a refusal raises SendFailure."""
        if reply.image is not None or reply.document is not None:
            log.info("zalo_oa: sent only the text of a reply with %s (files are not sent on Zalo OA)",
                     reply.filename or ("an image" if reply.image is not None else "a document"))
        for piece in split(numbered(reply)):
            await self._send_text(chat_id, piece)

    async def _send_text(self, user_id: str, text: str) -> None:
        """Send one text; on a refused token refresh once and try once more."""
        token = await self._token()
        code, answer = await self._post(token.access, user_id, text)
        if code in TOKEN_ERRORS:
            log.info("zalo_oa: the access token was refused (%d); refreshing and retrying once", code)
            token = await self._token(token)
            code, answer = await self._post(token.access, user_id, text)
        if code == 0:
            return
        reason = f"zalo error {code}: {answer.get('message', '')}"[:200]
        if code in WINDOW_ERRORS:
            raise SendFailure("blocked", reason)
        if code == RATE_LIMITED:
            raise SendFailure("retry", reason, retry_after=RATE_PAUSE)
        if code in TOKEN_ERRORS:
            raise SendFailure("retry", f"{reason} (after a refresh)")
        raise SendFailure("invalid", reason)

    async def _token(self, refused: Token | None = None) -> Token:
        """The current access token, or a refreshed one replacing `refused`; SendFailure when there is none."""
        try:
            if refused is not None:
                return await self.tokens.refresh(refused.version, "refused by the API")
            return await self.tokens.token()
        except TokenUnavailable as exc:
            raise SendFailure("retry", exc.reason, retry_after=REAUTH_PAUSE if exc.reauth else None) from exc

    async def _post(self, token: str, user_id: str, text: str) -> tuple[int | None, dict[str, Any]]:
        """POST one message; (the `error` field, the answer). Network faults and 5xx raise a retry."""
        if self._http is None or self._http.closed:
            self._http = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=SEND_TIMEOUT))
        body = {"recipient": {"user_id": user_id}, "message": {"text": text}}
        try:
            async with self._http.post(self.url, json=body, headers={"access_token": token}) as resp:
                if resp.status >= 500 or resp.status == 429:
                    raise SendFailure("retry", f"HTTP {resp.status}")
                try:
                    answer = await resp.json(content_type=None)
                except ValueError:
                    answer = None
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise SendFailure("retry", f"{type(exc).__name__}: {exc}") from exc
        if not isinstance(answer, dict) or not isinstance(answer.get("error"), int):
            raise SendFailure("invalid", f"HTTP {resp.status}: an answer without an error code")
        return answer["error"], answer
