"""The children's forum report (the local answer deadline, XTT_ANSWER_DAYS), on a SQLite file and on PostgreSQL."""

from __future__ import annotations

import io
import warnings
import zipfile
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from openpyxl import load_workbook
from sqlalchemy import insert

from analytics import forum
from analytics.forum import (
    STEPS,
    OpenProposal,
    forum_chart,
    forum_figures,
    forum_workbook,
    summary,
    write_forum_report,
)
from analytics.progress import Progress
from conversations.datafile import DataFileError
from conversations.forum import load_forum
from storage import communes
from storage.models import Proposal, ProposalEvent

NOW = datetime(2025, 3, 31, 8, 0, tzinfo=UTC)
PNG = b"\x89PNG\r\n\x1a\n"
TOPICS = {"traffic": "An toàn giao thông", "bullying": "Bạo lực học đường", "play": "Sân chơi"}
SECRET_TAIL = "ĐOẠN-CUỐI-KHÔNG-ĐƯỢC-LỘ"
LONG_TEXT = ("Đường trước cổng trường bị ngập mỗi khi mưa, chúng em phải lội nước. " * 4)[:200] + SECRET_TAIL
DAY = timedelta(days=1)


def ago(days: float) -> datetime:
    """A moment some days before NOW."""
    return NOW - days * DAY


async def add(db, pid: int, commune: str, topic: str, status: str, created: datetime, *,
              answered: datetime | None = None, resolved: datetime | None = None, merged_into: int | None = None,
              round_id: str | None = "2025", text: str = "Xin thêm đèn giao thông") -> None:
    """One proposal with its events, each with a distinct author and fingerprint that must never be shown."""
    async with db.begin() as conn:
        await conn.execute(insert(Proposal).values(
            id=pid, ref=f"KN-{pid:03d}", year=created.year, seq=pid, round_id=round_id, commune=commune,
            topic=topic, text=text, publish=False, author=f"AUTHOR-SECRET-{pid}", fingerprint=f"FP-SECRET-{pid}",
            status=status, merged_into=merged_into, created_at=created, first_answer_at=answered,
            resolved_at=resolved))
        events = [(created, "child", "received")]
        events += [(answered, "leader", "answered")] if answered else []
        events += [(resolved, "leader", "resolved")] if resolved else []
        events += [(created + DAY / 2, "leader", "merged")] if merged_into else []
        for at, actor, kind in events:
            await conn.execute(insert(ProposalEvent).values(proposal_id=pid, at=at, actor=actor, kind=kind))


async def fill(db) -> None:
    """Round 2025: answered after 3 (then resolved), 10 and 20 days; unanswered at 30 and 2 days; one merged."""
    await add(db, 1, "my-an", "traffic", "resolved", ago(40), answered=ago(37), resolved=ago(35))
    await add(db, 2, "my-an", "play", "answered", ago(35), answered=ago(25))
    await add(db, 3, "my-hoa", "traffic", "answered", ago(50), answered=ago(30))
    await add(db, 4, "my-hoa", "bullying", "forwarded", ago(30), text=LONG_TEXT)
    await add(db, 5, "phu-dien", "play", "received", ago(2))
    # A duplicate of 1, merged a day later: timed under 1 (alone it would add 2 days, within 15).
    await add(db, 6, "my-an", "traffic", "merged", ago(39), merged_into=1)
    # Noise of another round, long ago and late: not selected by round 2025.
    await add(db, 7, "thanh-my", "play", "received", ago(100), round_id="2024")


