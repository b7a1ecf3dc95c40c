"""A poll's results as a bar chart (PNG bytes), in the house style of analytics.charts."""

from __future__ import annotations

import textwrap
from collections.abc import Sequence

from analytics.plot import FONT, figure, frame, png, vi


def poll_chart(question: str, options: Sequence[str], counts: Sequence[int]) -> bytes:
    """Votes per option as horizontal bars with counts and shares."""
    total = sum(counts)
    fig = figure(len(options))
    ax = frame(fig, textwrap.shorten(question, 70, placeholder="…"), f"{total} phiếu · kết quả ẩn danh")
    labels = [vi(textwrap.shorten(o, 40, placeholder="…")) for o in options][::-1]
    values = list(counts)[::-1]
    ax.barh(labels, values, color="#1f77b4")
    for y, value in enumerate(values):
        share = f" {value} ({value / total * 100:.0f}%)" if total else " 0"
        ax.text(value, y, share, va="center", fontfamily=FONT, fontsize=9)
    ax.set_xlim(0, max([*values, 1]) * 1.25)
    ax.set_xlabel("Số phiếu", fontfamily=FONT)
    return png(fig)
