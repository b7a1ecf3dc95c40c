"""Criterion-13 breakdown, charts, workbook and report, on a SQLite file and on PostgreSQL."""

from __future__ import annotations

import asyncio
import io
import subprocess
import sys
import warnings
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

import pytest
from openpyxl import load_workbook

from analytics import charts, compute, load_rubric, plot, to_json
from analytics.breakdown import Distribution, distribution, district, question_labels, topic_index
from analytics.progress import Progress
from analytics.report import STEPS, write_report
from analytics.workbook import HEADERS, SUMMARY, sheet_name, workbook
from conversations import load_flows
from storage import repo, rounds
from storage.writes import run

NOW = datetime(2024, 11, 5, 8, 0, tzinfo=UTC)
FLOWS = load_flows().questionnaires
RUBRIC = load_rubric()
PNG = b"\x89PNG\r\n\x1a\n"
VS, S, NS, VD, DK = "very_satisfied", "satisfied", "not_satisfied", "very_dissatisfied", "dont_know"
# Each respondent gives one answer to every item, except where an override says otherwise (None: skipped).
MY_AN_CHILDREN = [VS, S, S, NS, DK, VD]
MY_AN_RESIDENTS = [VS, VS, S, NS, VD]
OVERRIDES = {"child": {"play": NS}, "resident": {"birth_papers": None}}
MY_HOA_CHILDREN = [VS, VS, VS]


def answers(group: str, option: str) -> dict[str, str]:
    """One respondent's answers: `option` everywhere, then the group's overrides."""
    out = {item.id: option for item in FLOWS[group].items}
    for question, forced in OVERRIDES[group].items():
        if forced is None:
            out.pop(question)
        else:
            out[question] = forced
    return out


async def fill(db) -> None:
    """Round 2024: my-an (6 children, 5 residents), my-hoa (3 children), phu-dien empty, plus noise not to count."""
    await rounds.open_round(db, "2024", NOW)
    statements, n = [], 0

    def respond(commune: str, group: str, given: dict[str, str], submitted: bool = True) -> None:
        nonlocal n
        n += 1
        rid = f"r{n}"
        statements.append(repo.start_response({
            "id": rid, "round_id": "2024", "commune": commune, "group": group, "age_band": "10-12",
            "version": "1", "submitted": False, "started_on": "2024-11-05"}))
        scale = {o.id: o for o in FLOWS[group].scale}
        for question, option in given.items():
            satisfied = scale[option].satisfied if scale[option].scored else None
            statements.append(repo.save_answer(rid, question, option, satisfied, None))
        statements.append(repo.save_answer(rid, "comment", None, None, "Xin thêm sân chơi"))
        if submitted:
            statements.append(repo.submit(rid, "2024-11-06"))

    for option in MY_AN_CHILDREN:
        respond("my-an", "child", answers("child", option))
    for option in MY_AN_RESIDENTS:
        respond("my-an", "resident", answers("resident", option))
    for option in MY_HOA_CHILDREN:
        respond("my-hoa", "child", answers("child", option))
    respond("my-an", "child", answers("child", VD), submitted=False)
    respond("thanh-my", "resident", answers("resident", VD), submitted=False)
    async with db.begin() as conn:
        await run(conn, [statements])


def expected(group: str, options: list[str]) -> dict[str, dict[str, int]]:
    """Option counts per question, tallied straight from the answers written."""
    out: dict[str, Counter[str]] = {}
    for option in options:
        for question, chosen in answers(group, option).items():
            out.setdefault(question, Counter())[chosen] += 1
    return {q: dict(c) for q, c in out.items()}


