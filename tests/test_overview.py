"""The overview's one aggregate query gives the same figures as `xtt score`, with paper counts and open items."""

from __future__ import annotations

import random
import uuid

from analytics import compute, load_rubric
from analytics.overview import lines, shown, verdict
from storage import rounds
from storage.models import Alert, Response
from storage.targets import TargetRow, store
from tests.test_service import NOW


async def test_lines_agree_with_the_score_query_and_count_paper_and_open_alerts(db) -> None:
    rubric, rng = load_rubric(), random.Random(3)
    await rounds.open_round(db, "2024", NOW)
    await store(db, "2024", [TargetRow("my-an", "child", 4), TargetRow("my-an", "resident", 3),
                             TargetRow("my-an", "child", 2, "10-12")])
    rows, paper = [], {}
    for commune, count in (("my-an", 9), ("my-hoa", 70), ("phu-dien", 1)):
        for n in range(count):
            source = "paper" if n % 3 == 0 else "chat"
            paper[commune] = paper.get(commune, 0) + (source == "paper")
            scored = rng.choice((11, 12))
            rows.append({"id": uuid.uuid4().hex, "round_id": "2024", "commune": commune,
                         "group": ("child", "resident")[n % 2], "age_band": "13-15", "version": "1",
                         "submitted": True, "started_on": "2024-11-05", "submitted_on": "2024-11-05",
                         "answers_scored": scored, "answers_satisfied": rng.randint(0, scored), "source": source})
    rows.append({**rows[0], "id": uuid.uuid4().hex, "submitted": False, "source": "paper"})  # not counted
    async with db.begin() as conn:
        await conn.execute(Response.__table__.insert(), rows)
        await conn.execute(Alert.__table__.insert(), [
            {"source": "message", "commune": "my-hoa", "categories": "violence", "text": "…", "created_at": NOW,
             "status": status, "escalated": False} for status in ("open", "open", "acknowledged")])
    found = {line.code: line for line in await lines(db, "2024", rubric)}
    scores = {s.code: s for s in await compute(db, "2024", rubric)}
    assert set(found) == set(scores)
    for code, s in scores.items():
        line = found[code]
        assert (line.name, line.index, line.points) == (s.name, s.index, s.points), code
        assert line.verdict == verdict(s, None), code
        assert shown([line], rubric)[0].score == s, "the rows shown carry the score query's own figures"
    assert found["my-an"].verdict == "chưa đủ điều kiện", "the 10-12 band is under its target"
    assert found["my-hoa"].verdict in ("Đạt", "Không đạt")
    assert (found["my-hoa"].paper, found["my-an"].paper, found["phu-dien"].paper) == (24, 3, 1)
    assert (found["my-hoa"].alerts, found["my-an"].alerts) == (2, 0)
    page = shown([found["my-hoa"]], rubric)[0]
    assert (page.paper, page.chat) == (24, 46)
    assert [line.code for line in await lines(db, "2024", rubric, ["my-an"])] == ["my-an"]
