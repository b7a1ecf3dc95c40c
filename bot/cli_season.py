"""The season's commands of `xtt`: rounds with their calendar, targets per commune, and the demo."""

from __future__ import annotations

import argparse
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from analytics.dates import parse_day, vn_date, vn_today
from bot import app
from bot.cli_office import UsageError, with_parts
from bot.settings import Settings
from storage import calendar, communes, rounds, targets


def _day(text: str) -> date:
    """A day given as DD/MM/YYYY or YYYY-MM-DD."""
    try:
        return parse_day(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from exc


def add_commands(sub: Any) -> None:
    """Declare `round`, `targets` and `demo`."""
    rnd = sub.add_parser("round", help="survey rounds and their calendar").add_subparsers(dest="action", required=True)
    opening = rnd.add_parser("open", help="open a round")
    opening.add_argument("id")
    opening.add_argument("--target", type=int, default=30, help="respondents wanted per group per commune")
    opening.add_argument("--opens", type=_day, help="first day the survey takes answers: DD/MM/YYYY or YYYY-MM-DD")
    opening.add_argument("--closes", type=_day, help="last day the survey takes answers")
    opening.add_argument("--calendar", type=Path, help="milestones file (default: the shipped calendar.toml)")
    rnd.add_parser("close", help="close a round").add_argument("id")
    rnd.add_parser("list", help="list rounds")
    shown = rnd.add_parser("calendar", help="a round's survey window and milestones")
    shown.add_argument("id", nargs="?")
    done = rnd.add_parser("done", help="mark a milestone met")
    done.add_argument("milestone")
    done.add_argument("--round", dest="round_id")
    done.add_argument("--on", type=_day, help="the day it was met (default: today)")
    done.add_argument("--undo", action="store_true", help="clear the mark")
    tgt = sub.add_parser("targets", help="respondents wanted per commune").add_subparsers(dest="action", required=True)
    loading = tgt.add_parser("import", help="import commune,group,target[,age_band] (or children_count) rows")
    loading.add_argument("file", type=Path)
    loading.add_argument("--round", dest="round_id")
    loading.add_argument("--formulas", type=Path, help="targets.toml with formulas of children_count")
    tgt.add_parser("list", help="targets of a round").add_argument("--round", dest="round_id")
    deriving = tgt.add_parser("derive", help="targets from each commune's children_count (communes import)")
    deriving.add_argument("--round", dest="round_id")
    deriving.add_argument("--formulas", type=Path, help="targets.toml with formulas of children_count")
    demo = sub.add_parser("demo", help="build a demo season in its own folder through the real engine")
    demo.add_argument("--respondents", type=int, default=300, help="people who chat with the bot (default: 300)")
    demo.add_argument("--out", type=Path, default=Path("xtt-demo"),
                      help="folder of the demo's own database, secret and reports (default: ./xtt-demo)")


async def cmd_round(settings: Settings, args: argparse.Namespace) -> int:
    """xtt round open ID [--opens D --closes D] | close ID | list | calendar [ID] | done MILESTONE."""
    async def work(parts: app.Parts) -> int:
        now = datetime.now(UTC)
        if args.action == "open":
            return await _open(parts, args, now, Path(settings.xtt_calendar) if settings.xtt_calendar else None)
        if args.action == "close":
            await rounds.close_round(parts.db, args.id, now)
            print(f"round {args.id} is closed")
        elif args.action == "list":
            listing = await rounds.list_rounds(parts.db)
            for r in listing:
                window = f"  survey {vn_date(r.opens)}–{vn_date(r.closes)}" if r.opens or r.closes else ""
                print(f"{r.id:<10} {r.status:<7} opened {vn_date(r.opened_at)}"
                      f"  target {r.target_children}/{r.target_residents} per commune{window}")
            if not listing:
                print("no rounds yet; open one with: xtt round open 2024")
        elif args.action == "calendar":
            from bot.calendar import calendar_reply

            if args.id:
                await _known(parts, args.id)
            replies = await calendar_reply(parts.db, None, settings.xtt_locale, now, parts.texts, args.id)
            print("\n".join(r.text for r in replies))
        else:
            round_id = args.round_id or await _open_or_latest(parts)
            day = None if args.undo else args.on or vn_today(now)
            await calendar.mark_done(parts.db, round_id, args.milestone, day)
            state = "mark cleared" if day is None else f"done {vn_date(day)}"
            print(f"{args.milestone} of round {round_id}: {state}")
        return 0

    return await with_parts(settings, work)


async def _open(parts: app.Parts, args: argparse.Namespace, now: datetime, configured: Path | None) -> int:
    """Open a round with its window and the calendar's milestones, and say what was set."""
    source = args.calendar or configured or calendar.DEFAULT
    plan = calendar.load(source)
    year = calendar.season_year(args.id, args.opens, vn_today(now).year)
    dated = calendar.dated(plan, year, args.opens, args.closes)
    await rounds.open_round(parts.db, args.id, now, (args.target, args.target), (args.opens, args.closes), dated)
    print(f"round {args.id} is open")
    if args.opens or args.closes:
        print(f"survey takes answers from {vn_date(args.opens)} to {vn_date(args.closes)} (Vietnam time)")
    else:
        window = [m for m in dated if m.kind == "event"]
        plan_days = "–".join(vn_date(m.due) for m in window)
        print("no survey window set: answers are taken until the round is closed"
              + (f" (the plan's window is {plan_days}; set it with --opens/--closes)" if plan_days else ""))
    print(f"{len(dated)} milestones from {source.name}; see: xtt round calendar")
    return 0


async def _known(parts: app.Parts, round_id: str) -> None:
    """Refuse an unknown round."""
    if round_id not in {r.id for r in await rounds.list_rounds(parts.db)}:
        raise UsageError(f"no round {round_id!r}; see: xtt round list")


async def _open_or_latest(parts: app.Parts) -> str:
    """The open round, else the latest."""
    found = await rounds.open_info(parts.db)
    round_id = found.id if found else await rounds.latest_round(parts.db)
    if round_id is None:
        raise UsageError("no rounds yet; open one with: xtt round open 2025")
    return round_id


async def cmd_targets(settings: Settings, args: argparse.Namespace) -> int:
    """xtt targets import FILE | derive | list, each for the open (or latest) round or --round ID."""
    from analytics.formula import load_formulas

    async def work(parts: app.Parts) -> int:
        round_id = args.round_id or await _open_or_latest(parts)
        await _known(parts, round_id)
        if args.action in ("import", "derive"):
            source = args.formulas or (Path(settings.xtt_targets) if settings.xtt_targets else None)
            formulas = load_formulas(source) if source else load_formulas()
            units = await communes.listing(parts.db)
            if args.action == "derive":
                counts = {u.code: u.children_count for u in units
                          if u.children_count is not None and not u.valid_to and not u.merged_into}
                if not counts:
                    raise UsageError("no commune has a children_count; add that column to: xtt communes import FILE")
                count = await targets.store(parts.db, round_id, targets.derive(counts, formulas))
                print(f"derived {count} targets for round {round_id} from {len(counts)} communes' children_count")
                return 0
            count = await targets.store(parts.db, round_id, targets.read_file(args.file, {u.code for u in units},
                                                                              formulas))
            print(f"imported {count} targets for round {round_id} from {args.file}")
            return 0
        listing = await targets.listing(parts.db, round_id)
        default = next(r for r in await rounds.list_rounds(parts.db) if r.id == round_id)
        print(f"round {round_id}: default {default.target_children} children, {default.target_residents} residents")
        for row in listing:
            print(f"{row.commune:<16} {row.group:<9} {row.age_band or '-':<8} {row.target}")
        if not listing:
            print("no targets per commune; every commune uses the default (import some with: xtt targets import FILE)")
        return 0

    return await with_parts(settings, work)


async def cmd_demo(settings: Settings, args: argparse.Namespace) -> int:
    """xtt demo [--respondents N] [--out DIR]."""
    from bot.demo import run_demo

    if args.respondents < 13:
        raise UsageError("give at least 13 respondents, one per commune: xtt demo --respondents 300")
    return await run_demo(args.out, args.respondents)
