"""The paper forms' data-entry sheet: an XLSX template with dropdowns, and checking a filled sheet row by row."""

from __future__ import annotations

import io
import unicodedata
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from analytics.formcode import FormCodeError, decode, normalise
from conversations.model import Flows, Questionnaire
from storage.paper import PaperForm, PrintRun

GROUP_NAMES = {"child": "Trẻ em", "resident": "Người dân"}
FIXED = ("Mã xã", "Mã phiếu", "Nhóm", "Độ tuổi")
COMMENT = "Ghi chú"
ALIASES = {"commune": "Mã xã", "form_code": "Mã phiếu", "code": "Mã phiếu", "group": "Nhóm", "age_band": "Độ tuổi",
           "comment": COMMENT}
LISTS = "Danh mục"
GUIDE = "Hướng dẫn"
MAX_ROWS = 2000


class SheetError(ValueError):
    """The sheet cannot be read at all; the message says why in Vietnamese."""


@dataclass(frozen=True, slots=True)
class Checked:
    """A checked sheet: the valid forms with their row numbers, and one error line per wrong cell."""

    forms: tuple[tuple[int, PaperForm], ...]
    errors: tuple[str, ...]
    refused_rows: int


def age_bands(flows: Flows) -> dict[str, list[tuple[str, str]]]:
    """Per group, the age bands a respondent may have, as (stored value, Vietnamese label)."""
    out: dict[str, list[tuple[str, str]]] = {}
    for step in flows.onboarding.steps:
        if step.field != "age_band":
            continue
        group = dict(step.when).get("group")
        bands = [(o.value, o.label.vi) for o in step.options if o.value and not o.end]
        for g in [group] if group else list(flows.questionnaires):
            out.setdefault(g, []).extend(bands)
    return out


def width(questionnaires: Mapping[str, Questionnaire]) -> int:
    """How many question columns the sheet has: the longest questionnaire's items."""
    return max((len(q.items) for q in questionnaires.values()), default=0)


def columns(questionnaires: Mapping[str, Questionnaire]) -> list[str]:
    """The sheet's column titles."""
    return [*FIXED, *(f"Q{n}" for n in range(1, width(questionnaires) + 1)), COMMENT]


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


def _plain(text: str) -> str:
    """Lower case without Vietnamese marks, for matching typed labels."""
    base = unicodedata.normalize("NFD", text.casefold().replace("đ", "d"))
    return " ".join("".join(c for c in base if not unicodedata.combining(c)).split())


def read_rows(path: Path) -> list[list[object]]:
    """The cells of the first sheet of an XLSX file (or a UTF-8 CSV)."""
    from analytics.assess import AssessError, _rows

    try:
        return _rows(path)
    except AssessError as exc:
        raise SheetError(str(exc)) from exc


