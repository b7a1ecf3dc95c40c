"""The small interface every channel implements, and what a channel can do."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import Protocol

from aiohttp import web

from bot.web import Media
from conversations import Incoming, Reply

Send = Callable[[Reply], Awaitable[str | None]]  # returns the message id where the channel has one
Edit = Callable[[str, str], Awaitable[None]]  # (message id, new text)
Handler = Callable[[Incoming, Send, Edit | None], Awaitable[None]]  # the service answering at once (the console)
Accept = Callable[[Sequence[Incoming], Sequence[tuple[str, str]]], Awaitable[None]]  # the inbox: stored when it returns


class Channel(Protocol):
    """A way to talk to people, with the capabilities it declares.

    `buttons`: choices as buttons (else a numbered list people answer by typing); `edits`: a sent message can
    be edited (a broadcast's progress line); `menus`: a command menu per chat; `route`: the path under
    `/webhooks/` its platform posts to (empty: none); `media`: where files are kept to be sent as links served
    from `/media/` (None: files are sent as files, or not at all); `invite_link`: a deep link with `{code}`
    for invites (empty: none).
    """

    name: str
    buttons: bool
    edits: bool
    menus: bool
    route: str
    media: Media | None
    invite_link: str

    async def start(self) -> None:
        """Begin receiving updates."""

    async def stop(self) -> None:
        """Stop receiving and release resources."""

    async def send(self, chat_id: str, reply: Reply) -> str | None:
        """Deliver one reply to a chat; a refusal raises SendFailure saying whether to retry."""

    async def edit(self, chat_id: str, message_id: str, text: str) -> None:
        """Replace the text of a message the bot sent (only when `edits`)."""

    async def webhook(self, request: web.Request) -> web.StreamResponse:
        """Take one webhook call of the platform (only when `route`)."""


def numbered(reply: Reply) -> str:
    """Render a reply as text with its choices as a numbered list, for channels without buttons."""
    lines = [reply.text]
    if reply.choices:
        lines.append("")
        lines.extend(f"{n}. {choice.label}" for n, choice in enumerate(reply.choices, 1))
    return "\n".join(lines)


async def no_webhook(request: web.Request) -> web.StreamResponse:
    """The webhook of a channel that has none."""
    return web.Response(status=404)
