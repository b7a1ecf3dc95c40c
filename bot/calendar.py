"""`/lich` (`/calendar`): the open round's survey window and milestones, what is due and what is late."""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncEngine

from analytics.dates import vn_date, vn_today
from conversations import Catalogue, Reply
from storage.calendar import milestones
from storage.rounds import RoundInfo, latest_round, list_rounds, open_info


async def calendar_reply(db: AsyncEngine, person_scope: Collection[str] | None, lang: str, now: datetime,
                         texts: Catalogue, round_id: str | None = None) -> list[Reply]:
    """The calendar of a round (default: the open, else the latest); leaders (a scope) see the leaders' milestones."""
    info = None if round_id else await open_info(db)
    if info is None:
        wanted = round_id or await latest_round(db)
        info = next((r for r in await list_rounds(db) if r.id == wanted), None)
    if info is None:
        return [Reply(texts.get(lang, "round.none"), key="round.none")]
    today = vn_today(now)
    lines = [texts.get(lang, "calendar.title", round=info.id, today=vn_date(today)), _window(info, now, lang, texts)]
    role = "official" if person_scope is None else "leader"
    shown = [m for m in await milestones(db, info.id) if role in m.audience]
    for m in shown:
        left = (m.due - today).days
        if m.done_on is not None:
            key, values = "calendar.done", {"done": vn_date(m.done_on)}
        elif left < 0:
            key, values = ("calendar.passed", {}) if m.kind == "event" else ("calendar.late", {"days": -left})
        elif left == 0:
            key, values = "calendar.due_today", {}
        else:
            key, values = "calendar.due", {"days": left}
        lines.append(texts.get(lang, key, name=m.name(lang), date=vn_date(m.due), **values))
    if not shown:
        lines.append(texts.get(lang, "calendar.empty"))
    late = sum(1 for m in shown if m.done_on is None and m.kind == "task" and m.due < today)
    if late:
        lines.append(texts.get(lang, "calendar.late_count", count=late))
    return [Reply("\n".join(lines), key="calendar")]


def _window(info: RoundInfo, now: datetime, lang: str, texts: Catalogue) -> str:
    """One line on whether the survey takes answers today, with its days."""
    state = info.window_state(now)
    if not info.opens and not info.closes:
        return texts.get(lang, f"calendar.window_{state}_undated")
    return texts.get(lang, f"calendar.window_{state}", opens=vn_date(info.opens), closes=vn_date(info.closes))
