"""Tests for the Telegram Bot API stand-in, driven by the real python-telegram-bot library."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

import aiohttp
import pytest
from telegram import Bot, BotCommand, InlineKeyboardButton, InlineKeyboardMarkup, Update
from telegram.error import Forbidden, RetryAfter
from telegram.ext import Application, CallbackQueryHandler, ContextTypes, MessageHandler, filters

try:
    from tests.support.telegram_standin import SentMessage, TelegramStandin
except ImportError:  # pytest's default "prepend" import mode puts tests/ (not the repo root) on sys.path
    from support.telegram_standin import SentMessage, TelegramStandin  # type: ignore[no-redef]

TOKEN = "123:ABC"


def _bot(tg: TelegramStandin) -> Bot:
    """A PTB Bot talking to the stand-in."""
    return Bot(TOKEN, base_url=f"{tg.root}/bot", base_file_url=f"{tg.root}/file/bot")


async def _wait_until(predicate: Callable[[], bool], timeout: float = 5.0) -> None:
    """Poll `predicate` until it holds or fail the test."""
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "condition not reached in time"
        await asyncio.sleep(0.01)


async def _call(tg: TelegramStandin, method: str, token: str = TOKEN, **params: Any) -> tuple[int, dict]:
    """Raw JSON POST to the stand-in; return (status, body)."""
    async with aiohttp.ClientSession() as session, session.post(
        f"{tg.root}/bot{token}/{method}", json=params
    ) as resp:
        return resp.status, await resp.json()


@pytest.mark.asyncio
async def test_bot_methods_are_recorded() -> None:
    async with TelegramStandin(token=TOKEN) as tg, _bot(tg) as bot:
        me = await bot.get_me()
        assert me.is_bot and me.username == "xtt_test_bot" and me.id == 123

        keyboard = InlineKeyboardMarkup(
            [[InlineKeyboardButton("Yes", callback_data="y"), InlineKeyboardButton("No", callback_data="n")],
             [InlineKeyboardButton("Site", url="https://example.org")]]
        )
        msg = await bot.send_message(42, "Ready?", reply_markup=keyboard)
        assert (msg.message_id, msg.chat.id, msg.text) == (1, 42, "Ready?")
        assert msg.from_user is not None and msg.from_user.username == "xtt_test_bot"
        assert msg.reply_markup == keyboard
        assert tg.sent(42) == [
            SentMessage("sendMessage", 42, 1, "Ready?", [("Yes", "y"), ("No", "n"), ("Site", None)])
        ]
        assert tg.calls_of("sendMessage")[0]["chat_id"] == 42

        edited = await bot.edit_message_text("Thanks", chat_id=42, message_id=1)
        assert edited.text == "Thanks" and edited.reply_markup is None
        photo = await bot.send_photo(42, b"\x89PNG" + b"0" * 96, caption="chart", filename="chart.png")
        assert photo.message_id == 2 and photo.caption == "chart" and photo.photo
        doc = await bot.send_document(43, b"a,b\n1,2\n", filename="report.csv")
        assert doc.document is not None and doc.document.file_name == "report.csv"
        assert [(s.method, s.text, s.caption, s.file_size, s.filename) for s in tg.sent()] == [
            ("sendMessage", "Ready?", None, None, None),
            ("editMessageText", "Thanks", None, None, None),
            ("sendPhoto", None, "chart", 100, "chart.png"),
            ("sendDocument", None, None, 8, "report.csv"),
        ]
        assert await bot.send_chat_action(42, "typing") is True

        await bot.set_my_commands([BotCommand("start", "Bắt đầu")], language_code="vi")
        await bot.set_my_commands([BotCommand("start", "Start"), BotCommand("help", "Help")])
        assert tg.commands["vi"] == [{"command": "start", "description": "Bắt đầu"}]
        assert [c["command"] for c in tg.commands[""]] == ["start", "help"]
        assert [c.description for c in await bot.get_my_commands(language_code="vi")] == ["Bắt đầu"]


async def _echo(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Echo text; label stickers and photos."""
    assert update.effective_message is not None
    text = update.effective_message.text
    keyboard = InlineKeyboardMarkup([[InlineKeyboardButton("OK", callback_data="ok")]])
    await update.effective_message.reply_text(f"echo: {text}" if text else "media", reply_markup=keyboard)


