"""The composition root: builds storage, engine, service and channels from settings and runs them."""

from __future__ import annotations

import dataclasses
import logging
import sys
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy.ext.asyncio import AsyncEngine

from analytics import Rubric, load_rubric
from analytics.assess import Criteria, load_criteria
from bot import access, heap
from bot.agency import AgencyDesk
from bot.alerts import Alerts
from bot.cache import Communes
from bot.channels.base import Accept, Channel
from bot.channels.console import ConsoleChannel
from bot.desk import Desk
from bot.flood import Flood
from bot.identity import Identity
from bot.inbox import Inbox
from bot.office import Office
from bot.outreach import Outreach
from bot.reports import Reports
from bot.router import Router
from bot.screen_cache import load_screen
from bot.sender import Sender
from bot.service import Service
from bot.settings import SettingError, Settings
from bot.tracker import Tracker
from bot.web import Media, WebServer
from bot.web_auth import WebAuth
from bot.web_desk import Board
from bot.web_files import Files
from bot.web_pages import Pages
from bot.web_site import Site
from bot.worker import Worker, tracking
from bot.writer import Writer
from conversations import Catalogue, Engine, load_flows
from conversations.forum import Forum, load_forum
from conversations.model import Flows
from storage import communes, migrate, rounds
from storage.db import connect

log = logging.getLogger("xtt")


@dataclass
class Parts:
    """What every command shares: settings, database, identity and texts."""

    settings: Settings
    db: AsyncEngine
    identity: Identity
    texts: Catalogue


async def prepare(settings: Settings) -> Parts:
    """Open the database, apply migrations and load the default communes."""
    db = connect(settings.database_url)
    await migrate.upgrade(db)
    await communes.seed_default(db)
    return Parts(settings, db, Identity(settings.xtt_secret), Catalogue.load())


def build_service(parts: Parts, extra_admins: tuple[tuple[str, str], ...] = ()) -> Service:
    """Wire the engine (its flows checked now) and the service."""
    s = parts.settings
    admins = frozenset(parts.identity.pseudonym(c, u) for c, u in (*s.admins, *extra_admins))
    auth = WebAuth(parts.db, parts.identity, parts.texts, web_url(s), session_hours=s.xtt_web_session_hours,
                   admins=admins)
    engine = Engine(flows(s), parts.texts, forum_rules(s), screen=load_screen(Path(s.xtt_data_dir)))
    return assemble(engine, parts.db, parts.identity, parts.texts,
                    admins=admins, lang=s.xtt_locale, rubric=rubric(s), criteria=criteria(s),
                    remind_days=s.xtt_remind_days, office_name=s.xtt_office_name,
                    leader_live_index=s.leader_live_index, web=auth)


def web_url(settings: Settings) -> str:
    """Where people open the web page: the public root, else this server's own address when it starts."""
    s = settings
    if s.web_public_url:
        return s.web_public_url
    if s.telegram_webhook_url or s.web_port_explicit or s.zalo_oa_app_id:
        return f"http://{s.web_host}:{s.web_port}"
    return ""


def assemble(engine: Engine, db: AsyncEngine, identity: Identity, texts: Catalogue, *,
             admins: frozenset[str] = frozenset(), lang: str = "vi", clock: Callable[[], datetime] | None = None,
             rubric: Rubric | None = None, criteria: Criteria | None = None, remind_days: int = 3,
             office_name: str = "", leader_live_index: bool = False, extra: tuple[Router, ...] = (),
             web: WebAuth | None = None) -> Service:
    """The service with every feature's router; `extra` adds routers (a new feature, or a test's).

    `web` adds `/web` (login links to the office's web page); the service keeps it for the web server.
    """
    communes = Communes(db)
    commune_names = communes.names
    reports = Reports(db, texts, rubric or load_rubric(), criteria or load_criteria(), engine.flows.questionnaires,
                      office=office_name, answer_days=engine.proposals.forum.answer_days)
    forum = engine.proposals.forum
    office = Office(db, identity, texts, {}, reports, commune_names, leader_live_index, agencies=forum.agencies)
    alerts = Alerts(db, texts, engine.screen, commune_names, admins, lang)
    desk = Desk(db, texts, forum, commune_names, lang)
    routers = (desk.router(), alerts.router(), AgencyDesk(db, texts, forum, commune_names, lang).router(),
               Outreach(db, texts, commune_names, reports, remind_days).router(),
               office.router(), office.reports_router(), *((web.router(),) if web else ()), *extra)
    writer = Writer(identity, texts, engine.proposals.forum, lang, admins, engine.screen)
    service = Service(engine, db, identity, texts, routers=routers, office=office, writer=writer,
                      tracker=Tracker(db, texts), communes=communes, alerts=alerts, admins=admins, lang=lang,
                      **({"clock": clock} if clock else {}))
    service.web_auth, service.desk = web, desk
    return service


