"""Survey comments for the commune's report: with no identity, none where the commune has fewer than five
respondents, and never a comment the safety screen flags (answers carry no such mark, so each comment is screened
again with the same signals: a flagged comment went to the people who protect children, not into a report)."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from analytics.stats import MIN_GROUP
from conversations.safety import Screen
from storage.models import Answer, Response

LONGEST = 500


@dataclass(frozen=True, slots=True)
class Comments:
    """One commune's comments as a report may show them: texts only, in alphabetical order (not in time order)."""

    code: str
    respondents: int
    shown: tuple[str, ...]
    withheld: int  # flagged by the safety screen

    @property
    def suppressed(self) -> bool:
        """Whether the commune has too few respondents for any comment to be shown."""
        return self.respondents < MIN_GROUP

    def lines(self) -> list[str]:
        """The report's lines in Vietnamese."""
        if self.suppressed:
            return [f"Xã có dưới {MIN_GROUP} người trả lời: không nêu ý kiến để bảo vệ người trả lời."]
        found = [f"“{text}”" for text in self.shown] or ["Không có ý kiến góp ý."]
        if self.withheld:
            found.append(f"{self.withheld} ý kiến có dấu hiệu trẻ em gặp nguy hiểm không đưa vào báo cáo (đã báo "
                         "cán bộ bảo vệ trẻ em qua cảnh báo an toàn).")
        return found


async def survey_comments(engine: AsyncEngine, round_id: str, screen: Screen | None = None) -> dict[str, Comments]:
    """Per commune with submitted responses in the round: its respondents and the comments a report may show."""
    screen = screen or Screen.load()
    submitted = [Response.round_id == round_id, Response.submitted.is_(True)]
    async with engine.connect() as conn:
        counts = dict(tuple(r) for r in await conn.execute(
            select(Response.commune, func.count()).where(*submitted).group_by(Response.commune)))
        texts = list(await conn.execute(
            select(Response.commune, Answer.text).join(Response, Response.id == Answer.response_id)
            .where(*submitted, Answer.option.is_(None), Answer.text.is_not(None))))
    kept: dict[str, list[str]] = {}
    withheld: dict[str, int] = {}
    for commune, raw in texts:
        text = " ".join(str(raw).split())[:LONGEST]
        if not text:
            continue
        if screen.check(text).categories:
            withheld[commune] = withheld.get(commune, 0) + 1
        else:
            kept.setdefault(commune, []).append(text)
    return {code: Comments(code, int(n), () if n < MIN_GROUP else tuple(sorted(kept.get(code, []))),
                           0 if n < MIN_GROUP else withheld.get(code, 0)) for code, n in counts.items()}
