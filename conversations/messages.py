"""Neutral messages between the engine, the service and the channels."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Choice:
    """A choice a person can tap or type; the id is ASCII and at most 64 bytes."""

    id: str
    label: str


@dataclass(frozen=True, slots=True)
class Reply:
    """One message to a person; channels render it the way they can.

    `track` names an outbox batch whose progress is shown by editing this message; `menu`, when not None,
    replaces the chat's command menu on channels that have one (an empty tuple restores the default).
    """

    text: str
    choices: tuple[Choice, ...] = ()
    key: str = ""
    image: bytes | None = None
    document: bytes | None = None
    filename: str = ""
    track: str = ""
    menu: tuple[tuple[str, str], ...] | None = None


@dataclass(frozen=True, slots=True)
class Incoming:
    """What a person sent, as any channel reports it."""

    channel: str
    chat_id: str
    user_id: str
    text: str | None = None
    choice_id: str | None = None
    update_key: str | None = None
    other: str = ""
    sent_at: float | None = None  # when the person sent it (Unix seconds), where the platform says
