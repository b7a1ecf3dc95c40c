"""`xtt demo`: a season in its own folder, driven through the real engine, then every report written there."""

from __future__ import annotations

import asyncio
import json
import shutil
import sys
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from analytics import compute, to_json
from analytics.assess import assessment_chart, assessment_workbook, summary_lines
from analytics.dates import vn_date, vn_today
from analytics.progress import Progress
from bot import app
from bot.calendar import calendar_reply
from bot.demo_people import live, people
from bot.reports import recognition, rubric_line
from bot.settings import ensure_secret, load
from storage import calendar, criteria, rounds, targets

MARK = ".xtt-demo"
MADE = ("xtt.sqlite3", "xtt.sqlite3-wal", "xtt.sqlite3-shm", "secret.key", "bao-cao", "cong-nhan", "dien-dan",
        "diem.json", "lich.txt", "giay-to")
# Per shipped commune: share of respondents, how satisfied people tend to be, targets (children, residents).
# Chosen so that some communes earn full points, some sit near a band edge, one scores 0 and a few fall short.
PLAN = {"tt-my-an": (1.3, 0.95, (10, 8)), "my-an": (1.2, 0.93, (10, 8)), "my-hoa": (1.1, 0.86, (10, 8)),
        "phu-dien": (1.1, 0.81, (10, 8)), "thanh-my": (1.0, 0.79, (10, 8)), "lang-bien": (1.0, 0.91, (10, 8)),
        "my-dong": (1.0, 0.72, (10, 8)), "my-quy": (1.0, 0.88, (10, 8)), "tan-kieu": (0.9, 0.64, (10, 8)),
        "doc-binh-kieu": (1.0, 0.40, (10, 8)), "thanh-loi": (0.5, 0.90, (12, 10)),
        "truong-xuan": (0.4, 0.85, (12, 10)), "hung-thanh": (0.4, 0.83, (15, 12))}
PARALLEL = 64


def prepare_folder(out: Path) -> None:
    """Use an empty folder, or one an earlier demo made (its files are replaced); refuse anything else."""
    if out.exists() and any(out.iterdir()) and not (out / MARK).exists():
        raise ValueError(f"{out} is not empty and was not made by xtt demo; give another folder with --out")
    out.mkdir(parents=True, exist_ok=True)
    for name in MADE:
        target = out / name
        if target.is_dir():
            shutil.rmtree(target)
        elif target.exists():
            target.unlink()
    (out / MARK).write_text("made by xtt demo; running it again replaces this folder's files\n", encoding="utf-8")


async def paper_and_forums(parts: app.Parts, round_id: str, out: Path) -> list[Path]:
    """HOOK for the paper forms and forum records (added on another branch): enter them here, return files made."""
    return []


async def run_demo(out: Path, respondents: int, stream: object = None) -> int:
    """Build the demo database in `out`, simulate the season, write the reports and print where they are."""
    try:
        prepare_folder(out)
    except ValueError as exc:
        print(f"xtt: {exc}", file=sys.stderr)
        return 2
    settings, _ = ensure_secret(load({"DATABASE_URL": f"sqlite+aiosqlite:///{out.resolve()}/xtt.sqlite3",
                                      "XTT_DATA_DIR": str(out)}, dotenv=None))
    parts = await app.prepare(settings)
    try:
        return await _season(parts, out, respondents)
    finally:
        await parts.db.dispose()


async def _season(parts: app.Parts, out: Path, respondents: int) -> int:
    """Open the round, let the people answer, close it, write the outputs."""
    now = datetime.now(UTC)
    today = vn_today(now)
    round_id = f"demo-{today.year}"
    opens, closes = today - timedelta(days=60), today + timedelta(days=1)
    plan = calendar.dated(calendar.load(), today.year, opens, closes)
    await rounds.open_round(parts.db, round_id, now, (10, 8), (opens, closes), plan)
    await targets.store(parts.db, round_id, [targets.TargetRow(code, group, wanted)
                                              for code, (_, _, pair) in PLAN.items()
                                              for group, wanted in zip(("child", "resident"), pair, strict=True)])
    crowd = people(respondents, [(code, weight, p) for code, (weight, p, _) in PLAN.items()])
    progress = Progress(len(crowd) + 4, f"xtt demo: {len(crowd)} người trả lời")
    service = app.build_service(parts)
    gate = asyncio.Semaphore(PARALLEL)

    async def one(person: object) -> None:
        async with gate:
            await live(service, person)
            progress.advance("khảo sát qua chat")

    await asyncio.gather(*(one(p) for p in crowd))
    await service.close()
    await rounds.close_round(parts.db, round_id, now)
    files = await _outputs(parts, round_id, out, now, progress)
    files += await paper_and_forums(parts, round_id, out)
    print(f"Demo season {round_id} in {out}: {len(crowd)} people, survey {vn_date(opens)}–{vn_date(closes)}")
    print(f"database: {out / 'xtt.sqlite3'}  (try: DATABASE_URL=sqlite+aiosqlite:///{out / 'xtt.sqlite3'} "
          f"XTT_DATA_DIR={out} xtt score)")
    print("\n".join(str(p) for p in files))
    return 0


async def _outputs(parts: app.Parts, round_id: str, out: Path, now: datetime, progress: Progress) -> list[Path]:
    """The score JSON, the office's report, the forum report, the recognition table and the calendar."""
    from analytics.forum import write_forum_report
    from analytics.report import write_report

    rubric, rules = app.rubric(parts.settings), app.criteria(parts.settings)
    scores = await compute(parts.db, round_id, rubric)
    score_file = out / "diem.json"
    score_file.write_text(json.dumps(to_json(round_id, rubric, scores), ensure_ascii=False, indent=2) + "\n",
                          encoding="utf-8")
    files = [score_file, *await write_report(parts.db, round_id, rubric, app.flows(parts.settings).questionnaires,
                                             out / "bao-cao")]
    progress.advance("báo cáo tiêu chí 13")
    files += await write_forum_report(parts.db, out / "dien-dan", round_id=round_id, now=now,
                                      answer_days=parts.settings.xtt_answer_days)
    progress.advance("báo cáo diễn đàn")
    entered = {code: {n: round((c.max_points or 0) * (0.86 + 0.01 * (k % 12)), 1) for n, c in
                      enumerate(rules.items[:12], 1)} for k, code in enumerate(PLAN)}
    entered["tan-kieu"][5] = 0.0  # one commune with a zero on criterion 5, to show the 'điểm liệt'
    await criteria.replace(parts.db, round_id, entered)
    table = await recognition(parts.db, round_id, rubric, rules, entered)
    folder = out / "cong-nhan"
    folder.mkdir(exist_ok=True)
    book, chart = folder / f"cong-nhan-{round_id}.xlsx", folder / f"cong-nhan-{round_id}.png"
    book.write_bytes(assessment_workbook(round_id, rubric, rules, table))
    chart.write_bytes(assessment_chart(round_id, table, rubric_line(rubric)))
    summary = folder / "tom-tat.txt"
    summary.write_text("\n".join([rubric_line(rubric), *summary_lines(table)]) + "\n", encoding="utf-8")
    files += [book, chart, summary]
    progress.advance("bảng công nhận")
    await calendar.mark_done(parts.db, round_id, "plans", date(now.year, 2, 20))
    await calendar.mark_done(parts.db, round_id, "forum", date(now.year, 6, 1))
    lich = out / "lich.txt"
    replies = await calendar_reply(parts.db, None, "vi", now, parts.texts)
    lich.write_text("\n".join(r.text for r in replies) + "\n", encoding="utf-8")
    progress.advance("lịch")
    return [*files, lich]
