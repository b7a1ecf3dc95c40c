"""Helpers of the paper-form tests: read codes back from a PDF, fill the data-entry sheet, expected totals."""

from __future__ import annotations

import re
from pathlib import Path

from analytics.formcode import normalise

CODE = re.compile(r"Mã phiếu ([2-9A-Z]{4}-[2-9A-Z]{3})")


def pdf_codes(path: Path) -> list[str]:
    """The form code printed in each page's footer, read back from the PDF's text."""
    from pypdf import PdfReader

    pages = PdfReader(path).pages
    return [normalise(CODE.search(page.extract_text()).group(1)) for page in pages]


def fill(template: Path, rows: list[list[object]]) -> Path:
    """Enter rows into the data-entry template, from row 2."""
    from openpyxl import load_workbook

    book = load_workbook(template)
    sheet = book.worksheets[0]
    assert [c.value for c in sheet[1]][:5] == ["Mã xã", "Mã phiếu", "Nhóm", "Độ tuổi", "Q1"]
    for r, values in enumerate(rows, 2):
        for c, value in enumerate(values, 1):
            sheet.cell(r, c, value)
    book.save(template)
    return template


def paper_rows(codes: list[str], group: str, band: str) -> list[list[object]]:
    """One valid row per code: Q1-Q12 cycle through the answers 1..5, a short comment on every third."""
    name = {"child": "Trẻ em", "resident": "Người dân"}[group]
    return [["my-an", code, name, band, *[(n + k) % 5 + 1 for k in range(12)], "Cần thêm sân chơi" if n % 3 == 0
             else None] for n, code in enumerate(codes)]


def expected(rows: list[list[object]]) -> tuple[int, int]:
    """Scored and satisfied answers of rows: 1 and 2 are satisfied, 5 (don't know) is not scored."""
    answers = [a for row in rows for a in row[4:16] if a is not None]
    return sum(1 for a in answers if a != 5), sum(1 for a in answers if a in (1, 2))
