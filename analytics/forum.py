"""The children's forum report: proposals by commune, topic and status, and how fast they were really answered.

The answer deadline (`XTT_ANSWER_DAYS`) is a local standard, not Circular 29 (whose 15 days are for the report
after a forum); only a real answer counts as answered, and a proposal resolved without one is counted apart.
"""

from __future__ import annotations

import asyncio
import re
import statistics
import unicodedata
from collections import Counter, defaultdict
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import and_, case, extract, func, literal_column, or_, select
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlalchemy.orm import aliased

from analytics.dates import VN
from analytics.forum_chart import CLOSED, STATUSES, file_names, forum_chart, forum_workbook, summary
from analytics.plot import render
from analytics.progress import Progress
from conversations.forum import Forum, load_forum
from storage.models import Commune, Proposal

EXCERPT = 120
MAX_MERGE_DEPTH = 8
STEPS = 4  # what `write_forum_report` reports to a Progress: data, chart, workbook, summary
ANSWER_DAYS = 15  # the default of XTT_ANSWER_DAYS

__all__ = ["STEPS", "ForumFigures", "OpenProposal", "Tally", "forum_chart", "forum_figures", "forum_workbook",
           "report_label", "summary", "topic_labels", "write_forum_report"]


@dataclass(frozen=True, slots=True)
class Tally:
    """Proposals of one commune (key: code) or topic (key: id), counted per status."""

    key: str
    name: str
    by_status: dict[str, int]

    @property
    def total(self) -> int:
        """Proposals in every status."""
        return sum(self.by_status.values())


@dataclass(frozen=True, slots=True)
class OpenProposal:
    """A proposal not resolved or merged, as officials may see it: no author, the text cut to 120 characters."""

    ref: str
    commune_code: str
    commune: str
    topic: str
    age_days: int
    status: str
    late: bool
    excerpt: str


@dataclass(frozen=True, slots=True)
class ForumFigures:
    """The forum report's figures; timing counts merged proposals under the proposal they were merged into."""

    scope: str
    label: str
    now: datetime
    statuses: tuple[str, ...]
    communes: tuple[Tally, ...]
    topics: tuple[Tally, ...]
    commune_topics: dict[tuple[str, str], int]
    total: int
    answered: int
    median_first_answer_days: float | None
    answered_in_time: int
    share_denominator: int
    answered_in_time_share: float | None
    resolved_without_answer: int
    open: tuple[OpenProposal, ...]
    answer_days: int = ANSWER_DAYS
    resolved_without_answer_by_commune: dict[str, int] = field(default_factory=dict)

    @property
    def title(self) -> str:
        """The report's title."""
        return f"Kiến nghị của trẻ em tại diễn đàn trẻ em — {self.scope}"

    @property
    def as_of(self) -> str:
        """`now` as people read it."""
        return _when(self.now, always_time=True)

    @property
    def late(self) -> int:
        """Open proposals unanswered for more than the answer deadline."""
        return sum(p.late for p in self.open)

    @property
    def late_by_commune(self) -> dict[str, int]:
        """Late proposals per commune code."""
        out: dict[str, int] = {}
        for p in self.open:
            if p.late:
                out[p.commune_code] = out.get(p.commune_code, 0) + 1
        return out

    def as_json(self) -> dict[str, Any]:
        """The figures as `xtt forum report --json` prints them (shares in 0..1, the deadline a local standard)."""
        late = self.late_by_commune
        return {"scope": self.scope, "as_of": self.now.isoformat(), "answer_days": self.answer_days,
                "answer_days_basis": "local standard (XTT_ANSWER_DAYS), not Circular 29", "total": self.total,
                "answered": self.answered, "median_first_answer_days": self.median_first_answer_days,
                "answered_in_time": self.answered_in_time, "share_denominator": self.share_denominator,
                "answered_in_time_share": self.answered_in_time_share,
                "resolved_without_answer": self.resolved_without_answer, "open": len(self.open), "late": self.late,
                "communes": [{"code": c.key, "name": c.name, "total": c.total, "by_status": dict(c.by_status),
                              "resolved_without_answer": self.resolved_without_answer_by_commune.get(c.key, 0),
                              "late": late.get(c.key, 0)} for c in self.communes]}



def topic_labels(forum: Forum | None = None) -> dict[str, str]:
    """Topic id → Vietnamese label from the forum's rules, in file order."""
    return {t.id: t.label.vi or t.id for t in (forum or load_forum()).topics}


def _utc(moment: datetime) -> datetime:
    """A moment in UTC; naive ones (SQLite returns them) were stored in UTC."""
    return moment.astimezone(UTC) if moment.tzinfo else moment.replace(tzinfo=UTC)


def _collate(name: str) -> str:
    """A sort key in Vietnamese alphabetical order, near enough: marks ignored, đ right after d."""
    base = unicodedata.normalize("NFD", name.casefold().replace("đ", "d~"))
    return "".join(ch for ch in base if not unicodedata.combining(ch))


