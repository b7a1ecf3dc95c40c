"""The data-entry workbook of paper forms (XLSX): one row per form, a dropdown for every closed answer."""

from __future__ import annotations

import io
from collections.abc import Sequence

from analytics.paper_sheet import FIXED, GROUP_NAMES, LISTS, age_bands, columns, width
from conversations.model import Flows

GUIDE = "Hướng dẫn"


def template(flows: Flows, communes: Sequence[tuple[str, str]], rows: int = 500) -> bytes:
    """The data-entry workbook as XLSX bytes: one row per form, dropdowns for every closed answer."""
    from openpyxl import Workbook
    from openpyxl.worksheet.datavalidation import DataValidation

    from analytics.workbook import header, widths

    qs = flows.questionnaires
    titles = columns(qs)
    book = Workbook()
    sheet = book.active
    sheet.title = "Phiếu giấy"
    header(sheet, 1, titles)
    sheet.freeze_panes = "A2"
    widths(sheet, [16, 12, 11, 10, *[5] * width(qs), 40])
    lists = book.create_sheet(LISTS)
    bands = sorted({value for group in age_bands(flows).values() for value, _ in group})
    scale = max((len(q.scale) for q in qs.values()), default=0)
    for r, (code, name) in enumerate(communes, 1):
        lists.cell(r, 1, code)
        lists.cell(r, 2, name)
    for r, band in enumerate(bands, 1):
        lists.cell(r, 3, band)
    lists.sheet_state = "hidden"
    last = rows + 1

    def dropdown(formula: str, column: int, prompt: str) -> None:
        from openpyxl.utils import get_column_letter

        rule = DataValidation(type="list", formula1=formula, allow_blank=True, showErrorMessage=True,
                              errorTitle="Giá trị không hợp lệ", error="Chọn một giá trị trong danh sách.",
                              promptTitle=titles[column - 1], prompt=prompt[:255], showInputMessage=True)
        letter = get_column_letter(column)
        rule.add(f"{letter}2:{letter}{last}")
        sheet.add_data_validation(rule)

    dropdown(f"'{LISTS}'!$A$1:$A${max(len(communes), 1)}", 1, "Mã xã, như trong danh sách xã (xtt communes list).")
    dropdown('"' + ",".join(GROUP_NAMES.values()) + '"', 3, "Trẻ em hoặc Người dân, như trên đầu phiếu.")
    dropdown(f"'{LISTS}'!$C$1:$C${max(len(bands), 1)}", 4, "Ô độ tuổi được đánh dấu trên phiếu.")
    meaning = "; ".join(f"{n} = {o.label.vi}" for n, o in enumerate(next(iter(qs.values())).scale, 1)) if qs else ""
    for n in range(1, width(qs) + 1):
        dropdown('"' + ",".join(str(k) for k in range(1, scale + 1)) + '"', len(FIXED) + n,
                 f"Số của ô được đánh dấu ở câu {n}: {meaning}. Để trống nếu không đánh dấu.")
    code_rule = DataValidation(type="textLength", operator="between", formula1="7", formula2="9", allow_blank=True,
                               promptTitle="Mã phiếu", prompt="7 ký tự in ở góc phiếu, ví dụ K7QX-M3B.",
                               showInputMessage=True)
    code_rule.add(f"B2:B{last}")
    sheet.add_data_validation(code_rule)
    _guide(book.create_sheet(GUIDE), flows)
    buf = io.BytesIO()
    book.save(buf)
    return buf.getvalue()


def _guide(sheet: object, flows: Flows) -> None:
    """The guide sheet: what each question column and answer number means, per group."""
    from analytics.workbook import bold

    sheet["A1"] = "Mỗi dòng là một phiếu giấy. Ghi số của ô được đánh dấu (1, 2, …); bỏ trống nếu không đánh dấu."
    bold(sheet["A1"])
    row = 3
    for group, q in flows.questionnaires.items():
        sheet.cell(row, 1, f"{GROUP_NAMES.get(group, group)} — {q.title.vi} (phiên bản {q.version})")
        bold(sheet.cell(row, 1))
        row += 1
        sheet.cell(row, 1, "Các lựa chọn: " + "; ".join(f"{n} = {o.label.vi}" for n, o in enumerate(q.scale, 1)))
        row += 1
        for n, item in enumerate(q.items, 1):
            sheet.cell(row, 1, f"Q{n}")
            sheet.cell(row, 2, item.text.vi)
            row += 1
        row += 1
    sheet.column_dimensions["B"].width = 110
