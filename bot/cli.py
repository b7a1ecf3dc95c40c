"""The `xtt` command line: reads the settings once and dispatches to the composition root."""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import socket
import sys
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, time, timedelta
from pathlib import Path

from sqlalchemy.exc import DBAPIError

from analytics import RubricError
from analytics.assess import AssessError
from analytics.dates import VN, parse_day, vn_datetime
from analytics.documents import DEFAULT_OFFICE, DEFAULT_PLACE
from analytics.formula import FormulaError
from bot import app, cli_safety
from bot.access import agency_role
from bot.cli_alerts import cmd_alerts
from bot.cli_office import UsageError, cmd_assess, cmd_forum, cmd_report, cmd_score, with_parts
from bot.cli_paper import cmd_documents, cmd_forms, cmd_forum_record
from bot.cli_paper import parse_day as forum_day
from bot.cli_season import add_commands, cmd_demo, cmd_round, cmd_targets
from bot.office import INVITE_DAYS
from bot.settings import SettingError, Settings, ensure_secret, load
from bot.worker import AnotherWorker
from conversations.datafile import DataFileError
from storage import communes, invites
from storage.calendar import CalendarError
from storage.communes import CommuneFileError
from storage.rounds import RoundError
from storage.targets import TargetError
from storage.writes import commit


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
    inv = sub.add_parser("invite", help="invite a leader, an officer, an agency or an official")
    inv.add_argument("role", choices=["leader", "officer", "agency", "official", "list", "revoke"])
    inv.add_argument("id", nargs="?", help="with revoke: the invite id (first part of the code)")
    inv.add_argument("--commune", help="the commune code of a leader, child-protection officer or agency")
    inv.add_argument("--agency", help="with agency: its id in conversations/data/forum.toml (school, health, …)")
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
    forum_report = forum.add_parser("report", help="proposals by commune, topic and status; answered within "
                                    "XTT_ANSWER_DAYS (a local standard), resolved without an answer")
    forum_report.add_argument("--round", dest="round_id")
    forum_report.add_argument("--from", dest="since", type=_date, help="DD/MM/YYYY or YYYY-MM-DD")
    forum_report.add_argument("--to", dest="until", type=_date, help="DD/MM/YYYY or YYYY-MM-DD (not included)")
    forum_report.add_argument("--out", type=Path)
    forum_report.add_argument("--json", action="store_true", help="print the figures as JSON instead of files")
    add_commands(sub)
    held = forum.add_parser("held", help="record a children's forum held in a commune (Circular 29/2019)")
    held.add_argument("--commune", required=True, help="commune code")
    held.add_argument("--date", type=forum_day, required=True, help="YYYY-MM-DD, the day it was held")
    held.add_argument("--children", type=int, required=True, help="children who took part (at least 30)")
    held.add_argument("--topics", required=True, help="topic ids or labels from forum.toml, comma-separated")
    held.add_argument("--proposals", type=Path, help="CSV or XLSX with columns topic, text[, publish]")
    held.add_argument("--round", dest="round_id", help="the survey round the proposals belong to")
    forum.add_parser("list", help="forums held")
    forms = sub.add_parser("forms", help="paper questionnaires").add_subparsers(dest="action", required=True)
    printing = forms.add_parser("print", help="a printable PDF of questionnaires, each with its own code")
    printing.add_argument("--commune", required=True, help="commune code")
    printing.add_argument("--count", type=int, required=True, help="forms per group")
    printing.add_argument("--group", choices=["child", "resident", "both"], default="both")
    printing.add_argument("--out", type=Path, required=True, help="the PDF file to write")
    forms.add_parser("template", help="the XLSX sheet to enter paper forms").add_argument(
        "--out", type=Path, default=Path("phieu-giay.xlsx"))
    importing = forms.add_parser("import", help="store the forms entered in the sheet (source=paper)")
    importing.add_argument("file", type=Path)
    importing.add_argument("--round", dest="round_id", help="default: the open round")
    documents = sub.add_parser("documents", help="the office's Word documents of a round (Decree 30/2020 layout)")
    documents.add_argument("--round", dest="round_id")
    documents.add_argument("--out", type=Path, required=True, help="folder to write into")
    documents.add_argument("--office", default=DEFAULT_OFFICE, help=f"issuing body (default: {DEFAULT_OFFICE})")
    documents.add_argument("--place", default=DEFAULT_PLACE, help=f"place in the date line (default: {DEFAULT_PLACE})")
    documents.add_argument("--templates", type=Path, help="the office's own folder of .docx templates")
    sub.add_parser("alerts", help="safety alerts with their age against the escalation deadline").add_argument(
        "--all", action="store_true", help="also those already handled")
    safety = sub.add_parser("safety", help="the safety screen").add_subparsers(dest="action", required=True)
    checking = safety.add_parser("check", help="screen stdin, one message per line; print JSON lines")
    checking.add_argument("--signals", type=Path, help="signal file to try (default: the shipped one)")
    checking.add_argument("--model", type=Path, help="scorer model file to try (default: the shipped one)")
    checking.add_argument("--no-model", action="store_true", help="patterns only, without the trained scorer")
    training = safety.add_parser("train", help="train the scorer on a corpus's dev half; write its model file")
    training.add_argument("--corpus", type=Path, help="label<TAB>dev|held<TAB>text (default: the test corpus)")
    training.add_argument("--signals", type=Path, help="signal file whose spelling table the scorer reads with")
    training.add_argument("--out", type=Path, help="model file to write (default: the shipped one)")
    return p


def _date(text: str) -> datetime:
    """A DD/MM/YYYY or YYYY-MM-DD date at midnight in Vietnam."""
    try:
        return datetime.combine(parse_day(text), time(), VN)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from exc


