"""The season's calendar: the milestones file, a round's milestones in the database, and marking them done."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncEngine

from conversations.datafile import DataFileError, read_toml
from storage.models import Milestone, Round

DEFAULT = Path(__file__).parent / "data" / "calendar.toml"
AUDIENCES = ("leader", "official")
MONTH_DAY = re.compile(r"^(\d{2})-(\d{2})$")
ID = re.compile(r"^[a-z0-9_-]{1,40}$")


class CalendarError(DataFileError):
    """A calendar file or a milestone command is wrong; the message names the file or entry and the fix."""


@dataclass(frozen=True, slots=True)
class Planned:
    """A milestone as the calendar file gives it: month and day, and whether it is an end of the survey window."""

    id: str
    vi: str
    en: str
    month_day: str
    audience: tuple[str, ...]
    remind_days: tuple[int, ...]
    window: str | None = None


@dataclass(frozen=True, slots=True)
class Dated:
    """A milestone of one round, with its day."""

    id: str
    vi: str
    en: str
    due: date
    audience: tuple[str, ...]
    remind_days: tuple[int, ...]
    done_on: date | None = None
    kind: str = "task"

    def name(self, lang: str) -> str:
        """The milestone's name in a language."""
        return self.en if lang == "en" else self.vi

    def row(self) -> dict[str, Any]:
        """The values of its database row, without the round."""
        return {"id": self.id, "name_vi": self.vi, "name_en": self.en, "due": self.due.isoformat(),
                "audience": ",".join(self.audience), "remind_days": list(self.remind_days),
                "kind": self.kind,
                "done_on": None if self.done_on is None else self.done_on.isoformat()}


def load(path: Path = DEFAULT) -> list[Planned]:
    """Read and check a calendar file."""
    where = path.name
    doc = read_toml(path, "calendar file", CalendarError)
    default_days = _days(doc.get("remind_days", [7, 1]), f"{where}: remind_days")
    result, seen = [], set()
    for n, entry in enumerate(doc.get("milestones", []), 1):
        at = f"{where}: milestone {n}"
        mid = str(entry.get("id", ""))
        if not ID.match(mid) or mid in seen:
            raise CalendarError(f"{at}: id {mid!r} must be unique and use a-z, 0-9, '_' or '-'")
        vi, en = str(entry.get("vi", "")).strip(), str(entry.get("en", "")).strip()
        if not vi or not en:
            raise CalendarError(f"{at} ({mid}): give its name in vi and en")
        day = str(entry.get("date", ""))
        matched = MONTH_DAY.match(day)
        if not matched or not _valid_month_day(int(matched[1]), int(matched[2])):
            raise CalendarError(f"{at} ({mid}): date {day!r} must be MM-DD, e.g. \"11-15\" for 15 November")
        audience = tuple(entry.get("audience", AUDIENCES))
        if not audience or set(audience) - set(AUDIENCES):
            raise CalendarError(f"{at} ({mid}): audience must list some of {', '.join(AUDIENCES)}")
        window = entry.get("window")
        if window not in (None, "opens", "closes"):
            raise CalendarError(f"{at} ({mid}): window must be \"opens\" or \"closes\"")
        days = _days(entry["remind_days"], f"{at} ({mid}): remind_days") if "remind_days" in entry else default_days
        seen.add(mid)
        result.append(Planned(mid, vi, en, day, audience, days, window))
    if not result:
        raise CalendarError(f"{where}: add at least one [[milestones]] entry")
    return result


def _valid_month_day(month: int, day: int) -> bool:
    """Whether a month and day exist in a leap year."""
    try:
        date(2024, month, day)
    except ValueError:
        return False
    return True


def _days(value: object, what: str) -> tuple[int, ...]:
    """A list of whole days, each 0 or more."""
    if not isinstance(value, list) or not all(isinstance(v, int) and not isinstance(v, bool) and v >= 0
                                              for v in value):
        raise CalendarError(f"{what} must be a list of whole days, e.g. [7, 1]")
    return tuple(sorted(set(value), reverse=True))


def season_year(round_id: str, opens: date | None, fallback: int) -> int:
    """The year a round's milestones fall in: its opening day's, else a year in its id, else the fallback."""
    if opens is not None:
        return opens.year
    found = re.match(r"^(\d{4})", round_id)
    return int(found[1]) if found else fallback


def dated(plan: Sequence[Planned], year: int, opens: date | None = None, closes: date | None = None) -> list[Dated]:
    """The plan's milestones in a year; the survey window's ends take the round's own days when given."""
    result = []
    for p in plan:
        month, day = (int(x) for x in p.month_day.split("-"))
        due = opens if p.window == "opens" and opens else closes if p.window == "closes" and closes else None
        if due is None:
            due = date(year, month, min(day, 28) if (month, day) == (2, 29) else day)
        kind = "task" if p.window is None else "event"  # the window's ends happen; nobody can be late for them
        result.append(Dated(p.id, p.vi, p.en, due, p.audience, p.remind_days, kind=kind))
    return sorted(result, key=lambda m: (m.due, m.id))


def _from_row(r: Any) -> Dated:
    """A milestone row as a value."""
    return Dated(r.id, r.name_vi, r.name_en, date.fromisoformat(r.due), tuple(a for a in r.audience.split(",") if a),
                 tuple(r.remind_days or ()), None if r.done_on is None else date.fromisoformat(r.done_on), r.kind)


async def milestones(engine: AsyncEngine, round_id: str) -> list[Dated]:
    """A round's milestones by day."""
    async with engine.connect() as conn:
        rows = await conn.execute(select(Milestone).where(Milestone.round_id == round_id)
                                  .order_by(Milestone.due, Milestone.id))
        return [_from_row(r) for r in rows]


async def mark_done(engine: AsyncEngine, round_id: str, milestone_id: str, day: date | None) -> None:
    """Record that a milestone was met on a day (None clears it)."""
    async with engine.begin() as conn:
        if (await conn.execute(select(Round.id).where(Round.id == round_id))).first() is None:
            raise CalendarError(f"there is no round {round_id}; see: xtt round list")
        done = await conn.execute(update(Milestone).where(Milestone.round_id == round_id, Milestone.id == milestone_id)
                                  .values(done_on=None if day is None else day.isoformat()))
        if not done.rowcount:
            known = (await conn.execute(select(Milestone.id).where(Milestone.round_id == round_id))).scalars()
            raise CalendarError(f"round {round_id} has no milestone {milestone_id!r}; "
                                f"its milestones: {', '.join(known) or 'none'}")