async def test_counts_timing_and_open_list(db) -> None:
    await fill(db)
    f = await forum_figures(db, round_id="2025", now=NOW, topics=TOPICS)
    assert f.total == 6
    assert [c.name for c in f.communes] == [
        "Thị trấn Mỹ An", "Xã Đốc Binh Kiều", "Xã Hưng Thạnh", "Xã Láng Biển", "Xã Mỹ An", "Xã Mỹ Đông", "Xã Mỹ Hòa",
        "Xã Mỹ Quý", "Xã Phú Điền", "Xã Tân Kiều", "Xã Thạnh Lợi", "Xã Thanh Mỹ", "Xã Trường Xuân"], \
        "every current commune, with zeros, in Vietnamese order"
    assert {c.name: c.by_status for c in f.communes if c.total} == {
        "Xã Mỹ An": {"resolved": 1, "answered": 1, "merged": 1},
        "Xã Mỹ Hòa": {"answered": 1, "forwarded": 1},
        "Xã Phú Điền": {"received": 1}}
    assert [(t.key, t.name, t.by_status) for t in f.topics] == [
        ("traffic", "An toàn giao thông", {"resolved": 1, "answered": 1, "merged": 1}),
        ("bullying", "Bạo lực học đường", {"forwarded": 1}),
        ("play", "Sân chơi", {"answered": 1, "received": 1})]
    assert f.commune_topics == {("my-an", "traffic"): 2, ("my-an", "play"): 1, ("my-hoa", "traffic"): 1,
                                ("my-hoa", "bullying"): 1, ("phu-dien", "play"): 1}
    # Units: 1 (3 d, with 6 folded in), 2 (10 d), 3 (20 d), 4 (30 d, unanswered), 5 (2 d, not yet due).
    assert f.answered == 3
    assert f.median_first_answer_days == 10.0
    assert (f.answered_in_time, f.share_denominator, f.resolved_without_answer) == (2, 4, 0)
    assert f.answered_in_time_share == 0.5 and f.answer_days == 15
    excerpt = LONG_TEXT[:120].rstrip() + "…"
    assert f.open == (
        OpenProposal("KN-003", "my-hoa", "Xã Mỹ Hòa", "An toàn giao thông", 50, "answered", False,
                     "Xin thêm đèn giao thông"),
        OpenProposal("KN-002", "my-an", "Xã Mỹ An", "Sân chơi", 35, "answered", False, "Xin thêm đèn giao thông"),
        OpenProposal("KN-004", "my-hoa", "Xã Mỹ Hòa", "Bạo lực học đường", 30, "forwarded", True, excerpt),
        OpenProposal("KN-005", "phu-dien", "Xã Phú Điền", "Sân chơi", 2, "received", False,
                     "Xin thêm đèn giao thông"))
    assert (f.late, f.late_by_commune) == (1, {"my-hoa": 1})
    assert "SECRET" not in repr(f) and SECRET_TAIL not in repr(f)


async def test_period_selection_and_unknown_topic_labels(db) -> None:
    await fill(db)
    f = await forum_figures(db, since=ago(45), until=ago(3), now=NOW, topics={})
    # Selected: 1, 2, 4 and 6 (3 is older, 5 newer, 7 older); units 1 (3 d), 2 (10 d), 4 (late).
    assert f.total == 4
    assert (f.answered, f.median_first_answer_days) == (2, 6.5)
    assert (f.answered_in_time, f.share_denominator) == (2, 3)
    assert [p.ref for p in f.open] == ["KN-002", "KN-004"]
    assert [t.name for t in f.topics if t.total] == ["bullying", "play", "traffic"], "ids when no labels"
    assert f.label == "2025-02-14_2025-03-28"
    assert f.scope == "từ 14/02/2025 15:00 đến trước 28/03/2025 15:00"  # Vietnam time since the season branch


async def test_merge_chains_count_under_their_final_target(db) -> None:
    await add(db, 1, "my-an", "traffic", "answered", ago(60), answered=ago(55), round_id="2024")
    await add(db, 2, "my-an", "traffic", "merged", ago(20), merged_into=1)
    await add(db, 3, "my-hoa", "traffic", "merged", ago(18), merged_into=2)
    f = await forum_figures(db, round_id="2025", now=NOW, topics=TOPICS)
    assert f.total == 2 and f.open == ()
    assert {c.key: c.by_status for c in f.communes if c.total} == {"my-an": {"merged": 1}, "my-hoa": {"merged": 1}}
    assert (f.answered, f.median_first_answer_days, f.answered_in_time, f.share_denominator) == (1, 5.0, 1, 1)


async def test_deadline_boundaries(db) -> None:
    await add(db, 1, "my-an", "play", "answered", ago(20), answered=ago(5))  # exactly 15 days: in time
    await add(db, 2, "my-an", "play", "received", ago(15))  # exactly 15 days old: due, not yet late
    await add(db, 3, "my-an", "play", "forwarded", ago(16), answered=NOW + DAY)  # answered after `now`: late
    await add(db, 4, "my-an", "play", "resolved", ago(30), resolved=ago(10))  # resolved, no answer recorded
    f = await forum_figures(db, round_id="2025", now=NOW, topics=TOPICS)
    assert (f.answered, f.answered_in_time, f.share_denominator) == (1, 1, 4), \
        "resolved without an answer is not answered: it stays in the denominator, never in the numerator"
    assert f.resolved_without_answer == 1 and f.resolved_without_answer_by_commune == {"my-an": 1}
    assert f.median_first_answer_days == 15.0, "the median counts real answers only"
    assert [(p.ref, p.age_days, p.late) for p in f.open] == [("KN-001", 20, False), ("KN-003", 16, True),
                                                                ("KN-002", 15, False)]


