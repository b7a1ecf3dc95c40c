"""Scores, reports and the recognition table in chat: text first, then charts and files."""

from __future__ import annotations

import tempfile
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine

from analytics import Rubric, compute
from analytics.assess import AssessError, Criteria, assess, assessment_chart, summary_lines
from analytics.breakdown import GROUP_LABELS, HIDDEN, Distribution, distribution
from analytics.charts import commune_chart, distribution_chart
from analytics.forum import write_forum_report
from analytics.plot import render
from analytics.report import write_report
from analytics.stats import MIN_GROUP
from analytics.table import interval, percent
from conversations import Catalogue, Reply
from conversations.model import Questionnaire
from storage import criteria as stored_criteria
from storage.rounds import current_round, latest_round, open_info


async def chosen_round(db: AsyncEngine) -> str | None:
    """The open round, else the latest one."""
    return await current_round(db) or await latest_round(db)


async def still_open(db: AsyncEngine, round_id: str, now: datetime) -> bool:
    """Whether a round is open and not past its closing day (its live index is then for officials only)."""
    found = await open_info(db)
    return found is not None and found.id == round_id and found.window_state(now) != "closed"


def rubric_line(rubric: Rubric) -> str:
    """The rubric's name and its provisional note, as printed under a verdict chart."""
    return f"Thang điểm tiêu chí 13: {rubric.name}. {rubric.note}"


async def recognition(db: AsyncEngine, round_id: str, rubric: Rubric, criteria: Criteria,
                      points: Mapping[str, Mapping[int, float | None]]) -> list:
    """The recognition table of a round: the office's points for 1-12 and the survey's for 13."""
    scores = await compute(db, round_id, rubric)
    return assess([(s.code, s.name, s.type) for s in scores], points, {s.code: s for s in scores}, criteria, rubric)


