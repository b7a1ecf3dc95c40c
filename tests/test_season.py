"""The season's calendar: a round's survey window, answers refused outside it, milestone reminders and /lich."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from analytics.dates import parse_day, vn_date, vn_today
from bot.calendar import calendar_reply
from bot.identity import Identity
from conversations import Catalogue
from conversations.turn import Window
from storage import calendar, repo, rounds
from storage.models import Outbox, RoleGrant
from storage.reminders import due_reminders, queue_reminders, reminder_step
from tests.conftest import SECRET
from tests.test_engine import CHILD_START, Talk
from tests.test_service import Person, make_service

TEXTS = Catalogue.load()
PLAN = calendar.load()
OPENS, CLOSES = date(2025, 3, 1), date(2025, 10, 31)


def at(day: date, hour: int = 3) -> datetime:
    """An instant on a day, in UTC."""
    return datetime(day.year, day.month, day.day, hour, tzinfo=UTC)


async def open_2025(db, opens: date | None = OPENS, closes: date | None = CLOSES) -> None:
    """Round 2025 with the shipped calendar."""
    await rounds.open_round(db, "2025", at(date(2025, 1, 2)), window=(opens, closes),
                            milestones=calendar.dated(PLAN, 2025, opens, closes))


def test_dates_are_vietnam_days_written_dd_mm_yyyy() -> None:
    late_evening_utc = datetime(2025, 2, 22, 18, 30, tzinfo=UTC)  # 01:30 on 23/02 in Vietnam
    assert vn_today(late_evening_utc) == date(2025, 2, 23) and vn_date(late_evening_utc) == "23/02/2025"
    assert parse_day("23/02/2025") == parse_day("2025-02-23") == date(2025, 2, 23)
    with pytest.raises(ValueError, match="not a date"):
        parse_day("2025/23/02")


def test_the_shipped_calendar_holds_the_plan() -> None:
    days = {m.id: m.due for m in calendar.dated(PLAN, 2025)}
    assert days["plans"] == date(2025, 2, 23) and days["dossiers"] == date(2025, 11, 15)
    assert days["recognition"] == date(2025, 11, 25) and days["report"] == date(2025, 11, 30)
    assert {"survey_opens", "survey_closes", "forum"} <= set(days)
    moved = {m.id: m.due for m in calendar.dated(PLAN, 2025, date(2025, 4, 1), date(2025, 9, 30))}
    assert (moved["survey_opens"], moved["survey_closes"]) == (date(2025, 4, 1), date(2025, 9, 30))


def test_a_broken_calendar_names_the_entry(tmp_path: Path) -> None:
    bad = tmp_path / "lich.toml"
    bad.write_text('[[milestones]]\nid = "x"\nvi = "X"\nen = "X"\ndate = "15/11"\n', encoding="utf-8")
    with pytest.raises(calendar.CalendarError, match=r"lich.toml: milestone 1 \(x\): date '15/11' must be MM-DD"):
        calendar.load(bad)


async def test_the_round_takes_answers_only_inside_its_window(db) -> None:
    await open_2025(db)
    before, inside, after = at(date(2025, 2, 28)), at(date(2025, 3, 1)), at(date(2025, 11, 1))
    assert (await repo.load_state(db, "p", None, before)).window == Window("2025", "upcoming", "2025-03-01",
                                                                           "2025-10-31")
    assert (await repo.load_state(db, "p", None, before)).round_id is None
    assert (await repo.load_state(db, "p", None, inside)).round_id == "2025"
    assert (await repo.load_state(db, "p", None, at(date(2025, 10, 31), 16))).round_id == "2025", "Vietnam's 31/10"
    assert (await repo.load_state(db, "p", None, at(date(2025, 10, 31), 17))).round_id is None, "01/11 in Vietnam"
    assert (await repo.load_state(db, "p", None, after)).window.state == "closed"
    assert await rounds.current_round(db, before) is None and await rounds.current_round(db, inside) == "2025"


async def test_the_service_refuses_a_survey_outside_the_window(db) -> None:
    await open_2025(db, opens=date(2999, 1, 1), closes=date(2999, 12, 31))
    service = make_service(db)
    child = Person(service, "500")
    replies = await child.say("/start")
    assert [r.key for r in replies] == ["round.upcoming"], "said before consent and age are asked"
    await service.close()


def test_the_engine_says_when_the_survey_opens_or_closed() -> None:
    upcoming = Talk(round_id=None, window=Window("2025", "upcoming", "2025-03-01", "2025-10-31"))
    upcoming.say("/start")
    assert upcoming.keys() == ["round.upcoming"] and "01/03/2025" in upcoming.last.replies[-1].text
    talk = Talk(round_id="2025")
    for said in [*CHILD_START, "satisfied"]:
        talk.say(said)
    talk.round_id, talk.ctx = None, {"window": Window("2025", "closed", "2025-03-01", "2025-10-31")}
    talk.say("satisfied")
    assert talk.keys() == ["round.closed"] and "31/10/2025" in talk.last.replies[0].text
    assert talk.session["survey"]["answers"], "the answers so far are kept in case the office extends the window"


def test_reminders_are_due_n_days_before() -> None:
    dossiers = next(m for m in calendar.dated(PLAN, 2025) if m.id == "dossiers")  # 15/11, reminded 7 and 1 days ahead
    assert reminder_step(dossiers, at(date(2025, 11, 7))) is None
    assert reminder_step(dossiers, at(date(2025, 11, 8))) == 7
    assert reminder_step(dossiers, at(date(2025, 11, 13))) == 7
    assert reminder_step(dossiers, at(date(2025, 11, 14))) == 1
    assert reminder_step(dossiers, at(date(2025, 11, 15))) == 1
    assert reminder_step(dossiers, at(date(2025, 11, 16))) is None


async def test_leaders_and_officials_are_reminded_once_per_step(db) -> None:
    await open_2025(db)
    service = make_service(db, frozenset({Identity(SECRET).pseudonym("telegram", "1")}))
    official, leader = Person(service, "1"), Person(service, "2")
    invite = (await official.say("/invite my-an"))[0].text
    await leader.say(f"/start {next(w for w in invite.split() if len(w) == 21 and '-' in w)}")
    await official.say("/help")  # an admin's contact is stored on any message
    await service.close()
    admin = Identity(SECRET).pseudonym("telegram", "1")
    async with db.connect() as conn:
        assert (await conn.execute(select(RoleGrant.role))).scalars().all() == ["leader"]
    week_before = at(date(2025, 11, 8))
    assert await queue_reminders(db, week_before, TEXTS, officials=[admin]) == 2, "dossiers: the leader and official"
    assert await queue_reminders(db, week_before + timedelta(hours=5), TEXTS, officials=[admin]) == 0
    day_before = at(date(2025, 11, 14))
    assert await queue_reminders(db, day_before, TEXTS, officials=[admin]) == 2
    async with db.connect() as conn:
        rows = (await conn.execute(select(Outbox.key, Outbox.payload))).all()
    keys = sorted(k.rsplit(":", 1)[0] for k, _ in rows)
    assert keys == ["milestone:2025:dossiers:1"] * 2 + ["milestone:2025:dossiers:7"] * 2
    assert any("15/11/2025" in p["text"] and "7 ngày" in p["text"] for _, p in rows)
    officials_only = at(date(2025, 11, 24))  # recognition (25/11, a day ahead) and report (30/11, a week ahead)
    assert len(await due_reminders(db, officials_only, TEXTS, officials=[admin])) == 2
    assert await queue_reminders(db, officials_only, TEXTS, officials=[admin]) == 2, "to the official alone"
    await calendar.mark_done(db, "2025", "report", date(2025, 11, 20))
    assert await due_reminders(db, at(date(2025, 11, 29)), TEXTS, officials=[admin]) == [], "report done early"


async def test_calendar_shows_what_is_due_and_what_is_late(db) -> None:
    await open_2025(db)
    await calendar.mark_done(db, "2025", "plans", date(2025, 2, 20))
    with pytest.raises(calendar.CalendarError, match="no milestone 'nope'"):
        await calendar.mark_done(db, "2025", "nope", None)
    text = (await calendar_reply(db, None, "vi", at(date(2025, 11, 17)), TEXTS))[0].text
    assert "Lịch đợt 2025 (hôm nay 17/11/2025)" in text and "đã đóng" in text
    assert "23/02/2025 · Xã gửi kế hoạch" in text and "đã xong ngày 20/02/2025" in text
    assert "15/11/2025 · Xã gửi hồ sơ đề nghị công nhận — QUÁ HẠN 2 ngày" in text
    assert "30/11/2025 · Báo cáo kết quả lên tỉnh — còn 13 ngày" in text
    assert "31/10/2025 · Đóng khảo sát tiêu chí 13 — đã qua" in text, "the window's ends are events, never late"
    leader = (await calendar_reply(db, {"my-an"}, "en", at(date(2025, 11, 17)), TEXTS))[0].text
    assert "Communes send their recognition dossiers" in leader and "Report to the province" not in leader
    assert {r.key for r in await calendar_reply(db, None, "vi", at(date(2025, 11, 17)), TEXTS)} == {"calendar"}


def test_cli_round_with_a_window_and_its_calendar(xtt) -> None:
    code, out, _ = xtt("round", "open", "2025", "--opens", "01/03/2025", "--closes", "2025-10-31")
    assert code == 0 and "from 01/03/2025 to 31/10/2025" in out and "7 milestones from calendar.toml" in out
    assert "survey 01/03/2025–31/10/2025" in xtt("round", "list")[1]
    assert xtt("round", "done", "plans", "--on", "20/02/2025")[1] == "plans of round 2025: done 20/02/2025\n"
    calendar_text = xtt("round", "calendar", "2025")[1]
    assert "Lịch đợt 2025" in calendar_text and "23/02/2025 · Xã gửi kế hoạch" in calendar_text
    assert "đã xong ngày 20/02/2025" in calendar_text
    assert "has no milestone 'nope'" in xtt("round", "done", "nope")[2]
    xtt("round", "close", "2025")
    code, _, err = xtt("round", "open", "2026", "--opens", "31/10/2026", "--closes", "01/03/2026")
    assert code == 2 and err == "xtt: the survey closes (01/03/2026) before it opens (31/10/2026)\n"
