"""Assessment rounds: open, close and list; at most one is open."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from analytics.dates import vn_today
from storage.models import Milestone, Round


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
    opens: str | None = None
    closes: str | None = None

    def window_state(self, now: datetime) -> str:
        """'closed' (status or past its closing day), 'upcoming' (before its opening day) or 'open'."""
        return window_state(self.status, self.opens, self.closes, now)


def window_state(status: str, opens: str | None, closes: str | None, now: datetime) -> str:
    """Whether a round accepts answers on today's date in Vietnam: 'open', 'upcoming' or 'closed'."""
    today = vn_today(now).isoformat()
    if status != "open" or (closes and today > closes):
        return "closed"
    return "upcoming" if opens and today < opens else "open"


def _info(r: Any) -> RoundInfo:
    """Copy a row into a value."""
    return RoundInfo(r.id, r.status, r.opened_at, r.closed_at, r.target_children, r.target_residents, r.opens,
                     r.closes)


async def open_round(engine: AsyncEngine, round_id: str, now: datetime, targets: tuple[int, int] = (30, 30),
                     window: tuple[date | None, date | None] = (None, None), milestones: Sequence[Any] = ()) -> None:
    """Open a new round (or reopen a closed one) when no other is open, with its survey window and milestones."""
    if not round_id or len(round_id) > 20 or not round_id.replace("-", "").isalnum():
        raise RoundError(f"round id {round_id!r} is not valid; use letters, digits and '-', e.g. 2024")
    if min(targets) <= 0:
        raise RoundError(f"the target must be a whole number above 0, not {min(targets)}")
    opens, closes = (None if d is None else d.isoformat() for d in window)
    if opens and closes and closes < opens:
        raise RoundError(f"the survey closes ({window[1]:%d/%m/%Y}) before it opens ({window[0]:%d/%m/%Y})")
    async with engine.begin() as conn:
        current = (await conn.execute(select(Round.id).where(Round.status == "open"))).scalar()
        if current == round_id:
            raise RoundError(f"round {round_id} is already open")
        if current:
            raise RoundError(f"round {current} is open; close it first with: xtt round close {current}")
        existing = (await conn.execute(select(Round.id).where(Round.id == round_id))).scalar()
        if existing:
            dates = {k: v for k, v in (("opens", opens), ("closes", closes)) if v}
            await conn.execute(Round.__table__.update().where(Round.id == round_id)
                               .values(status="open", closed_at=None, **dates))
        else:
            await conn.execute(Round.__table__.insert().values(
                id=round_id, status="open", opened_at=now, target_children=targets[0], target_residents=targets[1],
                opens=opens, closes=closes))
        known = set((await conn.execute(select(Milestone.id).where(Milestone.round_id == round_id))).scalars())
        rows = [{"round_id": round_id, **m.row()} for m in milestones if m.id not in known]
        if rows:
            await conn.execute(Milestone.__table__.insert(), rows)


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


async def open_info(engine: AsyncEngine) -> RoundInfo | None:
    """The round whose status is open, whatever its window."""
    async with engine.connect() as conn:
        row = (await conn.execute(select(Round).where(Round.status == "open"))).first()
    return None if row is None else _info(row)


async def current_round(engine: AsyncEngine, now: datetime | None = None) -> str | None:
    """The open round's id when it accepts answers today (between its opening and closing days), else None."""
    found = await open_info(engine)
    if found is None or found.window_state(now or datetime.now(UTC)) != "open":
        return None
    return found.id


async def latest_round(engine: AsyncEngine) -> str | None:
    """The most recently opened round's id, if any."""
    async with engine.connect() as conn:
        return (await conn.execute(select(Round.id).order_by(Round.opened_at.desc()).limit(1))).scalar()
