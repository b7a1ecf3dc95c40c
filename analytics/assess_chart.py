"""Outputs of the recognition table: the office's template workbook, the result workbook and the chart."""

from __future__ import annotations

import csv
import io
import textwrap
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from analytics.assess import Assessment, Criteria
    from analytics.rubric import Rubric

GREEN, RED, GREY, VIOLET = "#2e7d32", "#c62828", "#9e9e9e", "#7e57c2"
FILLS = {"title": "DDEBF7", "zero": "F4CCCC", "missing": "FFF2CC", "yes": "D9EAD3", "no": "F4CCCC", "wait": "E4DAF5"}
WAIT_MARK = "◇ chưa đủ điều kiện đánh giá"
NOT_ASSESSABLE = "Chưa đủ điều kiện đánh giá"  # the verdict's words (analytics.assess says them)
OFFICIAL_TOTAL = 1000
COLUMNS = ("code", "name", "type", *(f"c{n}" for n in range(1, 13)))


def number(value: float | None) -> str:
    """Points as people write them in Vietnamese: '75', '7,5', or a dash."""
    if value is None:
        return "—"
    return f"{value:.2f}".rstrip("0").rstrip(".").replace(".", ",")


def _save(book: object) -> bytes:
    """A workbook as bytes."""
    buffer = io.BytesIO()
    book.save(buffer)  # type: ignore[attr-defined]
    return buffer.getvalue()


def write_template(communes: Sequence[tuple[str, str, str]], path: Path, criteria: Criteria) -> None:
    """Write the office's sheet: CSV (UTF-8 with BOM, a '#' hint row) or XLSX, by the file's suffix."""
    hints = ("# Dòng hướng dẫn, được bỏ qua khi đọc: nhập điểm TC1–TC12 (số, để trống nếu chưa có); "
             "TC13 lấy từ khảo sát, không nhập", "Tên xã (không sửa)", "Loại xã (không sửa)",
             *(f"TC{c.number}: {c.name} (tối đa {number(c.max_points)})" for c in criteria.items[:12]))
    rows = [(code, name, kind, *[""] * 12) for code, name, kind in communes]
    if path.suffix.lower() == ".xlsx":
        path.write_bytes(_template_workbook(COLUMNS, hints, rows, criteria))
        return
    buffer = io.StringIO(newline="")
    csv.writer(buffer, lineterminator="\r\n").writerows([COLUMNS, hints, *rows])
    path.write_bytes(buffer.getvalue().encode("utf-8-sig"))


def _template_workbook(columns: Sequence[str], hints: Sequence[str], rows: Sequence[tuple[str, ...]],
                       criteria: Criteria) -> bytes:
    """The XLSX the office fills in: machine header, a hint row, one row per commune, and a guide sheet."""
    from openpyxl import Workbook
    from openpyxl.styles import Alignment, Font, PatternFill
    from openpyxl.utils import get_column_letter
    from openpyxl.worksheet.datavalidation import DataValidation

    book = Workbook()
    sheet = book.active
    sheet.title = "Điểm"
    for row in (columns, hints, *rows):
        sheet.append([cell if cell != "" else None for cell in row])
    for cell in sheet[1]:
        cell.font, cell.fill = Font(bold=True), PatternFill("solid", fgColor=FILLS["title"])
    for cell in sheet[2]:
        cell.font, cell.alignment = Font(italic=True, color="666666"), Alignment(wrap_text=True, vertical="top")
    sheet.row_dimensions[2].height = 75
    sheet.freeze_panes = "D3"
    last = max(len(rows) + 2, 200)
    for index, column in enumerate(columns, 1):
        letter = get_column_letter(index)
        sheet.column_dimensions[letter].width = {1: 18, 2: 26, 3: 14}.get(index, 16)
        if column[0] == "c" and column[1:].isdigit():
            top = criteria.maximum(int(column[1:]))
            rule = DataValidation(type="decimal", operator="between", formula1="0", formula2=f"{top:g}",
                                  allow_blank=True, showErrorMessage=True, errorTitle="Điểm không hợp lệ",
                                  error=f"Nhập số điểm từ 0 đến {number(top)}, hoặc để trống nếu chưa có.")
            sheet.add_data_validation(rule)
            rule.add(f"{letter}3:{letter}{last}")
    guide = book.create_sheet("Hướng dẫn")
    guide.append([criteria.name])
    guide.append([criteria.note])
    guide.append(["Điền điểm TC1–TC12 vào trang 'Điểm' (để trống nếu chưa có). Không sửa dòng 1 và các cột "
                  "code, name, type. Tiêu chí 13 được tính từ khảo sát trên xtt, không nhập ở đây."])
    guide.append([])
    guide.append(["Tiêu chí", "Tên", "Điểm tối đa"])
    for c in criteria.items:
        guide.append([c.number, c.name, "theo thang điểm tiêu chí 13" if c.max_points is None else c.max_points])
    guide.append([])
    guide.append(["Loại (cột type)", "Mô tả", "Ngưỡng công nhận"])
    for t in criteria.thresholds:
        guide.append([t.type, t.description, t.points])
    guide["A1"].font = Font(bold=True, size=13)
    for letter, width in (("A", 16), ("B", 70), ("C", 26)):
        guide.column_dimensions[letter].width = width
    return _save(book)