def main(argv: list[str] | None = None) -> int:
    """Entry point of the console script."""
    args = parser().parse_args(argv)
    if args.command == "safety":
        return cli_safety.main(args)
    quiet = args.command != "run" or not _has_channel()
    logging.basicConfig(level=logging.WARNING if quiet else logging.INFO, stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("httpx").setLevel(logging.WARNING)  # its INFO lines carry the bot token in the URL
    try:
        if args.command == "demo":
            settings = load()  # the demo never touches data/
        else:
            settings, secret = ensure_secret(load())
            if args.command in ("run", "chat"):
                where(settings, secret)
        code = asyncio.run(COMMANDS[args.command](settings, args))
        sys.stdout.flush()  # a closed pipe shows here, inside the try, not as a warning at exit
        return code
    except (DataFileError, CommuneFileError, RoundError, RubricError, AssessError, UsageError, SettingError,
            AnotherWorker, CalendarError, TargetError, FormulaError) as exc:
        print(f"xtt: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:  # `xtt score | head`: the reader left; that is not an error
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except (DBAPIError, ConnectionError, TimeoutError, socket.gaierror) as exc:
        print(f"xtt: cannot open the database {_where(args)} ({_reason(exc)}); check DATABASE_URL, and that the "
              "server runs and this user may use it", file=sys.stderr)
        return 2


def _where(args: argparse.Namespace) -> str:
    """The database the settings name, without a password."""
    try:
        settings = load()
    except SettingError:
        return ""
    file = settings.sqlite_file
    return f"SQLite {file}" if file else "PostgreSQL " + settings.database_url.split("@")[-1]


def _reason(exc: BaseException) -> str:
    """The first line of what went wrong, short."""
    text = str(getattr(exc, "orig", None) or exc).strip().splitlines()
    return (text[0] if text else type(exc).__name__)[:160]


def where(settings: Settings, secret: str) -> None:
    """Say which database and which secret are in use, so a run from another folder is never a silent new start."""
    file = settings.sqlite_file
    database = f"SQLite {file.resolve()}" if file else "PostgreSQL " + settings.database_url.split("@")[-1]
    fresh = " (new)" if file is not None and not file.exists() else ""
    print(f"xtt: database {database}{fresh}; secret {secret}", file=sys.stderr)


def _has_channel() -> bool:
    """Whether any chat channel is configured (decides the log level of `run`)."""
    try:
        settings = load()
    except SettingError:
        return False
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
            rows = communes.read_file(args.file)
            communes.check_merges(rows, {row.code for row in await communes.listing(parts.db)}, args.file.name)
            count = await communes.store(parts.db, rows)
            print(f"imported {count} communes from {args.file}")
            return 0
        for row in await communes.listing(parts.db):
            ended = [f"until {row.valid_to}"] if row.valid_to else []
            ended += [f"merged into {row.merged_into}"] if row.merged_into else []
            place = [p for p in (row.province, row.former_district and f"formerly {row.former_district}") if p]
            print(f"{row.code:<16} {row.type:<14} {row.name}" + (f"  [{', '.join(place)}]" if place else "")
                  + (f"  ({', '.join(ended)})" if ended else ""))
        return 0

    return await with_parts(settings, work)


async def cmd_invite(settings: Settings, args: argparse.Namespace) -> int:
    """xtt invite leader|officer --commune CODE | agency --commune CODE --agency ID | official | list | revoke ID."""
    async def work(parts: app.Parts) -> int:
        now = datetime.now(UTC)
        if args.role == "list":
            for i in await invites.listing(parts.db, now):
                print(f"{i.id}  {i.role:<16} {i.commune or '-':<16} {i.state:<8} expires {vn_datetime(i.expires_at)}")
            return 0
        if args.role == "revoke":
            if not args.id:
                raise UsageError("give the invite id: xtt invite revoke ID")
            done = await invites.revoke(parts.db, args.id.split("-")[0].lower(), now)
            print("revoked" if done else "no open invite with that id")
            return 0 if done else 1
        known = {row.code for row in await communes.listing(parts.db)}
        if args.role in ("leader", "officer", "agency") and args.commune not in known:
            raise UsageError(f"a {args.role} invite needs --commune CODE of a known commune; see: xtt communes list")
        role = args.role
        if role == "agency":
            agencies = [a.id for a in app.forum_rules(settings).agencies]
            if args.agency not in agencies:
                raise UsageError(f"an agency invite needs --agency ID, one of: {', '.join(agencies)} "
                                 "(conversations/data/forum.toml)")
            role = agency_role(args.agency)
        invite_id, code = parts.identity.invite_code()
        expires = now + timedelta(days=INVITE_DAYS)
        await commit(parts.db, [invites.create(invite_id, role, args.commune or "", now, expires)])
        print(f"invite code: {code}\nexpires:     {vn_datetime(expires)} (Vietnam time)")
        print(f"redeem:      send /start {code} to the bot, or just the code")
        print(f"deep link:   https://t.me/<your_bot_username>?start={code}")
        return 0

    return await with_parts(settings, work)


async def cmd_forums(settings: Settings, args: argparse.Namespace) -> int:
    """xtt forum report | held | list."""
    return await (cmd_forum if args.action == "report" else cmd_forum_record)(settings, args)


COMMANDS: dict[str, Callable[[Settings, argparse.Namespace], Awaitable[int]]] = {
    "run": cmd_run, "chat": cmd_chat, "db": cmd_db, "communes": cmd_communes, "round": cmd_round,
    "invite": cmd_invite, "score": cmd_score, "report": cmd_report, "assess": cmd_assess, "forum": cmd_forums,
    "targets": cmd_targets, "demo": cmd_demo,
    "forms": cmd_forms, "documents": cmd_documents, "alerts": cmd_alerts,
}
