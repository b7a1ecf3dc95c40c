"""The office's overview: one row per commune from one aggregate query, with scores, counts and verdicts."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from itertools import groupby

from sqlalchemy import Select, func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from analytics.rubric import Rubric
from analytics.score import GROUPS, CommuneScore, goals, score
from analytics.stats import Sums, weighted
from storage.models import Alert, Commune, Proposal, Response

RECOGNISED, NOT_RECOGNISED, NOT_ASSESSABLE = "Đạt", "Không đạt", "chưa đủ điều kiện"
VERDICTS = (RECOGNISED, NOT_RECOGNISED, NOT_ASSESSABLE)
CLOSED = ("resolved", "merged")
NONE = Sums()


@dataclass(frozen=True, slots=True)
class Line:
    """One commune's figures for sorting, filtering and counting: its sums, index, points and verdict, no interval."""

    code: str
    name: str
    type: str
    sums: Mapping[str, Sums]
    targets: tuple[int, int]
    bands_short: Mapping[str, tuple[str, ...]] | None
    index: float | None
    points: float | None
    paper: int
    proposals: int
    alerts: int
    verdict: str

    def gap(self, group: str) -> int:
        """Respondents of a group against its target (negative: short)."""
        return self.sums.get(group, NONE).n - self.targets[GROUPS.index(group)]

    def score(self, rubric: Rubric) -> CommuneScore:
        """The commune's full score, interval included (for the rows shown)."""
        return score(self.code, self.name, self.type, dict(self.sums), self.targets, rubric, self.bands_short)


@dataclass(frozen=True, slots=True)
class Row:
    """One commune as shown: its score, respondents by source, open proposals and alerts, verdict."""

    score: CommuneScore
    paper: int
    chat: int
    proposals: int
    alerts: int
    verdict: str

    @property
    def code(self) -> str:
        """The commune's code."""
        return self.score.code


def shown(lines: Sequence[Line], rubric: Rubric) -> list[Row]:
    """The rows to show, each with its full score (the interval is worked out only here)."""
    result = []
    for line in lines:
        s = line.score(rubric)
        result.append(Row(s, line.paper, s.children.n + s.residents.n - line.paper, line.proposals, line.alerts,
                          line.verdict))
    return result


def query(round_id: str, communes: Sequence[str] | None = None) -> Select:
    """Per commune and group: the score's sums, paper responses, open proposals and alerts, in one statement.

    The sums are the score query's own GROUP BY over its covering index; paper responses are counted over
    `ix_responses_paper`. Rows come ordered by commune name, a commune's groups next to each other.
    """
    def mine(column: object, where: list) -> list:
        return [*where, column.in_(list(communes))] if communes is not None else where  # type: ignore[attr-defined]

    y, m = Response.answers_satisfied, Response.answers_scored
    submitted = [Response.round_id == round_id, Response.submitted.is_(True)]
    sums = (select(Response.commune, Response.group, func.count().label("n"), func.sum(y).label("y"),
                   func.sum(m).label("m"), func.sum(y * y).label("yy"), func.sum(y * m).label("ym"),
                   func.sum(m * m).label("mm"))
            .where(*mine(Response.commune, submitted)).group_by(Response.commune, Response.group).subquery())
    paper = (select(Response.commune, func.count().label("n"))
             .where(*mine(Response.commune, [Response.round_id == round_id, Response.source == "paper",
                                              Response.submitted.is_(True)]))
             .group_by(Response.commune).subquery())
    proposals = (select(Proposal.commune, func.count().label("n"))
                 .where(*mine(Proposal.commune, [Proposal.status.not_in(CLOSED)])).group_by(Proposal.commune)
                 .subquery())
    alerts = (select(Alert.commune, func.count().label("n"))
              .where(*mine(Alert.commune, [Alert.status == "open"])).group_by(Alert.commune).subquery())
    ended = (Commune.valid_to.is_not(None) | Commune.merged_into.is_not(None)).label("ended")
    listing = (select(Commune.code, Commune.name, Commune.type, ended, sums.c.group, sums.c.n, sums.c.y, sums.c.m,
                      sums.c.yy, sums.c.ym, sums.c.mm, paper.c.n.label("paper"), proposals.c.n.label("open_p"),
                      alerts.c.n.label("open_a"))
               .outerjoin(sums, sums.c.commune == Commune.code)
               .outerjoin(paper, paper.c.commune == Commune.code)
               .outerjoin(proposals, proposals.c.commune == Commune.code)
               .outerjoin(alerts, alerts.c.commune == Commune.code)
               .order_by(Commune.name, Commune.code))
    if communes is not None:
        listing = listing.where(Commune.code.in_(list(communes)))
    return listing


async def lines(engine: AsyncEngine, round_id: str, rubric: Rubric,
                communes: Sequence[str] | None = None) -> list[Line]:
    """The overview's lines in name order, each with criterion 13's own verdict (see `recognised`)."""
    async with engine.connect() as conn:
        listed = (await conn.execute(query(round_id, communes))).all()
        aims = await goals(conn, round_id)
    weights = tuple(zip(rubric.weights, GROUPS, strict=False))
    result = []
    for code, group_rows in groupby(listed, key=lambda r: r[0]):
        parts = list(group_rows)
        first = parts[0]
        sums = {r[4]: Sums(r[5], int(r[6] or 0), int(r[7] or 0), int(r[8] or 0), int(r[9] or 0), int(r[10] or 0))
                for r in parts if r[4] is not None}
        if first[3] and not sums and code not in aims.own:
            continue  # a dissolved or merged unit, listed only where the round has answers or targets for it
        targets, short = aims.of(code), aims.short(code)
        index = weighted([(w, sums[g]) for w, g in weights if g in sums])
        points = rubric.points(index)
        assessable = index is not None and not (short and any(short.values())) and all(
            sums.get(g, NONE).n >= t for g, t in zip(GROUPS, targets, strict=True))
        result.append(Line(code, first[1], first[2], sums, targets, short, index, points, int(first[11] or 0),
                           int(first[12] or 0), int(first[13] or 0),
                           NOT_ASSESSABLE if not assessable else NOT_RECOGNISED if points == 0 else RECOGNISED))
    return result


def recognised(found: list[Line], table: Mapping[str, bool]) -> list[Line]:
    """The lines with the recognition table's verdicts, where the office entered it (assessable ones only)."""
    return [dataclasses.replace(r, verdict=RECOGNISED if table[r.code] else NOT_RECOGNISED)
            if r.code in table and r.verdict != NOT_ASSESSABLE else r for r in found]


def verdict(s: CommuneScore, recognised: bool | None) -> str:
    """'Đạt', 'Không đạt' or 'chưa đủ điều kiện': the recognition table's when entered, else criterion 13's own."""
    if not s.assessable:
        return NOT_ASSESSABLE
    if recognised is not None:
        return RECOGNISED if recognised else NOT_RECOGNISED
    return NOT_RECOGNISED if s.zero else RECOGNISED
