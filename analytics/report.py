"""The office's report for a round: charts (PNG), the workbook (XLSX) and a Vietnamese summary (Markdown)."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from pathlib import Path

from sqlalchemy.ext.asyncio import AsyncEngine

from analytics.breakdown import GROUP_LABELS, distribution, district
from analytics.charts import commune_chart, progress_chart, topic_chart
from analytics.comments import Comments, survey_comments
from analytics.plot import render
from analytics.progress import Progress
from analytics.rubric import Rubric
from analytics.score import CommuneScore, compute
from analytics.sources import by_source
from analytics.stats import MIN_GROUP
from analytics.table import interval, percent
from analytics.workbook import workbook
from conversations.model import Questionnaire

COMPARISON, TOPICS, PROGRESS, SUMMARY = "so-sanh-xa.png", "theo-chu-de.png", "tien-do.png", "summary.md"
STEPS = 6  # what `write_report` reports to a Progress: data, three charts, workbook, summary
PLACE = "toàn địa bàn"  # every commune the office covers (districts no longer exist since 1 July 2025)


def workbook_name(round_id: str) -> str:
    """The workbook's file name for a round."""
    return f"ket-qua-{round_id}.xlsx"


async def write_report(engine: AsyncEngine, round_id: str, rubric: Rubric, questionnaires: Mapping[str, Questionnaire],
                       out_dir: Path, progress: Progress | None = None, office: str = "") -> list[Path]:
    """Write the round's charts, workbook and summary into a folder; return the files written."""
    def step(label: str) -> None:
        if progress is not None:
            progress.advance(label)

    scores = await compute(engine, round_id, rubric)
    dists = await distribution(engine, round_id)
    step("số liệu")
    pooled, left_out = {}, []
    for group in questionnaires:
        pooled[group], skipped = district(dists, group)
        if skipped:
            left_out.append(f"{skipped} xã (nhóm {GROUP_LABELS.get(group, group).lower()})")
    note = f"Không tính nhóm dưới {MIN_GROUP} người: {', '.join(left_out)}." if left_out else ""
    out_dir.mkdir(parents=True, exist_ok=True)
    files = {COMPARISON: await render(commune_chart, scores, rubric, round_id)}
    step("biểu đồ so sánh xã")
    files[TOPICS] = await render(topic_chart, pooled, questionnaires, rubric, round_id, PLACE, note)
    step("biểu đồ theo chủ đề")
    files[PROGRESS] = await render(progress_chart, scores, round_id)
    step("biểu đồ tiến độ")
    sources = await by_source(engine, round_id)
    files[workbook_name(round_id)] = await asyncio.to_thread(
        workbook, round_id, rubric, scores, dists, questionnaires, {s.code: s.name for s in scores},
        PLACE.capitalize(), sources)
    step("bảng tính Excel")
    comments = await survey_comments(engine, round_id)
    files[SUMMARY] = summary(round_id, rubric, scores, office, comments).encode("utf-8")
    paths = [out_dir / name for name in files]
    await asyncio.to_thread(_write, dict(zip(paths, files.values(), strict=True)))
    step("tóm tắt")
    return paths


def _write(files: dict[Path, bytes]) -> None:
    """Write each file whole."""
    for path, data in files.items():
        path.write_bytes(data)


def _cell(text: str) -> str:
    """Text safe inside a Markdown table cell."""
    return text.replace("|", "\\|").replace("\n", " ")


def _flags(s: CommuneScore) -> str:
    """What the office must notice about a commune."""
    flags = ["chưa có dữ liệu"] if s.index is None else []
    flags += ["**điểm liệt**"] if s.zero else []
    flags += ["chưa đủ mẫu — chưa đủ điều kiện đánh giá"] if s.short else []
    flags += ["sát ngưỡng"] if s.near_threshold else []
    return ", ".join(flags)


