"""The paper forms' data-entry sheet: an XLSX template with dropdowns, and checking a filled sheet row by row."""

from __future__ import annotations

import unicodedata
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from analytics.formcode import FormCodeError, decode, normalise
from conversations.model import Flows, Option, Questionnaire
from storage.paper import PaperForm, PrintRun

GROUP_NAMES = {"child": "Trẻ em", "resident": "Người dân"}
FIXED = ("Mã xã", "Mã phiếu", "Nhóm", "Độ tuổi")
COMMENT = "Ghi chú"
ALIASES = {"commune": "Mã xã", "form_code": "Mã phiếu", "code": "Mã phiếu", "group": "Nhóm", "age_band": "Độ tuổi",
           "comment": COMMENT}
LISTS = "Danh mục"


class SheetError(ValueError):
    """The sheet cannot be read at all; the message says why in Vietnamese."""


@dataclass(frozen=True, slots=True)
class Checked:
    """A checked sheet: the valid forms with their row numbers, and one error line per wrong cell."""

    forms: tuple[tuple[int, PaperForm], ...]
    errors: tuple[str, ...]
    refused_rows: int


def age_bands(flows: Flows) -> dict[str, list[tuple[str, str]]]:
    """Per group, the age bands a respondent may have, as (stored value, Vietnamese label)."""
    out: dict[str, list[tuple[str, str]]] = {}
    for step in flows.onboarding.steps:
        if step.field != "age_band":
            continue
        group = dict(step.when).get("group")
        bands = [(o.value, o.label.vi) for o in step.options if o.value and not o.end]
        for g in [group] if group else list(flows.questionnaires):
            out.setdefault(g, []).extend(bands)
    return out


def width(questionnaires: Mapping[str, Questionnaire]) -> int:
    """How many question columns the sheet has: the longest questionnaire's items."""
    return max((len(q.items) for q in questionnaires.values()), default=0)


def columns(questionnaires: Mapping[str, Questionnaire]) -> list[str]:
    """The sheet's column titles."""
    return [*FIXED, *(f"Q{n}" for n in range(1, width(questionnaires) + 1)), COMMENT]


def _plain(text: str) -> str:
    """Lower case without Vietnamese marks, for matching typed labels."""
    base = unicodedata.normalize("NFD", text.casefold().replace("đ", "d"))
    return " ".join("".join(c for c in base if not unicodedata.combining(c)).split())


def read_rows(path: Path) -> list[list[object]]:
    """The cells of the first sheet of an XLSX file (or a UTF-8 CSV)."""
    from analytics.assess import AssessError
    from analytics.points_sheet import rows

    try:
        return rows(path)
    except AssessError as exc:
        raise SheetError(str(exc)) from exc


def check(rows: Sequence[Sequence[object]], flows: Flows, communes: Mapping[str, str],
          runs: Sequence[PrintRun]) -> Checked:
    """Check every row of a filled sheet; errors name the row and the column, rows with errors are refused."""
    titles = columns(flows.questionnaires)
    head = [_title(cell) for cell in rows[0]] if rows else []
    missing = [t for t in titles if t not in head]
    if missing:
        raise SheetError(f"thiếu cột {', '.join(missing)} ở dòng 1. Cách sửa: dùng tệp mẫu của xtt forms template")
    at = {t: head.index(t) for t in titles}
    rule = _Rules(flows, communes, runs)
    forms: list[tuple[int, PaperForm]] = []
    errors: list[str] = []
    refused = 0
    for line, raw in enumerate(rows[1:], start=2):
        cells = {t: _text(raw[i]) if i < len(raw) else "" for t, i in at.items()}
        if not any(cells.values()):
            continue
        form, wrong = rule.row(line, cells)
        if form is None:
            errors += [f"Dòng {line}, cột {column}: {problem}" for column, problem in wrong]
            refused += 1
        else:
            forms.append((line, form))
    return Checked(tuple(forms), tuple(errors), refused)


