"""What the service remembers between updates: sessions it wrote, update keys it handled, the open round."""

from __future__ import annotations

import asyncio
import marshal
import time
from collections import OrderedDict
from collections.abc import Sequence
from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine

from conversations.turn import Window
from storage import communes, repo
from storage.writes import Write


class StateCache:
    """Saves the read before each update; the database stays the truth (its unique keys refuse duplicates).

    This process is the only writer of its people's sessions, so a session it wrote is what the database
    holds. Anything not remembered, or forgotten after a failed write, is read from the database.
    """

    def __init__(self, db: AsyncEngine, sessions: int = 20_000, keys: int = 100_000, round_ttl: float = 2.0) -> None:
        self.db = db
        self.limits = (sessions, keys)
        self.round_ttl = round_ttl
        self._sessions: OrderedDict[str, bytes | None] = OrderedDict()
        self._keys: OrderedDict[str, None] = OrderedDict()
        self._round: tuple[float, str | None, Window | None] = (0.0, None, None)
        self._reading: asyncio.Task[repo.State] | None = None

    async def load(self, person: str, key: str | None) -> repo.State:
        """The person's state, from memory when it is there."""
        if key and key in self._keys:
            return repo.State(True, None, None)
        if person in self._sessions and self.limits[0] and time.monotonic() - self._round[0] >= self.round_ttl:
            await self._read_round()
        if person in self._sessions and self.limits[0]:  # (again: the read may have let it be forgotten)
            self._sessions.move_to_end(person)
            blob = self._sessions[person]
            return repo.State(False, None if blob is None else marshal.loads(blob), self._round[1], self._round[2])
        state = await repo.load_state(self.db, person, key)
        self._round = (time.monotonic(), state.round_id, state.window)
        if not state.seen:
            self._remember(person, state.session)
        return state

    async def _read_round(self) -> None:
        """Read the open round again, once for everyone waiting (not once per person)."""
        if self._reading is None or self._reading.done():
            self._reading = asyncio.ensure_future(repo.load_state(self.db, "", None))
        state = await asyncio.shield(self._reading)
        self._round = (time.monotonic(), state.round_id, state.window)

    def settle(self, person: str, key: str | None, unit: Sequence[Any]) -> None:
        """After a successful commit: learn the person's session from what the unit wrote."""
        if key:
            self._keys[key] = None
            if len(self._keys) > self.limits[1]:
                self._keys.popitem(last=False)
        for item in reversed(unit):
            if isinstance(item, Write) and item.name == "session" and item.params["person"] == person:
                self._remember(person, item.params["data"])
                return
            if isinstance(item, Write) and item.name == "session_delete" and item.params["person"] == person:
                self._remember(person, None)
                return

    def drop(self, person: str) -> None:
        """Forget a person's session, so the next update reads it from the database."""
        self._sessions.pop(person, None)

    def _remember(self, person: str, session: dict[str, Any] | None) -> None:
        """Keep a private copy (not when several workers may change it: then `sessions` is 0)."""
        if not self.limits[0]:
            return
        self._sessions[person] = None if session is None else marshal.dumps(session)
        self._sessions.move_to_end(person)
        if len(self._sessions) > self.limits[0]:
            self._sessions.popitem(last=False)


class Communes:
    """The current communes, read again at most once a minute."""

    def __init__(self, db: AsyncEngine, ttl: float = 60.0) -> None:
        self.db = db
        self.ttl = ttl
        self._rows: tuple[tuple[str, str], ...] = ()
        self._at = 0.0
        self._merges: dict[str, str | None] = {}
        self._merges_at = 0.0

    async def all(self) -> tuple[tuple[str, str], ...]:
        """(code, name) pairs in name order."""
        if not self._rows or time.monotonic() - self._at > self.ttl:
            self._rows = tuple(await repo.communes(self.db))
            self._at = time.monotonic()
        return self._rows

    async def names(self) -> dict[str, str]:
        """Commune names by code."""
        return dict(await self.all())

    async def merges(self) -> dict[str, str | None]:
        """Every unit's merged_into (the 2025 map), read again at most once a minute."""
        if not self._merges or time.monotonic() - self._merges_at > self.ttl:
            self._merges = await communes.merges(self.db)
            self._merges_at = time.monotonic()
        return self._merges
