"""Answers per question and option, counted in SQL, and their shaping into figures fit to publish."""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from analytics.stats import MIN_GROUP, shown
from conversations.model import Questionnaire
from storage.models import Answer, Response

GROUP_LABELS = {"child": "Trẻ em", "resident": "Người dân"}
TOPIC_LABELS = {
    "safety": "An toàn ở nhà, ở trường, trên đường",
    "violence_abuse": "Phòng chống bạo lực, xâm hại",
    "drowning_injury": "Phòng chống đuối nước, tai nạn",
    "health": "Chăm sóc sức khỏe",
    "school": "Học tập",
    "play": "Vui chơi, thể thao, văn hóa",
    "participation": "Được lắng nghe, tham gia",
    "support": "Hỗ trợ trẻ em khó khăn",
    "birth_registration": "Khai sinh, giấy tờ",
}
HIDDEN = f"<{MIN_GROUP}"
FILLERS = {"việc"}  # a leading nominaliser ("the fact that") that only lengthens a short label


@dataclass(frozen=True, slots=True)
class Distribution:
    """One group's submitted answers: respondents, and per question the count of each chosen option."""

    respondents: int = 0
    counts: dict[str, dict[str, int]] = field(default_factory=dict)

    @property
    def small(self) -> bool:
        """Too few respondents to publish a breakdown."""
        return self.respondents < MIN_GROUP


@dataclass(frozen=True, slots=True)
class Row:
    """One question as published: count per scale option, answers, satisfied share ('<5' when hidden)."""

    question: str
    topic: str
    text: str
    cells: tuple[int | str, ...]
    total: int | str
    index: float | str | None


async def distribution(engine: AsyncEngine, round_id: str,
                       communes: list[str] | None = None) -> dict[tuple[str, str], Distribution]:
    """Per (commune, group) with submitted responses: respondents and option counts per question, no comments."""
    done = (Response.round_id == round_id, Response.submitted.is_(True))
    where = (*done, Response.commune.in_(communes)) if communes is not None else done
    people = select(Response.commune, Response.group, func.count()).where(*where).group_by(
        Response.commune, Response.group)
    chosen = (select(Response.commune, Response.group, Answer.question, Answer.option, func.count())
              .select_from(Answer).join(Response, Response.id == Answer.response_id)
              .where(*where, Answer.option.is_not(None))
              .group_by(Response.commune, Response.group, Answer.question, Answer.option))
    async with engine.connect() as conn:
        respondents = {(c, g): int(n) for c, g, n in await conn.execute(people)}
        counts: dict[tuple[str, str], dict[str, dict[str, int]]] = {key: {} for key in respondents}
        for commune, group, question, option, n in await conn.execute(chosen):
            counts.setdefault((commune, group), {}).setdefault(question, {})[option] = int(n)
    return {key: Distribution(respondents.get(key, 0), counts[key]) for key in counts}


def pooled(dists: Iterable[Distribution]) -> Distribution:
    """Several distributions added together."""
    total, counts = 0, {}
    for dist in dists:
        total += dist.respondents
        for question, options in dist.counts.items():
            mine = counts.setdefault(question, {})
            for option, n in options.items():
                mine[option] = mine.get(option, 0) + n
    return Distribution(total, counts)


def district(dists: Mapping[tuple[str, str], Distribution], group: str) -> tuple[Distribution, int]:
    """A group's answers across communes, leaving out small groups (so they cannot be found by subtraction).

    Returns the pooled distribution and how many communes were left out.
    """
    mine = [d for (_, g), d in dists.items() if g == group and d.respondents]
    return pooled(d for d in mine if not d.small), sum(1 for d in mine if d.small)


def _share(satisfied: int, scored: int) -> float | None:
    """Satisfied over scored, or None without scored answers."""
    return satisfied / scored if scored else None


def _tally(options: Mapping[str, int], questionnaire: Questionnaire) -> tuple[int, int]:
    """Satisfied and scored answers among option counts, by the questionnaire's scale."""
    scored = [o for o in questionnaire.scale if o.scored]
    return (sum(options.get(o.id, 0) for o in scored if o.satisfied), sum(options.get(o.id, 0) for o in scored))


def topic_index(dist: Distribution, questionnaire: Questionnaire) -> dict[str, float | None]:
    """Satisfied answers over scored answers for each topic of the questionnaire (exact figures)."""
    sums: dict[str, list[int]] = {}
    for item in questionnaire.items:
        satisfied, scored = _tally(dist.counts.get(item.id, {}), questionnaire)
        acc = sums.setdefault(item.topic, [0, 0])
        acc[0] += satisfied
        acc[1] += scored
    return {topic: _share(y, m) for topic, (y, m) in sums.items()}


def shown_topics(dist: Distribution, questionnaire: Questionnaire) -> dict[str, float | str | None]:
    """Topic indices fit to publish: '<5' for every topic of a small group."""
    exact = topic_index(dist, questionnaire)
    return {topic: HIDDEN if dist.small else value for topic, value in exact.items()}


def rows(dist: Distribution, questionnaire: Questionnaire) -> list[Row]:
    """Per question: counts per scale option, answers and satisfied share, with '<5' for a small group."""
    out = []
    for item in questionnaire.items:
        options = dist.counts.get(item.id, {})
        satisfied, scored = _tally(options, questionnaire)
        cells = tuple(shown(options.get(o.id, 0), dist.respondents) for o in questionnaire.scale)
        total = sum(options.get(o.id, 0) for o in questionnaire.scale)
        index = HIDDEN if dist.small else _share(satisfied, scored)
        out.append(Row(item.id, item.topic, item.text.vi, cells, shown(total, dist.respondents), index))
    return out


def question_labels(questionnaire: Questionnaire, width: int = 40) -> list[str]:
    """Short question labels: numbered, the wording all items share cut off, at most `width` characters."""
    texts = [unicodedata.normalize("NFC", item.text.vi).split() for item in questionnaire.items]
    head = _common(texts) if len(texts) > 1 else 0
    tail = _common([t[::-1] for t in texts]) if len(texts) > 1 else 0
    labels = []
    for n, words in enumerate(texts, 1):
        core = words[head:len(words) - tail] or words
        if len(core) > 1 and core[0].lower() in FILLERS:
            core = core[1:]
        text = " ".join(core)
        label = f"{n}. {text[:1].upper()}{text[1:]}"
        if len(label) > width:
            cut = label[:width - 1]
            label = (cut[:cut.rfind(" ")] if " " in cut[4:] else cut).rstrip(" ,;:(") + "…"
        labels.append(label)
    return labels


def _common(lists: list[list[str]]) -> int:
    """How many leading words all lists share."""
    n = 0
    while all(len(words) > n + 1 for words in lists) and len({words[n] for words in lists}) == 1:
        n += 1
    return n
