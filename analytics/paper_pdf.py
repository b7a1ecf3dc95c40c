"""Printable paper questionnaires (PDF): one A4 sheet per form, with its code and boxes to tick, from the flow files."""

from __future__ import annotations

import unicodedata
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from analytics.formcode import printed
from analytics.paper_sheet import GROUP_NAMES
from conversations.model import Questionnaire

FONT = "DejaVu"
PAGE_WIDTH, PAGE_HEIGHT, MARGIN = 210.0, 297.0, 12.0
INNER = PAGE_WIDTH - 2 * MARGIN
NUMBER_WIDTH, OPTION_WIDTH = 9.0, 17.0
BOX = 4.2
LINE = 4.3
PAPER_NOTE = ("Hướng dẫn: với mỗi câu, đánh dấu X vào MỘT ô đúng nhất với bạn. Không ghi họ tên, số điện thoại, "
              "tên trường. Phiếu không cần ký tên; câu trả lời được giữ kín và chỉ dùng để tính mức độ hài lòng.")


@dataclass(frozen=True, slots=True)
class Sheet:
    """One form to print: its code, commune name and group."""

    code: str
    commune: str
    group: str


def _fonts() -> tuple[Path, Path]:
    """DejaVu Sans (regular, bold) shipped with matplotlib: it has every Vietnamese letter."""
    import matplotlib

    folder = Path(matplotlib.get_data_path()) / "fonts" / "ttf"
    return folder / "DejaVuSans.ttf", folder / "DejaVuSans-Bold.ttf"


def _nfc(text: str) -> str:
    """Precomposed letters, so each Vietnamese letter is one glyph."""
    return unicodedata.normalize("NFC", text)


def forms_pdf(sheets: Sequence[Sheet], questionnaires: Mapping[str, Questionnaire],
              bands: Mapping[str, Sequence[tuple[str, str]]], done: Callable[[int], None] | None = None) -> bytes:
    """The PDF of the sheets, one page each; `done(n)` is called after each page."""
    from fpdf import FPDF

    regular, bold = _fonts()
    pdf = FPDF(format="A4", unit="mm")
    pdf.set_margins(MARGIN, MARGIN, MARGIN)
    pdf.set_auto_page_break(False)
    pdf.add_font(FONT, "", str(regular))
    pdf.add_font(FONT, "B", str(bold))
    pdf.set_title("Phiếu khảo sát tiêu chí 13")
    pdf.set_creator("xtt")
    wrap = _Wrapper(pdf)
    for n, sheet in enumerate(sheets, 1):
        _page(wrap, sheet, questionnaires[sheet.group], bands.get(sheet.group, ()))
        if done is not None:
            done(n)
    return bytes(pdf.output())


def _page(wrap: _Wrapper, sheet: Sheet, q: Questionnaire, bands: Sequence[tuple[str, str]]) -> None:
    """One questionnaire on one page."""
    pdf = wrap.pdf
    pdf.add_page()
    code = printed(sheet.code)
    pdf.set_font(FONT, "B", 13)
    wrap.write(MARGIN, MARGIN, INNER - 48, 6, _nfc(q.title.vi))
    pdf.set_xy(PAGE_WIDTH - MARGIN - 44, MARGIN)
    pdf.set_font(FONT, "", 7)
    pdf.cell(44, 4, "Mã phiếu (nhập cùng câu trả lời)", align="C")
    pdf.set_xy(PAGE_WIDTH - MARGIN - 44, MARGIN + 4)
    pdf.set_font(FONT, "B", 15)
    pdf.cell(44, 9, code, border=1, align="C")
    pdf.set_font(FONT, "", 9)
    pdf.set_xy(MARGIN, max(pdf.get_y(), MARGIN + 15))
    pdf.cell(INNER, 5, _nfc(f"Xã: {sheet.commune}    ·    Nhóm: {GROUP_NAMES.get(sheet.group, sheet.group)}"
                            f"    ·    Phiếu giấy tiêu chí 13 (Quyết định 06/QĐ-TTg), phiên bản {q.version}"))
    pdf.ln(6)
    pdf.set_font(FONT, "", 8)
    pdf.set_xy(MARGIN, wrap.write(MARGIN, pdf.get_y(), INNER, 3.8, _nfc(PAPER_NOTE)) + 1.5)
    pdf.set_font(FONT, "B", 9)
    pdf.cell(22, 6, "Độ tuổi:")
    pdf.set_font(FONT, "", 9)
    for _, label in bands:
        _box(pdf, pdf.get_x(), pdf.get_y() + 0.9)
        pdf.set_x(pdf.get_x() + BOX + 1.5)
        pdf.cell(pdf.get_string_width(_nfc(label)) + 8, 6, _nfc(label))
    pdf.ln(8)
    _table(wrap, q, code)
    if q.comment is not None:
        pdf.set_font(FONT, "B", 8.5)
        if pdf.get_y() > PAGE_HEIGHT - MARGIN - 40:
            pdf.set_y(_next_page(pdf, code))
        top = wrap.write(MARGIN, pdf.get_y() + 2, INNER, 4, _nfc(q.comment.text.vi)) + 1
        bottom = PAGE_HEIGHT - MARGIN - 8
        y = top + 7
        while y <= bottom:
            pdf.line(MARGIN, y, PAGE_WIDTH - MARGIN, y)
            y += 7
    pdf.set_xy(MARGIN, PAGE_HEIGHT - MARGIN - 4)
    pdf.set_font(FONT, "", 7)
    pdf.cell(INNER, 4, _nfc(f"Mã phiếu {code} · Cảm ơn bạn! Nộp phiếu cho cán bộ phát phiếu. "
                            "Trẻ em cần giúp đỡ gọi 111 (miễn phí, 24/7)."), align="C")


