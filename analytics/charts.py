"""Criterion-13 charts as PNG bytes: one matplotlib Figure per call (Agg, no pyplot), so threads may render."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from analytics.breakdown import GROUP_LABELS, TOPIC_LABELS, Distribution, question_labels, topic_index
from analytics.plot import (
    FONT,
    WIDTH,
    figure,
    frame,
    ink,
    legend,
    message_chart,
    percent_axis,
    png,
    row_labels,
    say,
    side_labels,
    vi,
)
from analytics.rubric import Rubric
from analytics.score import CommuneScore
from analytics.stats import MIN_GROUP
from conversations.model import TOPICS, Questionnaire

NO_DATA = "chưa có dữ liệu"
SHORT = "chưa đủ mẫu"
WAIT = "◇ chưa đủ điều kiện đánh giá"
NEAR = "≈ sát ngưỡng"
HIDDEN_NOTE = f"<{MIN_GROUP} người trả lời — không hiển thị"
COLOURS = {"full": "#2e7d32", "some": "#1f77b4", "zero": "#c62828", "wait": "#7e57c2", "child": "#1f77b4",
           "resident": "#ef8a17"}
INKS = {"none": "#777777", "zero": "#c62828", "wait": "#7e57c2"}
GREENS, REDS, GREYS = ("#1b7837", "#7fbf7b", "#b8e186"), ("#f4a582", "#d6604d", "#b2182b"), ("#bdbdbd", "#969696")


def full_points_index(rubric: Rubric) -> float:
    """The lowest index that earns the rubric's maximum points."""
    return max(low for low, points in rubric.bands if points == rubric.max_points)


def _target_line(ax: Any, rubric: Rubric) -> None:
    """A dashed vertical line where full points start, named in the legend."""
    x = full_points_index(rubric) * 100
    ax.axvline(x, color="#2e7d32", linestyle="--", linewidth=1.2,
               label=vi(f"Mức đạt tối đa {rubric.max_points:g} điểm (≥ {x:g}%)"))


def _rubric_note(rubric: Rubric, extra: str = "") -> str:
    """The rubric's name and its provisional note as a footnote, with anything else the reader needs."""
    return f"Thang điểm: {rubric.name}. {rubric.note} " + extra


@dataclass(frozen=True, slots=True)
class CommuneBar:
    """What the comparison chart draws for one commune: value, colour, hatch and the words beside the bar."""

    name: str
    kind: str
    value: float | None
    colour: str
    hatch: str | None
    label: str
    ci95: tuple[float, float] | None = None


def commune_bars(scores: list[CommuneScore], short: bool = False) -> list[CommuneBar]:
    """The comparison chart's data, best index first: green only for full points of an assessable commune.

    `short` labels fit a phone: index, points and the marks (◇ not assessable, ≈ near a band edge) only.
    """
    bars = []
    for s in sorted(scores, key=lambda s: (s.index is None, -(s.index or 0), s.name)):
        if s.index is None:
            bars.append(CommuneBar(s.name, "none", None, "#777777", None, SHORT if s.short and not short else ""))
            continue
        kind = "wait" if not s.assessable else "zero" if s.zero else "full" if s.points == s.max_points else "some"
        flags = [f"{s.index:.0%}", f"{s.points:g}đ" if short else f"{s.points:g}/{s.max_points:g} điểm"]
        flags += ["LIỆT" if short else "ĐIỂM LIỆT"] if s.zero else []
        flags += [WAIT[0] if short else WAIT] if kind == "wait" else []
        flags += [NEAR[0] if short else NEAR] if s.near_threshold else []
        bars.append(CommuneBar(s.name, kind, s.index * 100, COLOURS[kind], "xx" if kind == "wait" else None,
                               (" " if short else " · ").join(flags), s.ci95))
    return bars


