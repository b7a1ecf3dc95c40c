"""Make the shipped Word templates once with python-docx: `python analytics/templates/make_templates.py`.

The office edits the resulting .docx files in Word (see README.md here); this script only makes the first version.
Layout after Decree 30/2020/NĐ-CP: A4, Times New Roman, national heading, issuing body, number, place and date,
title, body, recipients and signature.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from docx import Document
from docx.enum.table import WD_TABLE_ALIGNMENT
from docx.enum.text import WD_ALIGN_PARAGRAPH
from docx.oxml.ns import qn
from docx.shared import Mm, Pt

HERE = Path(__file__).resolve().parent
WIDE = {"name", "topics", "reasons", "flags", "note"}
FONT = "Times New Roman"
CENTER, LEFT, JUSTIFY = WD_ALIGN_PARAGRAPH.CENTER, WD_ALIGN_PARAGRAPH.LEFT, WD_ALIGN_PARAGRAPH.JUSTIFY


def para(where: object, text: str = "", *, bold: bool = False, italic: bool = False, size: float = 13,
         align: object = JUSTIFY, underline: bool = False, after: float = 3) -> object:
    """Add a paragraph with one run of text."""
    p = where.add_paragraph()
    p.alignment = align
    p.paragraph_format.space_after = Pt(after)
    p.paragraph_format.space_before = Pt(0)
    run = p.add_run(text)
    run.bold, run.italic, run.underline = bold, italic, underline
    run.font.size = Pt(size)
    return p


def cell_text(cell: object, lines: Sequence[tuple[str, dict]]) -> None:
    """Fill a cell with paragraphs (text, options), replacing its empty first paragraph."""
    cell.paragraphs[0]._element.getparent().remove(cell.paragraphs[0]._element)
    for text, options in lines:
        para(cell, text, **{"align": CENTER, "after": 0, **options})


def borderless(table: object) -> None:
    """Remove a table's borders."""
    borders = table._tbl.tblPr.first_child_found_in("w:tblBorders")
    if borders is not None:
        table._tbl.tblPr.remove(borders)


def fix_widths(table: object, widths: Sequence[float]) -> None:
    """Fixed column widths in mm (Word and LibreOffice read the grid and each cell)."""
    table.autofit = False
    for column, width in zip(table.columns, widths, strict=True):
        column.width = Mm(width)
    for row in table.rows:
        for cell, width in zip(row.cells, widths, strict=True):
            cell.width = Mm(width)


def new_document() -> object:
    """An A4 document with the decree's margins and Times New Roman 13."""
    doc = Document()
    section = doc.sections[0]
    section.page_width, section.page_height = Mm(210), Mm(297)
    section.top_margin, section.bottom_margin = Mm(20), Mm(20)
    section.left_margin, section.right_margin = Mm(30), Mm(15)
    normal = doc.styles["Normal"]
    normal.font.name, normal.font.size = FONT, Pt(13)
    normal.element.rPr.rFonts.set(qn("w:eastAsia"), FONT)
    heading = doc.add_table(rows=1, cols=2)
    heading.alignment = WD_TABLE_ALIGNMENT.CENTER
    borderless(heading)
    fix_widths(heading, (56, 109))
    left, right = heading.rows[0].cells
    cell_text(left, [("{{ parent }}", {"size": 12}), ("{{ issuer }}", {"bold": True, "size": 12}),
                     ("Số:        /{{ symbol }}", {"size": 13})])
    cell_text(right, [("CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM", {"bold": True, "size": 12}),
                      ("Độc lập - Tự do - Hạnh phúc", {"bold": True, "size": 13, "underline": True}),
                      ("", {}), ("{{ place_date }}", {"italic": True, "size": 13})])
    para(doc, "", after=6)
    para(doc, "{{ kind }}", bold=True, size=14, align=CENTER, after=0)
    para(doc, "{{ title }}", bold=True, size=14, align=CENTER, after=12)
    return doc