def _when(moment: datetime, always_time: bool = False) -> str:
    """A moment in Vietnam time as dd/mm/yyyy, with the time when it is not midnight (or when asked)."""
    if moment.tzinfo:
        moment = moment.astimezone(VN)
    if always_time or (moment.hour, moment.minute) != (0, 0):
        return f"{moment:%d/%m/%Y %H:%M}"
    return f"{moment:%d/%m/%Y}"


def report_label(round_id: str | None = None, since: datetime | None = None, until: datetime | None = None) -> str:
    """The files' label: the round, the dates, or 'tat-ca', safe in a file name."""
    parts = [round_id] if round_id else []
    if since and until:
        parts.append(f"{since:%Y-%m-%d}_{until:%Y-%m-%d}")
    elif since:
        parts.append(f"tu-{since:%Y-%m-%d}")
    elif until:
        parts.append(f"truoc-{until:%Y-%m-%d}")
    return re.sub(r"[^A-Za-z0-9._-]+", "-", "_".join(parts)).strip("-.") or "tat-ca"


def _scope(round_id: str | None, since: datetime | None, until: datetime | None) -> str:
    """The selection in Vietnamese."""
    parts = [f"đợt {round_id}"] if round_id else []
    parts += [f"từ {_when(since)}"] if since else []
    parts += [f"đến trước {_when(until)}"] if until else []
    return " ".join(parts) or "toàn bộ kiến nghị"


def _seconds(dialect: str, later: Any, earlier: Any) -> Any:
    """Whole seconds between two timestamp columns, in the engine's SQL."""
    if dialect == "sqlite":
        return func.round((func.julianday(later) - func.julianday(earlier)) * 86400)
    return func.round(extract("epoch", later - earlier))


async def forum_figures(engine: AsyncEngine, *, round_id: str | None = None, since: datetime | None = None,
                        until: datetime | None = None, now: datetime, topics: Mapping[str, str] | None = None,
                        answer_days: int = ANSWER_DAYS) -> ForumFigures:
    """The figures for proposals of a round and/or created in [since, until), as they stand at `now`."""
    now = _utc(now)
    deadline = timedelta(days=answer_days)
    where = [Proposal.round_id == round_id] if round_id is not None else []
    where += [Proposal.created_at >= _utc(since)] if since else []
    where += [Proposal.created_at < _utc(until)] if until else []
    labels = dict(topic_labels() if topics is None else topics)
    async with engine.connect() as conn:
        cells = [tuple(r) for r in await conn.execute(
            select(Proposal.commune, Proposal.topic, Proposal.status, func.count()).where(*where)
            .group_by(Proposal.commune, Proposal.topic, Proposal.status))]
        communes = list(await conn.execute(select(Commune.code, Commune.name, Commune.valid_to)))
        timing = await _timing(conn, where, now, deadline)
        open_rows = list(await conn.execute(_open_query(where)))
        unanswered = dict(tuple(r) for r in await conn.execute(
            select(Proposal.commune, func.count()).where(*where, *_resolved_without_answer(Proposal, now))
            .group_by(Proposal.commune)))
    seen_communes = {c for c, _, _, _ in cells}
    listed = sorted(((code, name) for code, name, valid_to in communes if valid_to is None or code in seen_communes),
                    key=lambda c: (_collate(c[1]), c[1], c[0]))
    topic_ids = [*labels, *sorted({t for _, t, _, _ in cells} - set(labels))]
    statuses = (*STATUSES, *sorted({s for _, _, s, _ in cells} - set(STATUSES)))
    by_commune: defaultdict[str, Counter[str]] = defaultdict(Counter)
    by_topic: defaultdict[str, Counter[str]] = defaultdict(Counter)
    cross: Counter[tuple[str, str]] = Counter()
    for commune, topic, status, n in cells:  # the SQL groups (communes × topics × statuses), not proposals
        by_commune[commune][status] += n
        by_topic[topic][status] += n
        cross[commune, topic] += n
    open_list = tuple(_open(row, labels, now, deadline) for row in open_rows)
    answered, median, within, denominator, resolved_only = timing
    return ForumFigures(
        scope=_scope(round_id, since, until), label=report_label(round_id, since, until), now=now, statuses=statuses,
        communes=tuple(Tally(code, name, dict(by_commune.get(code, {}))) for code, name in listed),
        topics=tuple(Tally(t, labels.get(t, t), dict(by_topic.get(t, {}))) for t in topic_ids),
        commune_topics=dict(cross), total=sum(n for *_, n in cells), answered=answered, median_first_answer_days=median,
        answered_in_time=within, share_denominator=denominator,
        answered_in_time_share=within / denominator if denominator else None, resolved_without_answer=resolved_only,
        open=open_list, answer_days=answer_days,
        resolved_without_answer_by_commune={str(k): int(v) for k, v in unanswered.items()})


