"""Repository functions of paper questionnaires: print runs of form codes, and forms entered from the sheet."""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from storage.models import Alert, Answer, FormPrint, Response
from storage.writes import shape

SOURCE = "paper"


@dataclass(frozen=True, slots=True)
class PrintRun:
    """Serials first .. first + count - 1 were printed for a commune and group."""

    commune: str
    group: str
    first: int
    count: int

    def holds(self, serial: int) -> bool:
        """Whether a serial belongs to this run."""
        return self.first <= serial < self.first + self.count


@dataclass(frozen=True, slots=True)
class PaperForm:
    """One filled paper questionnaire, checked: answers as (question, option, satisfied or None if unscored)."""

    code: str
    commune: str
    group: str
    age_band: str
    version: str
    answers: tuple[tuple[str, str, bool | None], ...]
    comment: tuple[str, str] | None = None


async def allocate(engine: AsyncEngine, commune: str, group: str, count: int, now: datetime) -> PrintRun:
    """Reserve the next `count` serials for a print run; serials are never handed out twice."""
    for _ in range(5):
        try:
            async with engine.begin() as conn:
                first = (await conn.execute(select(func.coalesce(func.max(FormPrint.first + FormPrint.count), 0))
                                            )).scalar_one()
                await conn.execute(FormPrint.__table__.insert().values(
                    commune=commune, group=group, first=first, count=count, printed_at=now))
                return PrintRun(commune, group, int(first), count)
        except IntegrityError:
            continue
    raise RuntimeError("could not reserve form codes")


async def runs(engine: AsyncEngine) -> list[PrintRun]:
    """Every print run, oldest first."""
    async with engine.connect() as conn:
        rows = await conn.execute(select(FormPrint.commune, FormPrint.group, FormPrint.first, FormPrint.count)
                                  .order_by(FormPrint.first))
        return [PrintRun(*row) for row in rows]


async def _taken(conn: AsyncConnection, codes: Iterable[str]) -> set[str]:
    """The codes among these that a stored response already carries."""
    wanted, found = sorted(set(codes)), set()
    for start in range(0, len(wanted), 500):
        query = select(Response.form_code).where(Response.form_code.in_(wanted[start:start + 500]))
        found.update(code for (code,) in await conn.execute(query))
    return found


async def used(engine: AsyncEngine, codes: Iterable[str]) -> set[str]:
    """The codes among these that a stored response already carries."""
    async with engine.connect() as conn:
        return await _taken(conn, codes)


async def store(engine: AsyncEngine, forms: Sequence[PaperForm], round_id: str, day: str) -> list[str]:
    """Store forms in one transaction as submitted paper responses (totals as chat's); return codes already used."""
    async with engine.begin() as conn:
        taken = await _taken(conn, (f.code for f in forms))
        fresh = [f for f in forms if f.code not in taken]
        if not fresh:
            return sorted(taken)
        ids = {f.code: uuid.uuid4().hex for f in fresh}
        await conn.execute(Response.__table__.insert(), [
            {"id": ids[f.code], "round_id": round_id, "commune": f.commune, "group": f.group, "age_band": f.age_band,
             "version": f.version, "submitted": False, "started_on": day, "submitted_on": None, "source": SOURCE,
             "form_code": f.code, "answers_scored": None, "answers_satisfied": None} for f in fresh])
        answers = [{"response_id": ids[f.code], "question": q, "option": option,
                    "satisfied": None if ok is None else int(ok), "text": None}
                   for f in fresh for q, option, ok in f.answers]
        answers += [{"response_id": ids[f.code], "question": f.comment[0], "option": None, "satisfied": None,
                     "text": f.comment[1]} for f in fresh if f.comment]
        if answers:
            await conn.execute(Answer.__table__.insert(), answers)
        await conn.execute(shape(conn.dialect.name, "submit"), [{"rid": ids[f.code], "day": day} for f in fresh])
    return sorted(taken)


async def flag(engine: AsyncEngine, *, commune: str, text: str, categories: Sequence[str], now: datetime) -> int:
    """Store an alert for a paper comment that signals abuse or danger (no author: paper forms are anonymous)."""
    async with engine.begin() as conn:
        result = await conn.execute(Alert.__table__.insert().values(
            source=SOURCE, commune=commune, categories=",".join(categories), text=text, author=None, created_at=now))
        return int(result.inserted_primary_key[0])