def flows(settings: Settings) -> Flows:
    """The flows in XTT_FLOWS_DIR, or the shipped ones; a mistake raises FlowError."""
    return load_flows(Path(settings.xtt_flows_dir)) if settings.xtt_flows_dir else load_flows()


def forum_rules(settings: Settings) -> Forum:
    """The forum file's rules with the answer deadline of the settings (a local standard)."""
    return dataclasses.replace(load_forum(), answer_days=settings.xtt_answer_days)


def rubric(settings: Settings) -> Rubric:
    """The rubric named in the settings, or the shipped one."""
    return load_rubric(Path(settings.xtt_rubric)) if settings.xtt_rubric else load_rubric()


def criteria(settings: Settings) -> Criteria:
    """The criteria file named in the settings, or the shipped one."""
    return load_criteria(Path(settings.xtt_criteria)) if settings.xtt_criteria else load_criteria()


def telegram_channel(parts: Parts, service: Service, accept: Accept) -> Channel:
    """Build the Telegram channel from settings."""
    from bot.channels.telegram import TelegramChannel

    s = parts.settings
    everyone = access.Person("")
    menus = {lang: list(service.menu(everyone, lang or "vi")) for lang in ("", "vi", "en")}
    return TelegramChannel(s.telegram_bot_token, s.telegram_api_url, accept,
                           webhook_url=s.telegram_webhook_url,
                           webhook_secret=s.telegram_webhook_secret or parts.identity.derived("telegram-webhook"),
                           menus=menus)


def zalo_bot_channel(parts: Parts, accept: Accept, media: Media | None) -> Channel:
    """Build the Zalo Bot Platform channel: webhook mode with a secret and a public URL, else long polling."""
    from bot.channels.zalo_bot import ZalobotChannel

    s = parts.settings
    public = s.web_public_url.rstrip("/")
    webhook = f"{public}/webhooks/zalo-bot" if public and s.zalo_bot_webhook_secret else ""
    if s.zalo_bot_webhook_secret and not public:
        log.warning("ZALO_BOT_WEBHOOK_SECRET is set without WEB_PUBLIC_URL: Zalo Bot uses long polling")
    notes = {key: parts.texts.get(s.xtt_locale, f"zalo.{key}") for key in ("image", "document", "link")}
    return ZalobotChannel(s.zalo_bot_token, s.zalo_bot_api_url, accept, webhook_url=webhook,
                          webhook_secret=s.zalo_bot_webhook_secret, media=media, notes=notes)


def zalo_oa_channel(parts: Parts, service: Service, accept: Accept) -> Channel:
    """Build the Zalo Official Account channel (webhook only) with its token store in the database."""
    from bot.channels.zalo_oa import ZaloOAChannel
    from bot.channels.zalo_oa_tokens import TokenStore
    from storage.oa_tokens import OATokenRepo

    s = parts.settings
    if not s.zalo_oa_secret_key:
        raise SettingError("ZALO_OA_SECRET_KEY is empty: without it anyone could forge signed Zalo OA events. "
                           "Copy the OA secret key from the OA's webhook page")
    tokens = TokenStore(OATokenRepo(parts.db), app_id=s.zalo_oa_app_id, app_secret=s.zalo_oa_app_secret,
                        oauth_url=s.zalo_oauth_url, first_refresh_token=s.zalo_oa_refresh_token,
                        admins=sorted(service.admins), reauth_text=parts.texts.get(s.xtt_locale, "zalo.reauth"))
    return ZaloOAChannel(s.zalo_oa_app_id, s.zalo_oa_secret_key, s.zalo_oa_api_url, tokens, accept)


