"""The `xtt` command line: reads the settings once and dispatches to the composition root."""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path

from analytics import RubricError
from analytics.assess import AssessError
from bot import app, cli_safety
from bot.cli_office import UsageError, cmd_assess, cmd_forum, cmd_report, cmd_score, with_parts
from bot.settings import Settings, ensure_secret, load
from conversations import FlowError
from storage import communes, invites, rounds
from storage.communes import CommuneFileError
from storage.rounds import RoundError


def parser() -> argparse.ArgumentParser:
    """Describe every command."""
    p = argparse.ArgumentParser(prog="xtt", description="Chatbot for child-friendly communes (criterion 13).")
    sub = p.add_subparsers(dest="command", required=True)
    sub.add_parser("run", help="run every configured channel; with none, the console chat")
    chat = sub.add_parser("chat", help="console chat")
    chat.add_argument("--as", dest="role", choices=["child", "resident", "official"])
    chat.add_argument("--commune", help="commune code, e.g. my-an")
    chat.add_argument("--user", default="console", help="who you are in the console (default: console)")
    db = sub.add_parser("db", help="database").add_subparsers(dest="action", required=True)
    db.add_parser("upgrade", help="apply migrations")
    com = sub.add_parser("communes", help="the administrative map").add_subparsers(dest="action", required=True)
    com.add_parser("import", help="import a CSV or XLSX file").add_argument("file", type=Path)
    com.add_parser("list", help="list communes")
    rnd = sub.add_parser("round", help="survey rounds").add_subparsers(dest="action", required=True)
    opening = rnd.add_parser("open", help="open a round")
    opening.add_argument("id")
    opening.add_argument("--target", type=int, default=30, help="respondents wanted per group per commune")
    rnd.add_parser("close", help="close a round").add_argument("id")
    rnd.add_parser("list", help="list rounds")
    inv = sub.add_parser("invite", help="invite a leader or an official")
    inv.add_argument("role", choices=["leader", "official", "list", "revoke"])
    inv.add_argument("id", nargs="?", help="with revoke: the invite id (first part of the code)")
    inv.add_argument("--commune", help="the leader's commune code")
    score = sub.add_parser("score", help="criterion-13 figures per commune")
    score.add_argument("--round", dest="round_id")
    score.add_argument("--commune")
    score.add_argument("--rubric", type=Path, help="rubric file (default: XTT_RUBRIC or the shipped one)")
    score.add_argument("--json", action="store_true")
    report = sub.add_parser("report", help="charts, workbook and summary of a round")
    report.add_argument("--round", dest="round_id")
    report.add_argument("--out", type=Path, required=True, help="folder to write into")
    report.add_argument("--rubric", type=Path)
    assessing = sub.add_parser("assess", help="the 13-criteria recognition table")
    assessing.add_argument("--round", dest="round_id")
    assessing.add_argument("--criteria", type=Path, help="the office's points for criteria 1-12 (CSV or XLSX)")
    assessing.add_argument("--template", type=Path, help="write a template to fill in (CSV or XLSX) and stop")
    assessing.add_argument("--out", type=Path, default=Path("."), help="folder for the workbook and chart")
    assessing.add_argument("--rubric", type=Path)
    forum = sub.add_parser("forum", help="the children's forum").add_subparsers(dest="action", required=True)
    forum_report = forum.add_parser("report", help="proposals by commune, topic and status; the 15-day figures")
    forum_report.add_argument("--round", dest="round_id")
    forum_report.add_argument("--from", dest="since", type=_date, help="YYYY-MM-DD")
    forum_report.add_argument("--to", dest="until", type=_date, help="YYYY-MM-DD (not included)")
    forum_report.add_argument("--out", type=Path, required=True)
    safety = sub.add_parser("safety", help="the safety screen").add_subparsers(dest="action", required=True)
    safety.add_parser("check", help="screen stdin, one message per line; print JSON lines").add_argument(
        "--signals", type=Path, help="signal file to try (default: the shipped one)")
    return p


def _date(text: str) -> datetime:
    """A YYYY-MM-DD date at midnight UTC."""
    try:
        return datetime.strptime(text, "%Y-%m-%d").replace(tzinfo=UTC)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"{text!r} is not a date like 2024-11-30") from exc


