"""Criterion-13 charts as PNG bytes: one matplotlib Figure per call (Agg, no pyplot), so threads may render."""

from __future__ import annotations

import asyncio
import io
import textwrap
import unicodedata
from collections.abc import Callable, Mapping
from typing import Any

from analytics.breakdown import GROUP_LABELS, TOPIC_LABELS, Distribution, question_labels, topic_index
from analytics.rubric import Rubric
from analytics.score import CommuneScore
from analytics.stats import MIN_GROUP
from conversations.model import TOPICS, Questionnaire

FONT = "DejaVu Sans"  # bundled with matplotlib; covers Vietnamese letters
DPI = 110
WIDTH = 9.0
NO_DATA = "chưa có dữ liệu"
SHORT = "chưa đủ mẫu"
HIDDEN_NOTE = f"<{MIN_GROUP} người trả lời — không hiển thị"
COLOURS = {"full": "#2e7d32", "some": "#1f77b4", "zero": "#c62828", "child": "#1f77b4", "resident": "#ef8a17"}
GREENS, REDS, GREYS = ("#1b7837", "#7fbf7b", "#b8e186"), ("#f4a582", "#d6604d", "#b2182b"), ("#bdbdbd", "#969696")


async def render(fn: Callable[..., bytes], *args: Any, **kwargs: Any) -> bytes:
    """Render a chart in a worker thread, off the event loop."""
    return await asyncio.to_thread(fn, *args, **kwargs)


def _vi(text: str) -> str:
    """Text in composed (NFC) form, so every letter is one glyph of the font."""
    return unicodedata.normalize("NFC", text)


def _figure(rows: int, per_row: float = 0.36, extra: float = 1.9) -> Any:
    """A Figure whose height grows with the number of rows, laid out without overlaps."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(WIDTH, max(3.2, extra + per_row * rows)), dpi=DPI, layout="constrained")
    fig.get_layout_engine().set(w_pad=0.08, h_pad=0.06)
    return fig


def _png(fig: Any) -> bytes:
    """The Figure as PNG bytes."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    FigureCanvasAgg(fig)
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=DPI)
    return buf.getvalue()


def _frame(fig: Any, title: str, footnote: str = "") -> Any:
    """One axes with a title, a footnote and every label in DejaVu Sans."""
    ax = fig.add_subplot()
    fig.suptitle(_vi(title), fontfamily=FONT, fontsize=12, fontweight="bold")
    if footnote:
        fig.supxlabel(_vi(textwrap.fill(footnote, 150)), fontfamily=FONT, fontsize=7.5, color="#555555",
                      x=0.01, ha="left")
    ax.tick_params(labelfontfamily=FONT, labelsize=9)
    ax.spines[["top", "right"]].set_visible(False)
    return ax


def _names(ax: Any, labels: list[str]) -> None:
    """Row labels on the y axis, first row on top, every row inside the plot."""
    ax.set_yticks(range(len(labels)), [_vi(s) for s in labels])
    ax.set_ylim(len(labels) - 0.5, -0.5)


def _figures(ax: Any, labels: list[str], colours: list[str]) -> None:
    """A column of per-row figures right of the plot, kept in the layout like tick labels."""
    right = ax.twinx()
    right.set_ylim(ax.get_ylim())
    right.set_yticks(range(len(labels)), [_vi(s) for s in labels])
    right.tick_params(length=0, labelfontfamily=FONT, labelsize=8)
    right.spines[["top", "right", "left"]].set_visible(False)
    for label, colour in zip(right.get_yticklabels(), colours, strict=True):
        label.set_color(colour)


def _say(ax: Any, x: float, y: float, text: str, **kw: Any) -> None:
    """A small label inside the plot."""
    ax.text(x, y, _vi(text), fontfamily=FONT, fontsize=kw.pop("fontsize", 8), va="center", **kw)


def _percent_axis(ax: Any, label: str) -> None:
    """An x axis from 0 to 100 percent."""
    ax.set_xlim(0, 100)
    ax.set_xlabel(_vi(label), fontfamily=FONT, fontsize=9)
    ax.grid(axis="x", color="#e0e0e0", linewidth=0.6)
    ax.set_axisbelow(True)


def message_chart(title: str, text: str) -> bytes:
    """An image that only says something, for when there is nothing (or too little) to draw."""
    fig = _figure(0, extra=2.4)
    fig.suptitle(_vi(title), fontfamily=FONT, fontsize=12, fontweight="bold")
    fig.text(0.5, 0.45, _vi(text), fontfamily=FONT, fontsize=14, ha="center", va="center", color="#444444")
    return _png(fig)


def full_points_index(rubric: Rubric) -> float:
    """The lowest index that earns the rubric's maximum points."""
    return max(low for low, points in rubric.bands if points == rubric.max_points)


def _target_line(ax: Any, rubric: Rubric) -> None:
    """A dashed vertical line where full points start, named in the legend."""
    x = full_points_index(rubric) * 100
    ax.axvline(x, color="#2e7d32", linestyle="--", linewidth=1.2,
               label=_vi(f"Mức đạt tối đa {rubric.max_points:g} điểm (≥ {x:g}%)"))


