"""The office's points sheet: a template for criteria 1–12 per commune, and reading it back filled in."""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Sequence
from pathlib import Path

from analytics.assess import ENTERED, SLACK, AssessError, Criteria, load_criteria
from analytics.assess_chart import COLUMNS, number, write_template


def template(communes: Sequence[tuple[str, str, str]], path: Path, criteria: Criteria | None = None) -> None:
    """Write the sheet the office fills in: CSV (UTF-8 with BOM) or XLSX, by the file's suffix."""
    if path.suffix.lower() not in (".csv", ".xlsx"):
        raise AssessError(f"{path.name}: the template must end in .csv or .xlsx")
    write_template(communes, path, criteria or load_criteria())


def read_points(path: Path, criteria: Criteria, known_codes: set[str]) -> dict[str, dict[int, float | None]]:
    """Read a filled sheet: criteria 1–12 per commune code; blank cells are None (not entered)."""
    sheet = rows(path)
    header = [str(cell or "").strip().lower() for cell in sheet[0]]
    absent = [c for c in ("code", *COLUMNS[3:]) if c not in header]
    if absent:
        raise AssessError(f"{path.name}: thiếu cột {', '.join(absent)}. Cách sửa: dòng đầu tiên phải là "
                          f"{','.join(COLUMNS)} (dùng lại tệp mẫu, không đổi tên cột)")
    at = {h: header.index(h) for h in ("code", *COLUMNS[3:])}
    result: dict[str, dict[int, float | None]] = {}
    for line, raw in enumerate(sheet[1:], start=2):
        cells = [*raw, *[None] * (len(header) - len(raw))]
        code = str(cells[at["code"]] or "").strip().lower()
        if all(str(c or "").strip() == "" for c in cells) or code.startswith("#") or str(cells[0]).startswith("#"):
            continue
        where = f"{path.name}: dòng {line}, cột code (ô {_cell(at['code'], line)})"
        if not code:
            raise AssessError(f"{where}: mã xã trống. Cách sửa: ghi mã xã như trong tệp mẫu hoặc xóa dòng này")
        if code not in known_codes:
            raise AssessError(f"{where}: mã xã {code!r} không có trong danh sách xã. Cách sửa: sửa mã cho đúng "
                              "tệp mẫu, hoặc nhập xã trước bằng 'xtt communes import'")
        if code in result:
            raise AssessError(f"{where}: mã xã {code!r} xuất hiện hai lần. Cách sửa: giữ một dòng cho mỗi xã")
        result[code] = {n: _points(cells[at[f"c{n}"]], f"{path.name}: dòng {line}, cột c{n} "
                                   f"(ô {_cell(at[f'c{n}'], line)}, tiêu chí {n})", criteria.maximum(n))
                        for n in ENTERED}
    return result


def rows(path: Path) -> list[list[object]]:
    """The cells of a CSV (UTF-8, comma or semicolon) or the first sheet of an XLSX file."""
    if not path.is_file():
        raise AssessError(f"{path}: không tìm thấy tệp. Cách sửa: kiểm tra đường dẫn và tên tệp")
    suffix = path.suffix.lower()
    if suffix == ".xls":
        raise AssessError(f"{path.name}: định dạng .xls cũ không đọc được. "
                          "Cách sửa: lưu lại thành .xlsx hoặc CSV UTF-8")
    if suffix in (".xlsx", ".xlsm"):
        from openpyxl import load_workbook

        try:
            sheet = load_workbook(path, read_only=True, data_only=True).worksheets[0]
            found = [list(row) for row in sheet.iter_rows(values_only=True)]
        except Exception as exc:  # openpyxl raises zip, XML and key errors for a damaged file
            raise AssessError(f"{path.name}: không mở được tệp Excel ({exc}). Cách sửa: mở bằng Excel và lưu lại "
                              "thành .xlsx") from exc
    else:
        try:
            text = path.read_bytes().decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            raise AssessError(f"{path.name}: tệp không phải UTF-8. Cách sửa: trong Excel chọn Lưu thành "
                              "'CSV UTF-8 (Comma delimited)', hoặc dùng tệp .xlsx") from exc
        first = text.split("\n", 1)[0]
        delimiter = max((",", ";", "\t"), key=first.count)
        found = list(csv.reader(io.StringIO(text, newline=""), delimiter=delimiter))
    if not found or not any(str(c or "").strip() for c in found[0]):
        raise AssessError(f"{path.name}: tệp trống hoặc thiếu dòng tiêu đề. Cách sửa: dùng lại tệp mẫu")
    return found


def _points(value: object, where: str, top: float) -> float | None:
    """Points from one cell: blank is None; a number from 0 to the maximum; decimal comma accepted."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    fix = f"Cách sửa: nhập số điểm từ 0 đến {number(top)}, hoặc để trống nếu chưa có"
    points: float | None = None
    if isinstance(value, int | float) and not isinstance(value, bool):
        points = float(value)
    elif isinstance(value, str):
        text = value.strip().replace("\u00a0", "").replace(" ", "")
        if "," in text and "." not in text:
            text = text.replace(",", ".")
        try:
            points = float(text)
        except ValueError:
            points = None
    if points is None or not math.isfinite(points):
        raise AssessError(f"{where}: {value!r} không phải là số. {fix}")
    if points < 0:
        raise AssessError(f"{where}: điểm âm ({number(points)}). {fix}")
    if points > top + SLACK:
        raise AssessError(f"{where}: {number(points)} vượt điểm tối đa {number(top)} của tiêu chí. {fix}")
    return points


def _cell(column: int, row: int) -> str:
    """A spreadsheet cell name such as D5 from a 0-based column and a 1-based row."""
    letters, column = "", column + 1
    while column:
        column, rest = divmod(column - 1, 26)
        letters = chr(65 + rest) + letters
    return f"{letters}{row}"