def summary(round_id: str, rubric: Rubric, scores: list[CommuneScore], office: str = "",
            comments: Mapping[str, Comments] | None = None) -> str:
    """The Vietnamese summary: rubric, a row per commune, communes short of sample or with zero points, the
    survey's comments, files."""
    lines = [f"# Tiêu chí 13 — mức độ hài lòng của trẻ em và người dân — đợt {round_id}", "",
             *([f"**{office}**", ""] if office else []),
             f"**Thang điểm:** {rubric.name}", "", f"> {rubric.note}", "",
             "Chỉ số = số câu trả lời hài lòng ÷ số câu trả lời được tính điểm (chỉ tính phiếu đã hoàn thành); "
             "chỉ số chung kết hợp hai nhóm theo trọng số của thang điểm. KTC 95%: khoảng tin cậy 95%.", "",
             "## Kết quả theo xã", "",
             "| Xã | Mã | Trẻ em (n) | Trẻ em: chỉ số | Người dân (n) | Người dân: chỉ số | Chỉ số chung "
             "| KTC 95% | Điểm | Ghi chú |",
             "|---|---|--:|--:|--:|--:|--:|--:|--:|---|"]
    for s in scores:
        points = "—" if s.points is None else f"{s.points:g}/{s.max_points:g}"
        lines.append(f"| {_cell(s.name)} | {_cell(s.code)} | {s.children.n} | {percent(s.children.index)} "
                     f"| {s.residents.n} | {percent(s.residents.index)} | {percent(s.index)} | {interval(s.ci95)} "
                     f"| {points} | {_flags(s)} |")
    if not scores:
        lines.append("| Chưa có xã nào | | | | | | | | | |")
    short = [s for s in scores if s.short]
    lines += ["", "## Xã chưa đủ mẫu — chưa đủ điều kiện đánh giá", "",
              "Mỗi xã so với mục tiêu của chính xã đó; xã chưa đủ mẫu không được kết luận “Đạt”.", ""]
    lines += [f"- {s.name}: trẻ em {s.children.n}/{s.children.target}, "
              f"người dân {s.residents.n}/{s.residents.target}" for s in short] or ["Không có."]
    lines += ["", "## Xã sát ngưỡng", "",
              "Khoảng tin cậy 95% của chỉ số vắt qua một mốc của thang điểm: điểm có thể khác khi có thêm mẫu.", ""]
    lines += [f"- {s.name}: chỉ số {percent(s.index)} (KTC 95% {interval(s.ci95)})"
              for s in scores if s.near_threshold] or ["Không có."]
    lines += ["", "## Xã bị điểm liệt (0 điểm)", ""]
    lines += [f"- {s.name}: chỉ số chung {percent(s.index)} — 0/{s.max_points:g} điểm, xã không đạt tiêu chí 13"
              for s in scores if s.zero] or ["Không có."]
    empty = [s.name for s in scores if s.index is None]
    if empty:
        lines += ["", "## Xã chưa có dữ liệu", "", ", ".join(empty) + "."]
    if comments:
        lines += ["", "## Ý kiến góp ý trong phiếu", "",
                  f"Không ghi danh tính; xã dưới {MIN_GROUP} người trả lời không nêu ý kiến; ý kiến có dấu hiệu trẻ "
                  "em gặp nguy hiểm không đưa vào báo cáo."]
        for s in scores:
            if s.code in comments:
                lines += ["", f"### {s.name}", "", *(f"- {_cell(line)}" for line in comments[s.code].lines())]
    lines += ["", "## Biểu đồ và bảng tính", "",
              f"- [So sánh các xã]({COMPARISON})", f"- [Chỉ số theo chủ đề, {PLACE}]({TOPICS})",
              f"- [Tiến độ khảo sát]({PROGRESS})",
              f"- [Bảng tính Excel: tổng hợp, từng xã, phân bố theo câu]({workbook_name(round_id)})", "",
              f"Số liệu theo từng câu của nhóm dưới {MIN_GROUP} người trả lời được ẩn để bảo vệ người trả lời.", ""]
    return "\n".join(lines)
