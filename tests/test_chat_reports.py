"""Scores, reports and the recognition table asked for in chat, with each role's scope."""

from __future__ import annotations

from bot.identity import Identity
from storage import criteria, rounds
from tests.conftest import SECRET
from tests.test_service import CHILD, NOW, Person, make_service

PNG = b"\x89PNG\r\n\x1a\n"


async def test_officials_get_charts_reports_and_the_recognition_table(db) -> None:
    await rounds.open_round(db, "2024", NOW)
    service = make_service(db, frozenset({Identity(SECRET).pseudonym("telegram", "1")}))
    official = Person(service, "1")
    for n in range(5):  # five children: a group shown per question (fewer would show "<5")
        await Person(service, f"3{n}").run([*CHILD, *["satisfied"] * 12, "skip", "submit"])

    replies = await official.say("/diem")
    assert [r.key for r in replies] == ["score", "score.chart"]
    assert "Xã Mỹ An" in replies[0].text and "50/50" in replies[0].text and "Thang điểm" in replies[0].text
    assert replies[1].image.startswith(PNG)

    one = await official.say("/score my-an")
    assert [r.key for r in one] == ["score", "score.distribution", "score.distribution"]
    assert all(r.image.startswith(PNG) for r in one[1:])

    report = await official.say("/baocao")
    assert report[0].key == "report.ready"
    names = {r.filename for r in report[1:]}
    assert {"so-sanh-xa.png", "ket-qua-2024.xlsx", "summary.md"} <= names
    assert next(r for r in report if r.filename == "ket-qua-2024.xlsx").document.startswith(b"PK")

    assert (await official.say("/congnhan"))[0].key == "assess.none"
    await criteria.replace(db, "2024", {"my-an": dict.fromkeys(range(1, 13), 90.0)})
    assert (await official.say("/assess"))[0].key == "assess.invalid", "criterion 7 allows at most 50"
    await criteria.replace(db, "2024", {"my-an": dict.fromkeys(range(1, 13), 45.0)})
    table = await official.say("/assess")
    assert [r.key for r in table] == ["assess", "assess.chart"]
    assert "Bảng công nhận" in table[0].text and table[1].image.startswith(PNG)
    await service.close()


async def test_leaders_and_others_are_held_to_their_scope(db) -> None:
    await rounds.open_round(db, "2024", NOW)
    service = make_service(db, frozenset({Identity(SECRET).pseudonym("telegram", "1")}))
    official, leader, child = Person(service, "1"), Person(service, "2"), Person(service, "3")
    invite = (await official.say("/invite my-an"))[0].text
    code = next(word for word in invite.split() if len(word) == 21 and "-" in word)
    await leader.say(f"/start {code}")
    await child.run([*CHILD, *["satisfied"] * 12, "skip", "submit"])
    mine = await leader.say("/score")
    assert mine[0].key == "score.hidden", "progress only while the round is open"
    assert "Xã Mỹ Hòa" not in " ".join(r.text for r in mine)
    await rounds.close_round(db, "2024", NOW)
    mine = await leader.say("/score")
    assert [r.key for r in mine] == ["score", "score.distribution"], "no per-question chart of fewer than five"
    assert "trẻ em <5" in mine[0].text and "Xã Mỹ Hòa" not in mine[0].text
    for command in ("/report", "/assess", "/score my-hoa", "/round", "/invite my-hoa"):
        assert (await leader.say(command))[0].key.startswith("access."), command
    for command in ("/score", "/report", "/assess"):
        assert (await child.say(command))[0].key == "access.denied", command
    await service.close()
