"""Drawing toolkit shared by every chart: one matplotlib Figure per call (Agg, no pyplot), PNG bytes out."""

from __future__ import annotations

import asyncio
import io
import textwrap
import unicodedata
from collections.abc import Callable
from typing import Any

FONT = "DejaVu Sans"  # bundled with matplotlib; covers Vietnamese letters
DPI = 110
WIDTH = 9.0
PHONE = 3.6  # inches: a chart that fits a 360-px phone's screen at about its own size


async def render(fn: Callable[..., bytes], *args: Any, **kwargs: Any) -> bytes:
    """Render a chart in a worker thread, off the event loop."""
    return await asyncio.to_thread(fn, *args, **kwargs)


def vi(text: str) -> str:
    """Text in composed (NFC) form, so every letter is one glyph of the font."""
    return unicodedata.normalize("NFC", text)


def figure(rows: int, per_row: float = 0.36, extra: float = 1.9, width: float = WIDTH) -> Any:
    """A Figure whose height grows with the number of rows, laid out without overlaps."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, max(3.2, extra + per_row * rows)), dpi=DPI, layout="constrained")
    fig.get_layout_engine().set(w_pad=0.08, h_pad=0.06)
    return fig


def png(fig: Any) -> bytes:
    """The Figure as PNG bytes."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    FigureCanvasAgg(fig)
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=DPI)
    return buf.getvalue()


def frame(fig: Any, title: str, footnote: str = "") -> Any:
    """One axes with a title, a footnote and every label in DejaVu Sans."""
    ax = fig.add_subplot()
    narrow = fig.get_figwidth() / WIDTH  # below 1 on a phone's chart: wrap the title and the footnote sooner
    fig.suptitle(vi(title if narrow >= 1 else textwrap.fill(title, int(90 * narrow))), fontfamily=FONT,
                 fontsize=12, fontweight="bold")
    if footnote:
        fig.supxlabel(vi(textwrap.fill(footnote, int(150 * min(narrow, 1)))), fontfamily=FONT, fontsize=7.5,
                      color="#555555", x=0.01, ha="left")
    ax.tick_params(labelfontfamily=FONT, labelsize=9)
    ax.spines[["top", "right"]].set_visible(False)
    return ax


def row_labels(ax: Any, labels: list[str]) -> None:
    """Row labels on the y axis, first row on top, every row inside the plot."""
    ax.set_yticks(range(len(labels)), [vi(s) for s in labels])
    ax.set_ylim(len(labels) - 0.5, -0.5)


def side_labels(ax: Any, labels: list[str], colours: list[str]) -> None:
    """A column of per-row figures right of the plot, kept in the layout like tick labels."""
    right = ax.twinx()
    right.set_ylim(ax.get_ylim())
    right.set_yticks(range(len(labels)), [vi(s) for s in labels])
    right.tick_params(length=0, labelfontfamily=FONT, labelsize=8)
    right.spines[["top", "right", "left"]].set_visible(False)
    for label, colour in zip(right.get_yticklabels(), colours, strict=True):
        label.set_color(colour)


def say(ax: Any, x: float, y: float, text: str, **kw: Any) -> None:
    """A small label inside the plot."""
    ax.text(x, y, vi(text), fontfamily=FONT, fontsize=kw.pop("fontsize", 8), va="center", **kw)


def percent_axis(ax: Any, label: str) -> None:
    """An x axis from 0 to 100 percent."""
    ax.set_xlim(0, 100)
    ax.set_xlabel(vi(label), fontfamily=FONT, fontsize=9)
    ax.grid(axis="x", color="#e0e0e0", linewidth=0.6)
    ax.set_axisbelow(True)


def message_chart(title: str, text: str) -> bytes:
    """An image that only says something, for when there is nothing (or too little) to draw."""
    fig = figure(0, extra=2.4)
    fig.suptitle(vi(title), fontfamily=FONT, fontsize=12, fontweight="bold")
    fig.text(0.5, 0.45, vi(text), fontfamily=FONT, fontsize=14, ha="center", va="center", color="#444444")
    return png(fig)


def legend(ax: Any, ncol: int) -> None:
    """The legend in one band just above the plot, under the title."""
    ax.legend(loc="lower center", bbox_to_anchor=(0.5, 1.0), ncol=ncol, frameon=False,
              prop={"family": FONT, "size": 8}, handlelength=1.6, columnspacing=1.2)


def ink(colour: str) -> str:
    """White or black text, whichever reads better on a colour."""
    from matplotlib.colors import to_rgb

    r, g, b = to_rgb(colour)
    return "white" if 0.299 * r + 0.587 * g + 0.114 * b < 0.5 else "#222222"
