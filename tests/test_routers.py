"""The house: feature routers declare every command once; access, help and menus come from them."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from bot.access import EVERYONE, LEADER, OFFICIAL, ROLES, Person
from bot.app import assemble
from bot.identity import Identity
from bot.router import Call, Command, Outcome, Router, Routes, RoutesError, Tap, say
from conversations import Catalogue, Engine, load_flows
from storage import rounds
from tests.conftest import SECRET
from tests.test_service import NOW
from tests.test_service import Person as Chatter

ROOT = Path(__file__).resolve().parents[1]
TEXTS = Catalogue.load()


def service_with(db, *extra: Router, admins: frozenset[str] = frozenset()):
    """The real service with extra routers."""
    return assemble(Engine(load_flows(), TEXTS), db, Identity(SECRET), TEXTS, admins=admins, clock=lambda: NOW,
                    extra=extra)


def test_every_declared_command_has_a_role_a_description_and_someone_to_run_it(db) -> None:
    routes = service_with(db).routes
    engine_commands = {"start", "survey", "propose", "help", "language", "forget"}
    assert len(routes.commands) >= 17
    for name, command in routes.commands.items():
        assert command.role in ROLES, name
        assert all(TEXTS.has(lang, command.help) and TEXTS.get(lang, command.help).strip() for lang in ("vi", "en"))
        assert command.run is not None or name in engine_commands, f"{name} has no handler"


@pytest.mark.parametrize("broken, problem", [
    (Command("x", "janitor", "menu.help"), "role"),
    (Command("x", EVERYONE, "menu.nothing_here"), "description"),
    (Command("x", EVERYONE, "menu.help", vi="khaosat"), "taken"),
    (Command("x-y", EVERYONE, "menu.help"), "Telegram command"),
])
def test_a_command_without_a_role_a_description_or_a_free_word_is_refused_at_start(broken, problem) -> None:
    async def run(call: Call) -> Outcome:
        return Outcome()

    survey = Router("survey", commands=(Command("survey", EVERYONE, "menu.survey", vi="khaosat"),))
    broken = Command(broken.name, broken.role, broken.help, run, vi=broken.vi)
    with pytest.raises(RoutesError, match=problem):
        Routes([survey, Router("dummy", commands=(broken,))], TEXTS)


async def test_a_new_feature_router_is_routed_checked_listed_in_help_and_in_the_menu(db) -> None:
    """Adding a command touches one router; routing, access, /help and the menu follow."""
    seen: list[str] = []

    async def hello(call: Call) -> Outcome:
        seen.append(call.arg)
        return say(TEXTS, call.lang, "menu.help")

    dummy = Router("dummy", commands=(Command("hello", LEADER, "menu.progress", hello, vi="xinchao",
                                              takes_argument=True),))
    await rounds.open_round(db, "2024", NOW)
    official = Identity(SECRET).pseudonym("telegram", "1")
    service = service_with(db, dummy, admins=frozenset({official, Identity(SECRET).pseudonym("zalo_bot", "1")}))
    boss, child = Chatter(service, "1"), Chatter(service, "2")
    assert (await child.say("/xinchao"))[0].key == "access.denied" and seen == []
    assert (await boss.say("/hello my-an"))[0].key == "menu.help" and seen == ["my-an"]
    assert "/xinchao" in (await boss.say("/huongdan"))[0].text
    assert "/xinchao" not in (await child.say("/huongdan"))[0].text
    assert ("xinchao", TEXTS.get("vi", "menu.progress")) in service.menu(Person(official, official=True), "vi")
    assert "xinchao" not in dict(service.menu(Person("nobody"), "vi"))
    zalo = Chatter(service, "1", channel="zalo_bot")  # typed without "/" where there is no menu
    await zalo.say("/start")
    assert (await zalo.say("=xin chao"))[0].key == "menu.help" and seen[-1] == ""
    await service.close()


def test_menus_differ_by_role(db) -> None:
    service = service_with(db)
    child = dict(service.menu(Person("c"), "vi"))
    leader = dict(service.menu(Person("l", leads=frozenset({"my-an"})), "vi"))
    official = dict(service.menu(Person("o", official=True), "en"))
    assert {"xemkiennghi", "thamdo"} <= set(leader) and not {"xemkiennghi", "thamdo"} & set(child)
    assert {"proposals", "poll", "report", "invite"} <= set(official)
    assert "baocao" not in leader


@pytest.mark.parametrize("data", ["f:v:²", "f:v:99999999999999999999", "f:v:1:2:3:4", "f:", "x", "f:v:1~a",
                                  "f:v:" + "9" * 13, "f:verylongverb:1"])
def test_forged_button_data_never_parses_to_an_out_of_range_id(data: str) -> None:
    tap = Tap.parse(data)
    assert tap is None or tap.number() is None or tap.number() < 10**12


def test_button_data_round_trips_with_its_screen() -> None:
    tap = Tap.parse("f:t:12:committee~7")
    assert tap == Tap("f", "t", ("12", "committee"), 7) and tap.number() == 12 and tap.arg(1) == "committee"


def _imports(folder: str) -> set[str]:
    """Every module a package imports, from its source."""
    found: set[str] = set()
    for path in (ROOT / folder).rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                found.update(alias.name for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
                found.add(node.module)
    return found


def test_the_house_channels_hold_no_sql_and_analytics_knows_no_bot() -> None:
    channels = _imports("bot/channels")
    assert not {m for m in channels if m.split(".")[0] in ("storage", "sqlalchemy")}
    assert not {m for m in _imports("analytics") if m.split(".")[0] == "bot"}
    assert not {m for m in _imports("conversations") if m.split(".")[0] in ("bot", "storage", "sqlalchemy")}


def test_officials_hold_every_role() -> None:
    official = Person("o", official=True)
    assert all(__import__("bot.access").access.permits(official, role) for role in (EVERYONE, LEADER, OFFICIAL))