async def test_distribution_counts_only_submitted_chosen_options(db) -> None:
    await fill(db)
    dists = await distribution(db, "2024")
    assert set(dists) == {("my-an", "child"), ("my-an", "resident"), ("my-hoa", "child")}
    assert dists["my-an", "child"] == Distribution(6, expected("child", MY_AN_CHILDREN))
    assert dists["my-an", "resident"] == Distribution(5, expected("resident", MY_AN_RESIDENTS))
    assert dists["my-hoa", "child"] == Distribution(3, expected("child", MY_HOA_CHILDREN))
    assert dists["my-an", "child"].counts["safe_home"] == {VS: 1, S: 2, NS: 1, DK: 1, VD: 1}
    assert dists["my-an", "child"].counts["play"] == {NS: 6}
    assert "birth_papers" not in dists["my-an", "resident"].counts
    assert all("comment" not in d.counts for d in dists.values())
    assert set(await distribution(db, "2024", ["my-hoa", "phu-dien"])) == {("my-hoa", "child")}
    assert await distribution(db, "1999") == {}


async def test_topic_index_is_exact(db) -> None:
    await fill(db)
    dists = await distribution(db, "2024")
    children = topic_index(dists["my-an", "child"], FLOWS["child"])
    # Per item 5 scored answers (the "don't know" is not scored), 3 satisfied; every child dislikes "play".
    assert children == {topic: 0.6 for topic in children} | {"play": 0.0}
    assert len(children) == 9
    residents = topic_index(dists["my-an", "resident"], FLOWS["resident"])
    assert residents["safety"] == pytest.approx(9 / 15) and residents["birth_registration"] is None
    assert topic_index(Distribution(), FLOWS["child"])["safety"] is None
    pooled, left_out = district(dists, "child")
    assert left_out == 1 and pooled == dists["my-an", "child"], "a small group must not enter district totals"


def _summary(book) -> list[dict[str, object]]:
    """The summary sheet's table as dicts keyed by header."""
    sheet = book[SUMMARY]
    header = next(r for r in range(1, 20) if sheet.cell(r, 1).value == "Mã xã")
    titles = [sheet.cell(header, c).value for c in range(1, len(HEADERS) + 1)]
    assert tuple(titles) == HEADERS
    return [dict(zip(titles, row, strict=True)) for row in
            sheet.iter_rows(min_row=header + 1, max_col=len(HEADERS), values_only=True) if row[0]]


def _check_summary(book, doc: dict) -> None:
    """Every figure of the summary sheet equals the `xtt score --json` document."""
    table = _summary(book)
    assert [r["Mã xã"] for r in table] == [c["code"] for c in doc["communes"]]
    for row, c in zip(table, doc["communes"], strict=True):
        for label, key in (("Trẻ em", "children"), ("Người dân", "residents")):
            g = c[key]
            assert (row[f"{label} (n)"], row[f"{label}: số câu trả lời"], row[f"{label}: hài lòng"],
                    row[f"{label}: chỉ số"]) == (g["n"], g["answers"], g["satisfied"], g["index"])
        assert row["Tên xã"] == c["name"] and row["Chỉ số chung"] == c["index"]
        assert [row["KTC 95% thấp"], row["KTC 95% cao"]] == (c["ci95"] or [None, None])
        assert (row["Điểm"], row["Điểm tối đa"]) == (c["points"], c["max_points"])
        assert row["Điểm liệt"] == ("Có" if c["zero"] else "Không")
        assert row["Chưa đủ mẫu"] == ("Có" if c["short"] else "Không")
    assert book[SUMMARY].freeze_panes is not None
    assert RUBRIC.name in str(book[SUMMARY]["A2"].value) and book[SUMMARY]["A3"].value == RUBRIC.note


def _block(sheet, title: str) -> list[tuple]:
    """The rows of one group's table (after its header) on a per-question sheet."""
    rows = list(sheet.iter_rows(values_only=True))
    start = next(i for i, r in enumerate(rows) if str(r[0] or "").startswith(title)) + 2
    return [r for r in rows[start:start + 12] if r[0]]


