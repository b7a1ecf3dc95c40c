"""Renderings of the forum report: the stacked-bar chart (PNG) and the workbook (XLSX), with the shared texts."""

from __future__ import annotations

import io
from typing import TYPE_CHECKING, Any

from analytics.plot import FONT, figure, frame, ink, legend, message_chart, png, row_labels, say, side_labels, vi
from analytics.workbook import PERCENT, bold, header, widths

if TYPE_CHECKING:
    from analytics.forum import ForumFigures

STANDARD = "chuẩn địa phương, không phải quy định của Thông tư 29/2019"  # what the answer deadline is
STATUSES = ("received", "forwarded", "answered", "resolved", "merged")
CLOSED = ("resolved", "merged")
STATUS_LABELS = {"received": "Đã tiếp nhận", "forwarded": "Đã chuyển cơ quan", "answered": "Đã trả lời",
                 "resolved": "Đã giải quyết", "merged": "Đã gộp"}
STATUS_COLOURS = {"received": "#bdbdbd", "forwarded": "#ef8a17", "answered": "#1f77b4", "resolved": "#2e7d32",
                  "merged": "#b39ddb"}
OTHER_COLOUR, LATE_COLOUR = "#757575", "#c62828"
SHEETS = ("Tổng hợp", "Theo chủ đề", "Đang mở")
LATE_FILL, TOTAL = "F4CCCC", "Tổng cộng"
RESOLVED = "Giải quyết mà không có trả lời"
NO_PROPOSALS = "Chưa có kiến nghị nào trong kỳ báo cáo"
OPEN_HEADERS = ("Mã kiến nghị", "Xã", "Chủ đề", "Số ngày từ khi tiếp nhận", "Trạng thái", "Quá hạn", "Nội dung (trích)")


def status_label(status: str) -> str:
    """A status in Vietnamese, or as stored when unknown."""
    return STATUS_LABELS.get(status, status)


def days_text(value: float | None) -> str:
    """Days as Vietnamese write them: '10', '6,5', or a dash."""
    return "—" if value is None else f"{value:.1f}".removesuffix(".0").replace(".", ",")


def median_text(figures: ForumFigures) -> str:
    """The median as a phrase: '10 ngày', or that nothing was answered yet."""
    median = figures.median_first_answer_days
    return "chưa tính được (chưa có kiến nghị nào được trả lời)" if median is None else f"{days_text(median)} ngày"


def share_text(figures: ForumFigures) -> str:
    """The in-time share with its fraction: '50% (2/4)', or that no proposal is due yet."""
    share = figures.answered_in_time_share
    if share is None:
        return "chưa tính được (chưa có kiến nghị nào đến hạn)"
    return f"{share * 100:.0f}% ({figures.answered_in_time}/{figures.share_denominator})"


def deadline_text(figures: ForumFigures) -> str:
    """The answer deadline with what it is: '15 ngày (chuẩn địa phương, …)'."""
    return f"{figures.answer_days} ngày ({STANDARD})"


def resolved_definition() -> str:
    """What 'resolved without an answer' counts, in Vietnamese."""
    return ("Kiến nghị đã được đánh dấu giải quyết nhưng chưa từng có câu trả lời gửi cho trẻ em; không tính là "
            "đã trả lời.")


def median_definition(figures: ForumFigures) -> str:
    """What the median counts, in Vietnamese."""
    return (f"Trung vị số ngày từ khi tiếp nhận kiến nghị đến lần trả lời đầu tiên, tính trên {figures.answered} "
            "kiến nghị đã được trả lời thật (kiến nghị giải quyết mà không có trả lời không được tính). "
            "Kiến nghị đã gộp được tính theo kiến nghị mà nó được gộp vào.")


def share_definition(figures: ForumFigures) -> str:
    """What the in-time share counts, including its denominator, in Vietnamese."""
    days = figures.answer_days
    return (f"Số kiến nghị được trả lời thật trong {days} ngày ÷ số kiến nghị đã được trả lời hoặc đã tiếp "
            f"nhận từ {days} ngày trở lên tính đến {figures.as_of} (mẫu số: {figures.share_denominator}). "
            f"Kiến nghị giải quyết mà không có trả lời vẫn ở mẫu số, không ở tử số. Kiến nghị chưa đủ {days} ngày "
            f"và chưa được trả lời chưa tính vì chưa trễ hạn. Thời hạn {days} ngày là {STANDARD} (Thông tư "
            "29/2019 quy định 15 ngày cho báo cáo sau diễn đàn) và đặt bằng XTT_ANSWER_DAYS.")


