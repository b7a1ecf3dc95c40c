"""The one aiohttp server: webhooks of every channel and a health check."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

from aiohttp import web
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

log = logging.getLogger(__name__)
Route = Callable[[web.Request], Awaitable[web.StreamResponse]]
MAX_BODY = 1 << 20


class WebServer:
    """Serves POST /webhooks/<channel> and GET /healthz on WEB_HOST:WEB_PORT."""

    def __init__(self, host: str, port: int, db: AsyncEngine) -> None:
        self.host = host
        self.port = port
        self.db = db
        self.channels: list[str] = []
        self.ready = False
        self.app = web.Application(client_max_size=MAX_BODY)
        self.app.router.add_get("/healthz", self.healthz)
        self._runner: web.AppRunner | None = None

    def webhook(self, channel: str, handler: Route) -> None:
        """Route a channel's webhook."""
        self.app.router.add_post(f"/webhooks/{channel}", handler)

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
