"""A small aiohttp client of the Zalo Bot Platform API: `POST <root>/bot<token>/<method>` with JSON bodies.

Every answer is an envelope `{ok, result, error_code, description}`; a refusal raises `ZalobotError`, whose
text never carries the token. `send_failure` classifies a refused send for the outbox sender.
"""

from __future__ import annotations

import json
import logging
from typing import Any

import aiohttp

from bot.channels.errors import SendFailure

log = logging.getLogger(__name__)
JsonDict = dict[str, Any]
TEXT_LIMIT = 2000
CALL_TIMEOUT = 15.0
NOTHING_YET = frozenset({408})  # getUpdates answers this (or an empty result) when nothing arrived


class ZalobotError(Exception):
    """A call the API refused (`code` from the envelope or HTTP) or could not answer (`code` None)."""

    def __init__(self, method: str, code: int | None, description: str, retry_after: float | None = None) -> None:
        super().__init__(f"{method}: {code if code is not None else 'no answer'} {description}".strip())
        self.method = method
        self.code = code
        self.description = description
        self.retry_after = retry_after


def send_failure(exc: ZalobotError) -> SendFailure:
    """Classify a refused send: 429, 408, 5xx and no answer are retried; a block is final; other 4xx invalid."""
    code, reason = exc.code, str(exc)
    if code is None or code in (408, 429) or code >= 500:
        return SendFailure("retry", reason, retry_after=exc.retry_after if code == 429 else None)
    if code == 403 or "block" in exc.description.lower():
        return SendFailure("blocked", reason)
    if 400 <= code < 500:
        return SendFailure("invalid", reason)
    return SendFailure("retry", reason)  # an unknown code: retried a bounded number of times, never lost


def chunks(text: str, limit: int = TEXT_LIMIT) -> list[str]:
    """Split text into non-blank pieces of at most `limit` characters: at a line break, else a space, else anywhere."""
    pieces, rest = [], text
    while len(rest) > limit:
        window = rest[:limit + 1]  # a break right after the limit still ends a full piece
        cut = window.rfind("\n")
        if cut < limit // 2:
            cut = max(cut, window.rfind(" "))
        if cut <= 0:
            pieces.append(rest[:limit])
            rest = rest[limit:]
        else:
            pieces.append(rest[:cut])
            rest = rest[cut + 1:]
    pieces.append(rest)
    return [p for p in pieces if p.strip()]


def messages(result: Any) -> list[JsonDict]:
    """The updates in a getUpdates result: one object or a list; an empty or missing result is none."""
    if not result:
        return []
    items = result if isinstance(result, list) else [result]
    found = []
    for item in items:
        if isinstance(item, dict):
            found.append(item)
        else:
            log.warning("ignored an update that is not an object (%s)", type(item).__name__)
    return found


class ZalobotClient:
    """Calls the Bot API; one aiohttp session, opened on first use."""

    def __init__(self, token: str, api_url: str, *, timeout: float = CALL_TIMEOUT) -> None:
        self._token = token
        self._root = f"{api_url.rstrip('/')}/bot{token}"
        self.timeout = timeout
        self._session: aiohttp.ClientSession | None = None

    def _scrub(self, text: str) -> str:
        """Text without the token, for errors and logs."""
        return text.replace(self._token, "<token>") if self._token else text

    async def call(self, method: str, params: JsonDict | None = None, *, timeout: float | None = None) -> Any:
        """Call one method and return its `result`; raise ZalobotError otherwise."""
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession()
        limit = aiohttp.ClientTimeout(total=timeout or self.timeout)
        try:
            async with self._session.post(f"{self._root}/{method}", json=params or {}, timeout=limit) as resp:
                status, raw = resp.status, await resp.read()
        except TimeoutError:
            raise ZalobotError(method, None, "timed out") from None
        except aiohttp.ClientError as exc:
            raise ZalobotError(method, None, self._scrub(f"{type(exc).__name__}: {exc}")) from None
        try:
            body = json.loads(raw)
        except ValueError:
            body = None
        if not isinstance(body, dict):
            raise ZalobotError(method, status if status >= 400 else 502, f"HTTP {status}, not a JSON envelope")
        if body.get("ok") is True and status < 400:
            return body.get("result")
        code = body.get("error_code")
        code = code if isinstance(code, int) else (status if status >= 400 else 500)
        params_ = body.get("parameters") if isinstance(body.get("parameters"), dict) else {}
        retry_after = params_.get("retry_after") if isinstance(params_.get("retry_after"), int | float) else None
        raise ZalobotError(method, code, self._scrub(str(body.get("description") or "")), retry_after)

    async def get_me(self) -> JsonDict:
        """The bot's own account."""
        result = await self.call("getMe")
        return result if isinstance(result, dict) else {}

    async def get_updates(self, timeout: float) -> list[JsonDict]:
        """Long-poll for new messages; an empty result or a 408 is an empty list."""
        try:
            result = await self.call("getUpdates", {"timeout": int(timeout)}, timeout=timeout + self.timeout)
        except ZalobotError as exc:
            if exc.code in NOTHING_YET:
                return []
            raise
        return messages(result)

    async def set_webhook(self, url: str, secret_token: str) -> None:
        """Ask the platform to post updates to `url` with the secret header."""
        await self.call("setWebhook", {"url": url, "secret_token": secret_token})

    async def delete_webhook(self) -> None:
        """Switch the platform back to getUpdates."""
        await self.call("deleteWebhook")

    async def send_message(self, chat_id: str, text: str) -> None:
        """Send one text of 1–2000 characters."""
        await self.call("sendMessage", {"chat_id": chat_id, "text": text})

    async def send_photo(self, chat_id: str, url: str, caption: str = "") -> None:
        """Send a photo the platform fetches from a public URL."""
        params = {"chat_id": chat_id, "photo": url}
        if caption:
            params["caption"] = caption
        await self.call("sendPhoto", params)

    async def send_chat_action(self, chat_id: str, action: str = "typing") -> None:
        """Show that the bot is typing."""
        await self.call("sendChatAction", {"chat_id": chat_id, "action": action})

    async def close(self) -> None:
        """Close the HTTP session."""
        if self._session is not None:
            await self._session.close()
            self._session = None
