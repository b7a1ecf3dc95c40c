"""Downloads of the office's web page: workbooks, the recognition table, Word documents, paper forms and templates."""

from __future__ import annotations

import asyncio
import io
import tempfile
import zipfile
from datetime import timedelta, timezone
from pathlib import Path

from aiohttp import web
from sqlalchemy.ext.asyncio import AsyncEngine

from analytics import Rubric
from analytics.assess import AssessError, Criteria
from analytics.assess_chart import assessment_workbook
from analytics.report import write_report
from bot import access
from bot.reports import chosen_round, recognition
from bot.router import number
from bot.web_desk import Names
from bot.web_site import Site, Visitor
from conversations.model import Flows
from storage import criteria as stored_criteria

MAX_FORMS = 200
VIETNAM = timezone(timedelta(hours=7))
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def attachment(data: bytes, filename: str, kind: str) -> web.Response:
    """Bytes to save as a file."""
    return web.Response(body=data, content_type=kind,
                        headers={"Content-Disposition": f'attachment; filename="{filename}"'})


class Files:
    """What each visitor may download: officials every file, leaders their communes' documents and forms."""

    def __init__(self, site: Site, db: AsyncEngine, rubric: Rubric, criteria: Criteria, flows: Flows,
                 names: Names, office: str = "", answer_days: int = 15) -> None:
        self.site, self.db, self.rubric, self.criteria, self.flows = site, db, rubric, criteria, flows
        self.names, self.office, self.answer_days = names, office, answer_days

    async def page(self, request: web.Request) -> web.Response:
        """GET /web/downloads: the files in the visitor's scope."""
        me = await self.site.visitor(request, access.LEADER)
        if not isinstance(me, Visitor):
            return me
        round_id = await chosen_round(self.db)
        names = await self.names()
        scope = access.scope(me.person, None)
        communes = sorted((c for c in names if scope is None or c in scope), key=lambda c: names[c])
        points = bool(round_id and await stored_criteria.load(self.db, round_id))
        return self.site.render(request, "downloads.html", me.lang, visitor=me, round_id=round_id, names=names,
                                communes=communes, official=me.person.official, points=points, most=MAX_FORMS)

    async def download(self, request: web.Request) -> web.StreamResponse:
        """GET /web/download/<what>[?commune=CODE]: one file, checked against the visitor's role and communes."""
        me = await self.site.visitor(request, access.LEADER)
        if not isinstance(me, Visitor):
            return me
        what, commune = request.match_info["what"], request.query.get("commune", "")[:40]
        round_id = await chosen_round(self.db)
        if round_id is None:
            raise web.HTTPNotFound()
        if what in ("workbook", "recognition") and not me.person.official:
            return self.site.denied(request, me)
        if what in ("documents", "template") and commune and access.check(me.person, access.LEADER, commune):
            return self.site.denied(request, me)
        if what == "workbook":
            with tempfile.TemporaryDirectory(prefix="xtt-web-") as folder:
                paths = await write_report(self.db, round_id, self.rubric, self.flows.questionnaires, Path(folder),
                                           office=self.office)
                book = next(p for p in paths if p.suffix == ".xlsx")
                return attachment(book.read_bytes(), book.name, XLSX)
        if what == "recognition":
            points = await stored_criteria.load(self.db, round_id)
            try:
                table = await recognition(self.db, round_id, self.rubric, self.criteria, points)
            except AssessError as exc:
                raise web.HTTPConflict(text=str(exc)) from exc
            data = await asyncio.to_thread(assessment_workbook, round_id, self.rubric, self.criteria, table)
            return attachment(data, f"cong-nhan-{round_id}.xlsx", XLSX)
        if what == "documents":
            return await self._documents(me, round_id, commune)
        if what == "template":
            from analytics.paper_template import template

            names = await self.names()
            scope = access.scope(me.person, commune or None)
            units = [(c, n) for c, n in names.items() if scope is None or c in scope]
            data = await asyncio.to_thread(template, self.flows, units)
            return attachment(data, "nhap-phieu-giay.xlsx", XLSX)
        raise web.HTTPNotFound()

    async def _documents(self, me: Visitor, round_id: str, commune: str) -> web.Response:
        """The Word documents as one zip: only the communes asked for (a leader's own), or (officials) every one."""
        from analytics.document_set import write_documents
        from analytics.documents import Letterhead

        now = self.site.clock()
        scope = access.scope(me.person, commune or None)
        with tempfile.TemporaryDirectory(prefix="xtt-web-") as folder:
            paths = await write_documents(self.db, round_id, self.rubric, self.criteria, self.flows.questionnaires,
                                          Path(folder), Letterhead(self.office, "", now.astimezone(VIETNAM).date()),
                                          now=now, answer_days=self.answer_days,
                                          communes=None if scope is None else sorted(scope))
            buffer = io.BytesIO()
            with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
                for path in paths:
                    archive.write(path, path.name)
        return attachment(buffer.getvalue(), f"van-ban-{round_id}.zip", "application/zip")

    async def forms(self, request: web.Request) -> web.StreamResponse:
        """POST /web/forms: reserve codes and print a commune's paper questionnaires (a PDF)."""
        from analytics.formcode import encode
        from analytics.paper_pdf import Sheet, forms_pdf
        from analytics.paper_sheet import age_bands
        from storage import paper

        me = await self.site.visitor(request, access.LEADER)
        if not isinstance(me, Visitor):
            return me
        fields = await self.site.form(request, me)
        if not isinstance(fields, dict):
            return fields
        commune, group, count = fields.get("commune", ""), fields.get("group", ""), fields.get("count", "")
        names = await self.names()
        if access.check(me.person, access.LEADER, commune) or commune not in names:
            return self.site.denied(request, me)
        forms = number(count)
        if group not in self.flows.questionnaires or forms is None or not 1 <= forms <= MAX_FORMS:
            raise web.HTTPBadRequest(text=f"1-{MAX_FORMS} forms of one group")
        run = await paper.allocate(self.db, commune, group, forms, self.site.clock())
        sheets = [Sheet(encode(s), names[commune], group) for s in range(run.first, run.first + run.count)]
        data = await asyncio.to_thread(forms_pdf, sheets, self.flows.questionnaires, age_bands(self.flows))
        return attachment(data, f"phieu-{commune}-{group}.pdf", "application/pdf")
