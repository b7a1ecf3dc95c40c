"""The office's commands for paper questionnaires and forums held: `xtt forms …`, `xtt forum held|list`."""

from __future__ import annotations

import argparse
import asyncio
import math
from datetime import UTC, date, datetime, timedelta

from analytics.clock import local, start_of
from bot import app
from bot.cli_office import UsageError, _round, with_parts
from bot.settings import Settings
from storage import communes

GROUPS = {"child": ("child",), "resident": ("resident",), "both": ("child", "resident")}
MAX_FORMS = 5000


async def _communes(parts: app.Parts) -> dict[str, str]:
    """Current communes, code → name."""
    return {r.code: r.name for r in await communes.listing(parts.db) if not r.valid_to}


async def cmd_forms(settings: Settings, args: argparse.Namespace) -> int:
    """xtt forms print | template | import FILE."""
    flows = app.flows(settings)

    async def work(parts: app.Parts) -> int:
        known = await _communes(parts)
        if args.action == "print":
            return await _print(parts, args, flows, known)
        if args.action == "template":
            from analytics.paper_template import template

            data = await asyncio.to_thread(template, flows, list(known.items()))
            args.out.parent.mkdir(parents=True, exist_ok=True)
            args.out.write_bytes(data)
            print(f"{args.out}\nNhập mỗi phiếu giấy một dòng, rồi: xtt forms import {args.out.name}")
            return 0
        return await _import(parts, args, flows, known)

    return await with_parts(settings, work)


async def _print(parts: app.Parts, args: argparse.Namespace, flows: object, known: dict[str, str]) -> int:
    """Reserve codes and write the PDF, one page per form, with a progress line."""
    from analytics.formcode import encode, printed
    from analytics.paper_pdf import Sheet, forms_pdf
    from analytics.paper_sheet import age_bands
    from analytics.progress import Progress
    from storage import paper

    if args.commune not in known:
        raise UsageError(f"unknown commune {args.commune!r}; see: xtt communes list")
    if not 1 <= args.count <= MAX_FORMS:
        raise UsageError(f"--count must be 1 to {MAX_FORMS} forms per group")
    if args.out.suffix.lower() != ".pdf":
        raise UsageError(f"{args.out.name}: the output must end in .pdf")
    now = datetime.now(UTC)
    sheets = []
    for group in GROUPS[args.group]:
        run = await paper.allocate(parts.db, args.commune, group, args.count, now)
        sheets += [Sheet(encode(s), known[args.commune], group) for s in range(run.first, run.first + run.count)]
    step = max(1, math.ceil(len(sheets) / 20))
    progress = Progress(math.ceil(len(sheets) / step), f"In {len(sheets)} phiếu, {known[args.commune]}")

    def done(n: int) -> None:
        if n % step == 0 or n == len(sheets):
            progress.advance(f"({n} phiếu)" if step > 1 else "")

    data = await asyncio.to_thread(forms_pdf, sheets, flows.questionnaires, age_bands(flows), done)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_bytes(data)
    print(f"{args.out}\n{len(sheets)} phiếu, mã từ {printed(sheets[0].code)} đến {printed(sheets[-1].code)}")
    return 0


async def _import(parts: app.Parts, args: argparse.Namespace, flows: object, known: dict[str, str]) -> int:
    """Check every row, store the valid ones as paper responses of the round, report the rest by row and column."""
    from analytics.paper_sheet import SheetError, check, read_rows
    from storage import paper, rounds

    if args.round_id is None and await rounds.current_round(parts.db) is None:
        raise UsageError("no open round; open one (xtt round open ID), or give --round ID to add the forms "
                         "to a closed round")
    round_id = await _round(parts, args.round_id)
    try:
        checked = check(read_rows(args.file), flows, known, await paper.runs(parts.db))
    except SheetError as exc:
        raise UsageError(f"{args.file.name}: {exc}") from exc
    lines = dict.fromkeys(checked.errors)
    forms = list(checked.forms)
    earlier = await paper.used(parts.db, (f.code for _, f in forms))
    for row, form in forms:
        if form.code in earlier:
            lines[f"Dòng {row}, cột Mã phiếu: phiếu {form.code} đã được nhập trước đây — không nhập lại"] = None
    fresh = [f for _, f in forms if f.code not in earlier]
    day = local(datetime.now(UTC)).date().isoformat()
    late = await paper.store(parts.db, fresh, round_id, day) if fresh else []
    for code in late:
        lines[f"Mã phiếu {code}: vừa được nhập ở nơi khác — không nhập lại"] = None
    stored = len(fresh) - len(late)
    refused = checked.refused_rows + len(forms) - len(fresh) + len(late)
    for line in lines:
        print(line)
    await _screen(parts, [f for f in fresh if f.code not in late and f.comment], known)
    print(f"Đợt {round_id}: đã lưu {stored} phiếu giấy, từ chối {refused} phiếu"
          f"{' (sửa các dòng trên rồi nhập lại tệp; phiếu đã lưu sẽ không bị nhập hai lần)' if refused else ''}.")
    print(f"Round {round_id}: stored {stored} paper forms, refused {refused}.")
    return 1 if refused else 0


