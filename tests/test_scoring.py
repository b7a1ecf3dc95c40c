"""Scoring: golden figures computed by hand, and properties that must hold for any data."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from analytics import compute, load_rubric
from analytics.rubric import Rubric, RubricError
from analytics.stats import MIN_GROUP, Sums, combine, interval, shown
from storage import repo, rounds
from tests.test_storage import NOW, write

GOLDEN = Path(__file__).parent / "data" / "golden_answers.csv"
RUBRIC = load_rubric()


async def load_golden(db) -> None:
    """Put the exported answers of tests/data/golden_answers.csv into round 2024, all submitted."""
    await rounds.open_round(db, "2024", NOW)
    with GOLDEN.open(encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    statements, started = [], set()
    for row in rows:
        if row["response"] not in started:
            started.add(row["response"])
            statements.append(repo.start_response({
                "id": row["response"], "round_id": "2024", "commune": row["commune"], "group": row["group"],
                "age_band": "x", "version": "1", "submitted": False, "started_on": "2024-11-05"}))
        satisfied = None if row["satisfied"] == "" else row["satisfied"] == "1"
        statements.append(repo.save_answer(row["response"], row["question"], row["option"], satisfied, None))
    statements += [repo.submit(rid, "2024-11-05") for rid in sorted(started)]
    await write(db, *statements)


async def test_golden_figures_match_hand_computation(db) -> None:
    """Figures worked out by hand from the per-respondent (satisfied, scored) pairs; see the comment below."""
    # p = Σy/Σm; var = n/(n-1)·Σ(y−p·m)²/(Σm)²; n_eff = p(1−p)/var; CI = Wilson(p, n_eff), z = 1.96.
    # my-an children (10,12) (8,12) (12,12) (6,11): p = 36/47 = 0.7660, var = 0.009563, n_eff = 18.74,
    #   CI 0.5403–0.9011. Residents (12,12) (3,12) (9,10) (11,12) (0,0): p = 35/46 = 0.7609,
    #   var = 0.030274, n_eff = 6.01, CI 0.3740–0.9443. Commune (½, ½): p = 0.7634, var = 0.009959,
    #   n_eff = 18.14, CI 0.5338–0.9009; 0.7634 ≥ 0.70 → 30 points. my-hoa: one child, all satisfied:
    #   p = 1, n_eff = 1 respondent, Wilson(1, 1) = 0.2065–1.
    await load_golden(db)
    scores = {s.code: s for s in await compute(db, "2024", RUBRIC)}
    my_an = scores["my-an"]
    assert (my_an.children.n, my_an.children.answers, my_an.children.satisfied) == (4, 47, 36)
    assert (my_an.residents.n, my_an.residents.answers, my_an.residents.satisfied) == (5, 46, 35)
    assert round(my_an.children.index, 4) == 0.7660
    assert [round(x, 4) for x in my_an.children.ci95] == [0.5403, 0.9011]
    assert round(my_an.residents.index, 4) == 0.7609
    assert [round(x, 4) for x in my_an.residents.ci95] == [0.3740, 0.9443]
    assert round(my_an.index, 4) == 0.7634
    assert [round(x, 4) for x in my_an.ci95] == [0.5338, 0.9009]
    assert my_an.points == 30 and not my_an.zero and my_an.short
    one = scores["my-hoa"]
    assert one.children.index == 1.0 and one.index == 1.0 and one.points == 50
    assert [round(x, 4) for x in one.children.ci95] == [0.2065, 1.0]
    empty = scores["phu-dien"]
    assert empty.index is None and empty.points is None and not empty.zero


def test_zero_points_is_a_fail() -> None:
    low = Sums(n=3, y=3, m=30, yy=3, ym=30, mm=300)
    index, _ = combine([(0.5, low), (0.5, Sums())])
    assert RUBRIC.points(index) == 0


sums = st.lists(st.tuples(st.integers(0, 15), st.integers(0, 15)).map(lambda t: (min(t), max(t))),
                min_size=0, max_size=40)


def to_sums(people: list[tuple[int, int]]) -> Sums:
    """Per-respondent (satisfied, scored) pairs to the sums SQL returns."""
    return Sums(len(people), sum(y for y, _ in people), sum(m for _, m in people), sum(y * y for y, _ in people),
                sum(y * m for y, m in people), sum(m * m for _, m in people))


@given(sums, sums, st.floats(0, 1), st.floats(0, 1))
def test_index_in_unit_interval_and_interval_contains_it(a: list, b: list, wa: float, wb: float) -> None:
    for s in (to_sums(a), to_sums(b)):
        if s.index is not None:
            assert 0 <= s.index <= 1
            ci = interval(s.index, s.variance, s.n, s.m)
            assert ci is not None and 0 <= ci[0] <= s.index + 1e-12 and s.index - 1e-12 <= ci[1] <= 1
    index, ci = combine([(wa, to_sums(a)), (wb, to_sums(b))])
    if index is not None:
        assert -1e-12 <= index <= 1 + 1e-12
        assert ci is not None and 0 <= ci[0] <= index + 1e-12 and index - 1e-12 <= ci[1] <= 1


@given(st.floats(0, 1), st.floats(0, 1))
def test_points_never_fall_as_the_index_rises(a: float, b: float) -> None:
    low, high = sorted((a, b))
    assert RUBRIC.points(low) <= RUBRIC.points(high) <= RUBRIC.max_points


@given(st.integers(0, 10_000), st.integers(0, 10_000))
def test_suppression_never_reveals_a_count_under_five_respondents(count: int, respondents: int) -> None:
    value = shown(count, respondents)
    if respondents < MIN_GROUP:
        assert value == "<5"
    else:
        assert value == count


@pytest.mark.parametrize(("text", "error"), [
    ('name="x"\nnote="y"\nmax_points=10\n[[bands]]\nmin_index=0.5\npoints=10', "min_index = 0"),
    ('name="x"\nnote="y"\nmax_points=10\n[[bands]]\nmin_index=0\npoints=10\n[[bands]]\nmin_index=0.5\npoints=5',
     "must not fall"),
    ('name="x"\nnote="y"\nmax_points=10\n[[bands]]\nmin_index=0\npoints=20', "0 <= points <= max_points"),
    ('name="x"\nmax_points=10', "name and note are required"),
    ('name="x"\nnote="y"\nmax_points="ten"', "max_points must be a number"),
    ('name = ', "not valid TOML"),
])
def test_bad_rubrics_are_refused_with_the_reason(tmp_path: Path, text: str, error: str) -> None:
    path = tmp_path / "rubric.toml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(RubricError, match=error):
        load_rubric(path)


def test_shipped_rubric_says_it_must_be_confirmed() -> None:
    assert isinstance(RUBRIC, Rubric) and "CHƯA PHẢI hướng dẫn chính thức" in RUBRIC.note
    with pytest.raises(RubricError, match="not found"):
        load_rubric(Path("/nonexistent/rubric.toml"))