def assessment_workbook(round_id: str, rubric: Rubric, criteria: Criteria, assessments: Sequence[Assessment]) -> bytes:
    """The 'Công nhận' workbook: rubric and criteria notes above the 13-criteria table."""
    from openpyxl import Workbook
    from openpyxl.styles import Alignment, Font, PatternFill
    from openpyxl.utils import get_column_letter

    maxima = criteria.maxima(rubric)
    top = sum(maxima)
    book = Workbook()
    sheet = book.active
    sheet.title = "Công nhận"
    rule = "; ".join(f"{t.label}: {number(t.points)}" for t in criteria.thresholds)
    notes = [f"Đánh giá công nhận xã, phường, thị trấn phù hợp với trẻ em — đợt {round_id}",
             f"Bộ tiêu chí: {criteria.name} (tệp {criteria.source})", criteria.note,
             f"Tiêu chí 13 theo thang điểm: {rubric.name}", rubric.note,
             "Đạt khi: đủ điểm 13 tiêu chí, không tiêu chí nào 0 điểm (điểm liệt) và tổng đạt ngưỡng theo loại "
             f"({rule}).",
             f"Tổng điểm tối đa của 13 tiêu chí: {number(top)}" + (
                 "" if abs(top - OFFICIAL_TOTAL) < 1e-9 else f" — khác {OFFICIAL_TOTAL}, cần kiểm tra tệp tiêu chí"),
             ""]
    for line in notes:
        sheet.append([line])
    sheet["A1"].font = Font(bold=True, size=13)
    sheet.append(["Điểm tối đa", "", "", *maxima, top])
    header = ["Mã xã", "Tên xã", "Loại", *(f"TC{n}" for n in range(1, 14)), "Tổng", "Ngưỡng", "Điểm liệt",
              "Kết luận", "Lý do", "Ghi chú"]
    sheet.append(header)
    head = sheet.max_row
    for cell in sheet[head]:
        cell.font, cell.fill = Font(bold=True), PatternFill("solid", fgColor=FILLS["title"])
    for cell in sheet[head - 1]:
        cell.font = Font(italic=True, color="666666")
    for a in assessments:
        sheet.append([a.code, a.name, criteria.threshold(a.type).label, *a.points, a.total, a.threshold,
                      ", ".join(f"TC{n}" for n in a.zero), a.verdict, "; ".join(a.reasons), "; ".join(a.warnings)])
        row = sheet[sheet.max_row]
        for n, value in enumerate(a.points):
            if value is None or value == 0:
                row[3 + n].fill = PatternFill("solid", fgColor=FILLS["missing" if value is None else "zero"])
        row[19].fill = PatternFill("solid", fgColor=FILLS["yes" if a.recognised else "no" if a.assessable else "wait"])
        for cell in row[20:]:
            cell.alignment = Alignment(wrap_text=True, vertical="top")
    sheet.freeze_panes = f"D{head + 1}"
    sheet.auto_filter.ref = f"A{head}:{get_column_letter(len(header))}{max(sheet.max_row, head)}"
    widths = {1: 16, 2: 24, 3: 24, 17: 9, 18: 9, 19: 12, 20: 14, 21: 60, 22: 40}
    for index in range(1, len(header) + 1):
        sheet.column_dimensions[get_column_letter(index)].width = widths.get(index, 7)
    listing = book.create_sheet("Tiêu chí")
    listing.append(["Tiêu chí", "Tên", "Điểm tối đa"])
    for c, maximum in zip(criteria.items, maxima, strict=True):
        listing.append([c.number, c.name, maximum])
    listing.column_dimensions["B"].width = 60
    return _save(book)


@dataclass(frozen=True, slots=True)
class Bar:
    """What the recognition chart draws for one commune: its total, colour, hatch and the words beside it."""

    name: str
    total: float
    threshold: float
    colour: str
    hatch: str | None
    label: str
    verdict: str