def ending(doc: object) -> None:
    """Recipients (left) and the signature block (right)."""
    para(doc, "", after=6)
    table = doc.add_table(rows=1, cols=2)
    borderless(table)
    fix_widths(table, (75, 90))
    left, right = table.rows[0].cells
    cell_text(left, [("Nơi nhận:", {"bold": True, "italic": True, "size": 12, "align": LEFT}),
                     ("{%p for r in recipients %}", {"align": LEFT}),
                     ("- {{ r }}", {"size": 11, "align": LEFT}),
                     ("{%p endfor %}", {"align": LEFT})])
    cell_text(right, [("{{ signer_role }}", {"bold": True}), ("{{ signer_title }}", {"bold": True}),
                      ("(Ký, ghi rõ họ tên, đóng dấu)", {"italic": True, "size": 12}), ("", {}), ("", {}), ("", {}),
                      ("{{ signer_name }}", {"bold": True})])
    para(doc, "{{ footnote }}", italic=True, size=9, align=LEFT, after=0)


def loop_table(doc: object, headers: Sequence[str], fields: Sequence[str], rows: str,
               total: str | None = None, first: float = 34, widths: Sequence[float] | None = None) -> None:
    """A table with a header, a docxtpl row loop over `rows`, an optional total row, and fixed widths in mm."""
    size = 11 if len(headers) <= 6 else 10
    table = doc.add_table(rows=4 if total else 3, cols=len(headers))
    table.style = "Table Grid"
    table.alignment = WD_TABLE_ALIGNMENT.CENTER
    for cell, title in zip(table.rows[0].cells, headers, strict=True):
        cell_text(cell, [(title, {"bold": True, "size": size})])
    cell_text(table.rows[1].cells[0], [(f"{{%tr for r in {rows} %}}", {"size": size})])
    for cell, name in zip(table.rows[2].cells, fields, strict=True):
        cell_text(cell, [(f"{{{{ r.{name} }}}}", {"size": size, "align": LEFT if name in WIDE else CENTER})])
    end = table.add_row()
    cell_text(end.cells[0], [("{%tr endfor %}", {"size": size})])
    if total:
        last = table.rows[3]
        for cell, name in zip(last.cells, fields, strict=True):
            cell_text(cell, [(f"{{{{ {total}.{name} }}}}", {"bold": True, "size": size,
                                                              "align": LEFT if name in WIDE else CENTER})])
        table._tbl.remove(end._tr)
        table._tbl.insert(table._tbl.index(last._tr), end._tr)
    rest = (165 - first) / (len(headers) - 1)
    fix_widths(table, widths or [first, *[rest] * (len(headers) - 1)])
    para(doc, "", after=4)


def lines(doc: object, items: str, **options: object) -> None:
    """One paragraph per item of a list variable."""
    para(doc, f"{{%p for line in {items} %}}")
    para(doc, "{{ line }}", **options)
    para(doc, "{%p endfor %}")


def images(doc: object, items: str) -> None:
    """One centred picture per item of a list variable (docxtpl InlineImage values)."""
    para(doc, f"{{%p for image in {items} %}}")
    para(doc, "{{ image }}", align=CENTER)
    para(doc, "{%p endfor %}")


def commune_report() -> object:
    """The commune's criterion-13 results report."""
    doc = new_document()
    para(doc, "I. CÁCH THỨC KHẢO SÁT", bold=True)
    lines(doc, "method")
    para(doc, "II. KẾT QUẢ", bold=True)
    para(doc, "1. Số người trả lời và mức độ hài lòng theo nhóm", bold=True, italic=True)
    loop_table(doc, ["Nhóm", "Trò chuyện", "Phiếu giấy", "Tổng số người", "Chỉ tiêu", "Số câu được tính",
                     "Số câu hài lòng", "Chỉ số hài lòng", "KTC 95%"],
               ["name", "chat", "paper", "n", "target", "answers", "satisfied", "index", "ci"], "groups", "overall",
               widths=(20, 19, 17, 17, 14, 19, 19, 18, 22))
    para(doc, "2. Điểm tiêu chí 13: {{ points }} (thang điểm: {{ rubric }})", bold=True, italic=True)
    lines(doc, "notes")
    images(doc, "charts")
    para(doc, "3. Ý kiến góp ý trong phiếu (không ghi danh tính)", bold=True, italic=True)
    lines(doc, "comments")
    para(doc, "III. DIỄN ĐÀN TRẺ EM VÀ ĐỀ XUẤT, KIẾN NGHỊ", bold=True)
    lines(doc, "forum_lines")
    para(doc, "{{ proposals_text }}")
    ending(doc)
    return doc


