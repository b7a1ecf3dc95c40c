"""Criterion-13 scores per commune: one GROUP BY in SQL, the arithmetic in pure functions."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from analytics.rubric import Rubric
from analytics.stats import Sums, combine, interval
from storage.models import Commune, Response, Round

GROUPS = ("child", "resident")


@dataclass(frozen=True, slots=True)
class GroupScore:
    """One group's figures: finished respondents, scored answers, satisfied answers, interval."""

    sums: Sums
    target: int
    bands_short: tuple[str, ...] = ()

    @property
    def n(self) -> int:
        """Respondents who finished."""
        return self.sums.n

    @property
    def answers(self) -> int:
        """Scored answers."""
        return self.sums.m

    @property
    def satisfied(self) -> int:
        """Satisfied answers."""
        return self.sums.y

    @property
    def index(self) -> float | None:
        """Satisfied answers over scored answers."""
        return self.sums.index

    @property
    def ci95(self) -> tuple[float, float] | None:
        """The group's 95% interval, respondents as the unit."""
        return interval(self.sums.index, self.sums.variance, self.sums.n, self.sums.m)

    @property
    def short(self) -> bool:
        """Fewer respondents than the commune's target, or than an age band's target ('chưa đủ mẫu')."""
        return self.n < self.target or bool(self.bands_short)


@dataclass(frozen=True, slots=True)
class CommuneScore:
    """A commune's figures for one round, with points from the rubric."""

    code: str
    name: str
    type: str
    children: GroupScore
    residents: GroupScore
    index: float | None
    ci95: tuple[float, float] | None
    points: float | None
    max_points: float
    near: bool = False

    @property
    def zero(self) -> bool:
        """Zero points: a fail whatever the other criteria ('điểm liệt')."""
        return self.points == 0

    @property
    def short(self) -> bool:
        """Either group is under its target."""
        return self.children.short or self.residents.short

    @property
    def assessable(self) -> bool:
        """Both groups reached their targets: only then may a verdict be given ('chưa đủ điều kiện đánh giá')."""
        return not self.short and self.index is not None

    @property
    def near_threshold(self) -> bool:
        """The 95% interval straddles a band edge of the rubric ('sát ngưỡng')."""
        return self.near


def score(code: str, name: str, kind: str, sums: dict[str, Sums], targets: tuple[int, int],
          rubric: Rubric, bands_short: Mapping[str, tuple[str, ...]] | None = None) -> CommuneScore:
    """Shape one commune's sums into its score; `bands_short` names age bands under their targets per group."""
    short = bands_short or {}
    children = GroupScore(sums.get("child", Sums()), targets[0], short.get("child", ()))
    residents = GroupScore(sums.get("resident", Sums()), targets[1], short.get("resident", ()))
    index, ci95 = combine([(rubric.weights[0], children.sums), (rubric.weights[1], residents.sums)])
    return CommuneScore(code, name, kind, children, residents, index, ci95, rubric.points(index), rubric.max_points,
                        rubric.near(ci95))


def sums_query(round_id: str) -> Any:
    """Per commune and group: respondents and the sums the index and its interval need."""
    y, m = Response.answers_satisfied, Response.answers_scored
    return (select(Response.commune, Response.group, func.count(), func.sum(y), func.sum(m), func.sum(y * y),
                   func.sum(y * m), func.sum(m * m))
            .where(Response.round_id == round_id, Response.submitted.is_(True))
            .group_by(Response.commune, Response.group))


async def compute(engine: AsyncEngine, round_id: str, rubric: Rubric,
                  communes: list[str] | None = None) -> list[CommuneScore]:
    """Scores of every commune (or those named) for a round; only submitted responses count.

    Each commune is held to its own targets (falling back to the round's); a unit no longer current
    (dissolved or merged) is listed only where the round has answers or targets for it.
    """
    ended = Commune.valid_to.is_not(None) | Commune.merged_into.is_not(None)
    listing = select(Commune.code, Commune.name, Commune.type, ended).order_by(Commune.name)
    if communes is not None:
        listing = listing.where(Commune.code.in_(communes))
    async with engine.connect() as conn:
        found: dict[str, dict[str, Sums]] = {}
        for commune, group, *values in await conn.execute(sums_query(round_id)):
            found.setdefault(commune, {})[group] = Sums(*(int(v or 0) for v in values))
        aims = await goals(conn, round_id)
        names = list(await conn.execute(listing))
    return [score(code, name, kind, found.get(code, {}), aims.of(code), rubric, aims.short(code))
            for code, name, kind, gone in names if not gone or code in found or code in aims.own]


@dataclass(frozen=True, slots=True)
class Goals:
    """A round's targets: per commune and group (else the round's own), and per age band with what was counted."""

    default: tuple[int, int]
    own: dict[str, dict[str, int]]
    bands: dict[tuple[str, str], dict[str, int]]
    counted: dict[tuple[str, str, str], int]

    def of(self, code: str) -> tuple[int, int]:
        """The (children, residents) targets of a commune."""
        mine = self.own.get(code, {})
        return mine.get("child", self.default[0]), mine.get("resident", self.default[1])

    def short(self, code: str) -> dict[str, tuple[str, ...]] | None:
        """Per group, the age bands still short of their quota; None when the round sets none."""
        if not self.bands:
            return None
        return {group: tuple(b for b, wanted in sorted(self.bands.get((code, group), {}).items())
                             if self.counted.get((code, group, b), 0) < wanted) for group in GROUPS}


async def goals(conn: AsyncConnection, round_id: str) -> Goals:
    """Read a round's targets and, when it sets age-band quotas, the submitted responses per band."""
    from storage.targets import per_band, per_commune

    default = (await conn.execute(select(Round.target_children, Round.target_residents)
                                  .where(Round.id == round_id))).first() or (30, 30)
    bands = await per_band(conn, round_id)
    counted: dict[tuple[str, str, str], int] = {}
    if bands:
        by_band = (select(Response.commune, Response.group, Response.age_band, func.count())
                   .where(Response.round_id == round_id, Response.submitted.is_(True))
                   .group_by(Response.commune, Response.group, Response.age_band))
        counted = {(c, g, b): n for c, g, b, n in await conn.execute(by_band)}
    return Goals(tuple(default), await per_commune(conn, round_id), bands, counted)


def to_json(round_id: str, rubric: Rubric, scores: list[CommuneScore]) -> dict[str, Any]:
    """The `xtt score --json` document."""
    def group(g: GroupScore) -> dict[str, Any]:
        shape = {"n": g.n, "answers": g.answers, "satisfied": g.satisfied, "index": _r(g.index),
                 "ci95": _pair(g.ci95), "short": g.short}
        return {**shape, "bands_short": list(g.bands_short)} if g.bands_short else shape

    return {"round": round_id, "rubric": rubric.name, "rubric_note": rubric.note, "communes": [
        {"code": s.code, "name": s.name, "children": group(s.children), "residents": group(s.residents),
         "index": _r(s.index), "ci95": _pair(s.ci95),
         "target": {"children": s.children.target, "residents": s.residents.target},
         "points": s.points, "max_points": s.max_points, "zero": s.zero, "short": s.short,
         "assessable": s.assessable, "near_threshold": s.near_threshold}
        for s in scores]}


def _r(value: float | None) -> float | None:
    """Six decimals are plenty for a share."""
    return None if value is None else round(value, 6)


def _pair(pair: tuple[float, float] | None) -> list[float] | None:
    """An interval as a JSON list."""
    return None if pair is None else [round(pair[0], 6), round(pair[1], 6)]
