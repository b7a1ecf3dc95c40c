"""The small interface every channel implements."""

from __future__ import annotations

from typing import Protocol

from conversations import Reply


class Channel(Protocol):
    """A way to talk to people: started, stopped, and able to send a reply to a chat."""

    name: str

    async def start(self) -> None:
        """Begin receiving updates."""

    async def stop(self) -> None:
        """Stop receiving and release resources."""

    async def send(self, chat_id: str, reply: Reply) -> None:
        """Deliver one reply to a chat."""


def numbered(reply: Reply) -> str:
    """Render a reply as text with its choices as a numbered list, for channels without buttons."""
    lines = [reply.text]
    if reply.choices:
        lines.append("")
        lines.extend(f"{n}. {choice.label}" for n, choice in enumerate(reply.choices, 1))
    return "\n".join(lines)