def assessment_bars(assessments: Sequence[Assessment]) -> list[Bar]:
    """The chart's data, lowest total first: green only for 'Đạt', violet and hatched while not assessable."""
    bars = []
    for a in sorted(assessments, key=lambda a: (a.total, a.name)):
        wait = a.verdict == NOT_ASSESSABLE
        colour = GREEN if a.recognised else VIOLET if wait else RED if a.zero or not a.missing else GREY
        flags = ([f"điểm liệt {', '.join(f'TC{n}' for n in a.zero)}"] if a.zero else []) + (
            [f"thiếu {len(a.missing)} TC"] if a.missing else []) + ([WAIT_MARK] if wait else [])
        flags += ["≈ TC13 sát ngưỡng"] if any("sát ngưỡng" in w for w in a.warnings) else []
        label = number(a.total) + (f" ({'; '.join(flags)})" if flags else "")
        bars.append(Bar(a.name, a.total, a.threshold, colour, "xx" if wait else None, label, a.verdict))
    return bars


def assessment_chart(round_id: str, assessments: Sequence[Assessment], note: str = "") -> bytes:
    """Horizontal bars of each commune's total with its threshold marked, and the rubric's note; PNG bytes."""
    from matplotlib import rc_context
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch

    order = assessment_bars(assessments)
    passed = sum(a.verdict == "Đạt" for a in order)
    with rc_context({"font.family": "DejaVu Sans", "font.size": 9}):
        figure = Figure(figsize=(9, 1.9 + 0.3 * max(len(order), 3)), dpi=100, layout="constrained")
        FigureCanvasAgg(figure)
        axes = figure.add_subplot()
        figure.suptitle(f"Công nhận xã, phường, thị trấn phù hợp với trẻ em — đợt {round_id}: "
                        f"{passed}/{len(order)} đạt", fontsize=11, fontweight="bold")
        if not order:
            axes.text(0.5, 0.5, "Chưa có xã nào để đánh giá", ha="center", va="center", transform=axes.transAxes)
            axes.set_axis_off()
        else:
            ys = range(len(order))
            for y, a in zip(ys, order, strict=True):
                axes.barh(y, a.total, color=a.colour, hatch=a.hatch, edgecolor="white", height=0.66)
            axes.scatter([a.threshold for a in order], ys, marker="|", s=260, linewidths=2.2, color="black",
                         zorder=3)
            axes.set_yticks(list(ys), [a.name for a in order])
            right = max(OFFICIAL_TOTAL, *(a.total for a in order), *(a.threshold for a in order))
            for y, a in zip(ys, order, strict=True):
                axes.text(max(a.total, a.threshold) + right * 0.012, y, a.label, va="center", fontsize=8,
                          color=VIOLET if a.hatch else "black")
            axes.set_xlim(0, right * 1.3)
            axes.set_ylim(-0.6, len(order) - 0.4)
            axes.set_xlabel("Tổng điểm 13 tiêu chí")
            axes.grid(axis="x", alpha=0.3)
            axes.set_axisbelow(True)
            for side in ("top", "right"):
                axes.spines[side].set_visible(False)
            handles = [Patch(color=GREEN, label="Đạt"), Patch(color=RED, label="Không đạt"),
                       Patch(color=GREY, label="Thiếu điểm"),
                       Patch(facecolor=VIOLET, hatch="xx", edgecolor="white", label="Chưa đủ điều kiện đánh giá"),
                       Line2D([], [], color="black", marker="|", linestyle="", markersize=12, label="Ngưỡng")]
            figure.legend(handles=handles, loc="outside lower center", ncols=3, frameon=False)
        if note:
            axes.set_title(textwrap.fill(note, 140), fontsize=7, color="#555555", loc="left")
        buffer = io.BytesIO()
        figure.savefig(buffer, format="png")
    return buffer.getvalue()


def summary_lines(assessments: Sequence[Assessment]) -> list[str]:
    """A short Vietnamese summary for officials in chat."""
    if not assessments:
        return ["Chưa có xã nào để đánh giá."]
    passed = [a for a in assessments if a.recognised]
    names = f" ({', '.join(a.name for a in passed)})" if passed else ""
    lines = [f"Đạt: {len(passed)}/{len(assessments)} xã{names}"]
    failed = [a for a in assessments if a.verdict == "Không đạt"]
    if failed:
        lines.append(f"Không đạt: {len(failed)} xã")
        for a in failed:
            more = f" (+{len(a.reasons) - 1} lý do khác)" if len(a.reasons) > 1 else ""
            lines.append(f"• {a.name}: {a.reasons[0]}{more}")
    waiting = [a for a in assessments if a.verdict == NOT_ASSESSABLE]
    if waiting:
        lines.append(f"Chưa đủ điều kiện đánh giá: {len(waiting)} xã")
        lines += [f"• {a.name}: {'; '.join(a.reasons)}" for a in waiting]
    near = [a.name for a in assessments if any("sát ngưỡng" in w for w in a.warnings)]
    if near:
        lines.append(f"Sát ngưỡng (tiêu chí 13): {', '.join(near)}.")
    return lines