def commune_chart(scores: list[CommuneScore], rubric: Rubric, round_id: str, width: float = WIDTH) -> bytes:
    """Satisfaction index per commune with its 95% interval, points, the full-points line and flags."""
    title = f"Chỉ số hài lòng tiêu chí 13 theo xã — đợt {round_id}"
    if not scores:
        return message_chart(title, "Chưa có xã nào trong danh sách")
    bars = commune_bars(scores, short=width < WIDTH)
    fig = figure(len(bars), width=width, extra=1.9 if width >= WIDTH else 3.4)
    note = "Chưa có câu trả lời nào trong đợt này. " if all(b.value is None for b in bars) else ""
    ax = frame(fig, title, _rubric_note(rubric, note + "Vạch đen: khoảng tin cậy 95%. Tím gạch chéo (◇): chưa đủ "
                                        "điều kiện đánh giá — chưa đủ mẫu. ≈: sát ngưỡng — khoảng tin cậy vắt qua "
                                        "một mốc của thang điểm."))
    for y, b in enumerate(bars):
        if b.value is None:
            say(ax, 1, y, NO_DATA, color="#777777", style="italic")
            continue
        err = None if b.ci95 is None else [[b.value - b.ci95[0] * 100], [b.ci95[1] * 100 - b.value]]
        ax.barh(y, b.value, color=b.colour, alpha=0.9, hatch=b.hatch, edgecolor="white", xerr=err,
                error_kw={"ecolor": "#222222", "capsize": 3, "linewidth": 1})
    row_labels(ax, [b.name for b in bars])
    percent_axis(ax, "Chỉ số hài lòng (%)")
    _target_line(ax, rubric)
    legend(ax, 1)
    side_labels(ax, [b.label for b in bars], [INKS.get(b.kind, "#222222") for b in bars])
    return png(fig)


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


def distribution_chart(dist: Distribution, questionnaire: Questionnaire, commune_name: str, round_id: str) -> bytes:
    """Stacked shares of each answer per question for one group of one commune (or the district)."""
    group = GROUP_LABELS.get(questionnaire.group, questionnaire.group)
    title = f"{group} — {commune_name} — đợt {round_id}: trả lời từng câu"
    if dist.respondents == 0:
        return message_chart(title, "Chưa có người trả lời")
    if dist.small:
        return message_chart(title, HIDDEN_NOTE)
    labels = question_labels(questionnaire)
    fig = figure(len(labels), per_row=0.42, extra=2.4)
    ax = frame(fig, title, f"{dist.respondents} người trả lời. Tỷ lệ tính trên số câu trả lời của từng câu.")
    shares, colours = _shares(dist, questionnaire), _scale_colours(questionnaire)
    left = [0.0] * len(labels)
    for k, option in enumerate(questionnaire.scale):
        widths = [row[k] for row in shares]
        ax.barh(range(len(labels)), widths, left=left, color=colours[k], edgecolor="white", linewidth=0.5,
                label=vi(option.label.vi))
        for y, (x0, w) in enumerate(zip(left, widths, strict=True)):
            if w >= 8:
                say(ax, x0 + w / 2, y, f"{w:.0f}%", ha="center", fontsize=7.5, color=ink(colours[k]))
        left = [a + b for a, b in zip(left, widths, strict=True)]
    for y, total in enumerate(left):
        if not total:
            say(ax, 1, y, "chưa có câu trả lời", color="#777777", style="italic")
    row_labels(ax, labels)
    percent_axis(ax, "Tỷ lệ câu trả lời (%)")
    legend(ax, min(len(questionnaire.scale), 3))
    return png(fig)