def scoring_sheet() -> object:
    """The scoring sheet of the 13 criteria for one commune."""
    doc = new_document()
    para(doc, "Loại đơn vị: {{ type_label }}. Ngưỡng công nhận: {{ threshold }} điểm.", italic=True)
    loop_table(doc, ["TT", "Tiêu chí", "Điểm tối đa", "Điểm đạt", "Ghi chú"],
               ["number", "name", "max", "points", "note"], "rows", "total", widths=(10, 75, 22, 22, 36))
    para(doc, "Kết luận: {{ verdict }}", bold=True)
    lines(doc, "reasons", italic=True)
    para(doc, "{{ criteria_note }}", italic=True, size=11)
    ending(doc)
    return doc


def summary_report() -> object:
    """The summary report with the recognition table."""
    doc = new_document()
    para(doc, "I. KẾT QUẢ TIÊU CHÍ 13 (MỨC ĐỘ HÀI LÒNG)", bold=True)
    para(doc, "Thang điểm: {{ rubric }}. {{ rubric_note }}", italic=True, size=12)
    loop_table(doc, ["Xã, phường", "Trẻ em (n)", "Người dân (n)", "Trong đó phiếu giấy", "Chỉ số chung",
                     "KTC 95%", "Điểm", "Ghi chú"],
               ["name", "children", "residents", "paper", "index", "ci", "points", "flags"], "scores", "score_total",
               widths=(32, 16, 18, 17, 18, 22, 16, 26))
    images(doc, "score_charts")
    para(doc, "II. KẾT QUẢ ĐÁNH GIÁ 13 TIÊU CHÍ VÀ ĐỀ NGHỊ CÔNG NHẬN", bold=True)
    para(doc, "{{ assessment_text }}")
    para(doc, "{%p if assessments %}")
    loop_table(doc, ["Xã, phường", "Loại", "Tổng điểm", "Ngưỡng", "Điểm liệt", "Kết quả", "Lý do"],
               ["name", "type", "total", "threshold", "zero", "result", "reasons"], "assessments",
               widths=(30, 24, 17, 17, 15, 18, 44))
    para(doc, "{%p endif %}")
    images(doc, "assessment_charts")
    para(doc, "III. NGUỒN PHIẾU KHẢO SÁT", bold=True)
    loop_table(doc, ["Xã, phường", "Trẻ em: trò chuyện", "Trẻ em: phiếu giấy", "Người dân: trò chuyện",
                     "Người dân: phiếu giấy"], ["name", "child_chat", "child_paper", "resident_chat", "resident_paper"],
               "sources", "source_total")
    para(doc, "{{ criteria_note }}", italic=True, size=11)
    ending(doc)
    return doc


def forum_report() -> object:
    """The children's forum report: forums held and what became of the proposals."""
    doc = new_document()
    para(doc, "I. DIỄN ĐÀN TRẺ EM ĐÃ TỔ CHỨC", bold=True)
    para(doc, "{{ forums_text }}")
    loop_table(doc, ["Xã, phường", "Ngày tổ chức", "Số trẻ em", "Chủ đề", "Số kiến nghị", "Hạn báo cáo"],
               ["name", "date", "children", "topics", "proposals", "due"], "forums",
               widths=(32, 24, 18, 49, 18, 24))
    para(doc, "II. TIẾP NHẬN VÀ TRẢ LỜI KIẾN NGHỊ CỦA TRẺ EM", bold=True)
    para(doc, "{{ answers_text }}")
    loop_table(doc, ["Xã, phường", "Tổng số kiến nghị", "Từ diễn đàn", "Qua trò chuyện", "Trả lời trong hạn",
                     "Trả lời quá hạn", "Giải quyết, không có trả lời", "Chưa trả lời, quá hạn",
                     "Chưa trả lời, còn hạn"],
               ["name", "total", "forum", "chat", "answered_in_time", "answered_late", "resolved_no_answer",
                "open_late", "open_in_time"], "communes", "total")
    lines(doc, "notes", italic=True, size=12)
    images(doc, "charts")
    ending(doc)
    return doc


TEMPLATES = {"ket-qua-tieu-chi-13.docx": commune_report, "bieu-cham-diem.docx": scoring_sheet,
             "bao-cao-tong-hop.docx": summary_report, "bao-cao-dien-dan.docx": forum_report}


def main() -> None:
    """Write every template next to this script."""
    for name, make in TEMPLATES.items():
        make().save(HERE / name)
        print(HERE / name)


if __name__ == "__main__":
    main()
