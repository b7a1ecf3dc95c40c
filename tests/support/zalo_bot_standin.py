"""In-process stand-in for the Zalo Bot Platform API, for unit and end-to-end tests.

An aiohttp server on 127.0.0.1:0 answering `POST /bot<token>/<method>` with JSON envelopes
`{ok, result | error_code, description}`: getMe, getUpdates (a long poll that hands out pushed messages once,
as ONE message object or as a list), setWebhook/deleteWebhook/getWebhookInfo, sendMessage (text 1–2000),
sendPhoto (fetches the photo URL like the platform does), sendChatAction. Faults can be injected per method,
chats can block the bot, and what getUpdates answers when nothing arrived is selectable.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from dataclasses import dataclass
from typing import Any, Literal

import aiohttp
from aiohttp import web

from tests.support.loopback import LoopbackServer

JsonDict = dict[str, Any]
Empty = Literal["408", "missing", "null", "object", "list"]
TEXT_LIMIT = 2000


@dataclass(frozen=True)
class Sent:
    """One message the bot sent, as the stand-in saw it."""

    method: str
    chat_id: str
    text: str | None = None
    photo: str | None = None
    caption: str | None = None
    fetched: int | None = None  # HTTP status of fetching the photo URL
    content_type: str | None = None
    size: int | None = None


def _error(code: int, description: str, status: int | None = None) -> web.Response:
    """A Bot API error envelope."""
    body = {"ok": False, "error_code": code, "description": description}
    return web.json_response(body, status=status or (code if 400 <= code < 600 else 200))


class ZalobotStandin(LoopbackServer):
    """Fake Zalo Bot API server."""

    def __init__(self, token: str = "1234567890:zb-test-token", *, batch: Literal["one", "list"] = "one",
                 empty: Empty = "408", fetch_photos: bool = True) -> None:
        super().__init__()
        self.token = token
        self.batch = batch  # getUpdates hands out one message object, or a list of every waiting message
        self.empty = empty  # what getUpdates answers when nothing arrived before its timeout
        self.fetch_photos = fetch_photos
        self.long_poll = True  # False: getUpdates answers "nothing" at once, without waiting
        self.bot: JsonDict = {"id": "7000000000000000001", "account_name": "bot.xtt.test",
                              "account_type": "BASIC", "can_join_groups": False}
        self.blocked: set[str] = set()
        self.calls: list[tuple[str, JsonDict]] = []
        self.webhook_url = ""
        self.webhook_secret = ""
        self._faults: dict[str, list[web.Response]] = {}
        self._queue: list[JsonDict] = []
        self.handed: list[int] = []  # how many messages each getUpdates answer carried
        self._sent: list[Sent] = []
        self.app.router.add_route("*", "/bot{token}/{method}", self._handle)


    # ------------------------------------------------------------------ test driver
    @staticmethod
    def message(user_id: str, text: str | None = None, *, message_id: str | None = None, date: int | None = None,
                chat_type: str = "PRIVATE", **extra: Any) -> JsonDict:
        """A message object as the platform documents it (date in milliseconds)."""
        message: JsonDict = {"chat": {"id": user_id, "chat_type": chat_type},
                             "message_id": message_id or uuid.uuid4().hex,
                             "date": int(time.time() * 1000) if date is None else date,
                             "from": {"id": user_id, "display_name": "Test", "is_bot": False}, **extra}
        if text is not None:
            message["text"] = text
        return message

    @staticmethod
    def event(message: JsonDict) -> JsonDict:
        """An update: the event name and its message."""
        kind = "text" if "text" in message else "sticker" if "sticker" in message else "image"
        return {"event_name": f"message.{kind}.received", "message": message}

    async def push(self, *messages: JsonDict) -> str:
        """Queue message objects at once for getUpdates; return the last one's message_id."""
        async with self._changed:
            self._queue.extend(self.event(message) for message in messages)
            self._changed.notify_all()
        return str(messages[-1].get("message_id"))

    async def push_message(self, user_id: str, text: str, **fields: Any) -> str:
        """Queue a text from a person in a private chat; return its message_id."""
        return await self.push(self.message(user_id, text, **fields))

    async def push_sticker(self, user_id: str) -> str:
        """Queue a sticker."""
        return await self.push(self.message(user_id, sticker="https://zalo.example/sticker/1"))

    async def post_webhook(self, message: JsonDict, secret: str | None = None, url: str = "") -> int:
        """Deliver one message to the registered webhook (with its secret unless told); the HTTP status."""
        headers = {} if secret == "" else {"X-Bot-Api-Secret-Token": self.webhook_secret if secret is None
                                           else secret}
        body = {"ok": True, "result": self.event(message)}
        async with aiohttp.ClientSession() as session, session.post(url or self.webhook_url, json=body,
                                                                    headers=headers) as resp:
            return resp.status

    def fail(self, method: str, code: int, description: str = "", *, times: int = 1, status: int | None = None,
             retry_after: int | None = None) -> None:
        """Answer the next `times` calls of `method` with this error."""
        for _ in range(times):
            response = _error(code, description or f"error {code}", status)
            if retry_after is not None:
                response = web.json_response({"ok": False, "error_code": code, "description": description,
                                              "parameters": {"retry_after": retry_after}}, status=code)
            self._faults.setdefault(method, []).append(response)

    def sent(self, chat_id: str | None = None) -> list[Sent]:
        """Messages the bot sent, in order, optionally to one chat."""
        return [s for s in self._sent if chat_id is None or s.chat_id == chat_id]

    async def wait_sent(self, chat_id: str, count: int, timeout: float = 10.0) -> list[Sent]:
        """Wait until at least `count` messages went to `chat_id`; return them all."""
        try:
            async with asyncio.timeout(timeout), self._changed:
                await self._changed.wait_for(lambda: len(self.sent(chat_id)) >= count)
        except TimeoutError:
            got = "".join(f"\n  {s}" for s in self.sent(chat_id)) or " nothing"
            raise TimeoutError(f"expected {count} message(s) to {chat_id} within {timeout}s, "
                               f"got {len(self.sent(chat_id))}:{got}") from None
        return self.sent(chat_id)

    def calls_of(self, method: str) -> list[JsonDict]:
        """Parameters of every call of `method`."""
        return [params for name, params in self.calls if name == method]

    @property
    def waiting(self) -> int:
        """Messages not yet handed out by getUpdates."""
        return len(self._queue)

    # ------------------------------------------------------------------ HTTP
    async def _handle(self, request: web.Request) -> web.Response:
        """Dispatch one call."""
        if request.match_info["token"] != self.token:
            return _error(401, "Unauthorized")
        method = request.match_info["method"]
        try:
            params = await request.json() if request.can_read_body else {}
        except ValueError:
            return _error(400, "Bad Request: body is not JSON")
        params = params if isinstance(params, dict) else {}
        self.calls.append((method, params))
        if self._faults.get(method):
            return self._faults[method].pop(0)
        handler = getattr(self, f"_m_{method}", None)
        if handler is None:
            return _error(404, "Not Found: method not found")
        result = await handler(params)
        return result if isinstance(result, web.Response) else web.json_response({"ok": True, "result": result})

    async def _m_getMe(self, p: JsonDict) -> Any:
        return self.bot

    async def _m_getUpdates(self, p: JsonDict) -> Any:
        if self.webhook_url:
            return _error(400, "Bad Request: a webhook is set; delete it to use getUpdates")
        loop = asyncio.get_running_loop()
        deadline = loop.time() + (max(float(p.get("timeout") or 0), 0.0) if self.long_poll else 0.0)
        async with self._changed:
            while not self._queue and not self._closing and loop.time() < deadline:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._changed.wait(), deadline - loop.time())
            if self._queue:
                if self.batch == "one":
                    self.handed.append(1)
                    return self._queue.pop(0)
                batch, self._queue = self._queue[:100], self._queue[100:]
                self.handed.append(len(batch))
                return batch
        if self.empty == "408":
            return _error(408, "Request Timeout")
        if self.empty == "missing":
            return web.json_response({"ok": True})
        return {"null": None, "object": {}, "list": []}[self.empty]

    async def _m_setWebhook(self, p: JsonDict) -> Any:
        secret = str(p.get("secret_token") or "")
        if not str(p.get("url") or "") or not 8 <= len(secret) <= 256:
            return _error(400, "Bad Request: url and a secret_token of 8-256 characters are required")
        self.webhook_url, self.webhook_secret = str(p["url"]), secret
        return {"url": self.webhook_url, "updated_at": int(time.time() * 1000)}

    async def _m_deleteWebhook(self, p: JsonDict) -> Any:
        self.webhook_url = self.webhook_secret = ""
        return {"url": "", "updated_at": int(time.time() * 1000)}

    async def _m_getWebhookInfo(self, p: JsonDict) -> Any:
        return {"url": self.webhook_url, "updated_at": int(time.time() * 1000)}

    async def _m_sendChatAction(self, p: JsonDict) -> Any:
        return {"ok": True}

    def _refuse(self, p: JsonDict) -> web.Response | None:
        """The error a send to this chat gets, if any."""
        chat_id = str(p.get("chat_id") or "")
        if not chat_id:
            return _error(400, "Bad Request: chat_id is required")
        if chat_id in self.blocked:
            return _error(403, "Forbidden: the user has blocked the bot")
        return None

    async def _m_sendMessage(self, p: JsonDict) -> Any:
        text = p.get("text")
        refused = self._refuse(p)
        if refused is None and (not isinstance(text, str) or not 1 <= len(text) <= TEXT_LIMIT):
            refused = _error(400, f"Bad Request: text must be 1-{TEXT_LIMIT} characters")
        if refused is not None:
            return refused
        return await self._record(Sent("sendMessage", str(p["chat_id"]), text=str(text)))

    async def _m_sendPhoto(self, p: JsonDict) -> Any:
        photo = p.get("photo")
        refused = self._refuse(p)
        if refused is None and (not isinstance(photo, str) or not photo.startswith(("http://", "https://"))):
            refused = _error(400, "Bad Request: photo must be a URL")
        if refused is not None:
            return refused
        fetched = kind = size = None
        if self.fetch_photos:
            try:
                async with aiohttp.ClientSession() as session, session.get(str(photo)) as resp:
                    fetched, kind, size = resp.status, resp.content_type, len(await resp.read())
            except aiohttp.ClientError:
                fetched = 0
        return await self._record(Sent("sendPhoto", str(p["chat_id"]), photo=str(photo),
                                       caption=p.get("caption"), fetched=fetched, content_type=kind, size=size))

    async def _record(self, sent: Sent) -> JsonDict:
        """Keep a sent message and wake waiters."""
        async with self._changed:
            self._sent.append(sent)
            self._changed.notify_all()
        return {"message_id": uuid.uuid4().hex, "date": int(time.time() * 1000)}