class Reports:
    """The chat side of analytics; who may ask is checked before these run."""

    def __init__(self, db: AsyncEngine, texts: Catalogue, rubric: Rubric, criteria: Criteria,
                 questionnaires: Mapping[str, Questionnaire], office: str = "", answer_days: int = 15) -> None:
        self.db = db
        self.answer_days = answer_days
        self.texts = texts
        self.rubric = rubric
        self.criteria = criteria
        self.questionnaires = questionnaires
        self.office = office

    async def score(self, communes: list[str] | None, lang: str, *, live_index: bool = True,
                    now: datetime | None = None) -> list[Reply]:
        """A short summary with a chart: all communes in scope, or one commune's answers per question.

        With `live_index` False (a leader, unless XTT_LEADER_LIVE_INDEX is on) an open round shows its
        progress instead of its index until it closes; officials always get both.
        """
        round_id = await chosen_round(self.db)
        if round_id is None:
            return [Reply(self.texts.get(lang, "round.none"), key="round.none")]
        if not live_index and await still_open(self.db, round_id, now or datetime.now(UTC)):
            note = Reply(self.texts.get(lang, "score.hidden", round=round_id), key="score.hidden")
            return [note, *await self.progress(communes, lang)]
        scores = await compute(self.db, round_id, self.rubric, communes)
        if not any(s.children.n or s.residents.n for s in scores):
            return [Reply(self.texts.get(lang, "score.empty", round=round_id), key="score.empty")]
        lines = [self.texts.get(lang, "score.title", round=round_id)]
        for s in scores:
            points = "—" if s.points is None else f"{s.points:g}/{s.max_points:g}"
            flags = (" ⚠️ " + self.texts.get(lang, "score.zero")) if s.zero else ""
            flags += (" · " + self.texts.get(lang, "score.not_assessable")) if not s.assessable else ""
            flags += (" · " + self.texts.get(lang, "score.near")) if s.near_threshold else ""
            lines.append(self.texts.get(lang, "score.line", name=s.name, children=_shown(s.children),
                                        n_children=s.children.n, residents=_shown(s.residents),
                                        n_residents=s.residents.n, index=percent(s.index), ci=interval(s.ci95),
                                        points=points) + flags)
        lines.append(self.texts.get(lang, "score.rubric", name=self.rubric.name))
        lines.append(self.rubric.note)
        replies = [Reply("\n".join(lines), key="score")]
        if len(scores) == 1:
            small = {g for g, group in (("child", scores[0].children), ("resident", scores[0].residents))
                     if 0 < group.n < MIN_GROUP}  # no per-question chart of fewer than 5 people
            replies += await self._distribution(round_id, scores[0].code, scores[0].name, small)
        else:
            chart = await render(commune_chart, scores, self.rubric, round_id)
            replies.append(Reply(self.texts.get(lang, "score.chart"), key="score.chart", image=chart,
                                 filename="chi-so-hai-long.png"))
        return replies

    async def _distribution(self, round_id: str, code: str, name: str, small: set[str]) -> list[Reply]:
        """One commune's per-question distribution, a chart per group of at least five people."""
        dists = await distribution(self.db, round_id, [code])
        replies = []
        for group, questionnaire in self.questionnaires.items():
            if group in small:
                continue
            dist = dists.get((code, group), Distribution())
            chart = await render(distribution_chart, dist, questionnaire, name, round_id)
            replies.append(Reply(GROUP_LABELS.get(group, group), key="score.distribution", image=chart,
                                 filename=f"{code}-{group}.png"))
        return replies

    async def report(self, lang: str) -> list[Reply]:
        """The round's report: the charts, the workbook and the summary."""
        round_id = await chosen_round(self.db)
        if round_id is None:
            return [Reply(self.texts.get(lang, "round.none"), key="round.none")]
        with tempfile.TemporaryDirectory(prefix="xtt-report-") as folder:
            paths = await write_report(self.db, round_id, self.rubric, self.questionnaires, Path(folder),
                                       office=self.office)
            paths += await write_forum_report(self.db, Path(folder), round_id=round_id, now=datetime.now(UTC),
                                              answer_days=self.answer_days)
            replies = [Reply(self.texts.get(lang, "report.ready", round=round_id, rubric=self.rubric.name),
                             key="report.ready")]
            for path in paths:
                if path.suffix == ".png":
                    replies.append(Reply("", key="report.chart", image=path.read_bytes(), filename=path.name))
                else:
                    replies.append(Reply("", key="report.file", document=path.read_bytes(), filename=path.name))
        return replies

    async def assess(self, lang: str) -> list[Reply]:
        """The recognition table from the points the office entered with `xtt assess`."""
        round_id = await chosen_round(self.db)
        if round_id is None:
            return [Reply(self.texts.get(lang, "round.none"), key="round.none")]
        points = await stored_criteria.load(self.db, round_id)
        if not points:
            return [Reply(self.texts.get(lang, "assess.none", round=round_id), key="assess.none")]
        try:
            table = await recognition(self.db, round_id, self.rubric, self.criteria, points)
        except AssessError as exc:
            return [Reply(self.texts.get(lang, "assess.invalid", problem=str(exc)), key="assess.invalid")]
        text = "\n".join([self.texts.get(lang, "assess.title", round=round_id), *summary_lines(table),
                          self.texts.get(lang, "score.rubric", name=self.rubric.name), self.rubric.note])
        chart = await render(assessment_chart, round_id, table, rubric_line(self.rubric))
        return [Reply(text, key="assess"), Reply("", key="assess.chart", image=chart, filename="cong-nhan.png")]

    async def progress(self, communes: list[str] | None, lang: str) -> list[Reply]:
        """Responses against the round's targets, per commune in scope, with the progress chart."""
        from analytics.charts import progress_chart

        round_id = await chosen_round(self.db)
        if round_id is None:
            return [Reply(self.texts.get(lang, "round.none"), key="round.none")]
        scores = await compute(self.db, round_id, self.rubric, communes)
        lines = [self.texts.get(lang, "tally.title", round=round_id)]
        lines += [self.texts.get(lang, "tally.line", name=s.name, children=s.children.n,
                                 target_children=s.children.target, residents=s.residents.n,
                                 target_residents=s.residents.target)
                  + (" ⚠️ " + self.texts.get(lang, "score.not_assessable") if s.short else "")
                  for s in scores]
        chart = await render(progress_chart, scores, round_id)
        return [Reply("\n".join(lines), key="tally"), Reply("", key="tally.chart", image=chart,
                                                            filename="tien-do.png")]


def _shown(group: Any) -> str:
    """A group's index, or "<5" for a group of fewer than five people (one of them could be recognised)."""
    return HIDDEN if 0 < group.n < MIN_GROUP else percent(group.index)