async def test_workbook_matches_scores_and_hides_small_groups(db) -> None:
    await fill(db)
    scores = await compute(db, "2024", RUBRIC)
    dists = await distribution(db, "2024")
    data = workbook("2024", RUBRIC, scores, dists, FLOWS, {s.code: s.name for s in scores})
    book = load_workbook(io.BytesIO(data))
    _check_summary(book, to_json("2024", RUBRIC, scores))
    index_cell = book[SUMMARY].cell(7, HEADERS.index("Trẻ em: chỉ số") + 1)
    assert index_cell.number_format == "0.0%"
    assert len(book.sheetnames) == 2 + 13 and all(len(n) <= 31 for n in book.sheetnames)

    my_an = _block(book["Xã Mỹ An"], "Trẻ em")
    safe_home = next(r for r in my_an if r[0] == "safe_home")
    assert safe_home[3:10] == (1, 2, 1, 1, 1, 6, 0.6)  # scale order: VS, S, NS, VD, DK; answers; satisfied share

    small = book["Xã Mỹ Hòa"]
    hidden = _block(small, "Trẻ em")
    assert len(hidden) == 12 and all(set(r[3:10]) == {"<5"} for r in hidden)
    numbers = [c.value for row in small.iter_rows() for c in row if isinstance(c.value, int | float)]
    assert numbers == [], "a group under five must show no exact figure"
    assert any("Chưa có người trả lời" in str(c.value) for row in small.iter_rows() for c in row)

    district_rows = _block(book["Phân bố theo câu"], "Trẻ em")
    assert next(r for r in district_rows if r[0] == "safe_home")[3:9] == (1, 2, 1, 1, 1, 6), "my-hoa left out"
    assert book["Phân bố theo câu"].freeze_panes is not None


def test_sheet_names_are_valid_and_unique() -> None:
    taken = {"history"}
    assert sheet_name("Xã A/B: [thử]?", taken) == "Xã A-B- -thử--"
    long = "Xã " + "Đốc Binh Kiều " * 4
    first, second = sheet_name(long, taken), sheet_name(long, taken)
    assert len(first) <= 31 and len(second) <= 31 and first != second and second.endswith("(2)")
    assert sheet_name("History", taken) == "History (2)"


def _valid_png(data: bytes) -> tuple[int, ...]:
    """The image's shape, after checking it is a PNG matplotlib can read."""
    from matplotlib.image import imread

    assert data[:8] == PNG
    image = imread(io.BytesIO(data), format="png")
    assert image.shape[0] > 200 and image.shape[1] > 600
    return image.shape


async def test_charts_are_pngs_and_draw_every_glyph(db) -> None:
    await fill(db)
    scores = await compute(db, "2024", RUBRIC)
    dists = await distribution(db, "2024")
    pooled = {g: district(dists, g)[0] for g in FLOWS}
    assert len(scores) == 13
    cases = {
        "commune": (charts.commune_chart, scores, RUBRIC, "2024"),
        "distribution": (charts.distribution_chart, dists["my-an", "child"], FLOWS["child"], "Xã Mỹ An", "2024"),
        "topic": (charts.topic_chart, pooled, FLOWS, RUBRIC, "2024"),
        "progress": (charts.progress_chart, scores, "2024"),
    }
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        for fn, *args in cases.values():
            _valid_png(fn(*args))  # render time is measured by bench/score, not here
    assert not [w for w in caught if "missing from font" in str(w.message)], [str(w.message) for w in caught]


def test_the_glyph_check_would_catch_a_missing_letter() -> None:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        charts.message_chart("Thử", "漢")
    assert any("missing from font" in str(w.message) for w in caught)


def _all(group: str, option: str, n: int) -> Distribution:
    """n respondents who all chose one option on every item."""
    return Distribution(n, {item.id: {option: n} for item in FLOWS[group].items})


