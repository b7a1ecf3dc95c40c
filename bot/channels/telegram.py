"""Telegram: updates stored before they are confirmed (polling or webhook), replies through python-telegram-bot.

PTB's `Updater` confirms a batch by asking for the next offset before the batch is handled, and stops for good
on one update it cannot parse (see shared/platforms.md). So polling here is our own loop: it fetches the raw
JSON, reads each update on its own (an unreadable one is recorded as bad and skipped), stores the batch in the
inbox, and only then asks for the next offset. A webhook call is answered 200 only once its update is stored,
and 503 while the bot is stopping.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import json
import logging
import warnings
from datetime import timedelta
from typing import Any, TypeVar

import aiohttp
from aiohttp import web
from telegram import Bot, BotCommand, BotCommandScopeChat, InlineKeyboardButton, InlineKeyboardMarkup, Update
from telegram.constants import ChatType
from telegram.error import BadRequest, ChatMigrated, Forbidden, RetryAfter, TelegramError
from telegram.request import HTTPXRequest

from bot.channels.base import Accept
from bot.channels.errors import SendFailure
from conversations import Incoming, Reply

log = logging.getLogger(__name__)
ALLOWED_UPDATES = ["message", "callback_query"]
TEXT_LIMIT = 4096
SHORT_LABEL = 18
POOL = 64  # HTTP connections for sending; the benchmark's bare bot uses the same
T = TypeVar("T")


def keyboard(reply: Reply) -> InlineKeyboardMarkup | None:
    """Inline buttons: two per row when labels are short, one per row otherwise."""
    if not reply.choices:
        return None
    buttons = [InlineKeyboardButton(c.label, callback_data=c.id) for c in reply.choices]
    width = 2 if all(len(c.label) <= SHORT_LABEL for c in reply.choices) and len(buttons) > 3 else 1
    return InlineKeyboardMarkup([buttons[i:i + width] for i in range(0, len(buttons), width)])


def chunks(text: str, limit: int = TEXT_LIMIT) -> list[str]:
    """Split long text at line ends so each piece fits one message."""
    pieces, current = [], ""
    for line in text.splitlines(keepends=True):
        while len(line) > limit:
            pieces.append(current + line[: limit - len(current)])
            line, current = line[limit - len(current):], ""
        if len(current) + len(line) > limit:
            pieces.append(current)
            current = ""
        current += line
    return [*pieces, current] if current or not pieces else pieces


def send_failure(exc: TelegramError) -> SendFailure:
    """Classify a PTB error: flood control, timeouts and 5xx are retried; 403 means blocked; 400 is invalid."""
    if isinstance(exc, RetryAfter):
        with warnings.catch_warnings():  # PTB 22.2+ warns on the int form; either form is accepted here
            warnings.simplefilter("ignore", DeprecationWarning)
            wait = exc.retry_after
        seconds = wait.total_seconds() if isinstance(wait, timedelta) else float(wait)
        return SendFailure("retry", exc.message, retry_after=seconds)
    if isinstance(exc, Forbidden):
        return SendFailure("blocked", exc.message)
    if isinstance(exc, BadRequest | ChatMigrated):  # BadRequest is a NetworkError: test it first
        return SendFailure("invalid", exc.message)
    return SendFailure("retry", exc.message)  # TimedOut, NetworkError (5xx, connection), others


def _check(value: Any, kind: type[T], field: str) -> T:
    """The value when it has the type the Bot API documents; ValueError (the update is recorded as bad) if not."""
    if not isinstance(value, kind) or isinstance(value, bool):
        raise ValueError(f"{field} is a {type(value).__name__}, not a {kind.__name__}")
    return value


class TelegramChannel:
    """Receives Telegram updates into the inbox and sends replies with PTB's Bot."""

    name = "telegram"
    buttons = True
    edits = True
    menus = True
    route = "telegram"
    media = None

    def __init__(self, token: str, api_url: str, accept: Accept, *, webhook_url: str = "",
                 webhook_secret: str = "", menus: dict[str, list[tuple[str, str]]] | None = None,
                 poll_timeout: int = 20, pool: int = POOL) -> None:
        self.accept = accept
        self.webhook_url = webhook_url
        self.webhook_secret = webhook_secret
        self.default_menus = menus or {}
        self.poll_timeout = poll_timeout
        root = api_url.rstrip("/")
        self.updates_url = f"{root}/bot{token}/getUpdates"
        self.bot = Bot(token, base_url=f"{root}/bot", base_file_url=f"{root}/file/bot",
                       request=HTTPXRequest(connection_pool_size=pool))
        self.username = ""
        self.invite_link = ""
        self.offset = 0
        self.stopping = False
        self._http: aiohttp.ClientSession | None = None
        self._poller: asyncio.Task[None] | None = None
        self._pending: set[asyncio.Task[None]] = set()

    async def start(self) -> None:
        """Connect, register the command menus and start polling or the webhook."""
        await self.bot.initialize()
        self.username = self.bot.username
        self.invite_link = f"https://t.me/{self.username}?start={{code}}"
        for lang, commands in self.default_menus.items():
            await self.bot.set_my_commands([BotCommand(c, d) for c, d in commands], language_code=lang or None)
        if self.webhook_url:
            await self.bot.set_webhook(self.webhook_url, secret_token=self.webhook_secret,
                                       allowed_updates=ALLOWED_UPDATES)
        else:
            await self.bot.delete_webhook()
            self._http = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=self.poll_timeout + 15))
            self._poller = asyncio.create_task(self._poll(), name="telegram-poll")

    async def stop(self) -> None:
        """Stop taking updates (webhook calls get 503), let callback answers finish, and close."""
        self.stopping = True
        if self._poller is not None:
            self._poller.cancel()  # between fetches nothing is lost: what was fetched is stored or not confirmed
            await asyncio.gather(self._poller, return_exceptions=True)
        if self._pending:
            await asyncio.wait(set(self._pending), timeout=2.0)
        if self._http is not None:
            await self._http.close()
        with contextlib.suppress(Exception):
            await self.bot.shutdown()

    # ------------------------------------------------------------------ in
    async def _poll(self) -> None:
        """Fetch, store, then confirm: the next offset is asked for only after the batch is durable."""
        pause = 0.5
        while not self.stopping:
            try:
                raw = await self._fetch()
                await self.take(raw)
                pause = 0.5
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning("telegram: polling failed (%s); trying again in %.1f s", exc, pause)
                await asyncio.sleep(pause)
                pause = min(pause * 2, 30.0)

    async def _fetch(self) -> list[Any]:
        """One long poll for raw updates after the confirmed offset."""
        assert self._http is not None
        params = {"offset": str(self.offset), "timeout": str(self.poll_timeout),
                  "allowed_updates": json.dumps(ALLOWED_UPDATES)}
        async with self._http.get(self.updates_url, params=params) as resp:
            body = await resp.json(content_type=None)
        if not isinstance(body, dict) or not body.get("ok"):
            raise RuntimeError(f"getUpdates answered {str(body)[:200]}")
        result = body.get("result")
        return result if isinstance(result, list) else []

    async def take(self, raw: list[Any]) -> None:
        """Read each update on its own, store the batch, then move the offset past it."""
        received, bad = [], []
        highest = self.offset - 1
        for item in raw:
            update_id = item.get("update_id") if isinstance(item, dict) else None
            if not isinstance(update_id, int) or isinstance(update_id, bool):
                log.warning("telegram: skipped an update without an update_id")
                continue
            highest = max(highest, update_id)
            try:
                incoming = self.incoming(Update.de_json(item, self.bot))
            except Exception as exc:  # a field a newer Bot API made required, a malformed object
                log.warning("telegram: update %d could not be read (%s); recorded as bad", update_id, exc)
                bad.append((f"telegram:{update_id}", f"{type(exc).__name__}: {exc}"))
                continue
            if incoming is not None:
                received.append(incoming)
        await self.accept(received, bad)
        self.offset = max(self.offset, highest + 1)
        for item in raw:
            query = item.get("callback_query") if isinstance(item, dict) else None
            if isinstance(query, dict) and query.get("id"):
                task = asyncio.create_task(self._answer(str(query["id"])))
                self._pending.add(task)
                task.add_done_callback(self._pending.discard)

    def incoming(self, update: Update) -> Incoming | None:
        """Translate an update; None for what the bot ignores (edits, groups, channel posts, other kinds)."""
        chat, user = update.effective_chat, update.effective_user
        if chat is None or user is None or chat.type != ChatType.PRIVATE:
            log.info("ignored update %s: not from a private chat", update.update_id)
            return None
        _check(chat.id, int, "chat.id")  # PTB does not check types: a forged update may carry anything
        _check(user.id, int, "from.id")
        if chat.id != user.id:  # a private chat's id is its person's: anything else is forged
            log.warning("ignored update %s: a private chat that is not the sender's", update.update_id)
            return None
        key = f"telegram:{update.update_id}"
        base = {"channel": self.name, "chat_id": str(chat.id), "user_id": str(user.id), "update_key": key}
        if update.callback_query is not None:
            data = _check(update.callback_query.data or "", str, "callback_query.data")
            return Incoming(**base, choice_id=data[:64])
        message = update.message
        if message is None:
            log.info("ignored update %s: an edit or another kind", update.update_id)
            return None
        base["sent_at"] = message.date.timestamp() if message.date else None
        if message.text is not None:
            return Incoming(**base, text=_check(message.text, str, "message.text")[:TEXT_LIMIT])
        return Incoming(**base, other="sticker" if message.sticker else "media")

    async def _answer(self, query_id: str) -> None:
        """Stop the button's spinner; a failure here only costs the spinner."""
        try:
            await self.bot.answer_callback_query(query_id)
        except TelegramError as exc:
            log.info("could not answer a callback query: %s", exc)

    async def webhook(self, request: web.Request) -> web.Response:
        """Accept a webhook update when its secret token matches; 200 only once it is stored, 503 while stopping."""
        if self.stopping:
            return web.Response(status=503)
        given = request.headers.get("X-Telegram-Bot-Api-Secret-Token", "")
        if not hmac.compare_digest(given.encode(), self.webhook_secret.encode()):
            log.warning("rejected a telegram webhook call with a wrong secret token")
            return web.Response(status=403)
        try:
            body = json.loads(await request.read())
        except (ValueError, RecursionError):  # RecursionError: nesting deeper than the parser goes
            body = None
        update_id = body.get("update_id") if isinstance(body, dict) else None
        if not isinstance(update_id, int) or isinstance(update_id, bool):
            log.warning("rejected a malformed telegram webhook body")
            return web.Response(status=400)
        await self.take([body])
        return web.Response(text="ok")

    # ------------------------------------------------------------------ out
    async def send(self, chat_id: str, reply: Reply) -> str:
        """Send a reply and return the message id; a refusal raises SendFailure saying whether to retry."""
        try:
            sent = await self._send(chat_id, reply)
        except TelegramError as exc:
            raise send_failure(exc) from exc
        if reply.menu is not None:
            await self._menu(chat_id, reply.menu)
        return sent

    async def _menu(self, chat_id: str, commands: tuple[tuple[str, str], ...]) -> None:
        """Give one chat its own command menu, or (empty) the default again; a failure costs only the menu."""
        scope = BotCommandScopeChat(int(chat_id))
        try:
            if commands:
                await self.bot.set_my_commands([BotCommand(c, d) for c, d in commands], scope=scope)
            else:
                await self.bot.delete_my_commands(scope=scope)
        except (TelegramError, ValueError) as exc:
            log.warning("could not set the command menu of a chat: %s", exc)

    async def edit(self, chat_id: str, message_id: str, text: str) -> None:
        """Replace the text of a message the bot sent (a progress line)."""
        try:
            await self.bot.edit_message_text(text[:TEXT_LIMIT], chat_id=chat_id, message_id=int(message_id))
        except TelegramError as exc:
            raise send_failure(exc) from exc

    async def _send(self, chat_id: str, reply: Reply) -> str:
        """Send text with buttons, or a photo or document with a caption."""
        bot = self.bot
        if reply.image is not None:
            sent = await bot.send_photo(chat_id, reply.image, caption=reply.text[:1024] or None,
                                        reply_markup=keyboard(reply))
        elif reply.document is not None:
            sent = await bot.send_document(chat_id, reply.document, filename=reply.filename or "file",
                                           caption=reply.text[:1024] or None)
        else:
            pieces = chunks(reply.text)
            for piece in pieces[:-1]:
                await bot.send_message(chat_id, piece)
            sent = await bot.send_message(chat_id, pieces[-1], reply_markup=keyboard(reply))
        return str(sent.message_id)
