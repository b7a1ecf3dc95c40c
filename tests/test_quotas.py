"""Targets per commune: safe formulas, imports that refuse a target of zero or below, and their use everywhere."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from analytics import compute, load_rubric, to_json
from analytics.formula import Formula, FormulaError, load_formulas
from bot.reports import Reports
from conversations import Catalogue, load_flows
from storage import repo, rounds, targets
from tests.test_storage import NOW, write

RUBRIC = load_rubric()
KNOWN = {"my-an", "my-hoa", "tt-my-an"}


async def answered(db, round_id: str, commune: str, group: str, satisfied: list[int], answers: int = 10,
                   band: str = "x") -> None:
    """Submitted responses of a commune's group, each with `answers` scored answers of which some satisfied."""
    statements = []
    for k, yes in enumerate(satisfied):
        rid = f"{round_id}-{commune}-{group}-{band}-{k}"
        statements.append(repo.start_response({"id": rid, "round_id": round_id, "commune": commune, "group": group,
                                               "age_band": band, "version": "1", "submitted": False,
                                               "started_on": "2025-05-05"}))
        statements += [repo.save_answer(rid, f"q{q}", "o", q < yes, None) for q in range(answers)]
        statements.append(repo.submit(rid, "2025-05-05"))
    await write(db, *statements)


def test_formulas_are_arithmetic_only() -> None:
    children = Formula("max(30, ceil(0.05 * children_count))")
    assert children(children_count=200) == 30 and children(children_count=1001) == 51
    assert Formula("children_count / 40")(children_count=1000) == 25
    for evil in ("__import__('os').system('true')", "children_count.real", "(lambda: 1)()", "max(x=1)", "[1][0]"):
        with pytest.raises(FormulaError):
            Formula(evil)
    with pytest.raises(FormulaError, match="needs children_count"):
        Formula("children_count + 1")()
    assert set(load_formulas()) == {"child", "resident"}


def test_import_refuses_zero_or_negative_targets_with_the_row(tmp_path: Path) -> None:
    formulas = load_formulas()
    path = tmp_path / "muc-tieu.csv"
    path.write_text("commune,group,target\nmy-an,child,12\nmy-hoa,resident,-5\n", encoding="utf-8")
    with pytest.raises(targets.TargetError, match=r"muc-tieu.csv: row 3: target -5 is refused"):
        targets.read_file(path, KNOWN, formulas)
    path.write_text("commune,group,target\nmy-an,trẻ em,0\n", encoding="utf-8")
    with pytest.raises(targets.TargetError, match=r"row 2: target 0 is refused"):
        targets.read_file(path, KNOWN, formulas)
    path.write_text("commune,group,target\nnowhere,child,5\n", encoding="utf-8")
    with pytest.raises(targets.TargetError, match=r"row 2: commune 'nowhere' is unknown"):
        targets.read_file(path, KNOWN, formulas)
    path.write_text("commune,group,target,age_band,children_count\nmy-an,child,12,,\nmy-an,child,5,10-12,\n"
                    "my-hoa,,,,1200\n", encoding="utf-8")
    rows = targets.read_file(path, KNOWN, formulas)
    assert rows == [targets.TargetRow("my-an", "child", 12), targets.TargetRow("my-an", "child", 5, "10-12"),
                    targets.TargetRow("my-hoa", "child", 60), targets.TargetRow("my-hoa", "resident", 30)]


