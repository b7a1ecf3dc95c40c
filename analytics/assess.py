"""The 13-criteria recognition table (Decision 06/QĐ-TTg): the criteria file and the verdict."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from analytics.assess_chart import (
    NOT_ASSESSABLE,
    assessment_chart,
    assessment_workbook,
    number,
    summary_lines,
)
from analytics.rubric import Rubric
from analytics.score import CommuneScore
from conversations.datafile import DataFileError, read_toml
from storage.communes import TYPES

__all__ = ["DEFAULT", "NOT_ASSESSABLE", "NOT_RECOGNISED", "RECOGNISED",
           "AssessError", "Assessment", "Criteria", "Criterion", "Threshold", "assess",
           "assessment_chart", "assessment_workbook", "load_criteria", "summary_lines"]

DEFAULT = Path(__file__).parent / "data" / "criteria.toml"
SURVEYED = 13
ENTERED = tuple(range(1, SURVEYED))
SLACK = 1e-9
RECOGNISED, NOT_RECOGNISED = "Đạt", "Không đạt"


class AssessError(DataFileError):
    """A criteria file, points sheet or input is wrong; the message names the file, the place and the fix."""


@dataclass(frozen=True, slots=True)
class Criterion:
    """One criterion: its number, short Vietnamese name and maximum (None for 13: the rubric's)."""

    number: int
    name: str
    max_points: float | None


@dataclass(frozen=True, slots=True)
class Threshold:
    """The total a commune type must reach to be recognised."""

    type: str
    points: float
    label: str
    description: str


@dataclass(frozen=True, slots=True)
class Criteria:
    """The criteria file: 13 criteria, thresholds per commune type, and the note shown on outputs."""

    name: str
    note: str
    items: tuple[Criterion, ...]
    thresholds: tuple[Threshold, ...]
    source: str = DEFAULT.name

    def maximum(self, number: int, rubric: Rubric | None = None) -> float:
        """A criterion's maximum; criterion 13's comes from the rubric."""
        if number == SURVEYED:
            if rubric is None:
                raise AssessError("criterion 13's maximum comes from the rubric; pass the rubric")
            return rubric.max_points
        return self.items[number - 1].max_points or 0.0

    def maxima(self, rubric: Rubric) -> tuple[float, ...]:
        """The 13 maxima, criterion 13's from the rubric."""
        return tuple(self.maximum(c.number, rubric) for c in self.items)

    def threshold(self, kind: str) -> Threshold:
        """The threshold of a commune type."""
        found = next((t for t in self.thresholds if t.type == kind), None)
        if found is None:
            raise AssessError(f"{self.source}: no threshold for commune type {kind!r}; "
                              f"use one of {', '.join(TYPES)} in the communes file")
        return found


@dataclass(frozen=True, slots=True)
class Assessment:
    """One commune's verdict: points per criterion, total, threshold, and why it is not recognised."""

    code: str
    name: str
    type: str
    points: tuple[float | None, ...]
    maxima: tuple[float, ...]
    total: float
    threshold: float
    zero: tuple[int, ...]
    missing: tuple[int, ...]
    recognised: bool
    reasons: tuple[str, ...]
    warnings: tuple[str, ...] = ()
    assessable: bool = True

    @property
    def verdict(self) -> str:
        """'Đạt', 'Không đạt', or 'Chưa đủ điều kiện đánh giá' while criterion 13 lacks data or sample."""
        if self.recognised:
            return RECOGNISED
        if any(n != SURVEYED for n in self.zero) or self.assessable:
            return NOT_RECOGNISED
        return NOT_ASSESSABLE


def load_criteria(path: Path = DEFAULT) -> Criteria:
    """Read and check a criteria file."""
    where = path.name
    doc = read_toml(path, "criteria file", AssessError)
    name, note = str(doc.get("name", "")).strip(), str(doc.get("note", "")).strip()
    if not name or not note:
        raise AssessError(f"{where}: name and note are required; they are printed on every output")
    found: dict[int, Criterion] = {}
    entries = doc.get("criteria")
    if not isinstance(entries, list):
        raise AssessError(f"{where}: add one [[criteria]] table per criterion 1 to 13")
    for n, entry in enumerate(entries, 1):
        at = f"{where}: criteria entry {n}"
        unknown = sorted(set(entry) - {"number", "name", "max_points"})
        if unknown:
            raise AssessError(f"{at}: unknown keys {unknown}; use number, name, max_points")
        number_ = entry.get("number")
        if isinstance(number_, bool) or not isinstance(number_, int) or not 1 <= number_ <= SURVEYED:
            raise AssessError(f"{at}: number must be a whole number from 1 to 13, not {number_!r}")
        at = f"{where}: criterion {number_}"
        if number_ in found:
            raise AssessError(f"{at} appears twice; keep one entry per criterion")
        title = str(entry.get("name", "")).strip()
        if not title:
            raise AssessError(f"{at}: name is empty; give the criterion's short Vietnamese name")
        top = None
        if number_ == SURVEYED:
            if "max_points" in entry:
                raise AssessError(f"{at}: remove max_points; criterion 13's maximum is the rubric's max_points, "
                                  "read at run time so the two files cannot disagree")
        else:
            top = _number(entry.get("max_points"), f"{at}: max_points")
            if top <= 0:
                raise AssessError(f"{at}: max_points must be above 0")
        found[number_] = Criterion(number_, title, top)
    absent = [n for n in range(1, SURVEYED + 1) if n not in found]
    if absent:
        raise AssessError(f"{where}: criteria {absent} are missing; the file must list criteria 1 to 13")
    return Criteria(name, note, tuple(found[n] for n in sorted(found)), _thresholds(doc, where), where)


def _thresholds(doc: dict, where: str) -> tuple[Threshold, ...]:
    """The [thresholds.TYPE] tables, one per commune type."""
    table = doc.get("thresholds")
    if not isinstance(table, dict):
        raise AssessError(f"{where}: add [thresholds.ward], [thresholds.standard] and [thresholds.disadvantaged]")
    unknown = sorted(set(table) - set(TYPES))
    if unknown:
        raise AssessError(f"{where}: thresholds {unknown} are unknown types; use {', '.join(TYPES)}")
    result = []
    for kind in TYPES:
        at = f"{where}: thresholds.{kind}"
        entry = table.get(kind)
        if not isinstance(entry, dict):
            raise AssessError(f"{at} is missing; every commune type needs a threshold")
        points = _number(entry.get("points"), f"{at}.points")
        label, text = str(entry.get("label", "")).strip(), str(entry.get("description", "")).strip()
        if points <= 0:
            raise AssessError(f"{at}.points must be above 0")
        if not label or not text:
            raise AssessError(f"{at}: label and description are required (short and full Vietnamese text)")
        result.append(Threshold(kind, points, label, text))
    return tuple(result)


def _number(value: object, what: str) -> float:
    """A number from the criteria file, or a clear error."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise AssessError(f"{what} must be a number, not {value!r}")
    return float(value)


def assess(communes: Sequence[tuple[str, str, str]], points_1_12: Mapping[str, Mapping[int, float | None]],
           c13: Mapping[str, CommuneScore], criteria: Criteria, rubric: Rubric) -> list[Assessment]:
    """Decide recognition per commune: all 13 scored, none at 0 (điểm liệt), total at or above its threshold."""
    maxima = criteria.maxima(rubric)
    result = []
    for code, name, kind in communes:
        threshold = criteria.threshold(kind).points
        survey = c13.get(code)
        entered = points_1_12.get(code, {})
        points = (*(entered.get(n) for n in ENTERED), None if survey is None else survey.points)
        for n, (value, top) in enumerate(zip(points, maxima, strict=True), 1):
            if value is not None and not (math.isfinite(value) and 0 <= value <= top + SLACK):
                raise AssessError(f"{name} ({code}): tiêu chí {n} có {value!r} điểm, ngoài khoảng 0–{number(top)}")
        total = round(math.fsum(p for p in points if p is not None), 6)
        zero = tuple(n for n, p in enumerate(points, 1) if p == 0)
        missing = tuple(n for n, p in enumerate(points, 1) if p is None)
        reasons = []
        if zero:
            reasons.append(f"Tiêu chí {_list(zero)} bị 0 điểm (điểm liệt)")
        if [n for n in missing if n != SURVEYED]:
            reasons.append(f"Thiếu điểm tiêu chí {_list([n for n in missing if n != SURVEYED])}")
        if SURVEYED in missing:
            reasons.append("Chưa có dữ liệu khảo sát tiêu chí 13")
        if total < threshold:
            partial = " (chưa tính các tiêu chí thiếu điểm)" if missing else ""
            reasons.append(f"Tổng {number(total)} < ngưỡng {number(threshold)}{partial}")
        warnings = []
        if survey is not None and survey.points is not None and survey.short:
            sample = (f"trẻ em {survey.children.n}/{survey.children.target}, "
                      f"người dân {survey.residents.n}/{survey.residents.target}")
            warnings.append(f"Tiêu chí 13 chưa đủ mẫu ({sample})")
            reasons.append(f"Tiêu chí 13 chưa đủ mẫu ({sample}): chưa đủ điều kiện đánh giá")
        if survey is not None and survey.near_threshold:
            warnings.append("Tiêu chí 13 sát ngưỡng: khoảng tin cậy 95% của chỉ số vắt qua một mốc của thang điểm")
        assessable = survey is not None and survey.assessable
        recognised = not zero and not missing and total >= threshold and assessable
        result.append(Assessment(code, name, kind, points, maxima, total, threshold, zero, missing, recognised,
                                 tuple(reasons), tuple(warnings), assessable))
    return result


def _list(numbers: Sequence[int]) -> str:
    """Criterion numbers as '3, 5, 8'."""
    return ", ".join(str(n) for n in numbers)
