"""Safety alerts: raised in the update's transaction, acted on by the people who protect children, escalated."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Select, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine
from sqlalchemy.sql import Executable

from storage import outbox
from storage.db import aware
from storage.models import Alert, AlertEvent, RoleGrant
from storage.writes import Guard, Step

OPEN = "open"
Notice = Callable[[str], dict[str, Any]]


@dataclass(frozen=True, slots=True)
class AlertInfo:
    """An alert as the people who act on it see it: never its author."""

    id: int
    commune: str | None
    categories: tuple[str, ...]
    text: str
    source: str
    status: str
    created_at: datetime
    escalated: int


def responsible(commune: str | None) -> Select:
    """Who hears of an alert: the commune's child-protection officers and leaders, and the officials."""
    local = RoleGrant.role.in_(("leader", "officer")) & (RoleGrant.commune == commune) if commune else False
    return select(RoleGrant.person).where(or_(RoleGrant.role == "official", local))


async def receivers(engine: AsyncEngine, commune: str | None, admins: Sequence[str]) -> int:
    """How many people an alert of this commune would reach (0: nobody is told)."""
    async with engine.connect() as conn:
        found = {p for (p,) in await conn.execute(responsible(commune))}
    return len(found | set(admins))


def raise_alert(*, source: str, commune: str | None, text: str, categories: Sequence[str], author: str | None,
                now: datetime, notice: Notice, admins: Sequence[str] = ()) -> Step:
    """Store an alert and queue it to everyone responsible (opted out or not); the step gives its id."""
    async def run(conn: AsyncConnection) -> int:
        result = await conn.execute(Alert.__table__.insert().values(
            source=source, commune=commune, categories=",".join(categories)[:120], text=text, author=author,
            created_at=now, status=OPEN, escalated=0))
        alert_id = int(result.inserted_primary_key[0])
        persons = sorted({p for (p,) in await conn.execute(responsible(commune))} | set(admins))
        await conn.execute(outbox.enqueue(conn, f"alert:{alert_id}", persons, "alert", notice(str(alert_id)), now))
        return alert_id

    return Step("alert", run)


async def get(engine: AsyncEngine, alert_id: int) -> AlertInfo | None:
    """One alert."""
    async with engine.connect() as conn:
        row = (await conn.execute(select(Alert.__table__).where(Alert.id == alert_id))).first()
    return _info(row) if row is not None else None


async def listing(engine: AsyncEngine, communes: Sequence[str] | None, everything: bool = False,
                  limit: int = 50) -> list[AlertInfo]:
    """Alerts in scope (None: all), open ones unless `everything`, oldest first."""
    query = select(Alert.__table__).order_by(Alert.created_at, Alert.id).limit(limit)
    if not everything:
        query = query.where(Alert.status == OPEN)
    if communes is not None:
        query = query.where(Alert.commune.in_(list(communes)))
    async with engine.connect() as conn:
        return [_info(a) for a in await conn.execute(query)]


def act(alert_id: int, *, kind: str, status: str | None, actor: str, detail: str | None,
        now: datetime) -> list[Executable | Guard]:
    """Record an action; one that closes the alert is refused when someone closed it already."""
    items: list[Executable | Guard] = []
    if status is not None:
        before = (OPEN,) if status == "acknowledged" else (OPEN, "acknowledged")
        items.append(Guard(update(Alert).where(Alert.id == alert_id, Alert.status.in_(before))
                           .values(status=status, acted_at=now), "alerts.gone", values={"id": alert_id}))
    items.append(AlertEvent.__table__.insert().values(alert_id=alert_id, at=now, actor=actor, kind=kind,
                                                      detail=detail))
    return items


def reply_to_child(db: AsyncEngine, alert_id: int, author_of: Select, body: dict[str, Any], now: datetime
                   ) -> Executable:
    """A message to the person who wrote, found by the alert: the one who replies never learns who it is."""
    return outbox.enqueue(db, f"alert-reply:{alert_id}:{now.timestamp():.6f}", author_of, "answer", body, now)


def author(alert_id: int) -> Select:
    """The author of an alert, for the outbox only."""
    return select(Alert.author).where(Alert.id == alert_id, Alert.author.is_not(None))


async def escalate(engine: AsyncEngine, now: datetime, hours: float, admins: Sequence[str],
                   notice: Callable[[AlertInfo], dict[str, Any]]) -> int:
    """Queue open alerts nobody acknowledged within `hours` (and every `hours` after) to every official."""
    async with engine.begin() as conn:
        rows = (await conn.execute(select(Alert.__table__).where(Alert.status == OPEN))).all()
        due = [a for a in rows if aware(a.created_at) + timedelta(hours=hours * (a.escalated + 1)) <= now]
        if not due:
            return 0
        officials = sorted({p for (p,) in await conn.execute(select(RoleGrant.person).where(
            RoleGrant.role == "official"))} | set(admins))
        for alert in due:
            info = _info(alert)
            await conn.execute(outbox.enqueue(conn, f"alert-escalate:{alert.id}:{alert.escalated + 1}", officials,
                                              "alert", notice(info), now))
            await conn.execute(update(Alert).where(Alert.id == alert.id).values(escalated=Alert.escalated + 1))
            await conn.execute(AlertEvent.__table__.insert().values(alert_id=alert.id, at=now, actor="system",
                                                                    kind="escalated", detail=None))
        return len(due)


async def anyone_to_tell(engine: AsyncEngine, admins: Sequence[str]) -> bool:
    """Whether any official or child-protection officer exists to receive alerts at all."""
    if admins:
        return True
    async with engine.connect() as conn:
        found = await conn.execute(select(func.count()).select_from(RoleGrant).where(
            RoleGrant.role.in_(("official", "officer"))))
        return bool(found.scalar_one())


def _info(row: Any) -> AlertInfo:
    """Copy a row into a value."""
    return AlertInfo(row.id, row.commune, tuple(c for c in (row.categories or "").split(",") if c), row.text,
                     row.source, row.status or OPEN, aware(row.created_at), row.escalated or 0)
