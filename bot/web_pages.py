"""The office's reading pages: the overview of every commune in scope, one commune, and the season's calendar."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import timedelta
from typing import Any
from urllib.parse import urlencode

from aiohttp import web
from sqlalchemy.ext.asyncio import AsyncEngine

from analytics import Rubric, compute
from analytics.assess import AssessError, Criteria, assess
from analytics.breakdown import HIDDEN, Distribution, distribution, shown_topics
from analytics.breakdown import rows as question_rows
from analytics.charts import commune_chart, progress_chart
from analytics.dates import vn_date, vn_today
from analytics.overview import VERDICTS, Line, lines, recognised, shown
from analytics.plot import PHONE, WIDTH, render
from analytics.table import interval, percent
from bot import access
from bot.reports import chosen_round, still_open
from bot.router import number
from bot.web_site import Site, Visitor
from conversations.matching import fold
from conversations.model import Questionnaire
from storage import calendar, forums
from storage import criteria as stored_criteria
from storage import forum as proposals

PAGE = 50
CHART_ROWS = 40
PHONE_ROWS = 15  # a phone's chart: fewer rows on a narrow image, readable at 360 px
SORTS: dict[str, Callable[[Line], Any]] = {
    "name": lambda r: r.name,
    "index": lambda r: (r.index is None, -(r.index or 0)),
    "points": lambda r: (r.points is None, -(r.points or 0)),
    "children": lambda r: r.gap("child"),
    "residents": lambda r: r.gap("resident"),
    "proposals": lambda r: -r.proposals,
    "alerts": lambda r: -r.alerts,
    "verdict": lambda r: r.verdict,
}


class Pages:
    """Overview, commune page and calendar; leaders see their communes, officials every one."""

    def __init__(self, site: Site, db: AsyncEngine, rubric: Rubric, criteria: Criteria,
                 questionnaires: Mapping[str, Questionnaire], topic: Callable[[str, str], str],
                 live_index: bool = False) -> None:
        self.site, self.db, self.rubric, self.criteria = site, db, rubric, criteria
        self.questionnaires, self.topic, self.live_index = questionnaires, topic, live_index

    async def _hidden(self, me: Visitor, round_id: str) -> bool:
        """Whether the index is hidden from this visitor (a leader while the round is open, as in chat)."""
        return not me.person.official and not self.live_index and await still_open(self.db, round_id,
                                                                                     self.site.clock())

    async def _milestones(self, me: Visitor, round_id: str) -> list[calendar.Dated]:
        """The round's milestones for this visitor's audience, as `/lich` shows them in chat."""
        role = "official" if access.scope(me.person, None) is None else "leader"
        return [m for m in await calendar.milestones(self.db, round_id) if role in m.audience]

    async def table(self, me: Visitor, round_id: str, query: Mapping[str, str]) -> list[Line]:
        """The communes in scope, filtered and sorted as asked (no interval worked out yet)."""
        scope = access.scope(me.person, None)
        points = await stored_criteria.load(self.db, round_id)
        found = await lines(self.db, round_id, self.rubric, scope)
        if points:  # the recognition table decides verdicts once the office entered the other criteria
            scores = {r.code: r.score(self.rubric) for r in found}
            try:
                table = assess([(r.code, r.name, r.type) for r in found], points, scores, self.criteria, self.rubric)
                found = recognised(found, {a.code: a.recognised for a in table})
            except AssessError:
                pass
        wanted = fold(query.get("q", "").strip())[:60]
        if wanted:
            found = [r for r in found if wanted in fold(r.name) or wanted in r.code]
        if verdict := query.get("verdict", ""):
            found = [r for r in found if r.verdict == verdict]
        key = query.get("sort", "name")
        found.sort(key=SORTS.get(key, SORTS["name"]))
        if query.get("desc") == "1":
            found.reverse()
        return found

    async def overview(self, request: web.Request) -> web.Response:
        """GET /web/: one row per commune, sorted and filtered by the query, with the comparison chart."""
        me = await self.site.visitor(request, access.LEADER)
        if not isinstance(me, Visitor):
            return me
        round_id = await chosen_round(self.db)
        if round_id is None:
            return self.site.render(request, "message.html", me.lang, title="overview.title", text="round.none",
                                    visitor=me)
        query = {k: request.query.get(k, "") for k in ("q", "verdict", "sort", "desc")}
        found = await self.table(me, round_id, query)
        total = len(found)
        page = max(1, min(_int(request.query.get("page")), (total + PAGE - 1) // PAGE or 1))
        counts = dict.fromkeys(VERDICTS, 0)
        for r in found:
            counts[r.verdict] += 1
        dates = await self._milestones(me, round_id)
        today = vn_today(self.site.clock())
        upcoming = next((m for m in dates if m.done_on is None and m.due >= today), None)
        late = [m for m in dates if m.done_on is None and m.due < today]
        chart = "/web/chart/overview.png?" + urlencode({k: v for k, v in query.items() if v})
        return self.site.render(
            request, "overview.html", me.lang, visitor=me, round_id=round_id, total=total,
            rows=shown(found[(page - 1) * PAGE:page * PAGE], self.rubric),
            page=page, pages=(total + PAGE - 1) // PAGE, query=query, counts=counts, hidden=await self._hidden(
                me, round_id), next_milestone=upcoming, late=late, percent=percent, interval=interval,
            day=vn_date, chart=chart, phone_chart=f"{chart}&size=phone", chart_rows=CHART_ROWS,
            phone_rows=PHONE_ROWS, sorts=tuple(SORTS))

    async def overview_chart(self, request: web.Request) -> web.Response:
        """GET /web/chart/overview.png: the comparison chart of the overview's first rows (fewer, narrower: phone)."""
        me = await self.site.visitor(request, access.LEADER)
        if not isinstance(me, Visitor):
            return me
        round_id = await chosen_round(self.db)
        if round_id is None:
            raise web.HTTPNotFound()
        found = await self.table(me, round_id, {k: request.query.get(k, "") for k in ("q", "verdict", "sort", "desc")})
        phone = request.query.get("size") == "phone"
        scores = [r.score(self.rubric) for r in found[:PHONE_ROWS if phone else CHART_ROWS]]
        width = PHONE if phone else WIDTH
        if await self._hidden(me, round_id):
            data = await render(progress_chart, scores, round_id, width)
        else:
            data = await render(commune_chart, scores, self.rubric, round_id, width)
        return web.Response(body=data, content_type="image/png")

    async def commune(self, request: web.Request) -> web.Response:
        """GET /web/commune/<code>: progress, answers per question (hidden below 5), topics, proposals, forums."""
        me = await self.site.visitor(request, access.LEADER)
        if not isinstance(me, Visitor):
            return me
        code = request.match_info["code"][:40]
        if access.check(me.person, access.LEADER, code):
            return self.site.denied(request, me)
        round_id = await chosen_round(self.db)
        scores = await compute(self.db, round_id, self.rubric, [code]) if round_id else []
        if not scores:
            raise web.HTTPNotFound()
        s = scores[0]
        dists = await distribution(self.db, round_id, [code]) if round_id else {}
        groups = []
        for group, questionnaire in self.questionnaires.items():
            dist = dists.get((code, group), Distribution())
            groups.append({"group": group, "respondents": dist.respondents, "small": dist.small,
                           "rows": question_rows(dist, questionnaire), "topics": shown_topics(dist, questionnaire),
                           "scale": [o.label.get(me.lang) for o in questionnaire.scale]})
        _, items = await proposals.open_items(self.db, [code], 0, 200)
        history = await proposals.events(self.db, [i.id for i in items]) if items else {}
        held = await forums.listing(self.db, [code])
        return self.site.render(
            request, "commune.html", me.lang, visitor=me, s=s, round_id=round_id, groups=groups, items=items,
            history=history, held=held, hidden=await self._hidden(me, round_id), percent=percent,
            interval=interval, day=vn_date, topic=lambda t: self.topic(t, me.lang), HIDDEN=HIDDEN)

    async def calendar(self, request: web.Request) -> web.Response:
        """GET /web/calendar: the round's milestones, what is done, due within a week, and late."""
        me = await self.site.visitor(request, access.LEADER)
        if not isinstance(me, Visitor):
            return me
        round_id = await chosen_round(self.db)
        dates = await self._milestones(me, round_id) if round_id else []
        today = vn_today(self.site.clock())
        items = [{"m": m, "state": "done" if m.done_on else "late" if m.due < today else
                  "soon" if m.due <= today + timedelta(days=7) else "later"} for m in dates]
        held = await forums.listing(self.db, access.scope(me.person, None))
        return self.site.render(request, "calendar.html", me.lang, visitor=me, round_id=round_id, items=items,
                                held=held, today=today.isoformat(), day=vn_date)


def _int(value: str | None) -> int:
    """A page number from the query, 1 when absent or wrong."""
    return min(number(value) or 1, 1_000_000)
