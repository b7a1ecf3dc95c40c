"""Row writes of the conversation hot path: named statement shapes built once, run as executemany batches."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from functools import cache
from typing import Any

from sqlalchemy import Table, bindparam, delete, func, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine
from sqlalchemy.sql import Executable

from storage.models import (
    Answer,
    Consent,
    Contact,
    Inbox,
    Outbox,
    Participation,
    ProcessedUpdate,
    Respondent,
    Response,
    Session,
)


@dataclass(frozen=True, slots=True)
class Write:
    """One row write: the name of its statement shape and its parameters."""

    name: str
    params: dict[str, Any]


@dataclass(frozen=True, slots=True)
class Step:
    """A write that must read inside the transaction (a next number, a guard); its result is kept as `name`."""

    name: str
    run: Callable[[AsyncConnection], Awaitable[Any]]


class Refused(Exception):
    """A guarded write found the world changed: the unit is dropped and `key` tells the person why."""

    def __init__(self, key: str, **values: Any) -> None:
        super().__init__(key)
        self.key = key
        self.values = values


@dataclass(frozen=True, slots=True)
class Guard:
    """A statement that must change exactly `rows` rows, else the unit is refused with `key`."""

    statement: Executable
    key: str
    rows: int = 1
    values: dict[str, Any] = field(default_factory=dict)


Item = Write | Step | Guard | Executable


def _upsert(dialect: str, table: Table, keys: tuple[str, ...], columns: tuple[str, ...]) -> Executable:
    """INSERT … ON CONFLICT (keys) DO UPDATE the other columns."""
    insert = (sqlite if dialect == "sqlite" else postgresql).insert(table)
    return insert.on_conflict_do_update(index_elements=list(keys), set_={c: insert.excluded[c] for c in columns})


def _handled(dialect: str) -> Executable:
    """Store an update handed on before it was stored as done, or finish its row stored meanwhile."""
    insert = (sqlite if dialect == "sqlite" else postgresql).insert(Inbox.__table__)
    return insert.on_conflict_do_update(
        index_elements=["key"], where=Inbox.__table__.c.status == "queued",
        set_={"status": "done", "done_at": insert.excluded.done_at, "claimed_by": None, "claimed_until": None,
              "data": {}})


def _ignore(dialect: str, table: Table) -> Executable:
    """INSERT … ON CONFLICT DO NOTHING."""
    return (sqlite if dialect == "sqlite" else postgresql).insert(table).on_conflict_do_nothing()


def _submit(dialect: str) -> Executable:
    """Lock a response and fix its totals from its answers."""
    mine = Answer.response_id == bindparam("rid")
    return update(Response).where(Response.id == bindparam("rid")).values(
        submitted=True, submitted_on=bindparam("day"),
        answers_scored=select(func.count(Answer.satisfied)).where(mine).scalar_subquery(),
        answers_satisfied=select(func.coalesce(func.sum(Answer.satisfied), 0)).where(mine).scalar_subquery())


# Shapes in the order a batch runs them: each unit lists its writes in this order too, so a row a unit
# needs (a response before its answers) exists when the grouped statement for the next shape runs.
SHAPES: dict[str, Callable[[str], Executable]] = {
    "inbox": lambda d: _ignore(d, Inbox.__table__),
    "inbox_handled": _handled,
    "processed": lambda d: ProcessedUpdate.__table__.insert(),  # a second time is an error: the dedupe guard
    "inbox_done": lambda d: update(Inbox).where(Inbox.key == bindparam("k"), Inbox.status == "queued").values(
        status=bindparam("s"), done_at=bindparam("at"), claimed_by=None, claimed_until=None, data={}),
    "profile": lambda d: _upsert(d, Respondent.__table__, ("key",), (
        "group", "age_band", "commune", "consent", "consent_version", "consent_purpose", "consent_at", "lang")),
    "consent": lambda d: _upsert(d, Consent.__table__, ("person", "purpose"), ("given_by", "version", "at")),
    "contact": lambda d: _upsert(d, Contact.__table__, ("channel", "chat_id"), ("person", "lang")),
    "reachable": lambda d: update(Contact).where(
        Contact.channel == bindparam("ch"), Contact.chat_id == bindparam("chat"), Contact.unreachable.is_(True),
    ).values(unreachable=False),
    "response": lambda d: _ignore(d, Response.__table__),
    "answer": lambda d: _upsert(d, Answer.__table__, ("response_id", "question"), ("option", "satisfied", "text")),
    "answer_clear": lambda d: delete(Answer).where(Answer.response_id == bindparam("rid"),
                                                   Answer.question == bindparam("q")),
    "submit": _submit,
    "participate": lambda d: Participation.__table__.insert(),
    "session": lambda d: _upsert(d, Session.__table__, ("person",), ("data", "updated_at", "commune", "open_round")),
    "session_delete": lambda d: delete(Session).where(Session.person == bindparam("person")),
    "reply": lambda d: _ignore(d, Outbox.__table__),
}
ORDER = {name: n for n, name in enumerate(SHAPES)}


@cache
def shape(dialect: str, name: str) -> Executable:
    """The statement of a shape for a dialect, built once."""
    return SHAPES[name](dialect)


async def run(conn: AsyncConnection, units: Sequence[Sequence[Item]]) -> list[dict[str, Any]]:
    """Run units in one transaction: writes grouped by shape (one executemany each), then the rest in order.

    Returns each unit's step results by name. A guard that changes another number of rows raises Refused,
    which rolls the whole transaction back.
    """
    grouped: dict[str, list[dict[str, Any]]] = {}
    others: list[tuple[int, Item]] = []
    for n, unit in enumerate(units):
        for item in unit:
            if isinstance(item, Write):
                grouped.setdefault(item.name, []).append(item.params)
            else:
                others.append((n, item))
    for name in sorted(grouped, key=ORDER.__getitem__):
        await conn.execute(shape(conn.dialect.name, name), grouped[name])
    results: list[dict[str, Any]] = [{} for _ in units]
    for n, item in others:
        if isinstance(item, Step):
            results[n][item.name] = await item.run(conn)
        elif isinstance(item, Guard):
            changed = await conn.execute(item.statement)
            if changed.rowcount != item.rows:
                raise Refused(item.key, **item.values)
        else:
            await conn.execute(item)
    return results


async def commit(engine: AsyncEngine, unit: Sequence[Item]) -> dict[str, Any]:
    """Run one unit in its own transaction and return its step results (for the CLI and tests)."""
    async with engine.begin() as conn:
        (result,) = await run(conn, [unit])
    return result
