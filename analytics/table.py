"""The readable table of `xtt score`."""

from __future__ import annotations

from analytics.rubric import Rubric
from analytics.score import CommuneScore


def percent(value: float | None) -> str:
    """A share as a whole percentage, or a dash."""
    return "—" if value is None else f"{value * 100:.0f}%"


def interval(pair: tuple[float, float] | None) -> str:
    """An interval as 'lo–hi%'."""
    return "—" if pair is None else f"{pair[0] * 100:.0f}–{pair[1] * 100:.0f}%"


def table(round_id: str, rubric: Rubric, scores: list[CommuneScore]) -> str:
    """Scores per commune as aligned text, with the rubric's name and note."""
    lines = [f"Round {round_id} · rubric: {rubric.name}", rubric.note, "",
             f"{'commune':<22} {'children':>9} {'n':>4} {'residents':>9} {'n':>4} {'index':>6} {'95% CI':>9} "
             f"{'points':>8}  flags"]
    for s in scores:
        flags = []
        if s.zero:
            flags.append("điểm liệt")
        if s.short:
            flags.append("chưa đủ mẫu — chưa đủ điều kiện đánh giá")
        if s.near_threshold:
            flags.append("sát ngưỡng")
        points = "—" if s.points is None else f"{s.points:g}/{s.max_points:g}"
        lines.append(f"{s.name:<22} {percent(s.children.index):>9} {s.children.n:>4} "
                     f"{percent(s.residents.index):>9} {s.residents.n:>4} {percent(s.index):>6} "
                     f"{interval(s.ci95):>9} {points:>8}  {', '.join(flags)}")
    return "\n".join(lines)
