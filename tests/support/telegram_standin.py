"""In-process stand-in for the Telegram Bot API, for end-to-end tests and benchmarks."""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import json
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from tests.support.loopback import LoopbackServer

JsonDict = dict[str, Any]
Buttons = list[tuple[str, str | None]]

# Parameters whose string values are never JSON-decoded (free text or opaque ids).
_STRING_KEYS = frozenset({"text", "caption", "parse_mode", "language_code", "callback_query_id", "url",
                          "photo", "document", "action", "secret_token", "inline_message_id"})
# Methods that deliver a message: subject to 5xx faults and rate limits.
_SEND_METHODS = frozenset({"sendMessage", "sendPhoto", "sendDocument"})
# Methods that target a chat: a blocked chat answers 403 to all of them.
_CHAT_METHODS = _SEND_METHODS | {"sendChatAction", "editMessageText", "editMessageReplyMarkup"}
_NOT_MODIFIED = ("Bad Request: message is not modified: specified new message content and reply markup "
                 "are exactly the same as a current content and reply markup of the message")


@dataclass(frozen=True)
class UploadedFile:
    """A file received in a multipart upload."""

    filename: str | None
    size: int


@dataclass(frozen=True)
class SentMessage:
    """One message the bot sent (or edited), as seen by the stand-in."""

    method: str
    chat_id: int
    message_id: int
    text: str | None
    buttons: Buttons = field(default_factory=list)
    caption: str | None = None
    file_size: int | None = None
    filename: str | None = None
    at: float = field(default_factory=time.monotonic, compare=False)  # when the stand-in took it


@dataclass
class _Pending:
    """An update waiting in the getUpdates queue."""

    update: JsonDict
    redelivery: bool = False
    delivered: bool = False


class _Bucket:
    """Token bucket: `rate` calls per second with a burst of max(1, rate)."""

    def __init__(self, rate: float) -> None:
        self.rate, self.capacity = rate, max(1.0, rate)
        self.tokens, self.stamp = self.capacity, time.monotonic()

    def wait(self) -> float:
        """Refill and return the seconds until a token is available (0.0 if one is available now)."""
        now = time.monotonic()
        self.tokens = min(self.capacity, self.tokens + (now - self.stamp) * self.rate)
        self.stamp = now
        return 0.0 if self.tokens >= 1 else (1 - self.tokens) / self.rate


def _error(status: int, description: str, **extra: Any) -> web.Response:
    """Build a Bot API error response."""
    body = {"ok": False, "error_code": status, "description": description, **extra}
    return web.json_response(body, status=status)


def _buttons(markup: Any) -> Buttons:
    """Flatten an inline keyboard into (text, callback_data) pairs."""
    rows = (markup.get("inline_keyboard") or []) if isinstance(markup, dict) else []
    return [(b.get("text", ""), b.get("callback_data")) for row in rows for b in row]


