"""The Excel workbook for the office: exact scores, and per-question answers with small groups hidden."""

from __future__ import annotations

import io
import re
from collections.abc import Mapping, Sequence
from typing import Any

from analytics.breakdown import GROUP_LABELS, HIDDEN, TOPIC_LABELS, Distribution, district, rows
from analytics.rubric import Rubric
from analytics.score import CommuneScore, to_json
from analytics.sources import SHEET as SOURCE_SHEET
from analytics.sources import SourceSplit, add_sheet
from analytics.stats import MIN_GROUP
from conversations.model import Questionnaire

SUMMARY = "Tổng hợp"
BY_QUESTION = "Phân bố theo câu"
PERCENT = "0.0%"
YES, NO = "Có", "Không"
GROUP_KEYS = (("child", "children", "Trẻ em"), ("resident", "residents", "Người dân"))
HEADERS = ("Mã xã", "Tên xã",
           *(f"{label}{suffix}" for _, _, label in GROUP_KEYS
             for suffix in (" (n)", ": số câu trả lời", ": hài lòng", ": chỉ số")),
           "Chỉ số chung", "KTC 95% thấp", "KTC 95% cao", "Điểm", "Điểm tối đa", "Điểm liệt", "Chưa đủ mẫu",
           "Mục tiêu trẻ em", "Mục tiêu người dân", "Đủ điều kiện đánh giá", "Sát ngưỡng")
PERCENT_HEADERS = {"Trẻ em: chỉ số", "Người dân: chỉ số", "Chỉ số chung", "KTC 95% thấp", "KTC 95% cao"}
HIDE_NOTE = (f"Nhóm có dưới {MIN_GROUP} người trả lời không hiện số liệu theo câu (ghi “{HIDDEN}”) "
             "để bảo vệ người trả lời.")


def summary_rows(round_id: str, rubric: Rubric, scores: list[CommuneScore]) -> list[list[Any]]:
    """The summary table's rows, taken from the `xtt score --json` document so both show the same figures."""
    out = []
    for c in to_json(round_id, rubric, scores)["communes"]:
        row: list[Any] = [c["code"], c["name"]]
        for _, key, _ in GROUP_KEYS:
            g = c[key]
            row += [g["n"], g["answers"], g["satisfied"], g["index"]]
        lo, hi = c["ci95"] or (None, None)
        row += [c["index"], lo, hi, c["points"], c["max_points"], YES if c["zero"] else NO,
                YES if c["short"] else NO, c["target"]["children"], c["target"]["residents"],
                YES if c["assessable"] else NO, YES if c["near_threshold"] else NO]
        out.append(row)
    return out


def sheet_name(name: str, taken: set[str]) -> str:
    """A valid, unique Excel sheet name (at most 31 characters, none of []:*?/\\)."""
    clean = re.sub(r"[\[\]:*?/\\]", "-", name).strip("' ") or "Xã"
    candidate, k = clean[:31], 2
    while candidate.casefold() in taken:
        suffix = f" ({k})"
        candidate, k = clean[:31 - len(suffix)].rstrip() + suffix, k + 1
    taken.add(candidate.casefold())
    return candidate


def workbook(round_id: str, rubric: Rubric, scores: list[CommuneScore],
             distributions: Mapping[tuple[str, str], Distribution], questionnaires: Mapping[str, Questionnaire],
             communes: Mapping[str, str], place: str = "Toàn địa bàn",
             sources: Sequence[SourceSplit] | None = None) -> bytes:
    """The workbook as XLSX bytes: summary, one sheet per commune (code → name), answers over every commune, and
    respondents by source (chat, paper) when given."""
    from openpyxl import Workbook

    book = Workbook()
    taken = {"history", SUMMARY.casefold(), BY_QUESTION.casefold(), SOURCE_SHEET.casefold()}
    _summary(book.active, round_id, rubric, scores)
    groups = [g for g in GROUP_LABELS if g in questionnaires]
    for code, name in communes.items():
        sheet = book.create_sheet(sheet_name(name, taken))
        blocks = [(questionnaires[g], distributions.get((code, g), Distribution()), "") for g in groups]
        _answers(sheet, f"{name} ({code}) — đợt {round_id}: trả lời từng câu", blocks)
    blocks = []
    for g in groups:
        pooled, left_out = district(distributions, g)
        note = f" (không tính {left_out} xã có dưới {MIN_GROUP} người trả lời)" if left_out else ""
        blocks.append((questionnaires[g], pooled, note))
    _answers(book.create_sheet(BY_QUESTION), f"{place} — đợt {round_id}: trả lời từng câu", blocks)
    if sources is not None:
        add_sheet(book, round_id, sources)
    buf = io.BytesIO()
    book.save(buf)
    return buf.getvalue()


