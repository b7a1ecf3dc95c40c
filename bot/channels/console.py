"""The terminal channel: one person types, the bot answers with numbered choices."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path
from typing import TextIO

from bot.channels.base import Handler, no_webhook, numbered
from conversations import Incoming, Reply


class ConsoleChannel:
    """Reads lines from standard input and prints the replies."""

    name = "console"
    buttons = False
    edits = False
    menus = False
    route = ""
    media = None
    invite_link = ""
    webhook = staticmethod(no_webhook)

    def __init__(self, handle: Handler, user: str, stdin: TextIO | None = None, stdout: TextIO | None = None,
                 files: Path | None = None) -> None:
        self.handle = handle
        self.user = user
        self.stdin = stdin or sys.stdin
        self.stdout = stdout or sys.stdout
        self.files = files
        self._saved = 0

    async def start(self) -> None:
        """Nothing to connect."""

    async def stop(self) -> None:
        """Nothing to release."""

    async def send(self, chat_id: str, reply: Reply) -> None:
        """Print a reply (naming its person when it is not the one typing); save its file and print the path."""
        head = "" if chat_id == self.user else f"[→ {chat_id}] "
        self.stdout.write(f"\n{head}{numbered(reply)}\n")
        data = reply.image if reply.image is not None else reply.document
        if data is not None:
            self.stdout.write(f"[{self._save(reply.filename or 'tep', data)}]\n")
        self.stdout.flush()

    async def edit(self, chat_id: str, message_id: str, text: str) -> None:
        """The console prints; it cannot edit."""
        raise NotImplementedError("the console cannot edit messages")

    def _save(self, filename: str, data: bytes) -> str:
        """Write a file the bot sent under the data folder; its path, or its size without a folder."""
        if self.files is None:
            return f"{filename}: {len(data)} bytes"
        self.files.mkdir(parents=True, exist_ok=True)
        self._saved += 1
        path = self.files / f"{self._saved:03d}-{Path(filename).name}"
        path.write_bytes(data)
        return str(path)

    async def _reply(self, reply: Reply) -> None:
        """Send to the one console chat."""
        await self.send(self.user, reply)

    async def run(self, first: str = "/start") -> None:
        """Talk until end of input or /quit."""
        if first:
            await self.handle(Incoming(self.name, self.user, self.user, text=first), self._reply, None)
        while True:
            self.stdout.write("> ")
            self.stdout.flush()
            line = await asyncio.to_thread(self.stdin.readline)
            if not line or line.strip() in ("/quit", "/exit"):
                return
            if line.strip():
                await self.handle(Incoming(self.name, self.user, self.user, text=line.rstrip("\n")), self._reply,
                                  None)
