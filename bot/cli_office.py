"""The office's commands of `xtt`: scores, reports, the recognition table and the forum report."""

from __future__ import annotations

import argparse
import json
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime

from analytics import load_rubric
from analytics.table import table
from bot import app
from bot.settings import Settings
from storage import communes, rounds


class UsageError(Exception):
    """A command cannot run as asked; the message says why."""


async def with_parts(settings: Settings, work: Callable[[app.Parts], Awaitable[int]]) -> int:
    """Prepare the database, run some work, close the database."""
    parts = await app.prepare(settings)
    try:
        return await work(parts)
    finally:
        await parts.db.dispose()


async def cmd_score(settings: Settings, args: argparse.Namespace) -> int:
    """xtt score [--round ID] [--commune CODE] [--rubric FILE] [--json]."""
    from analytics import compute, to_json

    rubric = load_rubric(args.rubric) if args.rubric else app.rubric(settings)

    async def work(parts: app.Parts) -> int:
        round_id = await _round(parts, args.round_id)
        codes = {row.code for row in await communes.listing(parts.db)}
        if args.commune and args.commune not in codes:
            raise UsageError(f"unknown commune {args.commune!r}; see: xtt communes list")
        scores = await compute(parts.db, round_id, rubric, [args.commune] if args.commune else None)
        if args.json:
            print(json.dumps(to_json(round_id, rubric, scores), ensure_ascii=False, indent=2))
        else:
            print(table(round_id, rubric, scores))
        return 0

    return await with_parts(settings, work)


async def _round(parts: app.Parts, wanted: str | None) -> str:
    """The round asked for, else the open one, else the latest; a clear error when there is none."""
    round_id = wanted or await rounds.current_round(parts.db) or await rounds.latest_round(parts.db)
    known = {r.id for r in await rounds.list_rounds(parts.db)}
    if round_id not in known:
        raise UsageError(f"no round {round_id!r}; see: xtt round list" if round_id else "no rounds yet")
    return round_id


async def cmd_report(settings: Settings, args: argparse.Namespace) -> int:
    """xtt report [--round ID] --out DIR."""
    from analytics.progress import Progress
    from analytics.report import STEPS, write_report

    rubric = load_rubric(args.rubric) if args.rubric else app.rubric(settings)
    flows = app.flows(settings)

    async def work(parts: app.Parts) -> int:
        round_id = await _round(parts, args.round_id)
        progress = Progress(STEPS, f"Báo cáo đợt {round_id}")
        paths = await write_report(parts.db, round_id, rubric, flows.questionnaires, args.out, progress,
                                   settings.xtt_office_name)
        print("\n".join(str(p) for p in paths))
        return 0

    return await with_parts(settings, work)


async def cmd_assess(settings: Settings, args: argparse.Namespace) -> int:
    """xtt assess --template FILE | [--round ID] [--criteria FILE] [--out DIR]."""
    from analytics.assess import assessment_chart, assessment_workbook, summary_lines
    from analytics.points_sheet import read_points, template
    from bot.reports import recognition, rubric_line
    from storage import criteria as stored

    rubric = load_rubric(args.rubric) if args.rubric else app.rubric(settings)
    criteria = app.criteria(settings)

    async def work(parts: app.Parts) -> int:
        units = [(r.code, r.name, r.type) for r in await communes.listing(parts.db)
                 if not r.valid_to and not r.merged_into]
        if args.template:
            template(units, args.template, criteria)
            print(f"template written: {args.template} — fill in criteria 1-12, then: xtt assess --criteria FILE")
            return 0
        round_id = await _round(parts, args.round_id)
        if args.criteria:
            await stored.replace(parts.db, round_id, read_points(args.criteria, criteria, {c for c, _, _ in units}))
        points = await stored.load(parts.db, round_id)
        if not points:
            raise UsageError(f"no points for criteria 1-12 in round {round_id}; give --criteria FILE "
                             "(make one with: xtt assess --template diem.xlsx)")
        table = await recognition(parts.db, round_id, rubric, criteria, points)
        args.out.mkdir(parents=True, exist_ok=True)
        book, chart = args.out / f"cong-nhan-{round_id}.xlsx", args.out / f"cong-nhan-{round_id}.png"
        book.write_bytes(assessment_workbook(round_id, rubric, criteria, table))
        chart.write_bytes(assessment_chart(round_id, table, rubric_line(rubric)))
        print("\n".join([f"Round {round_id} · rubric: {rubric.name}", rubric.note, *summary_lines(table), str(book),
                         str(chart)]))
        return 0

    return await with_parts(settings, work)


async def cmd_forum(settings: Settings, args: argparse.Namespace) -> int:
    """xtt forum report --round ID | --from DATE --to DATE --out DIR | --json."""
    from analytics import forum
    from analytics.progress import Progress

    if args.out is None and not args.json:
        raise UsageError("give --out DIR for the files, or --json for the figures")

    async def work(parts: app.Parts) -> int:
        if args.round_id:
            await _round(parts, args.round_id)
        days = settings.xtt_answer_days
        if args.json:
            figures = await forum.forum_figures(parts.db, round_id=args.round_id, since=args.since,
                                                until=args.until, now=datetime.now(UTC), answer_days=days)
            print(json.dumps(figures.as_json(), ensure_ascii=False, indent=2))
            return 0
        paths = await forum.write_forum_report(parts.db, args.out, round_id=args.round_id, since=args.since,
                                               until=args.until, now=datetime.now(UTC), answer_days=days,
                                               progress=Progress(forum.STEPS, "Báo cáo diễn đàn"))
        print("\n".join(str(p) for p in paths))
        return 0

    return await with_parts(settings, work)
