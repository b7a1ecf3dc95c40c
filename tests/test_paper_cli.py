"""Paper questionnaires and forums held through the real `xtt` command line, on a SQLite file."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest

from analytics.formcode import ALPHABET, BASE, FormCodeError, decode, encode
from tests.support.paper import expected, fill, paper_rows, pdf_codes


def test_codes_are_distinct_and_catch_one_wrong_or_swapped_character() -> None:
    codes = [encode(n) for n in range(20_000)]
    assert len(set(codes)) == len(codes) and all(len(c) == 7 and set(c) <= set(ALPHABET) for c in codes)
    assert [decode(c) for c in codes[:500]] == list(range(500))
    assert decode(codes[42].lower()[:4] + " - " + codes[42][4:].lower()) == 42
    for code in codes[:40]:
        for i in range(7):
            for char in ALPHABET[:BASE]:
                if char != code[i]:
                    with pytest.raises(FormCodeError):
                        decode(code[:i] + char + code[i + 1:])
            swapped = code[:i] + code[i + 1:i + 2] + code[i] + code[i + 2:]
            if i < 6 and swapped != code:
                with pytest.raises(FormCodeError):
                    decode(swapped)
    for wrong in ("ABC", "0OIL123", "AAAAAAAA"):
        with pytest.raises(FormCodeError):
            decode(wrong)


def test_printed_forms_have_one_page_and_a_new_code_each(xtt, tmp_path: Path) -> None:
    code, out, err = xtt("forms", "print", "--commune", "my-an", "--count", "12", "--out", str(tmp_path / "a.pdf"))
    assert code == 0 and "24 phiếu" in out and "20/20" not in err and "24 phiếu" in err
    first = pdf_codes(tmp_path / "a.pdf")
    assert len(first) == 24 and len(set(first)) == 24
    text = __import__("pypdf").PdfReader(tmp_path / "a.pdf").pages[0].extract_text()
    assert "Xã Mỹ An" in text and "Q12" in text and "10–12 tuổi" in text and "Độ tuổi" in text
    assert xtt("forms", "print", "--commune", "my-an", "--count", "3", "--group", "child",
               "--out", str(tmp_path / "b.pdf"))[0] == 0
    second = pdf_codes(tmp_path / "b.pdf")
    assert len(second) == 3 and not set(second) & set(first)
    assert "unknown commune 'nowhere'" in xtt("forms", "print", "--commune", "nowhere", "--count", "1",
                                              "--out", str(tmp_path / "c.pdf"))[2]
    assert xtt("forms", "print", "--commune", "my-an", "--count", "0", "--out", str(tmp_path / "c.pdf"))[0] == 2





def test_import_of_40_rows_stores_the_valid_ones_and_names_each_error(xtt, tmp_path: Path) -> None:
    xtt("round", "open", "2024")
    xtt("forms", "print", "--commune", "my-an", "--count", "20", "--out", str(tmp_path / "f.pdf"))
    codes = pdf_codes(tmp_path / "f.pdf")
    xtt("forms", "print", "--commune", "phu-dien", "--count", "1", "--group", "child", "--out", str(tmp_path / "g.pdf"))
    elsewhere = pdf_codes(tmp_path / "g.pdf")[0]
    assert xtt("forms", "template", "--out", str(tmp_path / "nhap.xlsx"))[0] == 0
    rows = paper_rows(codes[:20], "child", "10-12") + paper_rows(codes[20:], "resident", "18-35")
    rows[3][0] = "nowhere"                          # sheet row 5
    rows[5][1] = rows[5][1][:6] + ("2" if rows[5][1][6] != "2" else "3")  # row 7: wrong check character
    rows[7][6] = 7                                  # row 9, Q3 out of range
    rows[9][3] = "18-35"                            # row 11: a resident's age band on a child's form
    rows[11][1] = rows[10][1]                       # row 13: the code of row 12 again
    rows[25][2] = "Trẻ em"                          # row 27: a resident's form entered as a child's
    rows[30][1] = elsewhere                         # row 32: a form printed for Phú Điền
    rows[33][4:16] = [None] * 12                    # row 35: nothing ticked
    path = fill(tmp_path / "nhap.xlsx", rows)
    code, out, err = xtt("forms", "import", str(path))
    lines = out.splitlines()
    assert code == 1 and err == ""
    for where in ("Dòng 5, cột Mã xã:", "Dòng 7, cột Mã phiếu:", "Dòng 9, cột Q3:", "Dòng 11, cột Độ tuổi:",
                  "Dòng 13, cột Mã phiếu:", "Dòng 27, cột Mã phiếu:", "Dòng 32, cột Mã phiếu:", "Dòng 35, cột Q1:"):
        assert sum(line.startswith(where) for line in lines) == 1, where
    assert "trùng với dòng 12" in out and "Phú Điền" in out and "'7'" in out
    assert "đã lưu 32 phiếu giấy, từ chối 8 phiếu" in out
    bad = {5, 7, 9, 11, 13, 27, 32, 35}
    good = [row for n, row in enumerate(rows, 2) if n not in bad]
    doc = json.loads(xtt("score", "--json", "--commune", "my-an")[1])["communes"][0]
    children, residents = [r for r in good if r[2] == "Trẻ em"], [r for r in good if r[2] == "Người dân"]
    assert (doc["children"]["n"], doc["residents"]["n"]) == (len(children), len(residents)) == (15, 17)
    assert (doc["children"]["answers"], doc["children"]["satisfied"]) == expected(children)
    assert (doc["residents"]["answers"], doc["residents"]["satisfied"]) == expected(residents)
    xtt("round", "close", "2024")
    assert "no open round" in xtt("forms", "import", str(path))[2]
    code, out, _ = xtt("forms", "import", str(path), "--round", "2024")
    assert code == 1 and "đã lưu 0 phiếu giấy, từ chối 40 phiếu" in out
    assert out.count("đã được nhập trước đây") == 32
    assert json.loads(xtt("score", "--json", "--commune", "my-an")[1])["communes"][0] == doc


def test_chat_and_paper_answers_add_up_in_the_score(xtt, tmp_path: Path) -> None:
    answers = ["1", "1", "bố mẹ em đã đồng ý", "2", "1", *["2"] * 10, "rat hai long", "5", "Em thích sân chơi mới", "1"]
    assert xtt("chat", "--as", "child", "--commune", "my-an", stdin="\n".join(answers) + "\n")[0] == 0
    xtt("forms", "print", "--commune", "my-an", "--count", "2", "--group", "child", "--out", str(tmp_path / "f.pdf"))
    xtt("forms", "template", "--out", str(tmp_path / "nhap.xlsx"))
    rows = paper_rows(pdf_codes(tmp_path / "f.pdf"), "child", "13-15")
    assert xtt("forms", "import", str(fill(tmp_path / "nhap.xlsx", rows)))[0] == 0
    children = json.loads(xtt("score", "--json", "--commune", "my-an")[1])["communes"][0]["children"]
    scored, satisfied = expected(rows)
    assert (children["n"], children["answers"], children["satisfied"]) == (3, 11 + scored, 11 + satisfied)


def test_a_paper_comment_that_signals_danger_raises_an_alert(xtt, tmp_path: Path) -> None:
    xtt("round", "open", "2024")
    xtt("forms", "print", "--commune", "my-an", "--count", "1", "--group", "child", "--out", str(tmp_path / "f.pdf"))
    xtt("forms", "template", "--out", str(tmp_path / "nhap.xlsx"))
    rows = paper_rows(pdf_codes(tmp_path / "f.pdf"), "child", "10-12")
    rows[0][16] = "bố em hay đánh em đau lắm"
    code, out, _ = xtt("forms", "import", str(fill(tmp_path / "nhap.xlsx", rows)))
    assert code == 0 and "CẢNH BÁO #1" in out and "111" in out


def test_forum_held_is_checked_then_listed(xtt, tmp_path: Path) -> None:
    base = ("forum", "held", "--commune", "my-an", "--date", "2025-06-01", "--topics", "traffic,drowning")
    code, _, err = xtt(*base, "--children", "29")
    assert code == 2 and err.startswith("xtt: ") and "ít nhất 30 trẻ em" in err and len(err.splitlines()) == 1
    code, _, err = xtt("forum", "held", "--commune", "nowhere", "--date", "2025-06-01", "--children", "40",
                       "--topics", "traffic")
    assert code == 2 and "unknown commune 'nowhere'" in err
    assert "chủ đề không có trong forum.toml: bơi lội" in xtt(*base[:-1], "traffic,bơi lội", "--children", "40")[2]
    assert "in the future" in xtt(*base[:5], "2999-01-01", *base[6:], "--children", "40")[2]
    sheet = tmp_path / "kn.csv"
    sheet.write_text("chủ đề,nội dung\ntraffic,Cổng trường đông xe quá nguy hiểm\nĐuối nước,ngắn\n", encoding="utf-8")
    code, out, _ = xtt(*base, "--children", "40", "--proposals", str(sheet))
    assert code == 2 and "Dòng 3, cột nội dung: dài 4 ký tự" in out
    assert "Chưa ghi nhận diễn đàn nào" in xtt("forum", "list")[1]
    sheet.write_text("chủ đề,nội dung\ntraffic,Cổng trường đông xe quá nguy hiểm\n"
                     "Đuối nước,Chúng em muốn được học bơi miễn phí\n", encoding="utf-8")
    code, out, _ = xtt(*base[:-1], "An toàn giao thông, cổng trường,drowning", "--children", "40",
                       "--proposals", str(sheet))
    assert code == 0 and "báo cáo hạn 16/06/2025" in out and "KN-2025-0001 … KN-2025-0002" in out
    listing = xtt("forum", "list")[1]
    assert "2025-06-01" in listing and "Xã Mỹ An" in listing and "2025-06-16" in listing and "2 kiến nghị" in listing


def test_the_report_workbook_splits_respondents_by_source(xtt, tmp_path: Path) -> None:
    from openpyxl import load_workbook

    answers = ["1", "1", "bố mẹ em đã đồng ý", "2", "1", *["2"] * 10, "rat hai long", "5", "Em thích sân chơi mới", "1"]
    xtt("chat", "--as", "child", "--commune", "my-an", stdin="\n".join(answers) + "\n")
    xtt("forms", "print", "--commune", "my-an", "--count", "2", "--out", str(tmp_path / "f.pdf"))
    xtt("forms", "template", "--out", str(tmp_path / "nhap.xlsx"))
    codes = pdf_codes(tmp_path / "f.pdf")
    rows = paper_rows(codes[:2], "child", "10-12") + paper_rows(codes[2:3], "resident", "36-59")
    assert xtt("forms", "import", str(fill(tmp_path / "nhap.xlsx", rows)))[0] == 0
    assert xtt("report", "--out", str(tmp_path / "out"))[0] == 0
    sheet = load_workbook(next((tmp_path / "out").glob("ket-qua-*.xlsx")))["Nguồn phiếu"]
    titles = [c.value for c in sheet[4]]
    found = {row[0]: dict(zip(titles, row, strict=True)) for row in sheet.iter_rows(min_row=5, values_only=True)}
    mine = found["my-an"]
    assert mine["Trẻ em: trò chuyện (telegram/zalo)"] == 1 and mine["Trẻ em: phiếu giấy"] == 2
    assert mine["Người dân: phiếu giấy"] == 1 and mine["Trẻ em: tổng"] == 3 and mine["Người dân: tổng"] == 1
    assert found[None]["Trẻ em: tổng"] == 3 and found["phu-dien"]["Trẻ em: tổng"] == 0


def test_forum_proposals_from_an_xlsx_sheet(xtt, tmp_path: Path) -> None:
    from openpyxl import Workbook

    book = Workbook()
    book.active.append(["topic", "text", "publish"])
    book.active.append(["online", "Chúng em muốn học cách an toàn trên mạng", "có"])
    book.active.append([None, None, None])
    book.active.append(["Tảo hôn", "Tuyên truyền để các bạn không bỏ học lấy chồng sớm", None])
    book.save(tmp_path / "kn.xlsx")
    code, out, _ = xtt("forum", "held", "--commune", "phu-dien", "--date", "2025-03-02", "--children", "30",
                       "--topics", "online,child_marriage", "--proposals", str(tmp_path / "kn.xlsx"))
    assert code == 0 and "KN-2025-0001 … KN-2025-0002" in out and "báo cáo hạn 17/03/2025" in out
    assert "Xã Phú Điền" in xtt("forum", "list")[1]


def test_a_long_questionnaire_goes_on_over_pages_that_repeat_the_code() -> None:
    from dataclasses import replace

    from pypdf import PdfReader

    from analytics.paper_pdf import Sheet, forms_pdf
    from analytics.paper_sheet import age_bands
    from conversations import load_flows

    flows = load_flows()
    child = flows.questionnaires["child"]
    items = tuple(replace(item, id=f"{item.id}_{k}") for k in range(3) for item in child.items)
    long = {"child": replace(child, items=items)}
    sheets = [Sheet(encode(n), "Xã Mỹ An", "child") for n in (7, 8)]
    pages = PdfReader(io.BytesIO(forms_pdf(sheets, long, age_bands(flows)))).pages
    texts = [page.extract_text() for page in pages]
    assert len(pages) >= 4 and "Q36" in "".join(texts)
    first, second = (f"{code[:4]}-{code[4:]}" for code in (s.code for s in sheets))
    split = next(n for n, text in enumerate(texts) if second in text)
    assert all(first in text for text in texts[:split]) and all(second in text for text in texts[split:])
