"""The one aiohttp server: webhooks of every channel and a health check."""

from __future__ import annotations

import logging
import mimetypes
import re
import secrets
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

from aiohttp import web
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.web_site import headers

if TYPE_CHECKING:
    from bot.web_desk import Board
    from bot.web_files import Files
    from bot.web_pages import Pages
    from bot.web_site import Site

log = logging.getLogger(__name__)
Route = Callable[[web.Request], Awaitable[web.StreamResponse]]
MAX_BODY = 1 << 20
MEDIA_TTL = 3600.0
MEDIA_LIMIT = 64 << 20
SUFFIX = re.compile(r"\.[A-Za-z0-9]{1,8}$")


class Media:
    """Bytes served for about an hour at unguessable URLs, for platforms that fetch images by URL (Zalo)."""

    def __init__(self, public_url: str, ttl: float = MEDIA_TTL, limit: int = MEDIA_LIMIT,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.public_url = public_url.rstrip("/")
        self.ttl, self.limit, self.clock = ttl, limit, clock
        self._items: OrderedDict[str, tuple[bytes, str, str, float]] = OrderedDict()
        self._size = 0

    def put(self, data: bytes, filename: str) -> str:
        """Keep the bytes and return the public URL they are served at."""
        self._prune(len(data))
        match = SUFFIX.search(filename)
        name = secrets.token_urlsafe(24) + (match.group(0).lower() if match else ".bin")
        kind = mimetypes.guess_type(name)[0] or "application/octet-stream"
        self._items[name] = (data, kind, filename, self.clock() + self.ttl)
        self._size += len(data)
        return f"{self.public_url}/media/{name}"

    def _prune(self, room: int) -> None:
        """Drop expired items, and the oldest ones while the new item would not fit."""
        now = self.clock()
        while self._items:
            name, (data, _, _, expires) = next(iter(self._items.items()))
            if expires > now and self._size + room <= self.limit:
                return
            del self._items[name]
            self._size -= len(data)

    async def serve(self, request: web.Request) -> web.Response:
        """GET /media/<name>: the bytes while they live, else 404."""
        item = self._items.get(request.match_info["name"])
        if item is None or item[3] <= self.clock():
            return web.Response(status=404)
        data, kind, filename, _ = item
        headers = {"Cache-Control": "private, max-age=3600"}
        if not kind.startswith("image/"):
            ascii_name = filename.encode("ascii", "ignore").decode() or "file"
            headers["Content-Disposition"] = f'attachment; filename="{ascii_name.replace(chr(34), "")}"'
        return web.Response(body=data, content_type=kind, headers=headers)


class WebServer:
    """Serves POST /webhooks/<channel>, GET /healthz, GET /media/<name> and the office's /web/ pages."""

    def __init__(self, host: str, port: int, db: AsyncEngine) -> None:
        self.host = host
        self.port = port
        self.db = db
        self.channels: list[str] = []
        self.ready = False
        self.app = web.Application(client_max_size=MAX_BODY, middlewares=[headers])
        self.app.router.add_get("/healthz", self.healthz)
        self._runner: web.AppRunner | None = None

    def webhook(self, channel: str, handler: Route) -> None:
        """Route a channel's webhook."""
        self.app.router.add_post(f"/webhooks/{channel}", handler)

    def media(self, store: Media) -> None:
        """Serve a media store at GET /media/<name>."""
        self.app.router.add_get("/media/{name}", store.serve)

    def pages(self, site: Site, pages: Pages, board: Board, files: Files) -> None:
        """Route the office's web page under /web/ (each handler checks the visitor's role and communes)."""
        r = self.app.router
        r.add_get("/web", site.home)
        r.add_get("/web/login/{token}", site.login_page)
        r.add_post("/web/login", site.login)
        r.add_post("/web/logout", site.logout)
        r.add_get("/web/lang/{lang}", site.choose_language)
        r.add_get("/web/static/style.css", site.style)
        r.add_get("/web/", pages.overview)
        r.add_get("/web/chart/overview.png", pages.overview_chart)
        r.add_get("/web/commune/{code}", pages.commune)
        r.add_get("/web/calendar", pages.calendar)
        r.add_get("/web/proposals", board.proposals)
        r.add_post("/web/proposals/{id}", board.act_on_proposal)
        r.add_get("/web/alerts", board.alert_queue)
        r.add_post("/web/alerts/{id}", board.act_on_alert)
        r.add_get("/web/downloads", files.page)
        r.add_get("/web/download/{what}", files.download)
        r.add_post("/web/forms", files.forms)

    async def start(self) -> None:
        """Listen."""
        self._runner = web.AppRunner(self.app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self.port)
        await site.start()
        log.info("web server on http://%s:%s", self.host, self.port)

    async def stop(self) -> None:
        """Stop listening."""
        if self._runner:
            await self._runner.cleanup()

    async def healthz(self, request: web.Request) -> web.Response:
        """200 with a small status once ready and the database answers, else 503."""
        try:
            async with self.db.connect() as conn:
                await conn.execute(text("SELECT 1"))
            database = True
        except Exception:
            database = False
        ok = self.ready and database
        body = {"status": "ok" if ok else "starting", "database": database, "channels": self.channels}
        return web.json_response(body, status=200 if ok else 503)
