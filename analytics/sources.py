"""Respondents by source: how many finished forms came from chat and how many from paper, per commune and group."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from storage.models import Commune, Response

SOURCES = ("chat", "paper")
SOURCE_LABELS = {"chat": "Trò chuyện (Telegram/Zalo)", "paper": "Phiếu giấy"}
GROUP_KEYS = (("child", "Trẻ em"), ("resident", "Người dân"))
SHEET = "Nguồn phiếu"


@dataclass(frozen=True, slots=True)
class SourceSplit:
    """One commune's finished respondents per group and source."""

    code: str
    name: str
    counts: dict[tuple[str, str], int] = field(default_factory=dict)

    def n(self, group: str, source: str | None = None) -> int:
        """Respondents of a group, from one source or all."""
        return sum(v for (g, s), v in self.counts.items() if g == group and source in (None, s))


async def by_source(engine: AsyncEngine, round_id: str, communes: Sequence[str] | None = None) -> list[SourceSplit]:
    """Per commune (name order), finished respondents by group and source; counted like `xtt score`'s n."""
    query = (select(Response.commune, Response.group, Response.source, func.count())
             .where(Response.round_id == round_id, Response.submitted.is_(True))
             .group_by(Response.commune, Response.group, Response.source))
    listing = select(Commune.code, Commune.name).order_by(Commune.name)
    if communes is not None:
        listing = listing.where(Commune.code.in_(list(communes)))
    async with engine.connect() as conn:
        found: dict[str, dict[tuple[str, str], int]] = {}
        for commune, group, source, n in await conn.execute(query):
            found.setdefault(commune, {})[(group, source or "chat")] = int(n)
        names = list(await conn.execute(listing))
    return [SourceSplit(code, name, found.get(code, {})) for code, name in names]


def sources_of(splits: Sequence[SourceSplit]) -> list[str]:
    """The sources to show: chat and paper, then any other found."""
    extra = sorted({s for split in splits for _, s in split.counts} - set(SOURCES))
    return [*SOURCES, *extra]


def rows(splits: Sequence[SourceSplit]) -> tuple[list[str], list[list[Any]]]:
    """The split as a table: titles, and one row per commune then a total row."""
    sources = sources_of(splits)
    titles = ["Mã xã", "Tên xã", *(f"{label}: {SOURCE_LABELS.get(s, s).lower()}" for _, label in GROUP_KEYS
                                    for s in sources), "Trẻ em: tổng", "Người dân: tổng"]
    body = [[s.code, s.name, *(s.n(g, src) for g, _ in GROUP_KEYS for src in sources), s.n("child"),
             s.n("resident")] for s in splits]
    total = ["", "Tổng", *(sum(r[k] for r in body) for k in range(2, len(titles)))]
    return titles, [*body, total]


def add_sheet(book: Any, round_id: str, splits: Sequence[SourceSplit]) -> None:
    """A 'Nguồn phiếu' sheet in a workbook: respondents by commune, group and source."""
    from analytics.workbook import bold, header, widths

    sheet = book.create_sheet(SHEET)
    sheet["A1"] = f"Số người đã hoàn thành phiếu theo nguồn — đợt {round_id}"
    bold(sheet["A1"], 13)
    sheet["A2"] = ("Phiếu trò chuyện và phiếu giấy được tính chung vào chỉ số tiêu chí 13; mỗi phiếu giấy có một mã "
                   "riêng và chỉ được nhập một lần.")
    titles, table = rows(splits)
    header(sheet, 4, titles)
    sheet.row_dimensions[4].height = 45
    for r, values in enumerate(table, 5):
        for c, value in enumerate(values, 1):
            sheet.cell(r, c, value)
    bold(sheet.cell(4 + len(table), 2))
    widths(sheet, [16, 22] + [13] * (len(titles) - 2))
