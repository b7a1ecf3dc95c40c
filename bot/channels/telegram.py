"""Telegram through python-telegram-bot: long polling or webhook, inline keyboards."""

from __future__ import annotations

import asyncio
import hmac
import json
import logging
import warnings
from datetime import timedelta

from aiohttp import web
from telegram import BotCommand, BotCommandScopeChat, CallbackQuery, InlineKeyboardButton, InlineKeyboardMarkup, Update
from telegram.constants import ChatType
from telegram.error import BadRequest, ChatMigrated, Forbidden, RetryAfter, TelegramError
from telegram.ext import Application, ContextTypes, TypeHandler

from bot.channels.base import Handler
from bot.channels.errors import SendFailure
from conversations import Incoming, Reply

log = logging.getLogger(__name__)
ALLOWED_UPDATES = ["message", "callback_query"]
TEXT_LIMIT = 4096
SHORT_LABEL = 18


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


class TelegramChannel:
    """Receives updates with PTB and hands them to the service as Incoming messages."""

    name = "telegram"
    buttons = True
    edits = True
    menus = True
    route = "telegram"
    media = None

    def __init__(self, token: str, api_url: str, handle: Handler, *, webhook_url: str = "",
                 webhook_secret: str = "", menus: dict[str, list[tuple[str, str]]] | None = None) -> None:
        self.handle = handle
        self.webhook_url = webhook_url
        self.webhook_secret = webhook_secret
        self.menus = menus or {}
        root = api_url.rstrip("/")
        builder = (Application.builder().token(token).base_url(f"{root}/bot").base_file_url(f"{root}/file/bot")
                   .concurrent_updates(256))
        if webhook_url:
            builder = builder.updater(None)
        self.app = builder.build()
        self.app.add_handler(TypeHandler(Update, self._on_update))
        self.app.add_error_handler(self._on_error)
        self.username = ""
        self.invite_link = ""
        self._pending: set[asyncio.Task[None]] = set()

    async def start(self) -> None:
        """Connect, register the command menus and start polling or the webhook."""
        await self.app.initialize()
        self.username = self.app.bot.username
        self.invite_link = f"https://t.me/{self.username}?start={{code}}"
        for lang, commands in self.menus.items():
            await self.app.bot.set_my_commands([BotCommand(c, d) for c, d in commands],
                                               language_code=lang or None)
        await self.app.start()
        if self.webhook_url:
            await self.app.bot.set_webhook(self.webhook_url, secret_token=self.webhook_secret,
                                           allowed_updates=ALLOWED_UPDATES)
        else:
            assert self.app.updater is not None
            await self.app.updater.start_polling(poll_interval=0.0, timeout=20, allowed_updates=ALLOWED_UPDATES)

    async def stop(self) -> None:
        """Stop polling and shut PTB down."""
        if self.app.updater and self.app.updater.running:
            await self.app.updater.stop()
        if self.app.running:
            await self.app.stop()
        await self.app.shutdown()

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
                await self.app.bot.set_my_commands([BotCommand(c, d) for c, d in commands], scope=scope)
            else:
                await self.app.bot.delete_my_commands(scope=scope)
        except (TelegramError, ValueError) as exc:
            log.warning("could not set the command menu of a chat: %s", exc)

    async def edit(self, chat_id: str, message_id: str, text: str) -> None:
        """Replace the text of a message the bot sent (a progress line)."""
        try:
            await self.app.bot.edit_message_text(text[:TEXT_LIMIT], chat_id=chat_id, message_id=int(message_id))
        except TelegramError as exc:
            raise send_failure(exc) from exc

    async def _send(self, chat_id: str, reply: Reply) -> str:
        """Send text with buttons, or a photo or document with a caption."""
        bot = self.app.bot
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

    def incoming(self, update: Update) -> Incoming | None:
        """Translate an update; None for what the bot ignores (edits, groups, channel posts)."""
        chat, user = update.effective_chat, update.effective_user
        if chat is None or user is None or chat.type != ChatType.PRIVATE:
            log.info("ignored update %s: not from a private chat", update.update_id)
            return None
        key = f"telegram:{update.update_id}"
        base = {"channel": self.name, "chat_id": str(chat.id), "user_id": str(user.id), "update_key": key}
        if update.callback_query is not None:
            return Incoming(**base, choice_id=update.callback_query.data or "")
        message = update.message
        if message is None:
            log.info("ignored update %s: an edit or another kind", update.update_id)
            return None
        if message.text is not None:
            return Incoming(**base, text=message.text[:TEXT_LIMIT])
        return Incoming(**base, other="sticker" if message.sticker else "media")

    async def _on_update(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        """Hand the update to the service before any await, so each chat keeps its order."""
        if update.callback_query is not None:
            task = asyncio.create_task(self._answer(update.callback_query))
            self._pending.add(task)
            task.add_done_callback(self._pending.discard)
        incoming = self.incoming(update)
        if incoming is None:
            return
        chat_id = incoming.chat_id

        async def reply(message: Reply) -> str:
            return await self.send(chat_id, message)

        async def edit(message_id: str, text: str) -> None:
            await self.edit(chat_id, message_id, text)

        await self.handle(incoming, reply, edit)

    @staticmethod
    async def _answer(query: CallbackQuery) -> None:
        """Stop the button's spinner; a failure here only costs the spinner."""
        try:
            await query.answer()
        except TelegramError as exc:
            log.info("could not answer a callback query: %s", exc)

    async def _on_error(self, update: object, context: ContextTypes.DEFAULT_TYPE) -> None:
        """Log faults PTB reports; the service already apologised to the person."""
        log.error("telegram error: %s", context.error, exc_info=context.error)

    async def webhook(self, request: web.Request) -> web.Response:
        """Accept a webhook update when its secret token matches, in constant time."""
        given = request.headers.get("X-Telegram-Bot-Api-Secret-Token", "")
        if not hmac.compare_digest(given.encode(), self.webhook_secret.encode()):
            log.warning("rejected a telegram webhook call with a wrong secret token")
            return web.Response(status=403)
        try:
            body = json.loads(await request.read())
            update = Update.de_json(body, self.app.bot) if isinstance(body, dict) else None
        except Exception:
            update = None
        if update is None:
            log.warning("rejected a malformed telegram webhook body")
            return web.Response(status=400)
        await self.app.update_queue.put(update)
        return web.Response(text="ok")
