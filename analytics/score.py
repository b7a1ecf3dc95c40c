"""Criterion-13 satisfaction index per commune and group: counts in SQL, the arithmetic here."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from storage.models import Answer, Commune, Response

GROUPS = {"child": "children", "resident": "residents"}


@dataclass(frozen=True, slots=True)
class GroupScore:
    """One group's figures: finished respondents, scored answers, satisfied answers."""

    n: int = 0
    answers: int = 0
    satisfied: int = 0

    @property
    def index(self) -> float | None:
        """Satisfied answers over scored answers; None without answers."""
        return self.satisfied / self.answers if self.answers else None


@dataclass(frozen=True, slots=True)
class CommuneScore:
    """A commune's figures for one round."""

    code: str
    name: str
    children: GroupScore
    residents: GroupScore
    index: float | None


def commune_index(children: GroupScore, residents: GroupScore,
                  weights: tuple[float, float] = (0.5, 0.5)) -> float | None:
    """Weighted mean of the group indices that exist; the weights of missing groups are shared out."""
    parts = [(w, g.index) for w, g in zip(weights, (children, residents), strict=True) if g.index is not None]
    total = sum(w for w, _ in parts)
    return sum(w * i for w, i in parts) / total if total else None


async def compute(engine: AsyncEngine, round_id: str, communes: list[str] | None = None,
                  weights: tuple[float, float] = (0.5, 0.5)) -> list[CommuneScore]:
    """Scores of every commune (or the ones named) for a round; only submitted responses count."""
    done = (Response.round_id == round_id) & Response.submitted.is_(True)
    people = select(Response.commune, Response.group, func.count()).where(done).group_by(
        Response.commune, Response.group)
    scored = (select(Response.commune, Response.group, func.count(Answer.satisfied), func.sum(Answer.satisfied))
              .join(Response, Answer.response_id == Response.id).where(done)
              .group_by(Response.commune, Response.group))
    listing = select(Commune.code, Commune.name).order_by(Commune.name)
    if communes is not None:
        listing = listing.where(Commune.code.in_(communes))
    async with engine.connect() as conn:
        counts: dict[tuple[str, str], list[int]] = {}
        for commune, group, n in await conn.execute(people):
            counts[(commune, group)] = [n, 0, 0]
        for commune, group, answers, satisfied in await conn.execute(scored):
            counts.setdefault((commune, group), [0, 0, 0])[1:] = [answers, int(satisfied or 0)]
        names = list(await conn.execute(listing))
    result = []
    for code, name in names:
        groups = {g: GroupScore(*counts.get((code, g), (0, 0, 0))) for g in GROUPS}
        result.append(CommuneScore(code, name, groups["child"], groups["resident"],
                                   commune_index(groups["child"], groups["resident"], weights)))
    return result


def to_json(round_id: str, scores: list[CommuneScore]) -> dict[str, Any]:
    """The `xtt score --json` document."""
    def group(g: GroupScore) -> dict[str, Any]:
        return {"n": g.n, "answers": g.answers, "satisfied": g.satisfied, "index": _round(g.index)}

    return {"round": round_id, "communes": [
        {"code": s.code, "name": s.name, "children": group(s.children), "residents": group(s.residents),
         "index": _round(s.index)} for s in scores]}


def _round(value: float | None) -> float | None:
    """Six decimals are plenty for a share."""
    return None if value is None else round(value, 6)
