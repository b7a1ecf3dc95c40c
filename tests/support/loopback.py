"""An aiohttp application served on 127.0.0.1 with an ephemeral port: the base of every stand-in."""

from __future__ import annotations

import asyncio
from typing import Self

from aiohttp import web


class LoopbackServer:
    """Serves `self.app`; long polls wait on `self._changed` and are released on stop."""

    def __init__(self) -> None:
        self.app = web.Application()
        self._changed = asyncio.Condition()
        self._closing = False
        self._runner: web.AppRunner | None = None
        self._port = 0

    async def start(self) -> None:
        """Start serving on 127.0.0.1 with an ephemeral port."""
        self._closing = False
        self._runner = web.AppRunner(self.app, access_log=None, shutdown_timeout=1.0)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", 0).start()
        self._port = self._runner.addresses[0][1]

    async def stop(self) -> None:
        """Release pending long polls and shut the server down."""
        async with self._changed:
            self._closing = True
            self._changed.notify_all()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    @property
    def root(self) -> str:
        """Base URL of the server, e.g. http://127.0.0.1:PORT."""
        return f"http://127.0.0.1:{self._port}"
