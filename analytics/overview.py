"""The office's overview: one row per commune from one aggregate query, with scores, counts and verdicts."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from sqlalchemy import Select, and_, case, func, literal, select
from sqlalchemy.ext.asyncio import AsyncEngine

from analytics.rubric import Rubric
from analytics.score import GROUPS, CommuneScore, score
from analytics.stats import Sums
from storage.models import Alert, Commune, Proposal, Response, Round

RECOGNISED, NOT_RECOGNISED, NOT_ASSESSABLE = "Đạt", "Không đạt", "chưa đủ điều kiện"
CLOSED = ("resolved", "merged")


@dataclass(frozen=True, slots=True)
class Row:
    """One commune on the overview: its score, respondents by source, open proposals and alerts, verdict."""

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


def _sums(group: str) -> list:
    """The six sums of one group, as conditional aggregates over the submitted responses."""
    y, m = Response.answers_satisfied, Response.answers_scored
    mine = Response.group == group
    return [func.sum(case((mine, literal(1)), else_=literal(0))),
            *(func.sum(case((mine, value), else_=literal(0))) for value in (y, m, y * y, y * m, m * m))]


def query(round_id: str, communes: Sequence[str] | None = None) -> Select:
    """Per commune: both groups' sums, paper responses, open proposals and open alerts, in one statement."""
    responses = (select(Response.commune.label("commune"), *(c.label(f"{g}_{n}") for g in GROUPS
                                                              for n, c in enumerate(_sums(g))),
                        func.sum(case((Response.source == "paper", literal(1)), else_=literal(0))).label("paper"))
                 .where(Response.round_id == round_id, Response.submitted.is_(True))
                 .group_by(Response.commune).subquery())
    proposals = (select(Proposal.commune.label("commune"), func.count().label("n"))
                 .where(Proposal.status.not_in(CLOSED)).group_by(Proposal.commune).subquery())
    alerts = (select(Alert.commune.label("commune"), func.count().label("n"))
              .where(Alert.status == "open").group_by(Alert.commune).subquery())
    ended = (Commune.valid_to.is_not(None) | Commune.merged_into.is_not(None)).label("ended")
    listing = (select(Commune.code, Commune.name, Commune.type, ended, responses, proposals.c.n.label("open_p"),
                      alerts.c.n.label("open_a"))
               .outerjoin(responses, responses.c.commune == Commune.code)
               .outerjoin(proposals, proposals.c.commune == Commune.code)
               .outerjoin(alerts, alerts.c.commune == Commune.code)
               .order_by(Commune.name))
    if communes is not None:
        listing = listing.where(Commune.code.in_(list(communes)))
    return listing


async def rows(engine: AsyncEngine, round_id: str, rubric: Rubric, communes: Sequence[str] | None = None,
               points_1_12: Mapping[str, Mapping[int, float | None]] | None = None,
               recognised: Mapping[str, bool] | None = None) -> list[Row]:
    """The overview's rows; `recognised` (from the recognition table, when the office entered it) decides verdicts."""
    from storage.targets import per_band, per_commune

    async with engine.connect() as conn:
        found = list(await conn.execute(query(round_id, communes)))
        default = (await conn.execute(select(Round.target_children, Round.target_residents)
                                      .where(Round.id == round_id))).first() or (30, 30)
        own = await per_commune(conn, round_id)
        bands = await per_band(conn, round_id)
        counted: dict[tuple[str, str, str], int] = {}
        if bands:
            by_band = (select(Response.commune, Response.group, Response.age_band, func.count())
                       .where(and_(Response.round_id == round_id, Response.submitted.is_(True)))
                       .group_by(Response.commune, Response.group, Response.age_band))
            counted = {(c, g, b): n for c, g, b, n in await conn.execute(by_band)}
    result = []
    for r in found:
        code = r.code
        has = r.child_0 is not None
        if r.ended and not has and code not in own:
            continue
        values = list(r)[5:17]  # after code, name, type, ended and the subquery's commune
        sums = {g: Sums(*(int(v or 0) for v in values[n * 6:(n + 1) * 6])) for n, g in enumerate(GROUPS)}
        mine = own.get(code, {})
        targets = (mine.get("child", default[0]), mine.get("resident", default[1]))
        short = ({g: tuple(b for b, wanted in sorted(bands.get((code, g), {}).items())
                           if counted.get((code, g, b), 0) < wanted) for g in GROUPS} if bands else None)
        s = score(code, r.name, r.type, sums, targets, rubric, short)
        total = s.children.n + s.residents.n
        paper = int(r.paper or 0)
        result.append(Row(s, paper, total - paper, int(r.open_p or 0), int(r.open_a or 0),
                          verdict(s, (recognised or {}).get(code))))
    return result


def verdict(s: CommuneScore, recognised: bool | None) -> str:
    """'Đạt', 'Không đạt' or 'chưa đủ điều kiện': the recognition table's when entered, else criterion 13's own."""
    if not s.assessable:
        return NOT_ASSESSABLE
    if recognised is not None:
        return RECOGNISED if recognised else NOT_RECOGNISED
    return NOT_RECOGNISED if s.zero else RECOGNISED
