"""`xtt documents`: Word files in the state's format whose figures equal `xtt score --json`, read with python-docx."""

from __future__ import annotations

import json
import re
from pathlib import Path

from docx import Document

from analytics.documents import share, span
from tests.support.paper import fill, paper_rows, pdf_codes

HEADING = ("CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM", "Độc lập - Tự do - Hạnh phúc", "Số:", "/BC")


def text_of(doc: Document) -> str:
    """Every paragraph and table cell of a document."""
    cells = [cell.text for table in doc.tables for row in table.rows for cell in row.cells]
    return "\n".join([p.text for p in doc.paragraphs] + cells)


def table_with(doc: Document, first_header: str) -> list[list[str]]:
    """The rows (as cell texts) of the table whose first header cell is given, header included."""
    for table in doc.tables:
        rows = [[cell.text.strip() for cell in row.cells] for row in table.rows]
        if rows and rows[0][0] == first_header:
            return rows
    raise AssertionError(f"no table starting with {first_header!r}")


def recognition_table(doc: Document) -> list[list[str]]:
    """The recognition table's rows (header included), or [] when the document has none."""
    for table in doc.tables:
        rows = [[cell.text.strip() for cell in row.cells] for row in table.rows]
        if rows and rows[0][:2] == ["Xã, phường", "Loại"]:
            return rows
    return []


def points(commune: dict) -> str:
    """Points as the documents write them."""
    return "—" if commune["points"] is None else f"{commune['points']:g}/{commune['max_points']:g}".replace(".", ",")


def season(xtt, tmp_path: Path) -> None:
    """A round with a chat response, paper forms in two communes, criteria 1-12 and a forum with proposals."""
    answers = ["1", "1", "bố mẹ em đã đồng ý", "2", "1", *["2"] * 10, "rat hai long", "5", "Em thích sân chơi mới", "1"]
    xtt("round", "open", "2024")
    assert xtt("chat", "--as", "child", "--commune", "my-an", stdin="\n".join(answers) + "\n")[0] == 0
    rows = []
    for commune, count in (("my-an", 6), ("phu-dien", 3)):
        xtt("forms", "print", "--commune", commune, "--count", str(count), "--out", str(tmp_path / f"{commune}.pdf"))
        codes = pdf_codes(tmp_path / f"{commune}.pdf")
        made = paper_rows(codes[:count], "child", "13-15") + paper_rows(codes[count:], "resident", "18-35")
        rows += [[commune, *row[1:]] for row in made]
    xtt("forms", "template", "--out", str(tmp_path / "nhap.xlsx"))
    assert xtt("forms", "import", str(fill(tmp_path / "nhap.xlsx", rows)))[0] == 0
    template = tmp_path / "diem.csv"
    xtt("assess", "--template", str(template))
    lines = template.read_text(encoding="utf-8-sig").splitlines()
    filled = [lines[0], lines[1]] + [row.rstrip(",") + ",90" + ",70" * 4 + ",120,45" + ",70" * 5 for row in lines[2:]]
    template.write_text("\n".join(filled) + "\n", encoding="utf-8-sig")
    assert xtt("assess", "--criteria", str(template), "--out", str(tmp_path / "assess"))[0] == 0
    (tmp_path / "kn.csv").write_text("chủ đề,nội dung\ntraffic,Cổng trường đông xe quá nguy hiểm\n"
                                     "drowning,Chúng em muốn được học bơi miễn phí\n", encoding="utf-8")
    assert xtt("forum", "held", "--commune", "my-an", "--date", "2025-06-01", "--children", "42", "--topics",
               "traffic,drowning", "--proposals", str(tmp_path / "kn.csv"))[0] == 0


