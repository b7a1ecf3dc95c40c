"""One progress message per broadcast, edited as its outbox batch goes out."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncEngine

from conversations import Catalogue
from storage import outbox

log = logging.getLogger(__name__)
Show = Callable[[str, bool], Awaitable[None]]  # (text, final): edit the message, or say the final line


@dataclass
class _Watch:
    """A batch and the message that shows its progress."""

    batch: str
    show: Show
    lang: str
    shown: str = ""


class Tracker:
    """Polls the outbox and edits each progress message until its batch is done."""

    def __init__(self, db: AsyncEngine, texts: Catalogue, interval: float = 2.0) -> None:
        self.db = db
        self.texts = texts
        self.interval = interval
        self._watches: list[_Watch] = []
        self._task: asyncio.Task[None] | None = None

    def text(self, counts: dict[str, int], lang: str) -> str:
        """'Đã gửi 350/1.200 · 3 không gửi được'."""
        total = sum(counts.values())
        sent, failed = counts.get("sent", 0), counts.get("failed", 0) + counts.get("skipped", 0)
        key = "sending.done" if not counts.get("queued") else "sending.live"
        return self.texts.get(lang, key, sent=f"{sent:,}".replace(",", "."), total=f"{total:,}".replace(",", "."),
                              failed=failed)

    def watch(self, batch: str, show: Show, lang: str) -> None:
        """Follow a batch, showing its progress through `show`."""
        self._watches.append(_Watch(batch, show, lang))
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._run(), name="tracker")

    async def stop(self) -> None:
        """Stop following."""
        if self._task:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _run(self) -> None:
        """Edit every watched message when its counts change; drop finished batches."""
        while self._watches:
            await asyncio.sleep(self.interval)
            for watch in list(self._watches):
                try:
                    counts = await outbox.progress(self.db, watch.batch)
                    text, final = self.text(counts, watch.lang), not counts.get("queued")
                    if text != watch.shown:
                        await watch.show(text, final)
                        watch.shown = text
                    if final:
                        self._watches.remove(watch)
                except Exception:
                    log.warning("could not update the progress of %s", watch.batch, exc_info=True)