class TelegramStandin(LoopbackServer):
    """Fake Telegram Bot API server, served by aiohttp on 127.0.0.1 with an ephemeral port."""

    def __init__(self, token: str = "123:ABC", *, rate_limit_per_s: float | None = None,
                 per_chat_per_s: float | None = None) -> None:
        """Create the stand-in; call `start()` (or use `async with`) to serve it."""
        super().__init__()
        self.token = token
        head = token.split(":", 1)[0]
        self.bot_user: JsonDict = {"id": int(head) if head.isdigit() else 1, "is_bot": True,
                                   "first_name": "XTT Test", "username": "xtt_test_bot"}
        self.rate_limit_per_s, self.per_chat_per_s = rate_limit_per_s, per_chat_per_s
        self.blocked: set[int] = set()
        self.fail_5xx = 0
        self.rejected_429 = 0
        self.calls: list[tuple[str, JsonDict]] = []
        self.answered_callbacks: set[str] = set()
        self.commands: dict[str, list[JsonDict]] = {}  # language_code ("" = default) -> commands
        self.chat_commands: dict[int, list[JsonDict]] = {}  # chat id -> its own menu (BotCommandScopeChat)
        self.updates: dict[int, JsonDict] = {}  # every pushed update by update_id
        self.webhook_url = ""
        self._sent: list[SentMessage] = []
        self._queue: list[_Pending] = []
        self._last_update_id = 0
        self._msg_ids: dict[int, int] = {}
        self._bot_msgs: dict[tuple[int, int], JsonDict] = {}
        self._last_bot_msg: dict[int, int] = {}
        self._names: dict[int, str] = {}
        self._buckets: dict[Any, _Bucket] = {}
        self._methods: dict[str, Callable[[JsonDict], Any]] = {
            "getMe": lambda p: self.bot_user, "getUpdates": self._get_updates,
            "deleteWebhook": self._delete_webhook, "setWebhook": self._set_webhook,
            "getWebhookInfo": lambda p: {"url": self.webhook_url, "has_custom_certificate": False,
                                         "pending_update_count": len(self._queue)},
            "setMyCommands": self._set_commands,
            "deleteMyCommands": self._delete_commands,
            "getMyCommands": lambda p: self.commands.get(str(p.get("language_code") or ""), []),
            "sendMessage": lambda p: self._emit("sendMessage", p, text=str(p.get("text", ""))),
            "sendPhoto": lambda p: self._emit("sendPhoto", p, photo=[self._file(p, "photo")]),
            "sendDocument": lambda p: self._emit("sendDocument", p, document=self._file(p, "document")),
            "editMessageText": lambda p: self._edit(p, str(p.get("text", ""))),
            "editMessageReplyMarkup": lambda p: self._edit(p, None),
            "answerCallbackQuery": self._answer_callback,
            "sendChatAction": lambda p: True, "close": lambda p: True, "logOut": lambda p: True,
        }
        self.app.router.add_route("*", "/bot{token}/{method}", self._handle)


    # ------------------------------------------------------------------ test driver
    async def push_raw(self, update: JsonDict) -> int:
        """Queue an arbitrary update (assigning update_id if missing); return its update_id."""
        update = dict(update)
        update.setdefault("update_id", self._last_update_id + 1)
        self._last_update_id = max(self._last_update_id, update["update_id"])
        self.updates[update["update_id"]] = update
        await self._enqueue(_Pending(update))
        return update["update_id"]

    async def redeliver(self, update_id: int) -> None:
        """Queue a pushed update again with the same update_id, even if already confirmed."""
        await self._enqueue(_Pending(self.updates[update_id], redelivery=True))

    async def push_message(self, user_id: int, text: str, *, first_name: str = "Test") -> int:
        """Queue a private text message from `user_id`; return the update_id."""
        self._names[user_id] = first_name
        return await self.push_raw({"message": self._user_message(user_id, text=text)})

    async def push_sticker(self, user_id: int) -> int:
        """Queue a private message carrying only a sticker."""
        sticker = {"file_id": "stk1", "file_unique_id": "ustk1", "width": 512, "height": 512,
                   "is_animated": False, "is_video": False, "type": "regular", "emoji": "👍"}
        return await self.push_raw({"message": self._user_message(user_id, sticker=sticker)})

    async def push_photo(self, user_id: int) -> int:
        """Queue a private message carrying only a photo."""
        photo = [{"file_id": "pho1", "file_unique_id": "upho1", "width": 90, "height": 90}]
        return await self.push_raw({"message": self._user_message(user_id, photo=photo)})

    async def push_callback(self, user_id: int, data: str, *, message_id: int | None = None) -> int:
        """Queue a callback query on a bot message (default: the chat's last); its id is f"cq{update_id}"."""
        mid = message_id if message_id is not None else self._last_bot_msg.get(user_id, 0)
        message = self._bot_msgs.get((user_id, mid))
        if message is None:
            raise LookupError(f"no bot message {mid or '(any)'} in chat {user_id} to attach a callback to")
        uid = self._last_update_id + 1
        query = {"id": f"cq{uid}", "from": self._user(user_id), "message": dict(message),
                 "chat_instance": f"ci{user_id}", "data": data}
        return await self.push_raw({"update_id": uid, "callback_query": query})

    def sent(self, chat_id: int | None = None) -> list[SentMessage]:
        """Messages sent or edited by the bot, in order, optionally only those for one chat."""
        return [s for s in self._sent if chat_id is None or s.chat_id == chat_id]

    async def wait_sent(self, chat_id: int, count: int, timeout: float = 10.0) -> list[SentMessage]:
        """Wait until at least `count` messages were sent to `chat_id`; return them all."""
        try:
            async with asyncio.timeout(timeout), self._changed:
                await self._changed.wait_for(lambda: len(self.sent(chat_id)) >= count)
        except TimeoutError:
            got = "".join(f"\n  {s}" for s in self.sent(chat_id)) or " nothing"
            raise TimeoutError(f"expected {count} message(s) to chat {chat_id} within {timeout}s, "
                               f"got {len(self.sent(chat_id))}:{got}") from None
        return self.sent(chat_id)

    def calls_of(self, method: str) -> list[JsonDict]:
        """Parameters of every call to `method`, in order."""
        return [params for name, params in self.calls if name == method]

    # ------------------------------------------------------------------ HTTP plumbing
    async def _handle(self, request: web.Request) -> web.Response:
        """Dispatch one Bot API request."""
        if request.match_info["token"] != self.token:
            return _error(401, "Unauthorized")
        method, params = request.match_info["method"], await self._params(request)
        self.calls.append((method, params))
        handler = self._methods.get(method)
        if handler is None:
            return _error(404, "Not Found: method not found")
        result = self._fault(method, params)
        try:
            if result is None:
                result = handler(params)
                result = await result if inspect.isawaitable(result) else result
        except (KeyError, TypeError, ValueError) as exc:  # missing or malformed parameter
            return _error(400, f"Bad Request: invalid parameters ({exc!r})")
        if isinstance(result, web.Response):
            return result
        return web.json_response({"ok": True, "result": result})

    async def _params(self, request: web.Request) -> JsonDict:
        """Merge query, JSON, url-encoded and multipart parameters; decode JSON-encoded values."""
        params: JsonDict = dict(request.query)
        if request.method == "POST" and request.can_read_body:
            if request.content_type == "application/json":
                params.update(await request.json())
            else:
                for key, value in (await request.post()).items():
                    is_file = isinstance(value, web.FileField)
                    params[key] = UploadedFile(value.filename, len(value.file.read())) if is_file else value
        for key, value in list(params.items()):
            if isinstance(value, str) and key not in _STRING_KEYS:
                with contextlib.suppress(ValueError):
                    params[key] = json.loads(value)
        return params

    def _fault(self, method: str, params: JsonDict) -> web.Response | None:
        """Return an injected 502/429/403 error for this call, if any."""
        if method not in _CHAT_METHODS:
            return None
        chat_id = params.get("chat_id")
        if method in _SEND_METHODS:
            if self.fail_5xx > 0:
                self.fail_5xx -= 1
                return _error(502, "Bad Gateway")
            buckets = [b for b in (self._bucket(None, self.rate_limit_per_s),
                                   self._bucket(("chat", chat_id), self.per_chat_per_s)) if b]
            wait = max([b.wait() for b in buckets], default=0.0)
            if wait > 0:
                self.rejected_429 += 1
                n = max(1, math.ceil(wait))
                return _error(429, f"Too Many Requests: retry after {n}", parameters={"retry_after": n})
            for bucket in buckets:
                bucket.tokens -= 1
        return _error(403, "Forbidden: bot was blocked by the user") if chat_id in self.blocked else None

    def _bucket(self, key: Any, rate: float | None) -> _Bucket | None:
        """Token bucket for `key`, recreated when its configured rate changes."""
        if not rate:
            return None
        if key not in self._buckets or self._buckets[key].rate != rate:
            self._buckets[key] = _Bucket(rate)
        return self._buckets[key]

    # ------------------------------------------------------------------ state helpers
    async def _enqueue(self, item: _Pending) -> None:
        """Append to the update queue and wake long polls."""
        async with self._changed:
            self._queue.append(item)
            self._changed.notify_all()

    async def _record(self, sent: SentMessage) -> None:
        """Record an outgoing message and wake `wait_sent` callers."""
        async with self._changed:
            self._sent.append(sent)
            self._changed.notify_all()

    def _next_msg_id(self, chat_id: int) -> int:
        """Next message id in a chat (shared by user and bot messages, like Telegram)."""
        self._msg_ids[chat_id] = self._msg_ids.get(chat_id, 0) + 1
        return self._msg_ids[chat_id]

    def _user(self, user_id: int) -> JsonDict:
        """User object for a (human) test user."""
        return {"id": user_id, "is_bot": False, "first_name": self._names.get(user_id, "Test")}

    def _message(self, chat_id: int, sender: JsonDict, **content: Any) -> JsonDict:
        """Message object in the private chat `chat_id`."""
        chat = {"id": chat_id, "type": "private", "first_name": self._names.get(chat_id, "Test")}
        return {"message_id": self._next_msg_id(chat_id), "date": int(time.time()), "chat": chat,
                "from": sender, **content}

    def _user_message(self, user_id: int, **content: Any) -> JsonDict:
        """Message object sent by a test user in their private chat."""
        return self._message(user_id, self._user(user_id), **content)

    def _file(self, p: JsonDict, key: str) -> JsonDict:
        """File object (PhotoSize / Document) for an uploaded file or a given file_id."""
        value = p.get(key)
        fid = value if isinstance(value, str) else f"{key}{len(self._sent) + 1}"
        info: JsonDict = {"file_id": fid, "file_unique_id": f"u{fid}"}
        if isinstance(value, UploadedFile):
            info["file_size"] = value.size
            info.update({"file_name": value.filename} if key == "document" else {})
        return {**info, "width": 100, "height": 100} if key == "photo" else info

    # ------------------------------------------------------------------ methods
    async def _emit(self, method: str, p: JsonDict, **content: Any) -> JsonDict:
        """Create, store and record a bot message built from request params `p`."""
        chat_id, markup = int(p["chat_id"]), p.get("reply_markup")
        msg = self._message(chat_id, self.bot_user, **content)
        msg.update({"caption": p["caption"]} if p.get("caption") is not None else {})
        msg.update({"reply_markup": markup} if _buttons(markup) else {})
        up = p.get(method[4:].lower())  # sendPhoto -> "photo", sendDocument -> "document"
        up = up if isinstance(up, UploadedFile) else None
        mid = msg["message_id"]
        self._bot_msgs[(chat_id, mid)], self._last_bot_msg[chat_id] = msg, mid
        await self._record(SentMessage(method, chat_id, mid, content.get("text"), _buttons(markup),
                                       p.get("caption"), up and up.size, up and up.filename))
        return msg

    async def _edit(self, p: JsonDict, text: str | None) -> JsonDict | web.Response:
        """editMessageText (text given) or editMessageReplyMarkup (text None)."""
        key = (int(p.get("chat_id") or 0), int(p.get("message_id") or 0))
        old = self._bot_msgs.get(key)
        if old is None:
            return _error(400, "Bad Request: message to edit not found")
        new = {k: v for k, v in old.items() if k != "reply_markup"} | {"edit_date": int(time.time())}
        new.update({"reply_markup": p["reply_markup"]} if _buttons(p.get("reply_markup")) else {})
        new.update({"text": text} if text is not None else {})
        if (new.get("text"), new.get("reply_markup")) == (old.get("text"), old.get("reply_markup")):
            return _error(400, _NOT_MODIFIED)
        self._bot_msgs[key] = new
        if text is not None:
            await self._record(SentMessage("editMessageText", key[0], key[1], text,
                                           _buttons(new.get("reply_markup"))))
        return new

    async def _get_updates(self, p: JsonDict) -> list[JsonDict]:
        """Drop confirmed updates (offset), then long-poll up to `timeout` seconds for new ones."""
        offset, limit = int(p.get("offset") or 0), min(max(int(p.get("limit") or 100), 1), 100)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + max(float(p.get("timeout") or 0), 0.0)
        async with self._changed:
            if offset < 0:
                self._queue = self._queue[offset:]
            elif offset > 0:  # redeliveries survive the offset until they were delivered once
                self._queue = [q for q in self._queue
                               if q.update["update_id"] >= offset or (q.redelivery and not q.delivered)]
            while not self._queue and not self._closing and loop.time() < deadline:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._changed.wait(), deadline - loop.time())
            batch = sorted(self._queue[:limit], key=lambda q: q.update["update_id"])
            for item in batch:
                item.delivered = True
        return [item.update for item in batch]

    def _delete_webhook(self, p: JsonDict) -> bool:
        """deleteWebhook, optionally dropping pending updates."""
        self.webhook_url = ""
        if p.get("drop_pending_updates"):
            self._queue.clear()
        return True

    def _set_webhook(self, p: JsonDict) -> bool:
        """setWebhook: remember the URL only."""
        self.webhook_url = str(p.get("url") or "")
        return True

    def _set_commands(self, p: JsonDict) -> bool:
        """setMyCommands, recorded per language_code, or per chat for a chat scope."""
        scope = p.get("scope") or {}
        if scope.get("type") == "chat":
            self.chat_commands[int(scope["chat_id"])] = list(p.get("commands") or [])
        else:
            self.commands[str(p.get("language_code") or "")] = list(p.get("commands") or [])
        return True

    def _delete_commands(self, p: JsonDict) -> bool:
        """deleteMyCommands for a chat scope (the chat falls back to the default menu)."""
        scope = p.get("scope") or {}
        if scope.get("type") == "chat":
            self.chat_commands.pop(int(scope["chat_id"]), None)
        return True

    def _answer_callback(self, p: JsonDict) -> bool:
        """answerCallbackQuery: remember the answered id."""
        self.answered_callbacks.add(str(p.get("callback_query_id")))
        return True