def main(argv: list[str] | None = None) -> int:
    """Entry point of the console script."""
    args = parser().parse_args(argv)
    if args.command == "safety":
        return cli_safety.main(args)
    quiet = args.command != "run" or not _has_channel()
    logging.basicConfig(level=logging.WARNING if quiet else logging.INFO, stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("httpx").setLevel(logging.WARNING)  # its INFO lines carry the bot token in the URL
    settings = ensure_secret(load())
    try:
        return asyncio.run(COMMANDS[args.command](settings, args))
    except (FlowError, CommuneFileError, RoundError, RubricError, AssessError, UsageError) as exc:
        print(f"xtt: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


def _has_channel() -> bool:
    """Whether any chat channel is configured (decides the log level of `run`)."""
    settings = load()
    return bool(settings.telegram_bot_token or settings.zalo_bot_token or settings.zalo_oa_app_id)


async def cmd_run(settings: Settings, args: argparse.Namespace) -> int:
    """xtt run."""
    return await app.run(settings)


async def cmd_chat(settings: Settings, args: argparse.Namespace) -> int:
    """xtt chat --as ROLE --commune CODE."""
    async def work(parts: app.Parts) -> int:
        known = {row.code for row in await communes.listing(parts.db)}
        if args.commune and args.commune not in known:
            raise UsageError(f"unknown commune {args.commune!r}; see: xtt communes list")
        admins = (("console", args.user),) if args.role == "official" else ()
        service = app.build_service(parts, admins)
        preset = tuple((k, v) for k, v in (("group", args.role), ("commune", args.commune))
                       if v and v != "official")
        return await app.console(parts, service, args.user, preset)

    return await with_parts(settings, work)


async def cmd_db(settings: Settings, args: argparse.Namespace) -> int:
    """xtt db upgrade."""
    async def work(parts: app.Parts) -> int:
        print("database is up to date")
        return 0

    return await with_parts(settings, work)


async def cmd_communes(settings: Settings, args: argparse.Namespace) -> int:
    """xtt communes import FILE | list."""
    async def work(parts: app.Parts) -> int:
        if args.action == "import":
            count = await communes.store(parts.db, communes.read_file(args.file))
            print(f"imported {count} communes from {args.file}")
            return 0
        for row in await communes.listing(parts.db):
            note = f"  (until {row.valid_to}, merged into {row.merged_into})" if row.valid_to else ""
            print(f"{row.code:<16} {row.type:<14} {row.name}{note}")
        return 0

    return await with_parts(settings, work)


async def cmd_round(settings: Settings, args: argparse.Namespace) -> int:
    """xtt round open ID | close ID | list."""
    async def work(parts: app.Parts) -> int:
        now = datetime.now(UTC)
        if args.action == "open":
            await rounds.open_round(parts.db, args.id, now, (args.target, args.target))
            print(f"round {args.id} is open")
        elif args.action == "close":
            await rounds.close_round(parts.db, args.id, now)
            print(f"round {args.id} is closed")
        else:
            listing = await rounds.list_rounds(parts.db)
            for r in listing:
                print(f"{r.id:<10} {r.status:<7} opened {r.opened_at:%Y-%m-%d}"
                      f"  target {r.target_children}/{r.target_residents} per commune")
            if not listing:
                print("no rounds yet; open one with: xtt round open 2024")
        return 0

    return await with_parts(settings, work)


async def cmd_invite(settings: Settings, args: argparse.Namespace) -> int:
    """xtt invite leader --commune CODE | official | list | revoke ID."""
    async def work(parts: app.Parts) -> int:
        now = datetime.now(UTC)
        if args.role == "list":
            for i in await invites.listing(parts.db, now):
                print(f"{i.id}  {i.role:<8} {i.commune or '-':<16} {i.state:<8} expires {i.expires_at:%Y-%m-%d %H:%M}")
            return 0
        if args.role == "revoke":
            if not args.id:
                raise UsageError("give the invite id: xtt invite revoke ID")
            done = await invites.revoke(parts.db, args.id.split("-")[0].lower(), now)
            print("revoked" if done else "no open invite with that id")
            return 0 if done else 1
        known = {row.code for row in await communes.listing(parts.db)}
        if args.role == "leader" and args.commune not in known:
            raise UsageError("a leader invite needs --commune CODE of a known commune; see: xtt communes list")
        service = app.build_service(parts)
        code, expires = await service.office.create_invite(args.role, args.commune or "")
        print(f"invite code: {code}\nexpires:     {expires:%Y-%m-%d %H:%M} UTC")
        print(f"redeem:      send /start {code} to the bot, or just the code")
        print(f"deep link:   https://t.me/<your_bot_username>?start={code}")
        return 0

    return await with_parts(settings, work)


COMMANDS: dict[str, Callable[[Settings, argparse.Namespace], Awaitable[int]]] = {
    "run": cmd_run, "chat": cmd_chat, "db": cmd_db, "communes": cmd_communes, "round": cmd_round,
    "invite": cmd_invite, "score": cmd_score, "report": cmd_report, "assess": cmd_assess, "forum": cmd_forum,
}