def topic_chart(dists: Mapping[str, Distribution], questionnaires: Mapping[str, Questionnaire], rubric: Rubric,
                round_id: str, place: str = "toàn địa bàn", note: str = "") -> bytes:
    """Satisfaction index per topic for children and residents; groups under five people are not drawn."""
    title = f"Chỉ số hài lòng theo chủ đề — {place} — đợt {round_id}"
    groups = [g for g in GROUP_LABELS if g in questionnaires]
    topics = [t for t in TOPICS if any(t == i.topic for g in groups for i in questionnaires[g].items)]
    dists = {g: dists.get(g, Distribution()) for g in groups}
    if not topics or all(d.respondents == 0 for d in dists.values()):
        return message_chart(title, note or "Chưa có câu trả lời nào")
    if all(d.small for d in dists.values()):
        return message_chart(title, HIDDEN_NOTE)
    fig = figure(len(topics) * len(groups), per_row=0.3, extra=2.3)
    extra = (note + " " if note else "") + "Mỗi chủ đề: số câu hài lòng ÷ số câu trả lời được tính điểm."
    ax = frame(fig, title, _rubric_note(rubric, extra))
    height = 0.8 / len(groups)
    for k, g in enumerate(groups):
        dist = dists[g]
        offsets = [t + (k - (len(groups) - 1) / 2) * height for t in range(len(topics))]
        label = GROUP_LABELS[g] + (f" (n = {dist.respondents})" if not dist.small else f" ({HIDDEN_NOTE})")
        values = topic_index(dist, questionnaires[g]) if not dist.small else {}
        drawn = [values.get(t) for t in topics]
        ax.barh(offsets, [0 if v is None else v * 100 for v in drawn], height=height * 0.92,
                color=COLOURS[g], label=vi(label))
        for y, v in zip(offsets, drawn, strict=True):
            text = f"<{MIN_GROUP}" if dist.small else "—" if v is None else f"{v * 100:.0f}%"
            say(ax, (v or 0) * 100 + 1, y, text, fontsize=7.5, color="#333333")
    row_labels(ax, [TOPIC_LABELS.get(t, t) for t in topics])
    percent_axis(ax, "Chỉ số hài lòng (%)")
    _target_line(ax, rubric)
    legend(ax, len(groups) + 1)
    return png(fig)


def progress_chart(scores: list[CommuneScore], round_id: str, width: float = WIDTH) -> bytes:
    """Respondents who finished, per commune and group, against the round's targets."""
    title = f"Tiến độ khảo sát — đợt {round_id}: số người đã hoàn thành"
    if not scores:
        return message_chart(title, "Chưa có xã nào trong danh sách")
    fig = figure(len(scores) * 2, per_row=0.2, extra=2.3 if width >= WIDTH else 3.2, width=width)
    nobody = all(s.children.n + s.residents.n == 0 for s in scores)
    targets = sorted({s.children.target for s in scores} | {s.residents.target for s in scores})
    ax = frame(fig, title, ("Chưa có ai hoàn thành phiếu. " if nobody else "")
                + ("Vạch đứt: số người cần có theo mục tiêu của đợt." if len(targets) == 1 else
                   "Vạch đen ngắn: mục tiêu của xã cho nhóm đó (mỗi xã một mục tiêu); số tím: chưa đủ mẫu."))
    top = max([s.children.n for s in scores] + [s.residents.n for s in scores]
              + [s.children.target for s in scores] + [s.residents.target for s in scores] + [1])
    for k, (g, pick) in enumerate((("child", lambda s: s.children), ("resident", lambda s: s.residents))):
        ys = [y + (k - 0.5) * 0.4 for y in range(len(scores))]
        groups = [pick(s) for s in scores]
        ax.barh(ys, [x.n for x in groups], height=0.38, color=COLOURS[g], label=vi(GROUP_LABELS[g]))
        for y, x in zip(ys, groups, strict=True):
            say(ax, max(x.n, x.target) + top * 0.01, y, f"{x.n}/{x.target}", fontsize=7,
                color="#7e57c2" if x.short else "#333333")
        if len(targets) > 1:
            ax.scatter([x.target for x in groups], ys, marker="|", s=90, linewidths=2, color="#222222", zorder=3,
                       label=vi("Mục tiêu của xã") if k == 0 else None)
    if len(targets) == 1:
        ax.axvline(targets[0], color="#444444", linestyle="--", linewidth=1, label=vi(f"Mục tiêu: {targets[0]} người"))
    row_labels(ax, [s.name for s in scores])
    ax.set_xlim(0, top * 1.12)
    ax.set_xlabel(vi("Số người đã hoàn thành phiếu"), fontfamily=FONT, fontsize=9)
    ax.grid(axis="x", color="#e0e0e0", linewidth=0.6)
    ax.set_axisbelow(True)
    legend(ax, 3 if width >= WIDTH else 1)
    return png(fig)
