"""Group commit: units of work from many conversations share one short transaction."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncEngine
from sqlalchemy.sql import Executable

from storage.writes import Write, run

log = logging.getLogger(__name__)
Unit = Sequence[Write | Executable]


@dataclass(slots=True)
class _Pending:
    """A unit waiting for its transaction."""

    unit: Unit
    done: asyncio.Future[None]


class Committer:
    """Writes each unit atomically; units queued together commit in one transaction."""

    def __init__(self, engine: AsyncEngine, max_batch: int = 200) -> None:
        self.engine = engine
        self.max_batch = max_batch
        self._queue: asyncio.Queue[_Pending] = asyncio.Queue()
        self._task: asyncio.Task[None] | None = None

    async def write(self, unit: Unit) -> None:
        """Commit a unit of work; returns once it is durable, raises if it failed."""
        if not unit:
            return
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._run(), name="committer")
        pending = _Pending(unit, asyncio.get_running_loop().create_future())
        await self._queue.put(pending)
        await pending.done

    async def close(self) -> None:
        """Stop the writer task once the queue is empty."""
        if self._task is not None:
            while not self._queue.empty():
                await asyncio.sleep(0.01)
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None

    async def _run(self) -> None:
        """Take whatever is queued and commit it together."""
        while True:
            batch = [await self._queue.get()]
            while len(batch) < self.max_batch and not self._queue.empty():
                batch.append(self._queue.get_nowait())
            try:
                await self._commit([p.unit for p in batch])
            except Exception:
                log.warning("group commit of %d units failed; retrying one by one", len(batch), exc_info=True)
                for pending in batch:
                    await self._commit_alone(pending)
                continue
            for pending in batch:
                if not pending.done.done():
                    pending.done.set_result(None)

    async def _commit(self, units: list[Unit]) -> None:
        """Run units in one transaction."""
        async with self.engine.begin() as conn:
            await run(conn, units)

    async def _commit_alone(self, pending: _Pending) -> None:
        """Commit a unit on its own, passing its error to the waiter."""
        try:
            await self._commit([pending.unit])
        except Exception as exc:
            if not pending.done.done():
                pending.done.set_exception(exc)
            return
        if not pending.done.done():
            pending.done.set_result(None)