def check(rows: Sequence[Sequence[object]], flows: Flows, communes: Mapping[str, str],
          runs: Sequence[PrintRun]) -> Checked:
    """Check every row: commune known, form code valid, printed for that commune and group and used once in the
    file, group and age band known, answers in range; errors name the row and the column."""
    titles = columns(flows.questionnaires)
    head = [_title(cell) for cell in rows[0]] if rows else []
    missing = [t for t in titles if t not in head]
    if missing:
        raise SheetError(f"thiếu cột {', '.join(missing)} ở dòng 1. Cách sửa: dùng tệp mẫu của xtt forms template")
    at = {t: head.index(t) for t in titles}
    names = {_plain(name): code for code, name in communes.items()}
    bands = age_bands(flows)
    seen: dict[str, int] = {}
    forms: list[tuple[int, PaperForm]] = []
    errors: list[str] = []
    refused = 0
    for line, raw in enumerate(rows[1:], start=2):
        cells = {t: _text(raw[i]) if i < len(raw) else "" for t, i in at.items()}
        if not any(cells.values()):
            continue
        wrong: list[str] = []

        def fail(column: str, problem: str, wrong: list[str] = wrong, line: int = line) -> None:
            wrong.append(f"Dòng {line}, cột {column}: {problem}")

        commune = cells["Mã xã"].lower()
        commune = commune if commune in communes else names.get(_plain(cells["Mã xã"]), commune)
        if not commune:
            fail("Mã xã", "trống — ghi mã xã như trong danh sách xã")
        elif commune not in communes:
            fail("Mã xã", f"không có xã '{cells['Mã xã']}' trong danh sách xã (xem: xtt communes list)")
        group = _group(cells["Nhóm"])
        if group is None or group not in flows.questionnaires:
            fail("Nhóm", f"'{cells['Nhóm']}' không phải Trẻ em hoặc Người dân" if cells["Nhóm"] else "trống")
        code = normalise(cells["Mã phiếu"])
        if not code:
            fail("Mã phiếu", "trống — ghi mã in ở góc phiếu")
        else:
            try:
                serial = decode(code)
            except FormCodeError as exc:
                fail("Mã phiếu", f"'{cells['Mã phiếu']}': {exc}")
            else:
                run = next((r for r in runs if r.holds(serial)), None)
                if run is None:
                    fail("Mã phiếu", f"'{cells['Mã phiếu']}' không thuộc đợt in phiếu nào của xtt")
                elif commune in communes and run.commune != commune:
                    fail("Mã phiếu", f"phiếu này được in cho xã {communes.get(run.commune, run.commune)}")
                elif group is not None and run.group != group:
                    fail("Mã phiếu", f"phiếu này được in cho nhóm {GROUP_NAMES.get(run.group, run.group)}")
                if code in seen:
                    fail("Mã phiếu", f"mã phiếu {code} trùng với dòng {seen[code]}")
                else:
                    seen[code] = line
        q = flows.questionnaires.get(group or "")
        band = cells["Độ tuổi"].replace("–", "-").replace(" ", "")
        allowed = [value for value, _ in bands.get(group or "", [])]
        if q is not None and band not in allowed:
            fail("Độ tuổi", f"'{cells['Độ tuổi']}' không phải độ tuổi của nhóm này ({', '.join(allowed)})"
                 if cells["Độ tuổi"] else f"trống — chọn một trong {', '.join(allowed)}")
        answers: list[tuple[str, str, bool | None]] = []
        for n in range(1, width(flows.questionnaires) + 1):
            value = cells[f"Q{n}"]
            if not value or q is None:
                continue
            if n > len(q.items):
                fail(f"Q{n}", f"phiếu {GROUP_NAMES[q.group].lower()} chỉ có {len(q.items)} câu — để trống cột này")
                continue
            option = _option(value, q)
            if option is None:
                fail(f"Q{n}", f"'{value}' không phải lựa chọn — ghi số từ 1 đến {len(q.scale)}")
                continue
            answers.append((q.items[n - 1].id, option.id, option.satisfied if option.scored else None))
        comment = cells[COMMENT]
        if q is not None and comment and q.comment is not None and len(comment) > q.comment.max_length:
            fail(COMMENT, f"dài {len(comment)} ký tự, tối đa {q.comment.max_length}")
        if q is not None and not answers and not any(", cột Q" in w for w in wrong):
            fail("Q1", "phiếu không có câu trả lời nào")
        if wrong:
            errors += wrong
            refused += 1
            continue
        assert q is not None
        note = (q.comment.id, comment) if comment and q.comment is not None else None
        forms.append((line, PaperForm(code, commune, q.group, band, q.version, tuple(answers), note)))
    return Checked(tuple(forms), tuple(errors), refused)


def _title(cell: object) -> str:
    """A header cell as one of the sheet's titles (English keys accepted)."""
    text = _text(cell)
    key = text.lower().replace(" ", "_")
    if key in ALIASES:
        return ALIASES[key]
    if key[:1] == "q" and key[1:].isdigit():
        return f"Q{int(key[1:])}"
    return text


def _text(cell: object) -> str:
    """A cell as trimmed text; whole numbers without '.0'."""
    if cell is None:
        return ""
    if isinstance(cell, float) and cell.is_integer():
        return str(int(cell))
    return str(cell).strip()


def _group(text: str) -> str | None:
    """A group from its Vietnamese name or id."""
    plain = _plain(text)
    for group, name in GROUP_NAMES.items():
        if plain in (group, _plain(name)):
            return group
    return None


def _option(value: str, q: Questionnaire) -> object | None:
    """An option of the scale from its number, id or label (marks optional)."""
    if value.isdigit():
        n = int(value)
        return q.scale[n - 1] if 1 <= n <= len(q.scale) else None
    plain = _plain(value)
    return next((o for o in q.scale if plain in (o.id, _plain(o.label.vi), _plain(o.label.en))), None)
