"""The 2025 map: province and former district kept, merged units remapped, dissolved units only in old rounds."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from sqlalchemy import select

from analytics import compute, load_rubric
from storage import communes, repo, rounds
from storage.communes import CommuneFileError, remap
from storage.models import Respondent
from tests.test_quotas import answered
from tests.test_storage import NOW, write

ROOT = Path(__file__).parent.parent


def test_remap_follows_merges_to_the_unit_of_today() -> None:
    table = {"a": "b", "b": "c", "c": None, "d": None}
    assert [remap(code, table) for code in ("a", "b", "c", "d", "unknown")] == ["c", "c", "c", "d", "unknown"]
    with pytest.raises(CommuneFileError, match="cycle: x → y → x"):
        remap("x", {"x": "y", "y": "x"})


def test_import_refuses_a_merge_into_no_unit(xtt, tmp_path: Path) -> None:
    units = tmp_path / "units.csv"
    units.write_text("code,name,type,valid_to,merged_into,province,former_district\n"
                     "xa-moi,Xã Mới,standard,,,Đồng Tháp,\n"
                     "xa-cu,Xã Cũ,standard,2025-06-30,nowhere,Đồng Tháp,Huyện Tháp Mười\n", encoding="utf-8")
    code, _, err = xtt("communes", "import", str(units))
    assert code == 2 and err == ("xtt: units.csv: row 3: merged_into 'nowhere' names no unit; add that unit to the "
                                 "file (or import it first) or fix the code\n")
    units.write_text(units.read_text(encoding="utf-8").replace("nowhere", "xa-moi"), encoding="utf-8")
    assert xtt("communes", "import", str(units))[0] == 0
    listing = xtt("communes", "list")[1]
    assert "xa-cu" in listing and "[Đồng Tháp, formerly Huyện Tháp Mười]" in listing
    assert "(until 2025-06-30, merged into xa-moi)" in listing
    merged_into_known = tmp_path / "later.csv"
    merged_into_known.write_text("code,name,type,merged_into\nxa-khac,Xã Khác,standard,my-an\n", encoding="utf-8")
    assert xtt("communes", "import", str(merged_into_known))[0] == 0, "a unit already in the database counts"


async def test_dissolved_units_stay_in_old_rounds_only(db, tmp_path: Path) -> None:
    await rounds.open_round(db, "2024", NOW)
    await answered(db, "2024", "my-quy", "child", [9, 9])
    await rounds.close_round(db, "2024", NOW)
    path = tmp_path / "2025.csv"
    path.write_text("code,name,type,valid_to,merged_into,province,former_district\n"
                    "my-quy,Xã Mỹ Quý,standard,2025-06-30,my-an,Đồng Tháp,Huyện Tháp Mười\n", encoding="utf-8")
    await communes.store(db, communes.read_file(path))
    await rounds.open_round(db, "2025", NOW)
    rubric = load_rubric()
    assert "my-quy" in {s.code for s in await compute(db, "2024", rubric)}
    assert "my-quy" not in {s.code for s in await compute(db, "2025", rubric)}
    assert "my-quy" not in dict(await repo.communes(db))
    assert await communes.current_code(db, "my-quy") == "my-an" and await communes.current_code(db, "my-an") == "my-an"
    session = {"lang": "vi", "profile": {"group": "child", "commune": "my-quy", "age_band": "10-12"}, "done": []}
    moved = communes.remap_session(session, await communes.merges(db))
    assert moved["profile"]["commune"] == "my-an" and session["profile"]["commune"] == "my-quy"
    assert communes.remap_session(moved, await communes.merges(db)) is None
    person = "p" * 64
    await write(db, repo.save_profile(person, {"group": "child", "age_band": "10-12", "commune": "my-quy",
                                               "consent": "self+parent", "consent_version": "1",
                                               "consent_purpose": "survey", "consent_at": NOW, "lang": "vi"}))
    await write(db, *communes.move_person(person, "my-an"))
    async with db.connect() as conn:
        assert (await conn.execute(select(Respondent.commune).where(Respondent.key == person))).scalar() == "my-an"
    stored = {r.code: r for r in await communes.listing(db)}
    assert (stored["my-quy"].province, stored["my-quy"].former_district) == ("Đồng Tháp", "Huyện Tháp Mười")


def test_no_text_calls_a_unit_a_district() -> None:
    word = re.compile(r"(?<![\w])huyện(?![\w])", re.IGNORECASE)
    found = [f"{path.relative_to(ROOT)}:{n}" for folder in ("conversations", "analytics", "bot")
             for path in (ROOT / folder).rglob("*") if path.suffix in (".toml", ".py")
             for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1) if word.search(line)]
    assert found == []
