"""The forum document's figures: forums held, and per commune what became of proposals within the answer deadline.

Only a real answer (`first_answer_at`) counts as answered; a proposal resolved with no answer has its own column.
Merged proposals are left out: the proposal they were merged into stands for them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from storage.forums import Held, listing
from storage.models import Commune, Proposal

COLUMNS = ("total", "forum", "chat", "answered_in_time", "answered_late", "resolved_no_answer", "open_late",
           "open_in_time")


@dataclass(frozen=True, slots=True)
class CommuneAnswers:
    """One commune's proposals counted by source and by what became of them."""

    code: str
    name: str
    counts: dict[str, int] = field(default_factory=dict)

    def get(self, column: str) -> int:
        """A column's count."""
        return self.counts.get(column, 0)


@dataclass(frozen=True, slots=True)
class ForumRecord:
    """Forums held and the answer figures, as they stand at `now`."""

    now: datetime
    days: int
    forums: tuple[Held, ...]
    communes: tuple[CommuneAnswers, ...]

    def total(self, column: str) -> int:
        """A column's total over communes."""
        return sum(c.get(column) for c in self.communes)


def _utc(moment: datetime) -> datetime:
    """Naive moments (SQLite) were stored in UTC."""
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def outcome(created: datetime, answered: datetime | None, resolved: datetime | None, now: datetime,
            deadline: timedelta) -> str:
    """What became of one proposal at `now`: answered in time or late, resolved with no answer, or open."""
    created = _utc(created)
    if answered is not None and _utc(answered) <= now:
        return "answered_in_time" if _utc(answered) - created <= deadline else "answered_late"
    if resolved is not None and _utc(resolved) <= now:
        return "resolved_no_answer"
    return "open_late" if now - created > deadline else "open_in_time"


async def forum_record(engine: AsyncEngine, now: datetime, days: int,
                       communes: Sequence[str] | None = None) -> ForumRecord:
    """Forums held and, per commune with proposals or forums (and every current one), the answer figures."""
    query = (select(Proposal.commune, Proposal.source, Proposal.created_at, Proposal.first_answer_at,
                    Proposal.resolved_at).where(Proposal.status != "merged"))
    async with engine.connect() as conn:
        rows = list(await conn.execute(query))
        names = list(await conn.execute(select(Commune.code, Commune.name, Commune.valid_to).order_by(Commune.name)))
    deadline = timedelta(days=days)
    counts: dict[str, dict[str, int]] = {}
    for commune, source, created, answered, resolved in rows:
        mine = counts.setdefault(commune, {})
        for column in ("total", "forum" if source == "forum" else "chat",
                       outcome(created, answered, resolved, now, deadline)):
            mine[column] = mine.get(column, 0) + 1
    held = tuple(await listing(engine, communes))
    shown = [(code, name) for code, name, valid_to in names
             if (valid_to is None or code in counts) and (communes is None or code in communes)]
    return ForumRecord(now, days, held, tuple(CommuneAnswers(code, name, counts.get(code, {})) for code, name in shown))


def table_rows(record: ForumRecord) -> tuple[list[Mapping[str, object]], Mapping[str, object]]:
    """The per-commune rows and the total row, as the document's table shows them."""
    rows = [{"name": c.name, **{k: c.get(k) for k in COLUMNS}} for c in record.communes]
    return rows, {"name": "Tổng cộng", **{k: record.total(k) for k in COLUMNS}}