def _status_colour(status: str) -> str:
    """The colour of a status in the chart."""
    return STATUS_COLOURS.get(status, OTHER_COLOUR)


def forum_chart(figures: ForumFigures, title: str) -> bytes:
    """Stacked bars per commune by status, the median, the in-time share and the resolved without an answer in
    the title, definitions below."""
    head = (f"{title}\nTrung vị thời gian trả lời: {median_text(figures)} · "
            f"Trả lời trong {figures.answer_days} ngày (chuẩn địa phương): {share_text(figures)} · "
            f"Giải quyết không có trả lời: {figures.resolved_without_answer}")
    if not figures.total:
        return message_chart(head, NO_PROPOSALS)
    rows = figures.communes
    fig = figure(len(rows), per_row=0.3, extra=2.4)
    ax = frame(fig, head, f"{median_definition(figures)} Tỷ lệ trả lời trong {figures.answer_days} ngày = "
                f"{share_definition(figures)} {resolved_definition()} Quá hạn: chưa được trả lời sau hơn "
                f"{figures.answer_days} ngày.")
    top = max(r.total for r in rows)
    left = [0] * len(rows)
    for status in figures.statuses:
        widths = [r.by_status.get(status, 0) for r in rows]
        if not any(widths):
            continue
        colour = _status_colour(status)
        ax.barh(range(len(rows)), widths, left=left, height=0.7, color=colour, edgecolor="white", linewidth=0.5,
                label=vi(status_label(status)))
        for y, (x0, w) in enumerate(zip(left, widths, strict=True)):
            if w and w >= top * 0.06:
                say(ax, x0 + w / 2, y, str(w), ha="center", fontsize=7, color=ink(colour), in_layout=False)
        left = [a + b for a, b in zip(left, widths, strict=True)]
    late = figures.late_by_commune
    labels, inks = [], []
    for y, r in enumerate(rows):
        if not r.total:
            say(ax, top * 0.01, y, "không có kiến nghị", color="#777777", style="italic", fontsize=7.5,
                 in_layout=False)
        n = late.get(r.key, 0)
        labels.append(f"{r.total}" + (f" · {n} quá hạn" if n else ""))
        inks.append(LATE_COLOUR if n else "#222222")
    row_labels(ax, [r.name for r in rows])
    ax.set_xlim(0, top * 1.05)
    ax.xaxis.get_major_locator().set_params(integer=True)
    ax.set_xlabel(vi("Số kiến nghị"), fontfamily=FONT, fontsize=9)
    ax.grid(axis="x", color="#e0e0e0", linewidth=0.6)
    ax.set_axisbelow(True)
    legend(ax, len(ax.get_legend_handles_labels()[1]))
    side_labels(ax, labels, inks)
    return png(fig)


def forum_workbook(figures: ForumFigures, title: str) -> bytes:
    """The workbook as XLSX bytes: 'Tổng hợp', 'Theo chủ đề' and 'Đang mở' (late rows highlighted)."""
    from openpyxl import Workbook

    book = Workbook()
    _summary(book.active, figures, title)
    _topics(book.create_sheet(SHEETS[1]), figures, title)
    _open(book.create_sheet(SHEETS[2]), figures, title)
    buf = io.BytesIO()
    book.save(buf)
    return buf.getvalue()


def _title(sheet: Any, text: str, figures: ForumFigures) -> None:
    """The sheet's title and the moment the figures stand at."""
    sheet["A1"] = text
    bold(sheet["A1"], 13)
    sheet["A2"] = f"Số liệu tính đến {figures.as_of}. Thời hạn trả lời: {deadline_text(figures)}."


def _table(sheet: Any, top: int, titles: list[str], rows: list[list[Any]]) -> int:
    """A header and rows from `top`; the next free row."""
    header(sheet, top, titles)
    sheet.row_dimensions[top].height = 32
    for r, values in enumerate(rows, top + 1):
        for col, value in enumerate(values, 1):
            sheet.cell(r, col, value)
    return top + 1 + len(rows)