def test_small_groups_are_not_drawn() -> None:
    hidden = charts.distribution_chart(_all("child", VS, 3), FLOWS["child"], "Xã Mỹ Hòa", "2024")
    assert hidden == charts.distribution_chart(_all("child", VD, 3), FLOWS["child"], "Xã Mỹ Hòa", "2024")
    shown = charts.distribution_chart(_all("child", VS, 5), FLOWS["child"], "Xã Mỹ Hòa", "2024")
    assert _valid_png(hidden)[0] < _valid_png(shown)[0], "a small group gets the short '<5' message image"
    residents = _all("resident", S, 8)

    def topics(children: Distribution) -> bytes:
        return charts.topic_chart({"child": children, "resident": residents}, FLOWS, RUBRIC, "2024", "Xã Mỹ Hòa")

    # Nothing of a small group reaches the image: its answers may change, the picture may not.
    assert topics(_all("child", VS, 3)) == topics(_all("child", VD, 4))
    assert topics(_all("child", VS, 5)) != topics(_all("child", VD, 5))


async def test_render_is_thread_safe() -> None:
    dist = Distribution(8, {item.id: {VS: 3, S: 2, NS: 2, DK: 1} for item in FLOWS["resident"].items})
    args = [(charts.distribution_chart, dist, FLOWS["resident"], f"Xã {n}", "2024") for n in range(4)]
    alone = [fn(*a) for fn, *a in args]
    together = await asyncio.gather(*(plot.render(fn, *a) for fn, *a in args))
    assert list(together) == alone


def test_question_labels_are_short_and_distinct() -> None:
    labels = question_labels(FLOWS["child"])
    assert len(set(labels)) == 12 and max(map(len, labels)) <= 40
    assert labels[1] == "2. Em được an toàn khi ở trường"


async def test_report_writes_every_file(db, tmp_path: Path) -> None:
    await fill(db)
    stream = io.StringIO()
    paths = await write_report(db, "2024", RUBRIC, FLOWS, tmp_path / "out", Progress(STEPS, "Báo cáo", stream))
    assert [p.name for p in paths] == ["so-sanh-xa.png", "theo-chu-de.png", "tien-do.png", "ket-qua-2024.xlsx",
                                       "summary.md"]
    for path in paths[:3]:
        _valid_png(path.read_bytes())
    _check_summary(load_workbook(paths[3]), to_json("2024", RUBRIC, await compute(db, "2024", RUBRIC)))
    text = paths[4].read_text(encoding="utf-8")
    assert RUBRIC.name in text and RUBRIC.note in text and "(so-sanh-xa.png)" in text
    assert "| Xã Mỹ An | my-an | 6 |" in text and "- Xã Mỹ Hòa: trẻ em 3/30, người dân 0/30" in text
    assert len(stream.getvalue().splitlines()) == STEPS and "6/6" in stream.getvalue()


async def test_an_empty_round_gives_every_file(db, tmp_path: Path) -> None:
    await rounds.open_round(db, "2025", NOW)
    paths = await write_report(db, "2025", RUBRIC, FLOWS, tmp_path, None)
    assert len(paths) == 5 and all(p.stat().st_size for p in paths)
    book = load_workbook(paths[3])
    table = _summary(book)
    assert len(table) == 13 and {r["Trẻ em (n)"] for r in table} == {0} and {r["Chỉ số chung"] for r in table} == {None}
    _check_summary(book, to_json("2025", RUBRIC, await compute(db, "2025", RUBRIC)))
    assert "Xã chưa có dữ liệu" in paths[4].read_text(encoding="utf-8")


def test_progress_draws_on_a_terminal_and_prints_lines_elsewhere() -> None:
    plain = io.StringIO()
    bar = Progress(2, "Báo cáo", plain)
    bar.advance("biểu đồ")
    bar.advance("xong")
    assert plain.getvalue() == "Báo cáo: 1/2 biểu đồ\nBáo cáo: 2/2 xong\n"

    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    term = Terminal()
    bar = Progress(2, "Báo cáo", term)
    bar.advance("a")
    assert term.getvalue().startswith("\r") and "[############............] 1/2 a" in term.getvalue()
    bar.advance("b")
    assert term.getvalue().endswith("2/2 b\n")


def test_matplotlib_and_openpyxl_load_only_when_drawing() -> None:
    code = "import sys, analytics.report; print('matplotlib' in sys.modules, 'openpyxl' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False False"
