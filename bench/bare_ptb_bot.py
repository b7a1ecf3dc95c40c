"""The baseline of bench.telegram_e2e: a PTB bot with no logic and no database.

Per callback query it makes the same Bot API calls as xtt does for a survey answer (answerCallbackQuery,
then one sendMessage with an inline keyboard of 6 buttons, 2 per row); per text message, one sendMessage
with the same keyboard. Same PTB settings as xtt: long polling, poll_interval 0, concurrent_updates(256);
bench.telegram_e2e pins its HTTP pools (BARE_POOL for Bot API calls, BARE_UPDATES_POOL for getUpdates) to
the sizes xtt's TelegramChannel builds, so both bots use pools of the same size.

    BARE_TOKEN=123:ABC BARE_API_URL=http://127.0.0.1:PORT [BARE_POOL=256] [BARE_UPDATES_POOL=1] \
        python -m bench.bare_ptb_bot
"""

from __future__ import annotations

import itertools
import os

from telegram import InlineKeyboardButton, InlineKeyboardMarkup, Update
from telegram.ext import Application, ContextTypes, TypeHandler

TEXT = ("Câu 3/12\nBạn có hài lòng về sự an toàn trên đường em đi học và trước cổng trường không? "
        "Chọn một câu trả lời.")
LABELS = ("Rất hài lòng", "Hài lòng", "Chưa hài lòng lắm", "Rất không hài lòng", "Không biết", "Quay lại")
turns = itertools.count(1)


def keyboard() -> InlineKeyboardMarkup:
    """Six buttons, two per row, callback data '<turn>:<option>' like xtt's."""
    turn = next(turns)
    buttons = [InlineKeyboardButton(label, callback_data=f"{turn}:o{i}") for i, label in enumerate(LABELS)]
    return InlineKeyboardMarkup([buttons[i:i + 2] for i in range(0, len(buttons), 2)])


async def on_update(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Answer the tap, then send the 'next question'."""
    if update.callback_query is not None:
        await update.callback_query.answer()
    chat = update.effective_chat
    if chat is not None:
        await context.bot.send_message(chat.id, TEXT, reply_markup=keyboard())


def main() -> None:
    root = os.environ["BARE_API_URL"].rstrip("/")
    builder = (Application.builder().token(os.environ["BARE_TOKEN"]).base_url(f"{root}/bot")
               .base_file_url(f"{root}/file/bot").concurrent_updates(256))
    if os.environ.get("BARE_POOL"):  # PTB's HTTP pool for Bot API calls (PTB's default 256)
        builder = builder.connection_pool_size(int(os.environ["BARE_POOL"]))
    if os.environ.get("BARE_UPDATES_POOL"):  # the one for getUpdates (PTB's default 1)
        builder = builder.get_updates_connection_pool_size(int(os.environ["BARE_UPDATES_POOL"]))
    app = builder.build()
    app.add_handler(TypeHandler(Update, on_update))
    app.run_polling(poll_interval=0.0, timeout=20, allowed_updates=["message", "callback_query"],
                    close_loop=False)


if __name__ == "__main__":
    main()