def _legend(ax: Any, ncol: int) -> None:
    """The legend in one band just above the plot, under the title."""
    ax.legend(loc="lower center", bbox_to_anchor=(0.5, 1.0), ncol=ncol, frameon=False,
              prop={"family": FONT, "size": 8}, handlelength=1.6, columnspacing=1.2)


def _rubric_note(rubric: Rubric, extra: str = "") -> str:
    """The rubric's name as a footnote, with anything else the reader needs."""
    return f"Thang điểm: {rubric.name}. " + extra


def commune_chart(scores: list[CommuneScore], rubric: Rubric, round_id: str) -> bytes:
    """Satisfaction index per commune with its 95% interval, points, the full-points line and flags."""
    title = f"Chỉ số hài lòng tiêu chí 13 theo xã — đợt {round_id}"
    if not scores:
        return message_chart(title, "Chưa có xã nào trong danh sách")
    rows = sorted(scores, key=lambda s: (s.index is None, -(s.index or 0), s.name))
    fig = _figure(len(rows))
    empty = all(s.index is None for s in rows)
    note = "Chưa có câu trả lời nào trong đợt này. " if empty else ""
    ax = _frame(fig, title, _rubric_note(rubric, note + "Vạch đen: khoảng tin cậy 95%. Gạch chéo: chưa đủ mẫu."))
    figures, inks = [], []
    for y, s in enumerate(rows):
        if s.index is None:
            _say(ax, 1, y, NO_DATA, color="#777777", style="italic")
            figures.append(f"{SHORT}" if s.short else "")
            inks.append("#777777")
            continue
        kind = "zero" if s.zero else "full" if s.points == s.max_points else "some"
        value = s.index * 100
        err = None if s.ci95 is None else [[value - s.ci95[0] * 100], [s.ci95[1] * 100 - value]]
        ax.barh(y, value, color=COLOURS[kind], alpha=0.55 if s.short else 0.9, hatch="///" if s.short else None,
                edgecolor="white", xerr=err, error_kw={"ecolor": "#222222", "capsize": 3, "linewidth": 1})
        flags = [f"{s.index:.0%}", f"{s.points:g}/{s.max_points:g} điểm"]
        flags += ["ĐIỂM LIỆT"] if s.zero else []
        flags += [SHORT] if s.short else []
        figures.append(" · ".join(flags))
        inks.append(COLOURS["zero"] if s.zero else "#222222")
    _names(ax, [s.name for s in rows])
    _percent_axis(ax, "Chỉ số hài lòng (%)")
    _target_line(ax, rubric)
    _legend(ax, 1)
    _figures(ax, figures, inks)
    return _png(fig)


def _shares(dist: Distribution, questionnaire: Questionnaire) -> list[list[float]]:
    """Per question, the share (percent) of each scale option among its answers."""
    out = []
    for item in questionnaire.items:
        counts = [dist.counts.get(item.id, {}).get(o.id, 0) for o in questionnaire.scale]
        total = sum(counts)
        out.append([100 * c / total if total else 0.0 for c in counts])
    return out


def _pick(palette: tuple[str, ...], i: int, n: int) -> str:
    """The i-th of n colours spread over a palette."""
    return palette[round(i * (len(palette) - 1) / (n - 1))] if n > 1 else palette[0]


def _scale_colours(questionnaire: Questionnaire) -> list[str]:
    """Greens for satisfied options, reds for the others, greys for unscored ones, in scale order."""
    kinds = ["skip" if not o.scored else "yes" if o.satisfied else "no" for o in questionnaire.scale]
    palettes = {"yes": GREENS, "no": REDS, "skip": GREYS}
    seen = dict.fromkeys(palettes, 0)
    out = []
    for kind in kinds:
        out.append(_pick(palettes[kind], seen[kind], kinds.count(kind)))
        seen[kind] += 1
    return out


def _ink(colour: str) -> str:
    """White or black text, whichever reads better on a colour."""
    from matplotlib.colors import to_rgb

    r, g, b = to_rgb(colour)
    return "white" if 0.299 * r + 0.587 * g + 0.114 * b < 0.5 else "#222222"


def distribution_chart(dist: Distribution, questionnaire: Questionnaire, commune_name: str, round_id: str) -> bytes:
    """Stacked shares of each answer per question for one group of one commune (or the district)."""
    group = GROUP_LABELS.get(questionnaire.group, questionnaire.group)
    title = f"{group} — {commune_name} — đợt {round_id}: trả lời từng câu"
    if dist.respondents == 0:
        return message_chart(title, "Chưa có người trả lời")
    if dist.small:
        return message_chart(title, HIDDEN_NOTE)
    labels = question_labels(questionnaire)
    fig = _figure(len(labels), per_row=0.42, extra=2.4)
    ax = _frame(fig, title, f"{dist.respondents} người trả lời. Tỷ lệ tính trên số câu trả lời của từng câu.")
    shares, colours = _shares(dist, questionnaire), _scale_colours(questionnaire)
    left = [0.0] * len(labels)
    for k, option in enumerate(questionnaire.scale):
        widths = [row[k] for row in shares]
        ax.barh(range(len(labels)), widths, left=left, color=colours[k], edgecolor="white", linewidth=0.5,
                label=_vi(option.label.vi))
        for y, (x0, w) in enumerate(zip(left, widths, strict=True)):
            if w >= 8:
                _say(ax, x0 + w / 2, y, f"{w:.0f}%", ha="center", fontsize=7.5, color=_ink(colours[k]))
        left = [a + b for a, b in zip(left, widths, strict=True)]
    for y, total in enumerate(left):
        if not total:
            _say(ax, 1, y, "chưa có câu trả lời", color="#777777", style="italic")
    _names(ax, labels)
    _percent_axis(ax, "Tỷ lệ câu trả lời (%)")
    _legend(ax, min(len(questionnaire.scale), 3))
    return _png(fig)


