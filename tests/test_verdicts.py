"""Fair verdicts: no 'Đạt' below target, 'sát ngưỡng' when the interval straddles a band edge, the rubric note."""

from __future__ import annotations

import io

from openpyxl import load_workbook

from analytics import compute, load_rubric, to_json
from analytics.assess import assess, assessment_workbook, load_criteria
from analytics.assess_chart import GREEN, VIOLET, assessment_bars
from analytics.charts import COLOURS, commune_bars
from analytics.score import score
from analytics.stats import Sums
from analytics.workbook import HEADERS, SUMMARY, workbook
from bot.reports import Reports
from conversations import Catalogue, load_flows
from storage import rounds
from tests.test_quotas import answered
from tests.test_storage import NOW

RUBRIC = load_rubric()
CRITERIA = load_criteria()
FULL = {n: c.max_points for n, c in enumerate(CRITERIA.items[:12], 1)}


def test_near_threshold_on_a_hand_made_example() -> None:
    # Half the people answer 8 of 10 items satisfied, half 9 of 10: index 85%, between the 80% and 90% edges.
    many = Sums(n=100, y=850, m=1000, yy=50 * 64 + 50 * 81, ym=50 * 80 + 50 * 90, mm=100 * 100)
    few = Sums(n=4, y=34, m=40, yy=2 * 64 + 2 * 81, ym=2 * 80 + 2 * 90, mm=4 * 100)
    assert RUBRIC.edges == (0.5, 0.6, 0.7, 0.8, 0.9)
    sure = score("a", "Xã A", "standard", {"child": many, "resident": many}, (30, 30), RUBRIC)
    assert sure.index == 0.85 and 0.8 < sure.ci95[0] < sure.ci95[1] < 0.9  # about 84-86%
    assert not sure.near_threshold and sure.assessable and sure.points == 40
    unsure = score("b", "Xã B", "standard", {"child": few, "resident": few}, (4, 4), RUBRIC)
    assert unsure.ci95[0] < 0.8 and unsure.ci95[1] > 0.9  # 8 people: about 74-92%
    assert unsure.near_threshold and unsure.assessable
    assert RUBRIC.near((0.7, 0.8)) and not RUBRIC.near((0.81, 0.89)) and not RUBRIC.near(None)


async def test_a_commune_below_target_is_never_recognised(db) -> None:
    await rounds.open_round(db, "2025", NOW, (30, 30))
    await answered(db, "2025", "my-an", "child", [10] * 3)  # everyone fully satisfied, but 3 of 30
    await answered(db, "2025", "my-an", "resident", [10] * 3)
    scores = await compute(db, "2025", RUBRIC, ["my-an"])
    doc = to_json("2025", RUBRIC, scores)["communes"][0]
    assert (doc["index"], doc["points"], doc["assessable"], doc["short"]) == (1.0, 50.0, False, True)
    table = assess([("my-an", "Xã Mỹ An", "standard")], {"my-an": FULL}, {s.code: s for s in scores}, CRITERIA,
                   RUBRIC)
    assert not table[0].recognised and table[0].verdict == "Chưa đủ điều kiện đánh giá"
    sheet = load_workbook(io.BytesIO(assessment_workbook("2025", RUBRIC, CRITERIA, table)))["Công nhận"]
    verdicts = [row[19] for row in sheet.iter_rows(values_only=True) if row[0] == "my-an"]
    assert verdicts == ["Chưa đủ điều kiện đánh giá"]
    book = load_workbook(io.BytesIO(workbook("2025", RUBRIC, scores, {}, load_flows().questionnaires, {})))
    rows = [dict(zip(HEADERS, r, strict=False)) for r in book[SUMMARY].iter_rows(min_row=7, values_only=True)]
    assert rows[0]["Mã xã"] == "my-an" and rows[0]["Đủ điều kiện đánh giá"] == "Không"
    bar = assessment_bars(table)[0]
    assert bar.colour == VIOLET != GREEN and bar.hatch and "chưa đủ điều kiện đánh giá" in bar.label
    commune = commune_bars(scores)[0]
    assert commune.kind == "wait" and commune.colour != COLOURS["full"] and commune.hatch
    assert "chưa đủ điều kiện đánh giá" in commune.label


async def test_chat_verdicts_carry_the_rubric_note_and_leaders_wait_for_the_index(db) -> None:
    await rounds.open_round(db, "2025", NOW, (2, 2))
    await answered(db, "2025", "my-an", "child", [9, 10])
    await answered(db, "2025", "my-an", "resident", [9, 9])
    reports = Reports(db, Catalogue.load(), RUBRIC, CRITERIA, load_flows().questionnaires)
    official = await reports.score(["my-an"], "vi")
    assert official[0].key == "score" and RUBRIC.note in official[0].text
    leader = await reports.score(["my-an"], "vi", live_index=False)
    assert [r.key for r in leader] == ["score.hidden", "tally", "tally.chart"]
    assert "95%" not in leader[1].text
    await rounds.close_round(db, "2025", NOW)
    assert (await reports.score(["my-an"], "vi", live_index=False))[0].key == "score"