class _Wrapper:
    """Wraps texts once per font and width (line breaking is the slow part of a page), then draws lines."""

    def __init__(self, pdf: object) -> None:
        self.pdf = pdf
        self.cache: dict[tuple[str, float, float, str], list[str]] = {}

    def lines(self, width: float, text: str) -> list[str]:
        """The text broken into lines that fit the width in the current font."""
        key = (self.pdf.font_style, self.pdf.font_size_pt, width, text)
        if key not in self.cache:
            self.cache[key] = self.pdf.multi_cell(width, 4, text, dry_run=True, output="LINES")
        return self.cache[key]

    def write(self, x: float, y: float, width: float, height: float, text: str, align: str = "L") -> float:
        """Draw the text's lines from (x, y); returns the y below them."""
        for line in self.lines(width, text):
            self.pdf.set_xy(x, y)
            self.pdf.cell(width, height, line, align=align)
            y += height
        return y


def _next_page(pdf: object, code: str) -> float:
    """Go on with the same form on a new page headed by its code; returns where the table resumes."""
    pdf.add_page()
    pdf.set_xy(MARGIN, MARGIN)
    pdf.set_font(FONT, "B", 11)
    pdf.cell(INNER, 6, f"Mã phiếu {code} (tiếp theo)", align="R")
    pdf.set_font(FONT, "", 8.5)
    return MARGIN + 9


def _box(pdf: object, x: float, y: float) -> None:
    """An empty square to tick."""
    pdf.rect(x, y, BOX, BOX)


def _table(wrap: _Wrapper, q: Questionnaire, code: str) -> None:
    """The questions as rows, the scale as columns of boxes numbered 1..n; a long questionnaire goes on over
    pages that repeat the form code."""
    pdf = wrap.pdf
    scale = q.scale
    text_width = INNER - NUMBER_WIDTH - OPTION_WIDTH * len(scale)
    pdf.set_font(FONT, "B", 7)
    heads = [_nfc(f"{n}. {o.label.vi}") for n, o in enumerate(scale, 1)]
    tallest = max((len(wrap.lines(OPTION_WIDTH, h)) for h in heads), default=1)
    height = max(tallest * 3.2 + 1.5, 6)
    x, y = MARGIN, pdf.get_y()
    pdf.rect(x, y, NUMBER_WIDTH, height)
    pdf.set_xy(x, y)
    pdf.cell(NUMBER_WIDTH, height, "Câu", align="C")
    pdf.rect(x + NUMBER_WIDTH, y, text_width, height)
    pdf.set_xy(x + NUMBER_WIDTH + 1, y)
    pdf.cell(text_width - 1, height, "Nội dung")
    for k, head in enumerate(heads):
        left = x + NUMBER_WIDTH + text_width + k * OPTION_WIDTH
        pdf.rect(left, y, OPTION_WIDTH, height)
        wrap.write(left, y + 0.7, OPTION_WIDTH, 3.2, head, align="C")
    y += height
    pdf.set_font(FONT, "", 8.5)
    for n, item in enumerate(q.items, 1):
        text = _nfc(item.text.vi)
        row = len(wrap.lines(text_width - 2, text)) * LINE + 2
        if y + row > PAGE_HEIGHT - MARGIN - 8:
            y = _next_page(pdf, code)
        pdf.rect(x, y, NUMBER_WIDTH, row)
        pdf.set_xy(x, y)
        pdf.cell(NUMBER_WIDTH, row, f"Q{n}", align="C")
        pdf.rect(x + NUMBER_WIDTH, y, text_width, row)
        wrap.write(x + NUMBER_WIDTH + 1, y + 1, text_width - 2, LINE, text)
        for k in range(len(scale)):
            left = x + NUMBER_WIDTH + text_width + k * OPTION_WIDTH
            pdf.rect(left, y, OPTION_WIDTH, row)
            _box(pdf, left + (OPTION_WIDTH - BOX) / 2 - 1.5, y + (row - BOX) / 2)
            pdf.set_font(FONT, "", 6)
            pdf.set_xy(left + (OPTION_WIDTH + BOX) / 2 - 1.2, y + (row - BOX) / 2)
            pdf.cell(3, BOX, str(k + 1))
            pdf.set_font(FONT, "", 8.5)
        y += row
    pdf.set_xy(MARGIN, y)