async def test_each_commune_is_held_to_its_own_target(db) -> None:
    await rounds.open_round(db, "2025", NOW, (30, 30))
    await targets.store(db, "2025", [targets.TargetRow("my-an", "child", 3), targets.TargetRow("my-an", "resident", 2),
                                     targets.TargetRow("my-hoa", "child", 4, "10-12"),
                                     targets.TargetRow("my-hoa", "child", 5, "13-15")])
    with pytest.raises(targets.TargetError, match="target -1 is refused"):
        await targets.store(db, "2025", [targets.TargetRow("my-an", "child", -1)])
    await answered(db, "2025", "my-an", "child", [10, 9, 9])
    await answered(db, "2025", "my-an", "resident", [10, 10])
    doc = {c["code"]: c for c in to_json("2025", RUBRIC, await compute(db, "2025", RUBRIC))["communes"]}
    assert doc["my-an"]["target"] == {"children": 3, "residents": 2} and doc["my-an"]["assessable"]
    assert doc["my-hoa"]["target"] == {"children": 9, "residents": 30}, "age bands add up; the round's default"
    assert doc["phu-dien"]["target"] == {"children": 30, "residents": 30} and not doc["phu-dien"]["assessable"]
    reports = Reports(db, Catalogue.load(), RUBRIC, None, load_flows().questionnaires)  # type: ignore[arg-type]
    tally = (await reports.progress(["my-an", "my-hoa"], "vi"))[0].text
    assert "Xã Mỹ An: trẻ em 3/3, người dân 2/2" in tally and "Xã Mỹ Hòa: trẻ em 0/9, người dân 0/30" in tally


async def test_an_age_band_below_its_target_keeps_the_commune_unassessable(db) -> None:
    await rounds.open_round(db, "2025", NOW, (2, 2))
    await targets.store(db, "2025", [targets.TargetRow("my-an", "child", 2, "10-12")])
    await answered(db, "2025", "my-an", "child", [9, 9, 9], band="13-15")
    await answered(db, "2025", "my-an", "resident", [9, 9], band="36-59")
    doc = to_json("2025", RUBRIC, await compute(db, "2025", RUBRIC, ["my-an"]))["communes"][0]
    assert doc["children"]["bands_short"] == ["10-12"] and not doc["assessable"]
    await answered(db, "2025", "my-an", "child", [9, 9], band="10-12")
    doc = to_json("2025", RUBRIC, await compute(db, "2025", RUBRIC, ["my-an"]))["communes"][0]
    assert "bands_short" not in doc["children"] and doc["assessable"]


def test_cli_targets(xtt, tmp_path: Path) -> None:
    assert "no rounds yet" in xtt("targets", "list")[2]
    code, _, err = xtt("round", "open", "2025", "--target", "0")
    assert code == 2 and err.startswith("xtt: the target must be a whole number above 0")
    xtt("round", "open", "2025", "--target", "20")
    bad = tmp_path / "bad.csv"
    bad.write_text("commune,group,target\nmy-an,child,-3\n", encoding="utf-8")
    code, _, err = xtt("targets", "import", str(bad))
    assert code == 2 and err == "xtt: bad.csv: row 2: target -3 is refused; give a whole number above 0\n"
    from openpyxl import Workbook

    book = Workbook()
    book.active.append(["Commune", "Group", "Target"])
    book.active.append(["my-an", "resident", 7])
    book.save(tmp_path / "muc-tieu.xlsx")
    assert "imported 1 targets for round 2025" in xtt("targets", "import", str(tmp_path / "muc-tieu.xlsx"))[1]
    assert "my-an            resident  -        7" in xtt("targets", "list")[1]
    doc = json.loads(xtt("score", "--json", "--commune", "my-an")[1])
    assert doc["communes"][0]["target"] == {"children": 20, "residents": 7}
    assert "no commune has a children_count" in xtt("targets", "derive")[2]
    (tmp_path / "units.csv").write_text("code,name,type,children_count\nmy-an,Xã Mỹ An,standard,1500\n",
                                        encoding="utf-8")
    xtt("communes", "import", str(tmp_path / "units.csv"))
    assert "derived 2 targets" in xtt("targets", "derive")[1]
    doc = json.loads(xtt("score", "--json", "--commune", "my-an")[1])
    assert doc["communes"][0]["target"] == {"children": 75, "residents": 30}, "max(30, ceil(5% of 1500)) and 30"