def _by_status(figures: ForumFigures, tallies: Any, first: str, second: str) -> tuple[list[str], list[list[Any]]]:
    """Header and rows of a tally per status, with a total column and a total row."""
    titles = [first, second, *(status_label(s) for s in figures.statuses), TOTAL]
    rows = [[t.key, t.name, *(t.by_status.get(s, 0) for s in figures.statuses), t.total] for t in tallies]
    sums = [sum(t.by_status.get(s, 0) for t in tallies) for s in figures.statuses]
    return titles, [*rows, [None, TOTAL, *sums, figures.total]]


def _summary(sheet: Any, figures: ForumFigures, title: str) -> None:
    """Key figures with their definitions, then proposals per commune and status."""
    sheet.title = SHEETS[0]
    _title(sheet, title, figures)
    header(sheet, 4, ["Chỉ số", "Giá trị", "Định nghĩa"])
    share, days = figures.answered_in_time_share, figures.answer_days
    key = [("Tổng số kiến nghị", figures.total, "Mọi kiến nghị trong kỳ, kể cả kiến nghị đã gộp."),
           ("Thời gian trả lời đầu tiên — trung vị (ngày)", figures.median_first_answer_days,
            median_definition(figures)),
           (f"Tỷ lệ trả lời trong {days} ngày", share, share_definition(figures)),
           (f"Số kiến nghị trả lời trong {days} ngày (tử số)", figures.answered_in_time, ""),
           ("Mẫu số của tỷ lệ", figures.share_denominator,
            f"Kiến nghị đã được trả lời hoặc đã tiếp nhận từ {days} ngày trở lên."),
           (RESOLVED, figures.resolved_without_answer, resolved_definition()),
           ("Đang mở (chưa giải quyết, chưa gộp)", len(figures.open), ""),
           ("Quá hạn", figures.late, f"Đang mở, chưa được trả lời sau hơn {days} ngày.")]
    from openpyxl.styles import Alignment

    for r, (name, value, note) in enumerate(key, 5):
        sheet.cell(r, 1, name)
        cell = sheet.cell(r, 2, "—" if value is None else value)
        if value is not None and name.startswith("Tỷ lệ"):
            cell.number_format = PERCENT
        elif isinstance(value, float):
            cell.number_format = "0.0"
        sheet.cell(r, 3, note).alignment = Alignment(wrap_text=True, vertical="top")
    top = 5 + len(key) + 1
    sheet.cell(top, 1, "Số kiến nghị theo xã và trạng thái")
    bold(sheet.cell(top, 1))
    titles, rows = _by_status(figures, figures.communes, "Mã xã", "Tên xã")
    late, unanswered = figures.late_by_commune, figures.resolved_without_answer_by_commune
    rows = [[*row, unanswered.get(row[0], 0) if row[0] else sum(unanswered.values()),
             late.get(row[0], 0) if row[0] else figures.late] for row in rows]
    _table(sheet, top + 1, [*titles, RESOLVED, "Quá hạn"], rows)
    sheet.freeze_panes = sheet.cell(top + 2, 3)
    widths(sheet, [38, 22, 70] + [13] * (len(titles) - 1))


def _topics(sheet: Any, figures: ForumFigures, title: str) -> None:
    """Proposals per topic and status, then per commune and topic."""
    _title(sheet, title, figures)
    titles, rows = _by_status(figures, figures.topics, "Mã chủ đề", "Chủ đề")
    end = _table(sheet, 4, titles, rows)
    sheet.cell(end + 1, 1, "Số kiến nghị theo xã và chủ đề")
    bold(sheet.cell(end + 1, 1))
    cross = [[c.key, c.name, *(figures.commune_topics.get((c.key, t.key), 0) for t in figures.topics), c.total]
             for c in figures.communes]
    cross.append([None, TOTAL, *(t.total for t in figures.topics), figures.total])
    _table(sheet, end + 2, ["Mã xã", "Tên xã", *(t.name for t in figures.topics), TOTAL], cross)
    sheet.freeze_panes = sheet.cell(5, 3)
    widths(sheet, [16, 26] + [14] * max(len(titles), len(figures.topics) + 1))