async def run(settings: Settings) -> int:
    """Run every configured channel until stopped; with none, open the console chat."""
    parts = await prepare(settings)
    try:
        service = build_service(parts)
        s = settings
        if not (s.telegram_bot_token or s.zalo_bot_token or s.zalo_oa_app_id):
            return await console(parts, service, user="console")
        inbox = Inbox(parts.db, parts.identity, service.process, parts.texts, lang=s.xtt_locale,
                      flood=Flood(s.xtt_flood_rate, s.xtt_flood_burst), late_after=s.xtt_late_hours * 3600,
                      committer=service.committer)  # accepts and their processing share group commits
        media = Media(s.web_public_url) if s.web_public_url else None  # files fetched by URL
        channels: list[Channel] = []
        if s.telegram_bot_token:
            channels.append(telegram_channel(parts, service, inbox.accept))
        if s.zalo_bot_token:
            channels.append(zalo_bot_channel(parts, inbox.accept, media))
        if s.zalo_oa_app_id:
            channels.append(zalo_oa_channel(parts, service, inbox.accept))
        return await serve(parts, service, inbox, channels)
    finally:
        await parts.db.dispose()


async def serve(parts: Parts, service: Service, inbox: Inbox, channels: list[Channel]) -> int:
    """Start the channels, the inbox and the sender behind the web server, then wait for SIGTERM or SIGINT."""
    s = parts.settings
    web = None
    if s.telegram_webhook_url or s.web_public_url or s.web_port_explicit or s.zalo_oa_app_id:
        web = WebServer(s.web_host, s.web_port, parts.db)
        for channel in channels:
            if channel.route:
                web.webhook(channel.route, channel.webhook)
        if media := next((c.media for c in channels if c.media is not None), None):
            web.media(media)  # the one store of run(), shared by the channels that send files by URL
        if service.web_auth is not None:
            web_pages(web, service, s)
    sender = make_sender(parts, service, channels)
    inbox.wake_sender = sender.wake
    worker = Worker(service, inbox, sender, channels, web, stop_seconds=s.xtt_stop_seconds,
                    retention_days=s.xtt_retention_days, alert_hours=s.xtt_alert_hours,
                    answer_days=s.xtt_answer_days, escalate_days=s.xtt_escalate_days)
    started = await worker.start()
    if not started:
        await worker.stop()
        return 1
    if link := next((c.invite_link for c in started if c.invite_link), ""):
        service.office.links["telegram"] = link
    log.info("xtt ready: %s", ", ".join(c.name for c in started))
    heap.settle()
    await worker.run_until_signalled()
    return 0


def web_pages(web: WebServer, service: Service, s: Settings) -> None:
    """Route the office's web page on the server: login, overview, commune, board, alerts, calendar, downloads."""
    auth, desk = service.web_auth, service.desk
    assert auth is not None and desk is not None
    site = Site(auth, service.texts, s.xtt_locale)
    forum = service.engine.proposals.forum
    names = service.communes.names
    reports = service.office.reports

    def topic(topic_id: str, lang: str) -> str:
        found = forum.topic(topic_id)
        return found.label.get(lang) if found else topic_id

    pages = Pages(site, service.db, reports.rubric, reports.criteria, reports.questionnaires, topic,
                  live_index=s.leader_live_index)
    board = Board(site, service.db, desk, service.alerts, names, alert_hours=s.xtt_alert_hours,
                  wake=lambda: service.wake() if service.wake else None)
    files = Files(site, service.db, reports.rubric, reports.criteria, service.engine.flows, names,
                  office=s.xtt_office_name, answer_days=forum.answer_days)
    web.pages(site, pages, board, files)


def make_sender(parts: Parts, service: Service, channels: list[Channel]) -> Sender:
    """The outbox sender for the channels, woken by the service whenever it queues something."""
    s = parts.settings
    sender = Sender(parts.db, {c.name: c for c in channels}, rate=s.xtt_send_rate, per_chat=s.xtt_send_per_chat,
                    texts=parts.texts, burst=3, on_sent=tracking(service, {c.name: c for c in channels}))
    service.wake = sender.wake
    return sender


async def console(parts: Parts, service: Service, user: str, preset: tuple[tuple[str, str], ...] = ()) -> int:
    """Chat in the terminal; on a database without rounds, open one for this year first."""
    if not await rounds.list_rounds(parts.db):
        year = str(datetime.now(UTC).year)
        await rounds.open_round(parts.db, year, datetime.now(UTC))
        print(f"(First run: opened survey round {year}. Close it with: xtt round close {year})", file=sys.stderr)
    service.preset = preset
    channel = ConsoleChannel(service.handle, user, files=Path(parts.settings.xtt_data_dir) / "console")
    sender = make_sender(parts, service, [channel])  # alerts, notices and polls for the people on this console
    sender.start()
    await channel.run()
    await sender.stop()
    await service.close()
    return 0
