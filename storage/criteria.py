"""The office's points for criteria 1-12, stored per round so the chat can show the recognition table."""

from __future__ import annotations

from collections.abc import Mapping

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncEngine

from storage.models import CriterionPoints


async def replace(engine: AsyncEngine, round_id: str, points: Mapping[str, Mapping[int, float | None]]) -> None:
    """Store a round's points, replacing what was entered before."""
    rows = [{"round_id": round_id, "commune": code, "criterion": n, "points": value}
            for code, values in points.items() for n, value in values.items()]
    async with engine.begin() as conn:
        await conn.execute(delete(CriterionPoints).where(CriterionPoints.round_id == round_id))
        if rows:
            await conn.execute(CriterionPoints.__table__.insert(), rows)


async def load(engine: AsyncEngine, round_id: str) -> dict[str, dict[int, float | None]]:
    """A round's stored points by commune and criterion; empty when none were entered."""
    async with engine.connect() as conn:
        rows = await conn.execute(select(CriterionPoints.commune, CriterionPoints.criterion, CriterionPoints.points)
                                  .where(CriterionPoints.round_id == round_id))
        found: dict[str, dict[int, float | None]] = {}
        for code, criterion, value in rows:
            found.setdefault(code, {})[criterion] = value
        return found