def bold(cell: Any, size: float = 11) -> None:
    """Make a cell bold."""
    from openpyxl.styles import Font

    cell.font = Font(bold=True, size=size)


def header(sheet: Any, row: int, titles: list[str]) -> None:
    """A styled header row."""
    from openpyxl.styles import Alignment, Font, PatternFill

    fill = PatternFill("solid", fgColor="DDEBF7")
    for col, title in enumerate(titles, 1):
        cell = sheet.cell(row, col, title)
        cell.font, cell.fill = Font(bold=True), fill
        cell.alignment = Alignment(wrap_text=True, vertical="center", horizontal="center")


def widths(sheet: Any, widths: list[float]) -> None:
    """Set column widths."""
    from openpyxl.utils import get_column_letter

    for col, width in enumerate(widths, 1):
        sheet.column_dimensions[get_column_letter(col)].width = width


def _summary(sheet: Any, round_id: str, rubric: Rubric, scores: list[CommuneScore]) -> None:
    """The 'Tổng hợp' sheet: one row per commune with the exact figures of `xtt score`."""
    sheet.title = SUMMARY
    sheet["A1"] = f"Tiêu chí 13 — mức độ hài lòng của trẻ em và người dân — đợt {round_id}"
    bold(sheet["A1"], 13)
    sheet["A2"] = f"Thang điểm: {rubric.name}"
    bold(sheet["A2"])
    sheet["A3"] = rubric.note
    sheet["A4"] = ("Chỉ số = số câu trả lời hài lòng ÷ số câu trả lời được tính điểm; chỉ tính phiếu đã hoàn thành. "
                   "KTC 95%: khoảng tin cậy 95%. Điểm liệt: 0 điểm — xã không đạt dù các tiêu chí khác đủ điểm.")
    sheet["A5"] = ("Xã chưa đủ mẫu theo mục tiêu của xã: chưa đủ điều kiện đánh giá (không kết luận “Đạt”). "
                   "Sát ngưỡng: khoảng tin cậy 95% vắt qua một mốc của thang điểm — điểm có thể khác khi thêm mẫu.")
    top = 6
    header(sheet, top, list(HEADERS))
    sheet.row_dimensions[top].height = 45
    for r, values in enumerate(summary_rows(round_id, rubric, scores), top + 1):
        for col, (title, value) in enumerate(zip(HEADERS, values, strict=True), 1):
            cell = sheet.cell(r, col, value)
            if title in PERCENT_HEADERS:
                cell.number_format = PERCENT
    if not scores:
        sheet.cell(top + 1, 1, "Chưa có xã nào.")
    sheet.freeze_panes = sheet.cell(top + 1, 3)
    widths(sheet, [16, 22] + [11] * (len(HEADERS) - 2))


def _answers(sheet: Any, title: str, blocks: list[tuple[Questionnaire, Distribution, str]]) -> None:
    """Per group: each question's answers per option, the answers and the satisfied share."""
    sheet["A1"] = title
    bold(sheet["A1"], 13)
    sheet["A2"] = HIDE_NOTE
    row, frozen, widest = 4, 0, 0
    for questionnaire, dist, note in blocks:
        label = GROUP_LABELS.get(questionnaire.group, questionnaire.group)
        sheet.cell(row, 1, f"{label} — {dist.respondents} người đã hoàn thành phiếu{note}")
        bold(sheet.cell(row, 1))
        titles = ["Mã câu", "Chủ đề", "Câu hỏi", *(o.label.vi for o in questionnaire.scale), "Số câu trả lời",
                  "Tỷ lệ hài lòng"]
        widest = max(widest, len(titles))
        header(sheet, row + 1, titles)
        frozen = frozen or row + 2
        row += 2
        if not dist.respondents:
            sheet.cell(row, 1, "Chưa có người trả lời.")
            row += 2
            continue
        from openpyxl.styles import Alignment

        for item in rows(dist, questionnaire):
            values = [item.question, TOPIC_LABELS.get(item.topic, item.topic), item.text, *item.cells, item.total,
                      item.index]
            for col, value in enumerate(values, 1):
                cell = sheet.cell(row, col, value)
                if col == len(values) and isinstance(value, float):
                    cell.number_format = PERCENT
                elif col == 3:
                    cell.alignment = Alignment(wrap_text=True, vertical="top")
            row += 1
        row += 1
    if frozen:
        sheet.freeze_panes = sheet.cell(frozen, 1)
    widths(sheet, [16, 24, 60] + [13] * max(widest - 3, 0))
