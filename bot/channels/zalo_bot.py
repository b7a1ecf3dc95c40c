"""The Zalo Bot Platform: long polling (or a webhook) in, numbered text and photos by URL out."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import json
import logging
import math
import time
from collections.abc import Callable, Mapping
from typing import Any

from aiohttp import web

from bot.channels.base import Accept, numbered
from bot.channels.zalo_bot_client import TEXT_LIMIT, JsonDict, ZalobotClient, ZalobotError, chunks, send_failure
from bot.web import Media
from conversations import Incoming, Reply

log = logging.getLogger(__name__)
SECRET_HEADER = "X-Bot-Api-Secret-Token"
POLL_TIMEOUT = 10.0  # a stop waits for an open request: it must end within the stop's bound
BACKOFF = (0.5, 30.0)  # first and longest pause after a failed poll
IDLE = (0.2, 1.0)  # pause after an empty answer that came back at once, growing while they keep coming
REMEMBER = 4096  # message ids kept to drop duplicates
# Shown when a reply carries a file this channel cannot deliver; Vietnamese, the default language.
NOTES = {
    "image": "(Chưa gửi được biểu đồ qua Zalo.)",
    "document": "(Chưa gửi được tệp {filename} qua Zalo.)",
    "link": "Tải tệp {filename} (trong 1 giờ): {url}",
}


class ZalobotChannel:
    """Receives Zalo Bot messages and hands them to the service as Incoming messages."""

    name = "zalo_bot"
    route = "zalo-bot"
    buttons = False
    edits = False
    menus = False
    invite_link = ""

    def __init__(self, token: str, api_url: str, accept: Accept, *, webhook_url: str = "",
                 webhook_secret: str = "", media: Media | None = None, poll_timeout: float = POLL_TIMEOUT,
                 backoff: tuple[float, float] = BACKOFF, clock: Callable[[], float] = time.time,
                 notes: Mapping[str, str] | None = None) -> None:
        self.client = ZalobotClient(token, api_url)
        self.accept = accept
        self.stopping = False
        self.webhook_url = webhook_url
        self.webhook_secret = webhook_secret
        self.media = media
        self.poll_timeout = poll_timeout
        self.backoff = backoff
        self.clock = clock
        self.notes = {**NOTES, **(notes or {})}
        self.account: JsonDict = {}
        self._task: asyncio.Task[None] | None = None
        self._polling = False  # a getUpdates request is open

    async def start(self) -> None:
        """Check the token, then poll or set the webhook in the background."""
        try:
            self.account = await self.client.get_me()
        except ZalobotError as exc:
            if send_failure(exc).kind != "retry":
                await self.client.close()
                raise RuntimeError(f"the Zalo Bot API refused getMe ({exc}): check ZALO_BOT_TOKEN") from None
            log.warning("getMe failed (%s); starting anyway", exc)
        if self.webhook_url and not 8 <= len(self.webhook_secret) <= 256:
            log.error("ZALO_BOT_WEBHOOK_SECRET must have 8-256 characters: the platform will refuse the webhook")
        self._task = asyncio.create_task(self._run(), name="zalo-bot")
        mode = "webhook" if self.webhook_url else "long polling"
        log.info("Zalo Bot %s: %s", self.account.get("account_name") or self.account.get("id") or "?", mode)

    async def stop(self) -> None:
        """Stop polling (webhook calls get 503) and close the HTTP session.

        getUpdates has no acknowledgement: a message the platform handed to a request we cancel is lost. So an
        open request is let finish (at most `poll_timeout`) and what it brought is stored; only a pause is cut.
        """
        self.stopping = True
        if self._task is not None:
            if self._polling:
                await asyncio.wait([self._task], timeout=self.poll_timeout + 2.0)
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        await self.client.close()

    async def _run(self) -> None:
        """Set up the mode, then poll forever; any fault is logged and the loop goes on after a growing pause."""
        delay, idle, ready = self.backoff[0], IDLE[0], False
        while not self.stopping:
            try:
                if not ready:
                    await self._setup()
                    ready = True
                    if self.webhook_url:
                        return
                began = time.monotonic()
                self._polling = True
                try:
                    updates = await self.client.get_updates(self.poll_timeout)
                finally:
                    self._polling = False
                delay = self.backoff[0]
                await self._store(updates)  # stored before the next getUpdates
                if updates or time.monotonic() - began > 1.0:
                    idle = IDLE[0]
                    continue
                await asyncio.sleep(idle)  # nothing yet, answered at once: keep polling, gently
                idle = min(idle * 2, IDLE[1])
            except asyncio.CancelledError:
                raise
            except ZalobotError as exc:
                log.warning("%s; trying again in %.1f s", exc, delay)
            except Exception:
                log.exception("the poll loop failed; restarting it in %.1f s", delay)
            else:
                continue
            await asyncio.sleep(delay)
            delay = min(delay * 2, self.backoff[1])

    async def _setup(self) -> None:
        """Register the webhook, or remove one so getUpdates works."""
        if self.webhook_url:
            await self.client.set_webhook(self.webhook_url, self.webhook_secret)
            log.info("webhook set")
        else:
            try:
                await self.client.delete_webhook()
            except ZalobotError as exc:  # e.g. no webhook to delete: getUpdates will tell if it matters
                log.warning("deleteWebhook failed (%s); polling anyway", exc)

    def incoming(self, update: JsonDict) -> Incoming | None:
        """Translate an update; None for what the bot ignores (groups, bots, no message). Old ones are kept."""
        event = str(update.get("event_name") or "")
        message = update.get("message") if "message" in update else update
        if not isinstance(message, dict):
            log.info("ignored an update without a message (%s)", event or "no event name")
            return None
        mid = str(message.get("message_id") or "")
        chat = message.get("chat") if isinstance(message.get("chat"), dict) else {}
        sender = message.get("from") if isinstance(message.get("from"), dict) else {}
        chat_id = str(_id(chat.get("id")) or _id(sender.get("id")) or "")
        if not mid or not chat_id:
            log.warning("ignored a message without message_id or chat id (keys: %s)", sorted(message))
            return None
        if str(chat.get("chat_type") or "PRIVATE").upper() != "PRIVATE" or sender.get("is_bot"):
            log.info("ignored message %s: not from a person in a private chat", mid)
            return None
        if len(mid) > 64:  # the stored key has room for 100 characters
            mid = hashlib.sha256(mid.encode()).hexdigest()
        sent = _millis(message.get("date"))
        base = {"channel": self.name, "chat_id": chat_id[:64], "user_id": str(_id(sender.get("id")) or chat_id)[:64],
                "update_key": f"{self.name}:{mid}", "sent_at": None if sent is None else sent / 1000}
        text = message.get("text")
        if isinstance(text, str) and text.strip():
            return Incoming(**base, text=text[:TEXT_LIMIT])
        sticker = "sticker" in event or "sticker" in message
        return Incoming(**base, other="sticker" if sticker else "media")

    async def _store(self, updates: list[JsonDict]) -> None:
        """Store a fetched batch, trying again until it is stored: it is never dropped for a failed write."""
        pause = self.backoff[0]
        while True:
            try:
                await self.take(updates)
                return
            except Exception:
                log.exception("could not store %d update(s); trying again in %.1f s", len(updates), pause)
                await asyncio.sleep(pause)
                pause = min(pause * 2, self.backoff[1])

    async def take(self, updates: list[JsonDict]) -> None:
        """Store what arrived in the inbox (a repeated message id is stored once); it is processed from there."""
        received, bad = [], []
        for n, update in enumerate(updates):
            try:
                incoming = self.incoming(update)
            except Exception as exc:  # one unreadable update is recorded and skipped, never retried forever
                log.warning("an update could not be read (%s); recorded as bad", type(exc).__name__)
                bad.append((f"{self.name}:bad:{hashlib.sha256(repr(update).encode()).hexdigest()[:32]}:{n}",
                            f"{type(exc).__name__}: {exc}"))
                continue
            if incoming is not None:
                received.append(incoming)
        if received or bad:
            await self.accept(received, bad)

    async def edit(self, chat_id: str, message_id: str, text: str) -> None:
        """The Zalo Bot Platform cannot edit a sent message."""
        raise NotImplementedError("zalo_bot cannot edit messages")

    async def send(self, chat_id: str, reply: Reply) -> None:
        """Send a reply; a refusal raises SendFailure saying whether to retry."""
        try:
            await self._send(chat_id, reply)
        except ZalobotError as exc:
            raise send_failure(exc) from exc

    async def _send(self, chat_id: str, reply: Reply) -> None:
        """Send the text (choices as a numbered list), then a photo by URL; files go as links or a note."""
        text = numbered(reply).strip()
        photo = ""
        filename = reply.filename or ("chart.png" if reply.image is not None else "file")
        if reply.image is not None:
            photo = self._publish(reply.image, filename)
            if not photo:
                text = _join(text, self.notes["image"])
        elif reply.document is not None:
            url = self._publish(reply.document, filename)
            note = self.notes["link" if url else "document"]
            text = _join(text, note.format(filename=filename, url=url))
        for piece in chunks(text):
            await self.client.send_message(chat_id, piece)
        if photo:
            await self.client.send_photo(chat_id, photo)

    def _publish(self, data: bytes, filename: str) -> str:
        """The public URL of a file, or '' (logged) when no public address is configured."""
        if self.media is None:
            log.warning("could not send %s: set WEB_PUBLIC_URL so Zalo can fetch files", filename)
            return ""
        return self.media.put(data, filename)

    async def webhook(self, request: web.Request) -> web.Response:
        """Accept a webhook call when its secret header matches (constant time); 200 once stored, 503 when stopping."""
        if self.stopping:
            return web.Response(status=503)
        given = request.headers.get(SECRET_HEADER, "")
        if not self.webhook_secret or not hmac.compare_digest(given.encode(), self.webhook_secret.encode()):
            log.warning("rejected a webhook call with a %s secret token", "wrong" if given else "missing")
            return web.Response(status=403)
        try:
            body = json.loads(await request.read())
        except (ValueError, RecursionError):  # RecursionError: nesting deeper than the parser goes
            body = None
        update = body.get("result", body) if isinstance(body, dict) else None
        if not isinstance(update, dict) or not isinstance(update.get("message"), dict):
            log.warning("rejected a malformed webhook body")
            return web.Response(status=400)
        await self.take([update])
        return web.json_response({"ok": True})


def _millis(value: Any) -> int | None:
    """A message date in milliseconds (seconds are accepted too), or None."""
    if isinstance(value, str) and value.isdigit():
        value = int(value)
    if not isinstance(value, int | float) or isinstance(value, bool) or not math.isfinite(value) or value <= 0:
        return None
    return int(value if value >= 1e11 else value * 1000)


def _id(value: Any) -> str | int | None:
    """An id as the platform writes it (text or a number); None for anything else (a list, an object)."""
    return value if isinstance(value, str | int) and not isinstance(value, bool) else None


def _join(text: str, note: str) -> str:
    """Text and a note, a blank line apart."""
    return f"{text}\n\n{note}" if text else note
