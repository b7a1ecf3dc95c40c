"""Vietnam time (UTC+7 all year, no daylight saving) for dates people read on documents and forms."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta, timezone

VIETNAM = timezone(timedelta(hours=7), "ICT")


def local(moment: datetime) -> datetime:
    """A moment in Vietnam time (naive moments are UTC, as SQLite returns them)."""
    return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).astimezone(VIETNAM)


def start_of(day: date) -> datetime:
    """Midnight of a day in Vietnam, as an aware moment."""
    return datetime.combine(day, time(), VIETNAM)


def written(day: date, place: str) -> str:
    """The place and date line of an administrative document: 'Đồng Tháp, ngày 05 tháng 3 năm 2025'."""
    day_text = f"{day.day:02d}" if day.day < 10 else str(day.day)
    month = f"{day.month:02d}" if day.month < 3 else str(day.month)
    return f"{place}, ngày {day_text} tháng {month} năm {day.year}"

