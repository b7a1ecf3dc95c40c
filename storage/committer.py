"""Group commit: units of work from many conversations share one short transaction."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine

from storage.writes import Item, Refused, run

log = logging.getLogger(__name__)
Unit = Sequence[Item]


@dataclass(slots=True)
class _Pending:
    """A unit waiting for its transaction."""

    unit: Unit
    done: asyncio.Future[dict[str, Any]]


class Committer:
    """Writes each unit atomically; units queued together commit in one transaction."""

    def __init__(self, engine: AsyncEngine, max_batch: int = 200) -> None:
        self.engine = engine
        self.max_batch = max_batch
        self._queue: asyncio.Queue[_Pending] = asyncio.Queue()
        self._task: asyncio.Task[None] | None = None
        self._waiting = 0  # units queued or committing: close() waits for them
        self._closing = False

    async def write(self, unit: Unit) -> dict[str, Any]:
        """Commit a unit of work and return its step results once durable; raises if it failed."""
        if not unit:
            return {}
        if self._closing:
            raise RuntimeError("the committer is closed")
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._run(), name="committer")
        pending = _Pending(unit, asyncio.get_running_loop().create_future())
        self._waiting += 1
        try:
            await self._queue.put(pending)
            return await asyncio.shield(pending.done)
        finally:
            self._waiting -= 1

    async def close(self) -> None:
        """Let every queued and running commit finish, then stop the writer task; nothing is cancelled mid-commit."""
        self._closing = True
        while self._waiting and self._task is not None and not self._task.done():
            await asyncio.sleep(0.01)
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None
        self._closing = False

    async def _run(self) -> None:
        """Take whatever is queued and commit it together."""
        while True:
            batch = [await self._queue.get()]
            while len(batch) < self.max_batch and not self._queue.empty():
                batch.append(self._queue.get_nowait())
            try:
                results = await self._commit([p.unit for p in batch])
            except Exception as exc:
                if len(batch) == 1:
                    if not batch[0].done.done():
                        batch[0].done.set_exception(exc)
                    continue
                if not isinstance(exc, Refused):
                    log.warning("group commit of %d units failed; retrying one by one", len(batch), exc_info=True)
                for pending in batch:
                    await self._commit_alone(pending)
                continue
            for pending, result in zip(batch, results, strict=True):
                if not pending.done.done():
                    pending.done.set_result(result)

    async def _commit(self, units: list[Unit]) -> list[dict[str, Any]]:
        """Run units in one transaction."""
        async with self.engine.begin() as conn:
            return await run(conn, units)

    async def _commit_alone(self, pending: _Pending) -> None:
        """Commit a unit on its own, passing its error to the waiter."""
        try:
            (result,) = await self._commit([pending.unit])
        except Exception as exc:
            if not pending.done.done():
                pending.done.set_exception(exc)
            return
        if not pending.done.done():
            pending.done.set_result(result)
