"""The terminal channel: one person types, the bot answers with numbered choices."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Awaitable, Callable
from typing import TextIO

from bot.channels.base import numbered
from conversations import Incoming, Reply

Handler = Callable[[Incoming, Callable[[Reply], Awaitable[None]]], Awaitable[None]]


class ConsoleChannel:
    """Reads lines from standard input and prints the replies."""

    name = "console"

    def __init__(self, handle: Handler, user: str, stdin: TextIO | None = None, stdout: TextIO | None = None) -> None:
        self.handle = handle
        self.user = user
        self.stdin = stdin or sys.stdin
        self.stdout = stdout or sys.stdout

    async def start(self) -> None:
        """Nothing to connect."""

    async def stop(self) -> None:
        """Nothing to release."""

    async def send(self, chat_id: str, reply: Reply) -> None:
        """Print a reply."""
        self.stdout.write(f"\n{numbered(reply)}\n")
        if reply.image or reply.document:
            self.stdout.write(f"[{reply.filename or 'file'}: {len(reply.image or reply.document or b'')} bytes]\n")
        self.stdout.flush()

    async def _reply(self, reply: Reply) -> None:
        """Send to the one console chat."""
        await self.send(self.user, reply)

    async def run(self, first: str = "/start") -> None:
        """Talk until end of input or /quit."""
        if first:
            await self.handle(Incoming(self.name, self.user, self.user, text=first), self._reply)
        while True:
            self.stdout.write("> ")
            self.stdout.flush()
            line = await asyncio.to_thread(self.stdin.readline)
            if not line or line.strip() in ("/quit", "/exit"):
                return
            if line.strip():
                await self.handle(Incoming(self.name, self.user, self.user, text=line.rstrip("\n")), self._reply)
