"""The durable outbox: every proactive message is queued in the database in the same transaction as its cause."""

from __future__ import annotations

import base64
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Select, String, cast, func, literal, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine
from sqlalchemy.sql import Executable

from conversations import Choice, Reply
from storage.models import Contact, Outbox
from storage.writes import Write

KINDS = ("answer", "notice", "alert", "poll", "reminder")
COLUMNS = ["key", "contact_id", "kind", "payload", "batch", "status", "attempts", "next_at", "created_at"]


def payload(text: str, choices: Sequence[tuple[str, Any]] = (), key: str = "",
            values: dict[str, Any] | None = None) -> dict[str, Any]:
    """What a queued message carries: its text, its choices as (id, label) and a catalogue key.

    With `values`, the sender renders `key` again in each recipient's language; a value or a choice label
    may be a {"vi": …, "en": …} mapping. `text` is the fallback.
    """
    body: dict[str, Any] = {"text": text, "choices": [list(c) for c in choices], "key": key}
    if values is not None:
        body["values"] = values
    return body


def enqueue(bind: AsyncEngine | AsyncConnection, key: str, persons: Select | Sequence[str], kind: str,
            body: dict[str, Any], now: datetime, batch: str | None = None) -> Executable:
    """Queue a message to each reachable contact of some persons (pseudonyms, or a SELECT of them), once per key."""
    if kind not in KINDS:
        raise ValueError(f"unknown outbox kind {kind!r}")
    chosen = persons if isinstance(persons, Select) else list(persons)
    rows = select(literal(f"{key}:").concat(cast(Contact.id, String)), Contact.id, literal(kind),
                  literal(body, Outbox.payload.type), literal(batch, String), literal("queued"), literal(0),
                  literal(now, Outbox.next_at.type), literal(now, Outbox.created_at.type)
                  ).where(Contact.person.in_(chosen), Contact.unreachable.is_(False))
    dialect = sqlite if bind.dialect.name == "sqlite" else postgresql
    return dialect.insert(Outbox.__table__).from_select(COLUMNS, rows).on_conflict_do_nothing()


async def progress(engine: AsyncEngine, batch: str) -> dict[str, int]:
    """How many messages of a batch are in each status."""
    async with engine.connect() as conn:
        rows = await conn.execute(select(Outbox.status, func.count()).where(Outbox.batch == batch)
                                  .group_by(Outbox.status))
        return {status: count for status, count in rows}


def answer(key: str, channel: str, chat_id: str, reply: Reply, now: datetime) -> Write:
    """A reply to what a person sent, queued to their chat (contact or not) with the update that caused it."""
    body: dict[str, Any] = {"text": reply.text, "choices": [[c.id, c.label] for c in reply.choices], "key": reply.key}
    for name, data in (("image", reply.image), ("document", reply.document)):
        if data is not None:
            body[name] = base64.b64encode(data).decode()
    body.update({k: v for k, v in (("filename", reply.filename), ("track", reply.track)) if v})
    if reply.menu is not None:
        body["menu"] = [list(m) for m in reply.menu]
    return Write("reply", {"key": key, "channel": channel, "chat_id": chat_id, "kind": "answer", "payload": body,
                            "status": "queued", "attempts": 0, "next_at": now, "created_at": now})


def reply_of(body: dict[str, Any], choices: tuple[Choice, ...], text: str) -> Reply:
    """The Reply a queued payload describes, with its choices and text already in the recipient's language."""
    files = {name: base64.b64decode(body[name]) if body.get(name) else None for name in ("image", "document")}
    menu = tuple(tuple(m) for m in body["menu"]) if isinstance(body.get("menu"), list) else None
    return Reply(text, choices, key=str(body.get("key") or ""), image=files["image"], document=files["document"],
                 filename=str(body.get("filename") or ""), track=str(body.get("track") or ""), menu=menu)  # type: ignore[arg-type]