@pytest.fixture
def no_topics_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """No topic labels: the report shows the topic ids."""
    monkeypatch.setattr(forum, "topic_labels", lambda: {})


def _xlsx_text(data: bytes) -> str:
    """Every XML part of a workbook, decompressed, as one text."""
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        return "".join(archive.read(name).decode("utf-8") for name in archive.namelist())


async def test_report_files_workbook_summary_and_anonymity(db, tmp_path: Path, no_topics_file: None) -> None:
    await fill(db)
    stream = io.StringIO()
    paths = await write_forum_report(db, tmp_path / "out", round_id="2025", now=NOW,
                                     progress=Progress(STEPS, "forum", stream))
    assert [p.name for p in paths] == ["dien-dan-2025.xlsx", "dien-dan-2025.png", "dien-dan-2025.md"]
    assert len(stream.getvalue().splitlines()) == STEPS
    book_bytes, md = paths[0].read_bytes(), paths[2].read_text(encoding="utf-8")
    for secret in ("AUTHOR-SECRET", "FP-SECRET", SECRET_TAIL):
        assert secret not in _xlsx_text(book_bytes) and secret not in md
    assert paths[1].read_bytes()[:8] == PNG
    book = load_workbook(io.BytesIO(book_bytes))
    assert book.sheetnames == ["Tổng hợp", "Theo chủ đề", "Đang mở"]
    summary = {row[0]: row[1] for row in book["Tổng hợp"].iter_rows(min_row=5, max_row=12, values_only=True)}
    assert summary["Tổng số kiến nghị"] == 6
    assert summary["Thời gian trả lời đầu tiên — trung vị (ngày)"] == 10
    assert summary["Tỷ lệ trả lời trong 15 ngày"] == 0.5
    assert summary["Giải quyết mà không có trả lời"] == 0
    assert summary["Mẫu số của tỷ lệ"] == 4 and summary["Quá hạn"] == 1
    assert "chuẩn địa phương" in book["Tổng hợp"]["A2"].value and "Thông tư 29" in book["Tổng hợp"]["A2"].value
    rows = list(book["Tổng hợp"].iter_rows(min_row=15, values_only=True))
    assert rows[0] == ("Mã xã", "Tên xã", "Đã tiếp nhận", "Đã chuyển cơ quan", "Đã trả lời", "Đã giải quyết",
                       "Đã gộp", "Tổng cộng", "Giải quyết mà không có trả lời", "Quá hạn")
    assert ("my-an", "Xã Mỹ An", 0, 0, 1, 1, 1, 3, 0, 0) in rows
    assert ("my-hoa", "Xã Mỹ Hòa", 0, 1, 1, 0, 0, 2, 0, 1) in rows
    assert rows[-1] == (None, "Tổng cộng", 1, 1, 2, 1, 1, 6, 0, 1)
    opened = book["Đang mở"]
    listed = [r for r in opened.iter_rows(min_row=5, values_only=True)]
    assert [r[:6] for r in listed] == [("KN-003", "Xã Mỹ Hòa", "traffic", 50, "Đã trả lời", "Không"),
                                       ("KN-002", "Xã Mỹ An", "play", 35, "Đã trả lời", "Không"),
                                       ("KN-004", "Xã Mỹ Hòa", "bullying", 30, "Đã chuyển cơ quan", "Có"),
                                       ("KN-005", "Xã Phú Điền", "play", 2, "Đã tiếp nhận", "Không")]
    assert listed[2][6] == LONG_TEXT[:120].rstrip() + "…" and len(listed[2][6]) <= 121
    assert opened.cell(7, 1).fill.fgColor.rgb.endswith("F4CCCC") and opened.cell(5, 1).fill.fill_type is None
    topics = list(book["Theo chủ đề"].iter_rows(min_row=4, values_only=True))
    assert topics[0][:2] == ("Mã chủ đề", "Chủ đề")
    assert topics[1:4] == [("bullying", "bullying", 0, 1, 0, 0, 0, 1), ("play", "play", 1, 0, 1, 0, 0, 2),
                           ("traffic", "traffic", 0, 0, 1, 1, 1, 3)], "ids in order when no labels are known"
    assert topics[4] == (None, "Tổng cộng", 1, 1, 2, 1, 1, 6)
    assert topics[7][:6] == ("Mã xã", "Tên xã", "bullying", "play", "traffic", "Tổng cộng")
    assert ("my-an", "Xã Mỹ An", 0, 1, 2, 3, None, None) in topics
    assert topics[-1][:6] == (None, "Tổng cộng", 1, 2, 3, 6)
    assert "10 ngày" in md and "50% (2/4)" in md and "mẫu số: 4" in md and "| KN-004 | Xã Mỹ Hòa |" in md


