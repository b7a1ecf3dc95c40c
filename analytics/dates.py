"""Dates as people in Vietnam read them: Vietnam time (UTC+07:00), written dd/mm/yyyy."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta, timezone

VN = timezone(timedelta(hours=7), "ICT")  # Asia/Ho_Chi_Minh has kept +07:00 without summer time since 1975
FORMATS = ("%d/%m/%Y", "%Y-%m-%d", "%d-%m-%Y", "%d.%m.%Y")


def vn_today(now: datetime) -> date:
    """The calendar day in Vietnam at an instant (a naive instant is taken as UTC)."""
    return (now if now.tzinfo else now.replace(tzinfo=UTC)).astimezone(VN).date()


def vn_date(value: datetime | date | str | None) -> str:
    """A day as dd/mm/yyyy: an instant in Vietnam time, a date or an ISO 'YYYY-MM-DD' as is; a dash for None."""
    if value is None:
        return "—"
    if isinstance(value, str):
        value = date.fromisoformat(value)
    if isinstance(value, datetime):
        value = vn_today(value)
    return value.strftime("%d/%m/%Y")


def vn_datetime(value: datetime) -> str:
    """An instant as dd/mm/yyyy HH:MM in Vietnam time."""
    return (value if value.tzinfo else value.replace(tzinfo=UTC)).astimezone(VN).strftime("%d/%m/%Y %H:%M")


def parse_day(text: str) -> date:
    """A day written DD/MM/YYYY or YYYY-MM-DD (also DD-MM-YYYY, DD.MM.YYYY); ValueError names the forms."""
    cleaned = text.strip()
    if re.fullmatch(r"\d{1,2}[/.-]\d{1,2}[/.-]\d{4}|\d{4}-\d{2}-\d{2}", cleaned):
        for form in FORMATS:
            try:
                return datetime.strptime(cleaned, form).date()
            except ValueError:
                continue
    raise ValueError(f"{text!r} is not a date like 23/02/2025 or 2025-02-23")


def days_until(due: date, now: datetime) -> int:
    """Whole days from today in Vietnam to a day (negative once it is past)."""
    return (due - vn_today(now)).days