async def _screen(parts: app.Parts, forms: list, known: dict[str, str]) -> None:
    """Raise a safety alert for each stored comment that signals abuse or danger, as chat comments do."""
    if not forms:
        return
    from conversations.safety import Screen
    from storage import paper

    screen, now = Screen.load(), datetime.now(UTC)
    for f in forms:
        found = screen.categories(f.comment[1])
        if found:
            alert = await paper.flag(parts.db, commune=f.commune, text=f.comment[1], categories=found, now=now)
            print(f"CẢNH BÁO #{alert}: phiếu {f.code} ({known.get(f.commune, f.commune)}) có lời nhắn với dấu hiệu "
                  f"{', '.join(found)} — cán bộ bảo vệ trẻ em cần xem ngay (đường dây 111).")


def parse_day(text: str) -> date:
    """A YYYY-MM-DD date."""
    try:
        return date.fromisoformat(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"{text!r} is not a date like 2025-06-01") from exc


async def cmd_forum_record(settings: Settings, args: argparse.Namespace) -> int:
    """xtt forum held --commune CODE --date D --children N --topics a,b [--proposals FILE] | list."""
    from analytics import forum_sheet
    from conversations.forum import load_forum
    from storage import forums

    config = load_forum()

    async def work(parts: app.Parts) -> int:
        known = await _communes(parts)
        if args.action == "list":
            held = await forums.listing(parts.db)
            for f in held:
                print(f"#{f.id:<4} {f.held_on}  {f.commune_name:<22} {f.children:>4} trẻ em  báo cáo trước "
                      f"{f.report_due}  {f.proposals:>3} kiến nghị  {forum_sheet.summary(config, f.topics)}")
            if not held:
                print("Chưa ghi nhận diễn đàn nào; ghi bằng: xtt forum held --commune CODE --date YYYY-MM-DD …")
            return 0
        if args.commune not in known:
            raise UsageError(f"unknown commune {args.commune!r}; see: xtt communes list")
        try:
            kids = forum_sheet.children(args.children)
            topics = forum_sheet.topics(config, args.topics)
            sheet = forum_sheet.read(args.proposals, config) if args.proposals else forum_sheet.Sheet((), ())
        except (forum_sheet.ForumRecordError, ValueError) as exc:
            raise UsageError(str(exc)) from exc
        if args.date > local(datetime.now(UTC)).date():
            raise UsageError(f"{args.date} is in the future; record a forum after it is held")
        if sheet.errors:
            print("\n".join(sheet.errors))
            print(f"Không ghi nhận: {len(sheet.errors)} lỗi trong {args.proposals.name}; sửa rồi chạy lại.")
            return 2
        due = args.date + timedelta(days=config.report_days)
        round_id = await _round(parts, args.round_id) if args.round_id else None
        forum_id, refs = await forums.hold(parts.db, commune=args.commune, held_on=args.date, children=kids,
                                           topics=topics, report_due=due, raised=sheet.raised,
                                           created_at=start_of(args.date).astimezone(UTC), round_id=round_id,
                                           now=datetime.now(UTC))
        print(f"Diễn đàn #{forum_id}: {known[args.commune]}, ngày {args.date:%d/%m/%Y}, {kids} trẻ em; "
              f"báo cáo hạn {due:%d/%m/%Y} ({config.report_days} ngày, Thông tư 29/2019).")
        if refs:
            print(f"{len(refs)} kiến nghị: {refs[0]} … {refs[-1]}" if len(refs) > 1 else f"1 kiến nghị: {refs[0]}")
        return 0

    return await with_parts(settings, work)


async def cmd_documents(settings: Settings, args: argparse.Namespace) -> int:
    """xtt documents [--round ID] --out DIR [--office NAME] [--place NAME] [--templates DIR]."""
    from analytics.document_set import steps, write_documents
    from analytics.documents import DocumentError, Letterhead
    from analytics.progress import Progress

    rubric, criteria, flows = app.rubric(settings), app.criteria(settings), app.flows(settings)
    if args.templates is not None and not args.templates.is_dir():
        raise UsageError(f"{args.templates}: no such folder of templates")

    async def work(parts: app.Parts) -> int:
        round_id = await _round(parts, args.round_id)
        now = datetime.now(UTC)
        count = len(await communes.listing(parts.db))
        head = Letterhead(args.office, args.place, local(now).date())
        try:
            paths = await write_documents(parts.db, round_id, rubric, criteria, flows.questionnaires, args.out,
                                          head, now=now, answer_days=settings.xtt_answer_days,
                                          templates=args.templates,
                                          progress=Progress(steps(count), f"Văn bản đợt {round_id}"))
        except DocumentError as exc:
            raise UsageError(str(exc)) from exc
        print("\n".join(str(p) for p in paths))
        return 0

    return await with_parts(settings, work)