async def test_empty_period_writes_every_file(db, tmp_path: Path, no_topics_file: None) -> None:
    await fill(db)
    since, until = datetime(2030, 1, 1, tzinfo=UTC), datetime(2030, 2, 1, tzinfo=UTC)
    f = await forum_figures(db, since=since, until=until, now=NOW)
    assert (f.total, f.answered, f.share_denominator, f.open) == (0, 0, 0, ())
    assert f.median_first_answer_days is None and f.answered_in_time_share is None
    assert len(f.communes) == 13 and all(c.total == 0 for c in f.communes) and f.topics == ()
    paths = await write_forum_report(db, tmp_path, since=since, until=until, now=NOW)
    assert [p.name for p in paths] == ["dien-dan-2030-01-01_2030-02-01.xlsx", "dien-dan-2030-01-01_2030-02-01.png",
                                       "dien-dan-2030-01-01_2030-02-01.md"]
    _valid_png(paths[1].read_bytes())
    book = load_workbook(paths[0])
    assert book.sheetnames == ["Tổng hợp", "Theo chủ đề", "Đang mở"]
    assert [book["Tổng hợp"].cell(r, 2).value for r in (5, 6, 7, 9)] == [0, "—", "—", 0]
    assert book["Đang mở"]["A5"].value == "Không có kiến nghị nào đang mở."
    md = paths[2].read_text(encoding="utf-8")
    assert "Chưa có kiến nghị nào" in md and md.count("chưa tính được") == 2


def test_report_labels() -> None:
    assert forum.report_label() == "tat-ca"
    assert forum.report_label("2025/A b") == "2025-A-b"
    assert forum.report_label(since=datetime(2025, 1, 1)) == "tu-2025-01-01"
    assert forum.report_label("2025", until=datetime(2025, 7, 1)) == "2025_truoc-2025-07-01"


def test_topic_labels_come_from_the_forum_rules(tmp_path: Path) -> None:
    assert forum.topic_labels()["traffic"] == load_forum().topic("traffic").label.vi
    path = tmp_path / "forum.toml"
    path.write_text('[[topics]]\nid = "traffic"\nlabel.vi = "An toàn giao thông"\nlabel.en = "Road safety"\n\n'
                    '[[topics]]\nid = "play"\nlabel.vi = "Vui chơi"\n\n[[agencies]]\nid = "school"\n'
                    'label.vi = "Trường học"\n', encoding="utf-8")
    assert forum.topic_labels(load_forum(path)) == {"traffic": "An toàn giao thông", "play": "Vui chơi"}
    path.write_text("[[topics]\n", encoding="utf-8")
    with pytest.raises(DataFileError, match=r"forum\.toml: file: it is not valid TOML"):
        load_forum(path)


def _valid_png(data: bytes) -> tuple[int, ...]:
    """The image's shape, after checking it is a PNG matplotlib can read."""
    from matplotlib.image import imread

    assert data[:8] == PNG
    image = imread(io.BytesIO(data), format="png")
    assert image.shape[0] > 200 and image.shape[1] > 600
    return image.shape


async def test_chart_is_a_clean_fast_png_with_30_communes(db, capsys: pytest.CaptureFixture[str]) -> None:
    await fill(db)
    small = forum_chart(await forum_figures(db, round_id="2025", now=NOW, topics=TOPICS), "Thử")
    await communes.store(db, [communes.CommuneRow(f"xa-{k:02d}", f"Xã Thử Nghiệm Số {k:02d}", "standard")
                              for k in range(17)])
    for k in range(17):
        await add(db, 100 + k, f"xa-{k:02d}", "play", ("received", "answered", "resolved")[k % 3], ago(k + 1),
                  answered=ago(k / 2) if k % 3 else None)
    f = await forum_figures(db, round_id="2025", now=NOW, topics=TOPICS)
    assert len(f.communes) == 30
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        png = forum_chart(f, f.title)  # its render time is measured by bench/score, not here
        book = forum_workbook(f, f.title)
    assert not [w for w in caught if "missing from font" in str(w.message)], [str(w.message) for w in caught]
    assert _valid_png(png)[0] > _valid_png(small)[0], "the chart grows with the communes listed"
    assert load_workbook(io.BytesIO(book))["Tổng hợp"].max_row == 15 + 30 + 1