def topic_chart(dists: Mapping[str, Distribution], questionnaires: Mapping[str, Questionnaire], rubric: Rubric,
                round_id: str, place: str = "toàn huyện", note: str = "") -> bytes:
    """Satisfaction index per topic for children and residents; groups under five people are not drawn."""
    title = f"Chỉ số hài lòng theo chủ đề — {place} — đợt {round_id}"
    groups = [g for g in GROUP_LABELS if g in questionnaires]
    topics = [t for t in TOPICS if any(t == i.topic for g in groups for i in questionnaires[g].items)]
    dists = {g: dists.get(g, Distribution()) for g in groups}
    if not topics or all(d.respondents == 0 for d in dists.values()):
        return message_chart(title, note or "Chưa có câu trả lời nào")
    if all(d.small for d in dists.values()):
        return message_chart(title, HIDDEN_NOTE)
    fig = _figure(len(topics) * len(groups), per_row=0.3, extra=2.3)
    extra = (note + " " if note else "") + "Mỗi chủ đề: số câu hài lòng ÷ số câu trả lời được tính điểm."
    ax = _frame(fig, title, _rubric_note(rubric, extra))
    height = 0.8 / len(groups)
    for k, g in enumerate(groups):
        dist = dists[g]
        offsets = [t + (k - (len(groups) - 1) / 2) * height for t in range(len(topics))]
        label = GROUP_LABELS[g] + (f" (n = {dist.respondents})" if not dist.small else f" ({HIDDEN_NOTE})")
        values = topic_index(dist, questionnaires[g]) if not dist.small else {}
        drawn = [values.get(t) for t in topics]
        ax.barh(offsets, [0 if v is None else v * 100 for v in drawn], height=height * 0.92,
                color=COLOURS[g], label=_vi(label))
        for y, v in zip(offsets, drawn, strict=True):
            text = f"<{MIN_GROUP}" if dist.small else "—" if v is None else f"{v * 100:.0f}%"
            _say(ax, (v or 0) * 100 + 1, y, text, fontsize=7.5, color="#333333")
    _names(ax, [TOPIC_LABELS.get(t, t) for t in topics])
    _percent_axis(ax, "Chỉ số hài lòng (%)")
    _target_line(ax, rubric)
    _legend(ax, len(groups) + 1)
    return _png(fig)


def progress_chart(scores: list[CommuneScore], round_id: str) -> bytes:
    """Respondents who finished, per commune and group, against the round's targets."""
    title = f"Tiến độ khảo sát — đợt {round_id}: số người đã hoàn thành"
    if not scores:
        return message_chart(title, "Chưa có xã nào trong danh sách")
    fig = _figure(len(scores) * 2, per_row=0.2, extra=2.3)
    nobody = all(s.children.n + s.residents.n == 0 for s in scores)
    ax = _frame(fig, title, ("Chưa có ai hoàn thành phiếu. " if nobody else "")
                + "Vạch đứt: số người cần có theo mục tiêu của đợt.")
    top = max([s.children.n for s in scores] + [s.residents.n for s in scores]
              + [s.children.target for s in scores] + [s.residents.target for s in scores] + [1])
    for k, (g, pick) in enumerate((("child", lambda s: s.children), ("resident", lambda s: s.residents))):
        ys = [y + (k - 0.5) * 0.4 for y in range(len(scores))]
        groups = [pick(s) for s in scores]
        ax.barh(ys, [x.n for x in groups], height=0.38, color=COLOURS[g], label=_vi(GROUP_LABELS[g]))
        for y, x in zip(ys, groups, strict=True):
            _say(ax, x.n + top * 0.01, y, f"{x.n}/{x.target}", fontsize=7, color="#333333")
    targets = sorted({s.children.target for s in scores} | {s.residents.target for s in scores})
    for t in targets:
        ax.axvline(t, color="#444444", linestyle="--", linewidth=1, label=_vi(f"Mục tiêu: {t} người"))
    _names(ax, [s.name for s in scores])
    ax.set_xlim(0, top * 1.12)
    ax.set_xlabel(_vi("Số người đã hoàn thành phiếu"), fontfamily=FONT, fontsize=9)
    ax.grid(axis="x", color="#e0e0e0", linewidth=0.6)
    ax.set_axisbelow(True)
    _legend(ax, 2 + len(targets))
    return _png(fig)