def test_documents_hold_the_heading_tables_charts_and_the_scores_figures(xtt, tmp_path: Path) -> None:
    season(xtt, tmp_path)
    doc_json = json.loads(xtt("score", "--json")[1])
    code, out, err = xtt("documents", "--out", str(tmp_path / "docs"), "--office", "UBND XÃ THỬ NGHIỆM")
    paths = [Path(line) for line in out.splitlines()]
    assert code == 0 and len(paths) == 13 * 2 + 2 and all(p.is_file() for p in paths)
    assert "29/29" in err and "Văn bản đợt 2024" in err
    for path in paths:
        doc = Document(path)
        heading = "\n".join(cell.text for cell in doc.tables[0].rows[0].cells)
        assert all(part in heading for part in HEADING[:3]) and ", ngày " in heading and " tháng " in heading
        text = text_of(doc)
        assert "Nơi nhận:" in text and not re.search(r"\bhuyện\b", text.lower())
    communes = {c["code"]: c for c in doc_json["communes"]}
    for code_, c in communes.items():
        report = Document(tmp_path / "docs" / f"{code_}-ket-qua-tieu-chi-13-2024.docx")
        rows = {row[0]: row for row in table_with(report, "Nhóm")[1:]}
        for label, key in (("Trẻ em", "children"), ("Người dân", "residents")):
            g = c[key]
            ci = span(None if g["ci95"] is None else tuple(g["ci95"]))
            assert rows[label][3] == str(g["n"])
            assert rows[label][5:9] == [str(g["answers"]), str(g["satisfied"]), share(g["index"]), ci]
            assert rows[label][4] == str(c["target"][key])
        assert rows["Chung"][7] == share(c["index"]) and f"Điểm tiêu chí 13: {points(c)}" in text_of(report)
        assert len(report.inline_shapes) == sum(1 for k in ("children", "residents") if c[k]["n"])
        sheet = Document(tmp_path / "docs" / f"{code_}-bieu-cham-diem-2024.docx")
        scored = table_with(sheet, "TT")
        assert scored[13][3] == ("—" if c["points"] is None else f"{c['points']:g}".replace(".", ","))
        assert "UBND XÃ THỬ NGHIỆM;" in text_of(sheet)
    mine = Document(tmp_path / "docs" / "my-an-ket-qua-tieu-chi-13-2024.docx")
    split = {row[0]: row for row in table_with(mine, "Nhóm")[1:]}
    assert split["Trẻ em"][1:4] == ["1", "6", "7"] and split["Người dân"][1:4] == ["0", "6", "6"]
    assert "ỦY BAN NHÂN DÂN XÃ MỸ AN" in mine.tables[0].rows[0].cells[0].text
    assert "Đã tổ chức 1 diễn đàn trẻ em (ngày 01/06/2025, 42 trẻ em)." in text_of(mine)
    assert "Trẻ em gửi 2 kiến nghị (2 tại diễn đàn, 0 qua trò chuyện): 0 được trả lời trong 15 ngày" in text_of(mine)
    summary = Document(tmp_path / "docs" / "bao-cao-tong-hop-2024.docx")
    assert "UBND XÃ THỬ NGHIỆM" in summary.tables[0].rows[0].cells[0].text and len(summary.inline_shapes) == 2
    by_name = {row[0]: row for row in table_with(summary, "Xã, phường")[1:]}
    for c in communes.values():
        ci = span(None if c["ci95"] is None else tuple(c["ci95"]))
        row = by_name[c["name"]]
        assert [row[1], row[2], *row[4:7]] == [str(c["children"]["n"]), str(c["residents"]["n"]), share(c["index"]),
                                              ci, points(c)]
    assert by_name["Xã Mỹ An"][3] == "12" and by_name["Xã Phú Điền"][3] == "6"
    recognition = recognition_table(summary)
    assert len(recognition) == 14 and {row[5] for row in recognition[1:]} <= {"Đạt", "Không đạt"}
    assert all(row[5] == "Không đạt" for row in recognition[1:] if by_name[row[0]][6] == "—")
    assert by_name["Tổng cộng"][1:3] == [str(sum(c["children"]["n"] for c in communes.values())),
                                        str(sum(c["residents"]["n"] for c in communes.values()))]
    forum = Document(tmp_path / "docs" / "bao-cao-dien-dan.docx")
    assert len(forum.inline_shapes) == 1
    held = table_with(forum, "Xã, phường")
    assert held[1][:3] == ["Xã Mỹ An", "01/06/2025", "42"] and held[1][4:] == ["2", "16/06/2025"]


def test_documents_of_an_empty_round_and_the_offices_own_templates(xtt, tmp_path: Path) -> None:
    xtt("round", "open", "2024")
    own = tmp_path / "mau"
    own.mkdir()
    shipped = Document(Path(__file__).resolve().parent.parent / "analytics" / "templates" / "bao-cao-dien-dan.docx")
    shipped.add_paragraph("Mẫu riêng của văn phòng")
    shipped.save(own / "bao-cao-dien-dan.docx")
    code, out, _ = xtt("documents", "--out", str(tmp_path / "docs"), "--templates", str(own))
    assert code == 0 and len(out.splitlines()) == 28
    assert "Mẫu riêng của văn phòng" in text_of(Document(tmp_path / "docs" / "bao-cao-dien-dan.docx"))
    empty = Document(tmp_path / "docs" / "my-an-ket-qua-tieu-chi-13-2024.docx")
    assert "Chưa có phiếu nào hoàn thành" in text_of(empty) and len(empty.inline_shapes) == 0
    summary = text_of(Document(tmp_path / "docs" / "bao-cao-tong-hop-2024.docx"))
    assert "Chưa nhập điểm tiêu chí 1–12" in summary
    assert recognition_table(Document(tmp_path / "docs" / "bao-cao-tong-hop-2024.docx")) == []
    (own / "bao-cao-tong-hop.docx").write_bytes((own / "bao-cao-dien-dan.docx").read_bytes())
    code, _, err = xtt("documents", "--out", str(tmp_path / "docs"), "--templates", str(own))
    last = err.splitlines()[-1]
    assert code == 2 and last.startswith("xtt: ") and "bao-cao-tong-hop.docx: không điền được mẫu" in last
    assert "no such folder" in xtt("documents", "--out", "x", "--templates", str(tmp_path / "nope"))[2]
