"""Assessment rounds: open, close and list; at most one is open."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from storage.models import Round


class RoundError(ValueError):
    """A round command cannot be done; the message says why."""


@dataclass(frozen=True, slots=True)
class RoundInfo:
    """A round as people see it."""

    id: str
    status: str
    opened_at: datetime
    closed_at: datetime | None
    target_children: int
    target_residents: int


def _info(r: Any) -> RoundInfo:
    """Copy a row into a value."""
    return RoundInfo(r.id, r.status, r.opened_at, r.closed_at, r.target_children, r.target_residents)


async def open_round(engine: AsyncEngine, round_id: str, now: datetime, targets: tuple[int, int] = (30, 30)) -> None:
    """Open a new round, or reopen a closed one, when no other round is open."""
    if not round_id or len(round_id) > 20 or not round_id.replace("-", "").isalnum():
        raise RoundError(f"round id {round_id!r} is not valid; use letters, digits and '-', e.g. 2024")
    async with engine.begin() as conn:
        current = (await conn.execute(select(Round.id).where(Round.status == "open"))).scalar()
        if current == round_id:
            raise RoundError(f"round {round_id} is already open")
        if current:
            raise RoundError(f"round {current} is open; close it first with: xtt round close {current}")
        existing = (await conn.execute(select(Round.id).where(Round.id == round_id))).scalar()
        if existing:
            await conn.execute(Round.__table__.update().where(Round.id == round_id)
                               .values(status="open", closed_at=None))
        else:
            await conn.execute(Round.__table__.insert().values(
                id=round_id, status="open", opened_at=now, target_children=targets[0], target_residents=targets[1]))


async def close_round(engine: AsyncEngine, round_id: str, now: datetime) -> None:
    """Close the open round."""
    async with engine.begin() as conn:
        status = (await conn.execute(select(Round.status).where(Round.id == round_id))).scalar()
        if status is None:
            raise RoundError(f"there is no round {round_id}; see: xtt round list")
        if status != "open":
            raise RoundError(f"round {round_id} is already closed")
        await conn.execute(Round.__table__.update().where(Round.id == round_id)
                           .values(status="closed", closed_at=now))


async def list_rounds(engine: AsyncEngine) -> list[RoundInfo]:
    """Every round, newest first."""
    async with engine.connect() as conn:
        rows = await conn.execute(select(Round).order_by(Round.opened_at.desc()))
        return [_info(r) for r in rows]


async def current_round(engine: AsyncEngine) -> str | None:
    """The open round's id, if any."""
    async with engine.connect() as conn:
        return (await conn.execute(select(Round.id).where(Round.status == "open"))).scalar()


async def latest_round(engine: AsyncEngine) -> str | None:
    """The most recently opened round's id, if any."""
    async with engine.connect() as conn:
        return (await conn.execute(select(Round.id).order_by(Round.opened_at.desc()).limit(1))).scalar()