async def test_resolved_without_an_answer_is_its_own_figure_everywhere(db, tmp_path: Path) -> None:
    await add(db, 1, "my-an", "play", "resolved", ago(30), resolved=ago(29))  # closed the next day, never answered
    await add(db, 2, "my-an", "play", "resolved", ago(30), answered=ago(20), resolved=ago(19))
    await add(db, 3, "my-hoa", "play", "resolved", ago(3), resolved=ago(2))  # not due, yet resolved: counted apart
    f = await forum_figures(db, round_id="2025", now=NOW, topics={})
    assert (f.answered, f.answered_in_time, f.share_denominator, f.resolved_without_answer) == (1, 1, 2, 2)
    assert f.answered_in_time_share == 0.5, "a proposal closed with no answer is not 'answered in time'"
    data = f.as_json()
    assert (data["answered_in_time"], data["answered_in_time_share"], data["resolved_without_answer"]) == (1, 0.5, 2)
    assert data["answer_days"] == 15 and "local standard" in data["answer_days_basis"]
    assert not any("15_days" in key for key in data), "field names say what they count, not a fixed 15"
    assert {c["code"]: c["resolved_without_answer"] for c in data["communes"] if c["total"]} == {"my-an": 1,
                                                                                                  "my-hoa": 1}
    paths = await write_forum_report(db, tmp_path, round_id="2025", now=NOW)
    md = paths[2].read_text(encoding="utf-8")
    assert "**Giải quyết mà không có trả lời:** 2." in md and "50% (1/2)" in md
    assert "chuẩn địa phương, không phải quy định của Thông tư 29/2019" in md


async def test_the_answer_deadline_is_the_setting_not_a_constant(db) -> None:
    await add(db, 1, "my-an", "play", "answered", ago(30), answered=ago(18))  # 12 days
    await add(db, 2, "my-an", "play", "received", ago(12))
    ten = await forum_figures(db, round_id="2025", now=NOW, topics={}, answer_days=10)
    fifteen = await forum_figures(db, round_id="2025", now=NOW, topics={}, answer_days=15)
    assert (ten.answered_in_time, ten.share_denominator, ten.late) == (0, 2, 1)
    assert (fifteen.answered_in_time, fifteen.share_denominator, fifteen.late) == (1, 1, 0)
    assert "Tỷ lệ trả lời trong 10 ngày:** 0% (0/2)" in summary(ten) and "10 ngày (chuẩn địa phương" in summary(ten)


def test_the_forum_file_keeps_circular_29s_report_days_and_refuses_answer_days(tmp_path: Path) -> None:
    assert load_forum().report_days == 15
    path = tmp_path / "forum.toml"
    base = ('[[topics]]\nid = "play"\nlabel.vi = "Vui chơi"\n\n[[agencies]]\nid = "school"\n'
            'label.vi = "Trường học"\n')
    path.write_text("report_days = 20\n" + base, encoding="utf-8")
    assert load_forum(path).report_days == 20
    path.write_text("answer_days = 10\n" + base, encoding="utf-8")
    with pytest.raises(DataFileError, match="XTT_ANSWER_DAYS"):
        load_forum(path)


def test_forum_report_json_from_the_command_line(xtt, monkeypatch: pytest.MonkeyPatch) -> None:
    import json

    code, out, _ = xtt("forum", "report", "--json")
    data = json.loads(out)
    assert code == 0 and data["total"] == 0 and data["answer_days"] == 15
    assert {"answered_in_time", "answered_in_time_share", "resolved_without_answer", "share_denominator"} <= set(data)
    monkeypatch.setenv("XTT_ANSWER_DAYS", "7")
    assert json.loads(xtt("forum", "report", "--json")[1])["answer_days"] == 7
    code, _, err = xtt("forum", "report")
    assert code == 2 and "--out" in err
