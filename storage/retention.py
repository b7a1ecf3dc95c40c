"""Pruning: processed update keys, finished inbox rows and outbox rows past their keeping time, in small batches."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ColumnElement, delete, select
from sqlalchemy.ext.asyncio import AsyncEngine

from storage.models import Inbox, Outbox, ProcessedUpdate


async def _batch(engine: AsyncEngine, table: type, key: ColumnElement, old: ColumnElement, size: int) -> int:
    """Delete up to `size` old rows of one table; how many went."""
    async with engine.begin() as conn:
        ids = [k for (k,) in await conn.execute(select(key).where(old).limit(size))]
        if ids:
            await conn.execute(delete(table).where(key.in_(ids)))
        return len(ids)


async def prune(engine: AsyncEngine, before: datetime, size: int = 1000, rounds: int = 100) -> int:
    """Delete what is older than `before` and finished, `size` rows per transaction; how many rows went."""
    gone = 0
    targets = [
        (ProcessedUpdate, ProcessedUpdate.key, ProcessedUpdate.seen_at < before),
        (Inbox, Inbox.id, (Inbox.status != "queued") & (Inbox.done_at < before)),
        (Outbox, Outbox.id, Outbox.status.in_(("sent", "failed", "skipped")) & (Outbox.created_at < before)),
    ]
    for table, key, old in targets:
        for _ in range(rounds):
            count = await _batch(engine, table, key, old, size)
            gone += count
            if count < size:
                break
    return gone
