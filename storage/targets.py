"""Targets per commune and group (optionally per age band): read from CSV or XLSX, stored per round."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from analytics.formula import Formula, FormulaError
from conversations.matching import fold
from storage.db import upsert
from storage.models import Round, Target
from storage.tables import read_table

GROUPS = {"child": "child", "children": "child", "tre em": "child", "resident": "resident",
          "residents": "resident", "nguoi dan": "resident"}


class TargetError(ValueError):
    """A targets file or command is wrong; the message names the row and the fix."""


@dataclass(frozen=True, slots=True)
class TargetRow:
    """Respondents wanted in a commune for a group; age_band '' means the whole group."""

    commune: str
    group: str
    target: int
    age_band: str = ""


def _cells(path: Path) -> list[list[str]]:
    """The rows of a CSV or the first sheet of an XLSX file, as text."""
    return read_table(path)


def _whole(text: str, where: str, what: str) -> int:
    """A whole number above zero from a cell, or a clear error naming the row."""
    try:
        value = float(text.replace(",", "."))
    except ValueError:
        raise TargetError(f"{where}: {what} {text!r} is not a number; give a whole number above 0") from None
    if value <= 0 or value != int(value):
        raise TargetError(f"{where}: {what} {text} is refused; give a whole number above 0")
    return int(value)


def read_file(path: Path, known: set[str], formulas: Mapping[str, Formula]) -> list[TargetRow]:
    """Read commune,group,target[,age_band] rows; a row with children_count and no target uses the formulas."""
    rows = _cells(path)
    if not rows:
        raise TargetError(f"{path.name}: the file is empty; add a header row commune,group,target")
    header = ["commune" if h.lower() == "code" else h.lower() for h in rows[0]]
    if "commune" not in header or not {"target", "children_count"} & set(header):
        raise TargetError(f"{path.name}: the header must name commune and target (or children_count), "
                          "e.g. commune,group,target,age_band")
    result: dict[tuple[str, str, str], TargetRow] = {}
    for number, raw in enumerate(rows[1:], start=2):
        if not any(raw):
            continue
        cell = {h: (raw[i] if i < len(raw) else "") for i, h in enumerate(header)}
        where = f"{path.name}: row {number}"
        code = cell["commune"].lower()
        if code not in known:
            raise TargetError(f"{where}: commune {code!r} is unknown; see: xtt communes list")
        group_text = fold(cell.get("group", "")).strip()
        if group_text and group_text not in GROUPS:
            raise TargetError(f"{where}: group {cell['group']!r} is unknown; use child or resident")
        groups = [GROUPS[group_text]] if group_text else ["child", "resident"]
        band = cell.get("age_band", "")
        for group in groups:
            if cell.get("target"):
                target = _whole(cell["target"], where, "target")
            elif cell.get("children_count"):
                count = _whole(cell["children_count"], where, "children_count")
                try:
                    target = formulas[group](children_count=count)
                except FormulaError as exc:
                    raise TargetError(f"{where}: {exc}") from exc
                if target <= 0:
                    raise TargetError(f"{where}: the formula gives {target} for {group}; fix targets.toml")
            else:
                raise TargetError(f"{where}: give a target or a children_count")
            key = (code, group, band)
            if key in result:
                raise TargetError(f"{where}: {code} {group} {band or '(whole group)'} appears twice; keep one row")
            result[key] = TargetRow(code, group, target, band)
    if not result:
        raise TargetError(f"{path.name}: no targets below the header")
    return list(result.values())


def derive(counts: Mapping[str, int], formulas: Mapping[str, Formula]) -> list[TargetRow]:
    """Targets of both groups from each commune's number of children, by the formulas; 0 or below is refused."""
    rows = []
    for code, count in sorted(counts.items()):
        for group in ("child", "resident"):
            target = formulas[group](children_count=count)
            if target <= 0:
                raise TargetError(f"{code}: the formula for {group} gives {target} with children_count {count}; "
                                  "fix targets.toml")
            rows.append(TargetRow(code, group, target))
    return rows


async def store(engine: AsyncEngine, round_id: str, rows: list[TargetRow]) -> int:
    """Insert or replace targets of a round."""
    async with engine.begin() as conn:
        if (await conn.execute(select(Round.id).where(Round.id == round_id))).first() is None:
            raise TargetError(f"there is no round {round_id}; see: xtt round list")
        for row in rows:
            if row.target <= 0:
                raise TargetError(f"{row.commune} {row.group}: target {row.target} is refused; give a whole number "
                                  "above 0")
            await conn.execute(upsert(engine, Target.__table__, ["round_id", "commune", "group", "age_band"],
                                      {"round_id": round_id, "commune": row.commune, "group": row.group,
                                       "age_band": row.age_band, "target": row.target}))
    return len(rows)


async def listing(engine: AsyncEngine, round_id: str) -> list[TargetRow]:
    """A round's targets by commune, group and age band."""
    async with engine.connect() as conn:
        rows = await conn.execute(select(Target).where(Target.round_id == round_id)
                                  .order_by(Target.commune, Target.group, Target.age_band))
        return [TargetRow(r.commune, r.group, r.target, r.age_band) for r in rows]


async def per_commune(conn: AsyncConnection, round_id: str) -> dict[str, dict[str, int]]:
    """Each commune's target per group: its whole-group target, else the sum of its age bands' targets."""
    whole: dict[str, dict[str, int]] = {}
    bands: dict[str, dict[str, int]] = {}
    rows = await conn.execute(select(Target.commune, Target.group, Target.age_band, Target.target)
                              .where(Target.round_id == round_id))
    for commune, group, band, target in rows:
        into = bands if band else whole
        into.setdefault(commune, {})[group] = into.get(commune, {}).get(group, 0) + target
    for commune, groups in bands.items():
        for group, total in groups.items():
            whole.setdefault(commune, {}).setdefault(group, total)
    return whole


async def per_band(conn: AsyncConnection, round_id: str) -> dict[tuple[str, str], dict[str, int]]:
    """The age-band targets of a round by (commune, group)."""
    rows = await conn.execute(select(Target.commune, Target.group, Target.age_band, Target.target)
                              .where(Target.round_id == round_id, Target.age_band != ""))
    found: dict[tuple[str, str], dict[str, int]] = {}
    for commune, group, band, target in rows:
        found.setdefault((commune, group), {})[band] = target
    return found