async def _on_callback(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Answer the query and edit the message it came from."""
    query = update.callback_query
    assert query is not None
    await query.answer()
    await query.edit_message_text(f"pressed {query.data}")


@pytest.mark.asyncio
async def test_application_polling_echo_and_callbacks() -> None:
    async with TelegramStandin(token=TOKEN) as tg:
        app = Application.builder().token(TOKEN).base_url(f"{tg.root}/bot").base_file_url(
            f"{tg.root}/file/bot").build()
        app.add_handler(MessageHandler((filters.TEXT & ~filters.COMMAND) | filters.Sticker.ALL | filters.PHOTO,
                                       _echo))
        app.add_handler(CallbackQueryHandler(_on_callback))
        await app.initialize()
        await app.start()
        assert app.updater is not None
        await app.updater.start_polling(poll_interval=0, timeout=1)
        try:
            await tg.push_message(7, "xin chào", first_name="Lan")
            sent = await tg.wait_sent(7, 1, timeout=5)
            assert sent[0].text == "echo: xin chào" and sent[0].buttons == [("OK", "ok")]
            assert sent[0].message_id == 2  # message ids are per chat and shared with the user

            update_id = await tg.push_callback(7, "ok")
            assert tg.updates[update_id]["callback_query"]["id"] == f"cq{update_id}"
            sent = await tg.wait_sent(7, 2, timeout=5)
            assert sent[1] == SentMessage("editMessageText", 7, 2, "pressed ok")
            assert f"cq{update_id}" in tg.answered_callbacks

            await tg.push_sticker(7)
            await tg.push_photo(7)
            assert [s.text for s in await tg.wait_sent(7, 4, timeout=5)][2:] == ["media", "media"]

            # Offset confirmation: after several more polls nothing was delivered twice...
            polls = len(tg.calls_of("getUpdates"))
            await _wait_until(lambda: len(tg.calls_of("getUpdates")) >= polls + 2)
            assert len(tg.sent(7)) == 4
            # ...while an explicit redelivery reaches the handlers again with the same update_id.
            first = min(tg.updates)
            await tg.redeliver(first)
            assert (await tg.wait_sent(7, 5, timeout=5))[4].text == "echo: xin chào"
        finally:
            await app.updater.stop()
            await app.stop()
            await app.shutdown()
        assert tg.calls_of("deleteWebhook") and tg.calls_of("getMe")
        assert tg.calls_of("getUpdates")[-1]["timeout"] == 0  # PTB's final "mark as read" call


@pytest.mark.asyncio
async def test_get_updates_offset_limit_and_long_polling() -> None:
    async with TelegramStandin(token=TOKEN) as tg:
        ids = [await tg.push_message(1, f"m{i}") for i in range(3)]
        assert ids == [1, 2, 3]
        _, body = await _call(tg, "getUpdates", limit=2)
        assert [u["update_id"] for u in body["result"]] == [1, 2]
        _, body = await _call(tg, "getUpdates")  # nothing confirmed yet: delivered again
        assert [u["update_id"] for u in body["result"]] == [1, 2, 3]
        _, body = await _call(tg, "getUpdates", offset=3)
        assert [u["update_id"] for u in body["result"]] == [3]
        _, body = await _call(tg, "getUpdates", offset=4, timeout=0)
        assert body == {"ok": True, "result": []}

        started = time.monotonic()
        _, body = await _call(tg, "getUpdates", offset=4, timeout=0.3)
        assert body["result"] == [] and 0.25 < time.monotonic() - started < 2

        async def push_later() -> None:
            await asyncio.sleep(0.1)
            await tg.push_message(1, "late")

        started = time.monotonic()
        task = asyncio.create_task(push_later())
        _, body = await _call(tg, "getUpdates", offset=4, timeout=5)
        await task
        assert [u["message"]["text"] for u in body["result"]] == ["late"]
        assert time.monotonic() - started < 2

        with pytest.raises(LookupError):
            await tg.push_callback(99, "x")
        with pytest.raises(TimeoutError, match="expected 1 message"):
            await tg.wait_sent(99, 1, timeout=0.05)


@pytest.mark.asyncio
@pytest.mark.filterwarnings("ignore:.*retry_after.*:DeprecationWarning")  # PTB 22 int -> timedelta notice
async def test_rate_limits_blocked_and_5xx() -> None:
    async with TelegramStandin(token=TOKEN, per_chat_per_s=1.0) as tg:
        assert (await _call(tg, "sendMessage", chat_id=1, text="a"))[0] == 200
        status, body = await _call(tg, "sendMessage", chat_id=1, text="b")
        assert status == 429 and body["error_code"] == 429
        retry = body["parameters"]["retry_after"]
        assert isinstance(retry, int) and retry >= 1
        assert body["description"] == f"Too Many Requests: retry after {retry}"
        assert (await _call(tg, "sendMessage", chat_id=2, text="c"))[0] == 200
        assert tg.rejected_429 == 1 and [s.text for s in tg.sent()] == ["a", "c"]

        tg.per_chat_per_s, tg.rate_limit_per_s = None, 2.0
        statuses = [(await _call(tg, "sendMessage", chat_id=10 + i, text="x"))[0] for i in range(3)]
        assert statuses == [200, 200, 429] and tg.rejected_429 == 2

        tg.rate_limit_per_s = None
        tg.blocked.add(5)
        assert await _call(tg, "sendMessage", chat_id=5, text="hi") == (
            403, {"ok": False, "error_code": 403, "description": "Forbidden: bot was blocked by the user"})
        tg.fail_5xx = 1
        assert (await _call(tg, "sendMessage", chat_id=6, text="x"))[0] == 502
        assert (await _call(tg, "sendMessage", chat_id=6, text="x"))[0] == 200

        # PTB maps these answers onto its own exceptions.
        tg.per_chat_per_s = 0.5
        async with _bot(tg) as bot:
            await bot.send_message(8, "first")
            with pytest.raises(RetryAfter):
                await bot.send_message(8, "second")
            with pytest.raises(Forbidden, match="blocked"):
                await bot.send_message(5, "hi")


@pytest.mark.asyncio
async def test_wrong_token_and_unknown_method() -> None:
    async with TelegramStandin(token=TOKEN) as tg:
        assert await _call(tg, "getMe", token="999:WRONG") == (
            401, {"ok": False, "error_code": 401, "description": "Unauthorized"})
        assert await _call(tg, "frobnicate") == (
            404, {"ok": False, "error_code": 404, "description": "Not Found: method not found"})
        async with aiohttp.ClientSession() as session, session.get(f"{tg.root}/bot{TOKEN}/getMe") as resp:
            assert (await resp.json())["result"]["username"] == "xtt_test_bot"