def _open(sheet: Any, figures: ForumFigures, title: str) -> None:
    """Proposals still open, oldest first; late ones filled red."""
    from openpyxl.styles import Alignment, PatternFill

    _title(sheet, f"{title} — kiến nghị đang mở", figures)
    rows = [[p.ref, p.commune, p.topic, p.age_days, status_label(p.status), "Có" if p.late else "Không", p.excerpt]
            for p in figures.open]
    _table(sheet, 4, list(OPEN_HEADERS), rows)
    fill = PatternFill("solid", fgColor=LATE_FILL)
    for r, p in enumerate(figures.open, 5):
        sheet.cell(r, 7).alignment = Alignment(wrap_text=True, vertical="top")
        if p.late:
            for col in range(1, len(OPEN_HEADERS) + 1):
                sheet.cell(r, col).fill = fill
    if not figures.open:
        sheet.cell(5, 1, "Không có kiến nghị nào đang mở.")
    sheet.freeze_panes = sheet.cell(5, 2)
    widths(sheet, [14, 22, 24, 9, 18, 9, 70])


def _cell(text: str) -> str:
    """Text safe inside a Markdown table cell."""
    return text.replace("|", "\\|").replace("\n", " ")


def file_names(label: str) -> tuple[str, str, str]:
    """The workbook's, chart's and summary's file names for a label."""
    return f"dien-dan-{label}.xlsx", f"dien-dan-{label}.png", f"dien-dan-{label}.md"


def summary(figures: ForumFigures) -> str:
    """The short Vietnamese summary: key figures with their definitions, late proposals, communes, files."""
    book, chart, _ = file_names(figures.label)
    counts = ", ".join(f"{status_label(s).lower()} {n}" for s in figures.statuses
                       if (n := sum(c.by_status.get(s, 0) for c in figures.communes)))
    lines = [f"# {figures.title}", "",
             f"Số liệu tính đến {figures.as_of}. Thời hạn trả lời kiến nghị: {deadline_text(figures)}.", "",
             "## Số liệu chính", "",
             f"- **Tổng số kiến nghị:** {figures.total}" + (f" ({counts})." if counts else "."),
             f"- **Thời gian trả lời đầu tiên (trung vị):** {median_text(figures)}. "
             + median_definition(figures),
             f"- **Tỷ lệ trả lời trong {figures.answer_days} ngày:** {share_text(figures)}. "
             + share_definition(figures),
             f"- **{RESOLVED}:** {figures.resolved_without_answer}. " + resolved_definition(),
             f"- **Đang mở:** {len(figures.open)} kiến nghị chưa giải quyết; **quá hạn:** {figures.late} "
             f"(chưa được trả lời sau hơn {figures.answer_days} ngày).", ""]
    late = [p for p in figures.open if p.late]
    lines += ["## Kiến nghị quá hạn chưa được trả lời", ""]
    if late:
        lines += ["| Mã | Xã | Chủ đề | Số ngày | Trạng thái |", "|---|---|---|--:|---|"]
        lines += [f"| {_cell(p.ref)} | {_cell(p.commune)} | {_cell(p.topic)} | {p.age_days} "
                  f"| {status_label(p.status)} |" for p in late]
    else:
        lines.append("Không có.")
    shown = [c for c in figures.communes if c.total]
    lines += ["", "## Theo xã", ""]
    if shown:
        lines += ["| Xã | Số kiến nghị | Đang mở | Quá hạn | Giải quyết không có trả lời |", "|---|--:|--:|--:|--:|"]
        opened = {c.key: sum(p.commune_code == c.key for p in figures.open) for c in shown}
        late_by, unanswered = figures.late_by_commune, figures.resolved_without_answer_by_commune
        lines += [f"| {_cell(c.name)} | {c.total} | {opened[c.key]} | {late_by.get(c.key, 0)} "
                  f"| {unanswered.get(c.key, 0)} |" for c in shown]
    else:
        lines.append("Chưa có kiến nghị nào trong kỳ báo cáo.")
    lines += ["", "## Biểu đồ và bảng tính", "", f"- [Số kiến nghị theo xã và trạng thái]({chart})",
              f"- [Bảng tính Excel: tổng hợp, theo chủ đề, kiến nghị đang mở]({book})", "",
              "Báo cáo không ghi tên hay thông tin nhận dạng trẻ em đã gửi kiến nghị.", ""]
    return "\n".join(lines)