class _Rules:
    """The checks of one row, with what they need: flows, communes, print runs and the codes seen so far."""

    def __init__(self, flows: Flows, communes: Mapping[str, str], runs: Sequence[PrintRun]) -> None:
        self.flows, self.communes, self.runs = flows, communes, runs
        self.names = {_plain(name): code for code, name in communes.items()}
        self.bands = age_bands(flows)
        self.seen: dict[str, int] = {}

    def row(self, line: int, cells: Mapping[str, str]) -> tuple[PaperForm | None, list[tuple[str, str]]]:
        """The form a row holds, or None and its problems as (column, problem)."""
        wrong: list[tuple[str, str]] = []
        commune = self.commune(cells["Mã xã"], wrong)
        group = _group(cells["Nhóm"])
        if group is None or group not in self.flows.questionnaires:
            wrong.append(("Nhóm", f"'{cells['Nhóm']}' không phải Trẻ em hoặc Người dân" if cells["Nhóm"] else "trống"))
            group = None
        code = self.code(line, cells["Mã phiếu"], commune, group, wrong)
        q = self.flows.questionnaires.get(group or "")
        if q is None:
            return None, wrong
        band = self.band(cells["Độ tuổi"], q.group, wrong)
        answers = self.answers(cells, q, wrong)
        comment = cells[COMMENT]
        if comment and q.comment is not None and len(comment) > q.comment.max_length:
            wrong.append((COMMENT, f"dài {len(comment)} ký tự, tối đa {q.comment.max_length}"))
        if wrong:
            return None, wrong
        note = (q.comment.id, comment) if comment and q.comment is not None else None
        return PaperForm(code, commune, q.group, band, q.version, tuple(answers), note), wrong

    def commune(self, text: str, wrong: list[tuple[str, str]]) -> str:
        """A commune code from its code or its name."""
        code = text.lower() if text.lower() in self.communes else self.names.get(_plain(text), text.lower())
        if not code:
            wrong.append(("Mã xã", "trống — ghi mã xã như trong danh sách xã"))
        elif code not in self.communes:
            wrong.append(("Mã xã", f"không có xã '{text}' trong danh sách xã (xem: xtt communes list)"))
        return code

    def code(self, line: int, text: str, commune: str, group: str | None, wrong: list[tuple[str, str]]) -> str:
        """A form code: valid, printed by xtt for this commune and group, and not on an earlier row."""
        code = normalise(text)
        if not code:
            wrong.append(("Mã phiếu", "trống — ghi mã in ở góc phiếu"))
            return code
        try:
            serial = decode(code)
        except FormCodeError as exc:
            wrong.append(("Mã phiếu", f"'{text}': {exc}"))
            return code
        run = next((r for r in self.runs if r.holds(serial)), None)
        if run is None:
            wrong.append(("Mã phiếu", f"'{text}' không thuộc đợt in phiếu nào của xtt"))
        elif commune in self.communes and run.commune != commune:
            wrong.append(("Mã phiếu", f"phiếu này được in cho xã {self.communes.get(run.commune, run.commune)}"))
        elif group is not None and run.group != group:
            wrong.append(("Mã phiếu", f"phiếu này được in cho nhóm {GROUP_NAMES.get(run.group, run.group)}"))
        if code in self.seen:
            wrong.append(("Mã phiếu", f"mã phiếu {code} trùng với dòng {self.seen[code]}"))
        else:
            self.seen[code] = line
        return code

    def band(self, text: str, group: str, wrong: list[tuple[str, str]]) -> str:
        """An age band of the group, as stored ('10-12')."""
        band = text.replace("–", "-").replace(" ", "")
        allowed = [value for value, _ in self.bands.get(group, [])]
        if band not in allowed:
            wrong.append(("Độ tuổi", f"'{text}' không phải độ tuổi của nhóm này ({', '.join(allowed)})" if text
                          else f"trống — chọn một trong {', '.join(allowed)}"))
        return band

    def answers(self, cells: Mapping[str, str], q: Questionnaire,
                wrong: list[tuple[str, str]]) -> list[tuple[str, str, bool | None]]:
        """The ticked answers as (question, option, satisfied or None if unscored); blank cells are skipped."""
        found: list[tuple[str, str, bool | None]] = []
        before = len(wrong)
        for n in range(1, width(self.flows.questionnaires) + 1):
            value = cells[f"Q{n}"]
            if not value:
                continue
            if n > len(q.items):
                wrong.append((f"Q{n}", f"phiếu {GROUP_NAMES[q.group].lower()} chỉ có {len(q.items)} câu — "
                                       "để trống cột này"))
                continue
            option = _option(value, q)
            if option is None:
                wrong.append((f"Q{n}", f"'{value}' không phải lựa chọn — ghi số từ 1 đến {len(q.scale)}"))
                continue
            found.append((q.items[n - 1].id, option.id, option.satisfied if option.scored else None))
        if not found and len(wrong) == before:
            wrong.append(("Q1", "phiếu không có câu trả lời nào"))
        return found


def _title(cell: object) -> str:
    """A header cell as one of the sheet's titles (English keys accepted)."""
    text = _text(cell)
    key = text.lower().replace(" ", "_")
    if key in ALIASES:
        return ALIASES[key]
    if key[:1] == "q" and key[1:].isdigit():
        return f"Q{int(key[1:])}"
    return text


def _text(cell: object) -> str:
    """A cell as trimmed text; whole numbers without '.0'."""
    if cell is None:
        return ""
    if isinstance(cell, float) and cell.is_integer():
        return str(int(cell))
    return str(cell).strip()


def _group(text: str) -> str | None:
    """A group from its Vietnamese name or id."""
    plain = _plain(text)
    for group, name in GROUP_NAMES.items():
        if plain in (group, _plain(name)):
            return group
    return None


def _option(value: str, q: Questionnaire) -> Option | None:
    """An option of the scale from its number, id or label (marks optional)."""
    if value.isdigit():
        n = int(value)
        return q.scale[n - 1] if 1 <= n <= len(q.scale) else None
    plain = _plain(value)
    return next((o for o in q.scale if plain in (o.id, _plain(o.label.vi), _plain(o.label.en))), None)
