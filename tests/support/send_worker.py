"""A process that sends the outbox through the real Telegram channel, for crash tests and the broadcast benchmark.

    python -m tests.support.send_worker

It reads the xtt settings from the environment (DATABASE_URL, TELEGRAM_BOT_TOKEN, TELEGRAM_API_URL,
XTT_SEND_RATE, XTT_SEND_PER_CHAT) on a database that is already migrated, builds the engine, the
`TelegramChannel` and the `Sender` as `xtt run` does, drains the outbox, prints `drained` and exits 0;
on SIGTERM it stops as `xtt run` does (sends in flight are finished and recorded), prints `stopped`, exits 0.
`seed` and `queue` prepare such a database from a test or a benchmark.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import sys
import time
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import insert
from sqlalchemy.ext.asyncio import AsyncEngine

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bot.channels.telegram import TelegramChannel  # noqa: E402
from bot.sender import Sender  # noqa: E402
from bot.settings import load  # noqa: E402
from storage import outbox  # noqa: E402
from storage.db import connect  # noqa: E402
from storage.models import Contact  # noqa: E402


async def seed(db: AsyncEngine, chats: Iterable[int], channel: str = "telegram", *, opted_out: Iterable[int] = (),
               chunk: int = 5000) -> list[str]:
    """Add a contact per chat id (person `p<chat>`); return the persons."""
    out, now = set(opted_out), datetime.now(UTC)
    rows = [{"person": f"p{chat}", "channel": channel, "chat_id": str(chat), "opted_out": chat in out,
             "unreachable": False, "created_at": now} for chat in chats]
    async with db.begin() as conn:
        for start in range(0, len(rows), chunk):
            await conn.execute(insert(Contact), rows[start:start + chunk])
    return [row["person"] for row in rows]


async def queue(db: AsyncEngine, key: str, persons: Sequence[str], *, kind: str = "notice", text: str = "",
                choices: Sequence[tuple[str, str]] = (), batch: str | None = None, chunk: int = 5000) -> None:
    """Queue one message per person under `key` (idempotent), as the product's own writes do."""
    body, now = outbox.payload(text or f"message {key}", choices, key=f"bench.{kind}"), datetime.now(UTC)
    async with db.begin() as conn:
        for start in range(0, len(persons), chunk):
            await conn.execute(outbox.enqueue(db, key, list(persons[start:start + chunk]), kind, body, now,
                                              batch=batch or key))


async def _ignore(received: object, bad: object) -> None:
    """The worker only sends; updates are not read."""


async def main() -> int:
    """Drain the outbox once and exit."""
    settings = load(dotenv=None)
    db = connect(settings.database_url)
    channel = TelegramChannel(settings.telegram_bot_token, settings.telegram_api_url, _ignore)
    await channel.bot.initialize()
    sender = Sender(db, {channel.name: channel}, rate=float(settings.xtt_send_rate),
                    per_chat=float(settings.xtt_send_per_chat))
    await sender.release_claims()  # the one worker here: what a killed run had claimed is free again
    began = time.monotonic()
    draining = asyncio.create_task(sender.drain(timeout=3600))
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, draining.cancel)
    print("ready", flush=True)
    try:
        with contextlib.suppress(asyncio.CancelledError):
            await draining
    finally:
        await sender.stop()
        await channel.bot.shutdown()
        await db.dispose()
    print(f"{'stopped' if draining.cancelled() else 'drained'} after {time.monotonic() - began:.2f}s", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))

