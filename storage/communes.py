"""The administrative map: read a CSV or XLSX file of communes and store it."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlalchemy.sql import Executable

from storage.db import upsert
from storage.models import Commune, Respondent, Session
from storage.tables import read_table

DEFAULT_FILE = Path(__file__).parent / "data" / "communes_thap_muoi.csv"
TYPES = ("ward", "standard", "disadvantaged")
CODE = re.compile(r"^[a-z0-9][a-z0-9-]{0,39}$")
COLUMNS = ("code", "name", "type", "valid_from", "valid_to", "merged_into", "province", "former_district",
           "children_count")


class CommuneFileError(ValueError):
    """A communes file is wrong; the message names the row and the fix."""


@dataclass(frozen=True, slots=True)
class CommuneRow:
    """One commune as read from a file."""

    code: str
    name: str
    type: str
    valid_from: str | None = None
    valid_to: str | None = None
    merged_into: str | None = None
    province: str | None = None
    former_district: str | None = None
    children_count: int | None = None
    line: int = 0


def read_file(path: Path) -> list[CommuneRow]:
    """Read and check a CSV or XLSX file with columns code, name, type."""
    rows = read_table(path)
    if not rows:
        raise CommuneFileError(f"{path.name}: the file is empty; add a header row code,name,type")
    header = [h.strip().lower() for h in rows[0]]
    missing = {"code", "name", "type"} - set(header)
    if missing:
        raise CommuneFileError(f"{path.name}: header lacks {sorted(missing)}; the first row must be code,name,type")
    result, seen = [], set()
    for number, raw in enumerate(rows[1:], start=2):
        if not any(cell.strip() for cell in raw):
            continue
        cells = {h: (raw[i].strip() if i < len(raw) else "") for i, h in enumerate(header) if h in COLUMNS}
        where = f"{path.name}: row {number}"
        count = cells.pop("children_count", "")
        if count and not (count.isdigit() and int(count) >= 0):
            raise CommuneFileError(f"{where}: children_count {count!r} must be a whole number, 0 or more")
        row = CommuneRow(**{k: v or None for k, v in cells.items() if k not in ("code", "name", "type")},
                         code=cells["code"].lower(), name=cells["name"], type=cells["type"].lower(),
                         children_count=int(count) if count else None, line=number)
        if row.merged_into:
            row = replace(row, merged_into=row.merged_into.lower())
        if not CODE.match(row.code):
            raise CommuneFileError(f"{where}: code {row.code!r} is not valid; use a-z, 0-9 and '-'")
        if row.code in seen:
            raise CommuneFileError(f"{where}: code {row.code!r} appears twice; give each unit its own code")
        if not row.name:
            raise CommuneFileError(f"{where}: the name is empty")
        if row.type not in TYPES:
            raise CommuneFileError(f"{where}: type {row.type!r} is unknown; use one of {', '.join(TYPES)}")
        seen.add(row.code)
        result.append(row)
    if not result:
        raise CommuneFileError(f"{path.name}: no communes below the header")
    return result


def check_merges(rows: list[CommuneRow], known: set[str], source: str) -> None:
    """Refuse a merged_into that names no unit of the file or the database, or a unit merged into itself."""
    codes = known | {r.code for r in rows}
    for row in rows:
        where = f"{source}: row {row.line}" if row.line else f"{source}: {row.code}"
        if row.merged_into and row.merged_into not in codes:
            raise CommuneFileError(f"{where}: merged_into {row.merged_into!r} names no unit; add that unit to the "
                                   "file (or import it first) or fix the code")
        if row.merged_into == row.code:
            raise CommuneFileError(f"{where}: {row.code!r} cannot be merged into itself")
    table = {r.code: r.merged_into for r in rows}
    for row in rows:
        remap(row.code, table, where=f"{source}: row {row.line}")


def remap(code: str, communes: Mapping[str, str | None], where: str = "") -> str:
    """The current unit of a code: follow merged_into until a unit that was not merged (refusing a cycle)."""
    seen = [code]
    while communes.get(seen[-1]):
        following = communes[seen[-1]]
        assert following is not None
        if following in seen:
            raise CommuneFileError(f"{where + ': ' if where else ''}merged_into forms a cycle: "
                                   f"{' → '.join([*seen, following])}")
        seen.append(following)
    return seen[-1]


def remap_session(session: dict[str, Any] | None, communes: Mapping[str, str | None]) -> dict[str, Any] | None:
    """A copy of a returning person's session with the profile's commune remapped, or None when nothing changes."""
    profile = (session or {}).get("profile") or {}
    code = profile.get("commune")
    if not code or remap(code, communes) == code:
        return None
    assert session is not None
    return {**session, "profile": {**profile, "commune": remap(code, communes)}}


def move_person(person: str, code: str) -> list[Executable]:
    """Statements that move a person's profile (and the session's reminder column) to the unit they now live in."""
    return [update(Respondent).where(Respondent.key == person).values(commune=code),
            update(Session).where(Session.person == person).values(commune=code)]


async def merges(engine: AsyncEngine) -> dict[str, str | None]:
    """Every unit's merged_into, for `remap` and `remap_session`."""
    async with engine.connect() as conn:
        return dict((await conn.execute(select(Commune.code, Commune.merged_into))).all())


async def current_code(engine: AsyncEngine, code: str) -> str:
    """The unit a person of a commune belongs to now: the code itself, or where it was merged into."""
    return remap(code, await merges(engine))


async def store(engine: AsyncEngine, rows: list[CommuneRow]) -> int:
    """Insert or update communes; old ones not in the file are kept for history."""
    async with engine.begin() as conn:
        for row in rows:
            values = {"code": row.code, "name": row.name, "type": row.type, "valid_from": row.valid_from,
                      "valid_to": row.valid_to, "merged_into": row.merged_into, "province": row.province,
                      "former_district": row.former_district, "children_count": row.children_count}
            await conn.execute(upsert(engine, Commune.__table__, ["code"], values))
    return len(rows)


async def seed_default(engine: AsyncEngine) -> int:
    """Load the shipped communes when the table is empty; returns how many were added."""
    async with engine.connect() as conn:
        count = (await conn.execute(select(func.count()).select_from(Commune))).scalar_one()
    return 0 if count else await store(engine, read_file(DEFAULT_FILE))


async def listing(engine: AsyncEngine) -> list[CommuneRow]:
    """Every commune, current and historical, by name."""
    async with engine.connect() as conn:
        rows = await conn.execute(select(Commune).order_by(Commune.name))
        return [CommuneRow(c.code, c.name, c.type, c.valid_from, c.valid_to, c.merged_into, c.province,
                           c.former_district, c.children_count) for c in rows]
