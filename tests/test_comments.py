"""Survey comments in the commune's report (summary and Word results report): no identity, none below five
respondents, never one the safety screen flags."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from docx import Document

from analytics import load_rubric
from analytics.assess import load_criteria
from analytics.comments import survey_comments
from analytics.document_set import write_documents
from analytics.documents import Letterhead
from analytics.report import write_report
from conversations import load_flows
from storage import repo
from storage.writes import run
from tests.test_documents import text_of
from tests.test_report import fill

DANGER = "Dượng hay đánh em mỗi tối, em sợ lắm"
WISH = "Xin xã làm thêm đèn ở đường ra bến đò"
FLOWS = load_flows().questionnaires


async def add_comments(db) -> None:
    """Two more submitted children's responses of my-an: one asks for lights, one discloses danger."""
    statements = []
    for rid, comment in (("c1", WISH), ("c2", DANGER)):
        statements.append(repo.start_response({
            "id": rid, "round_id": "2024", "commune": "my-an", "group": "child", "age_band": "10-12",
            "version": "1", "submitted": False, "started_on": "2024-11-05"}))
        statements.append(repo.save_answer(rid, "comment", None, None, comment))
        statements.append(repo.submit(rid, "2024-11-07"))
    async with db.begin() as conn:
        await run(conn, [statements])


async def test_comments_are_screened_and_suppressed_below_five(db) -> None:
    await fill(db)  # my-an: 11 respondents, my-hoa: 3, each commenting "Xin thêm sân chơi"
    await add_comments(db)
    found = await survey_comments(db, "2024")
    my_an, my_hoa = found["my-an"], found["my-hoa"]
    assert (my_an.respondents, my_an.withheld, my_an.suppressed) == (13, 1, False)
    assert WISH in my_an.shown and DANGER not in my_an.shown and my_an.shown.count("Xin thêm sân chơi") == 11
    assert list(my_an.shown) == sorted(my_an.shown), "alphabetical, so the order tells nothing of who or when"
    assert (my_hoa.respondents, my_hoa.shown, my_hoa.suppressed) == (3, (), True)
    assert "thanh-my" not in found, "an unfinished response is no respondent and its comment is not shown"


async def test_the_summary_and_the_word_report_carry_the_comments(db, tmp_path: Path) -> None:
    await fill(db)
    await add_comments(db)
    rubric = load_rubric()
    paths = await write_report(db, "2024", rubric, FLOWS, tmp_path / "bao-cao")
    summary = paths[-1].read_text(encoding="utf-8")
    part = summary.split("## Ý kiến góp ý trong phiếu", 1)[1].split("\n## ", 1)[0]
    assert "### Xã Mỹ An" in part and f"“{WISH}”" in part and DANGER not in summary
    assert "1 ý kiến có dấu hiệu trẻ em gặp nguy hiểm không đưa vào báo cáo" in part
    hoa = part.split("### Xã Mỹ Hòa", 1)[1]
    assert "dưới 5 người trả lời" in hoa and "Xin thêm sân chơi" not in hoa
    head = Letterhead("ỦY BAN NHÂN DÂN TỈNH ĐỒNG THÁP", "Đồng Tháp", datetime(2024, 11, 20).date())
    docs = await write_documents(db, "2024", rubric, load_criteria(), FLOWS, tmp_path / "van-ban", head,
                                 now=datetime(2024, 11, 20, tzinfo=UTC), answer_days=15)
    by_name = {p.name: p for p in docs}
    my_an = text_of(Document(by_name["my-an-ket-qua-tieu-chi-13-2024.docx"]))
    my_hoa = text_of(Document(by_name["my-hoa-ket-qua-tieu-chi-13-2024.docx"]))
    assert "Ý kiến góp ý trong phiếu" in my_an and f"“{WISH}”" in my_an and DANGER not in my_an
    assert "dưới 5 người trả lời" in my_hoa and "Xin thêm sân chơi" not in my_hoa
