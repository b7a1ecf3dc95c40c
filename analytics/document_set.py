"""Every Word document of a round for the office: per commune the results report and the scoring sheet, then the
summary report and the forum report; with a progress line."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from datetime import datetime
from pathlib import Path

from sqlalchemy.ext.asyncio import AsyncEngine

from analytics.assess import Criteria, assess, assessment_chart
from analytics.breakdown import Distribution, distribution
from analytics.charts import commune_chart, distribution_chart
from analytics.comments import survey_comments
from analytics.documents import (
    COMMUNE,
    FORUM,
    SCORING,
    SUMMARY,
    Letterhead,
    commune_context,
    forum_context,
    render,
    scoring_context,
    summary_context,
    template,
)
from analytics.forum import forum_chart, forum_figures, topic_labels
from analytics.forum_record import forum_record
from analytics.plot import render as draw
from analytics.progress import Progress
from analytics.rubric import Rubric
from analytics.score import compute
from analytics.sources import SourceSplit, by_source
from conversations.model import Questionnaire
from storage import criteria as stored_criteria


def steps(communes: int) -> int:
    """What `write_documents` reports to a Progress: data, two documents per commune, summary, forum report."""
    return 1 + 2 * communes + 2


async def write_documents(engine: AsyncEngine, round_id: str, rubric: Rubric, criteria: Criteria,
                          questionnaires: Mapping[str, Questionnaire], out_dir: Path, head: Letterhead, *,
                          now: datetime, answer_days: int, templates: Path | None = None,
                          progress: Progress | None = None, communes: Sequence[str] | None = None) -> list[Path]:
    """Write the round's documents into a folder; return their paths in the order written.

    With `communes`, only those communes' own documents (results and scoring sheet), none of the district's.
    """
    def step(label: str) -> None:
        if progress is not None:
            progress.advance(label)

    only = None if communes is None else list(communes)
    scores = await compute(engine, round_id, rubric, only)
    splits = {s.code: s for s in await by_source(engine, round_id, only)}
    dists = await distribution(engine, round_id, only)
    points = await stored_criteria.load(engine, round_id)
    units = [(s.code, s.name, s.type) for s in scores]
    assessed = {a.code: a for a in assess(units, points, {s.code: s for s in scores}, criteria, rubric)}
    labels = {t.type: t.label for t in criteria.thresholds}
    record = await forum_record(engine, now, answer_days, only)
    comments = await survey_comments(engine, round_id)
    step("số liệu")
    out_dir.mkdir(parents=True, exist_ok=True)
    paths: list[Path] = []

    async def write(name: str, source: str, context: dict, images: dict[str, list[bytes]]) -> None:
        path = out_dir / name
        data = await asyncio.to_thread(render, template(source, templates), context, images)
        await asyncio.to_thread(path.write_bytes, data)
        paths.append(path)
        step(name)

    for s in scores:
        charts = [await draw(distribution_chart, dists.get((s.code, g), Distribution()), q, s.name, round_id)
                  for g, q in questionnaires.items() if dists.get((s.code, g))]
        split = splits.get(s.code, SourceSplit(s.code, s.name))
        await write(f"{s.code}-ket-qua-tieu-chi-13-{round_id}.docx", COMMUNE,
                    commune_context(head, round_id, rubric, s, split, questionnaires, record, comments.get(s.code)),
                    {"charts": charts})
        a = assessed[s.code]
        await write(f"{s.code}-bieu-cham-diem-{round_id}.docx", SCORING,
                    scoring_context(head, round_id, criteria, a, labels.get(a.type, a.type), s), {})
    if only is not None:
        return paths
    figures = await forum_figures(engine, now=now, answer_days=answer_days)
    table = list(assessed.values()) if points else None
    images = {"score_charts": [await draw(commune_chart, scores, rubric, round_id)],
              "assessment_charts": [await draw(assessment_chart, round_id, table)] if table else []}
    await write(f"bao-cao-tong-hop-{round_id}.docx", SUMMARY,
                summary_context(head, round_id, rubric, criteria, scores, splits, table), images)
    topics = topic_labels()
    await write("bao-cao-dien-dan.docx", FORUM, forum_context(head, record, lambda t: topics.get(t, t)),
                {"charts": [await draw(forum_chart, figures, figures.title)]})
    return paths