def _resolved_without_answer(table: Any, now: datetime) -> list[Any]:
    """Conditions: resolved by `now` with no answer given by then."""
    return [table.resolved_at.is_not(None), table.resolved_at <= now,
            or_(table.first_answer_at.is_(None), table.first_answer_at > now)]


async def _timing(conn: Any, where: list[Any], now: datetime, deadline: timedelta
                  ) -> tuple[int, float | None, int, int, int]:
    """Answered units, the median days to a first answer, those answered within the deadline, the share's
    denominator, and the units resolved without any answer.

    Only a real answer (`first_answer_at`) counts as answered. The denominator holds every unit answered or
    received at least the deadline ago, so a unit resolved without an answer counts there and never above it.

    A unit is a selected proposal, or the proposal it was merged into (followed to the end of a merge chain),
    counted once: merged duplicates share their target's answer instead of adding their own timing.
    """
    chain = (select(Proposal.id.label("start"), Proposal.id.label("cur"), Proposal.merged_into.label("next"),
                    literal_column("0").label("depth"))
             .where(*where).cte("merge_chain", recursive=True))
    up = aliased(Proposal)
    chain = chain.union_all(select(chain.c.start, up.id, up.merged_into, chain.c.depth + 1)
                            .join(up, up.id == chain.c.next).where(chain.c.depth < MAX_MERGE_DEPTH))
    roots = select(chain.c.cur.label("id")).where(chain.c.next.is_(None)).distinct().subquery()
    unit = aliased(Proposal)
    answer_at = unit.first_answer_at
    answered = and_(answer_at.is_not(None), answer_at <= now)
    resolved_only = and_(*_resolved_without_answer(unit, now))
    seconds = _seconds(conn.dialect.name, answer_at, unit.created_at)
    units = roots.join(unit, unit.id == roots.c.id)
    within_deadline = and_(answered, seconds <= deadline.total_seconds())
    old_enough = or_(answered, unit.created_at <= now - deadline)
    count, within, denominator, resolved = (await conn.execute(
        select(func.sum(case((answered, 1), else_=0)), func.sum(case((within_deadline, 1), else_=0)),
               func.sum(case((old_enough, 1), else_=0)), func.sum(case((resolved_only, 1), else_=0)))
        .select_from(units))).one()
    durations = [float(s) / 86400 for (s,) in await conn.execute(select(seconds).select_from(units).where(answered))]
    median = statistics.median(durations) if durations else None
    return int(count or 0), median, int(within or 0), int(denominator or 0), int(resolved or 0)


def _open_query(where: list[Any]) -> Any:
    """Open proposals, oldest first, with no author or fingerprint and only the text's first characters."""
    return (select(Proposal.ref, Proposal.commune, Commune.name, Proposal.topic, Proposal.status,
                   Proposal.created_at, Proposal.first_answer_at,
                   func.substr(Proposal.text, 1, EXCERPT + 1))
            .join(Commune, Commune.code == Proposal.commune)
            .where(*where, Proposal.status.not_in(CLOSED)).order_by(Proposal.created_at, Proposal.ref))


def _open(row: Any, labels: Mapping[str, str], now: datetime, deadline: timedelta) -> OpenProposal:
    """One open proposal as listed: age in whole days, late when unanswered for longer than the deadline."""
    ref, code, name, topic, status, created, answer_at, text = row
    age = now - _utc(created)
    answered = answer_at is not None and _utc(answer_at) <= now
    text = text or ""
    excerpt = " ".join(text[:EXCERPT].split()) + ("…" if len(text) > EXCERPT else "")
    return OpenProposal(ref, code, name, labels.get(topic, topic), max(age.days, 0), status,
                        not answered and age > deadline, excerpt)


async def write_forum_report(engine: AsyncEngine, out_dir: Path, *, round_id: str | None = None,
                             since: datetime | None = None, until: datetime | None = None, now: datetime,
                             progress: Progress | None = None, answer_days: int = ANSWER_DAYS) -> list[Path]:
    """Write dien-dan-<label>.xlsx, .png and .md into a folder; return the files written."""
    def step(label: str) -> None:
        if progress is not None:
            progress.advance(label)

    figures = await forum_figures(engine, round_id=round_id, since=since, until=until, now=now,
                                  answer_days=answer_days)
    step("số liệu")
    title = figures.title
    book, chart, text = file_names(figures.label)
    files = {chart: await render(forum_chart, figures, title)}
    step("biểu đồ")
    files[book] = await asyncio.to_thread(forum_workbook, figures, title)
    step("bảng tính Excel")
    files[text] = summary(figures).encode("utf-8")
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = [out_dir / name for name in (book, chart, text)]
    await asyncio.to_thread(_write, {path: files[path.name] for path in paths})
    step("tóm tắt")
    return paths


def _write(files: dict[Path, bytes]) -> None:
    """Write each file whole."""
    for path, data in files.items():
        path.write_bytes(data)
