"""Storage contract: the same tests on a SQLite file and on the PostgreSQL server."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select, text
from sqlalchemy.exc import IntegrityError

from analytics import compute, load_rubric
from storage import communes, invites, migrate, repo, rounds
from storage.committer import Committer
from storage.models import Answer, Contact, Participation, Respondent, Response, RoleGrant, Round, Session
from storage.writes import Refused, commit, run

NOW = datetime(2024, 11, 5, 8, 0, tzinfo=UTC)


async def count(db, model) -> int:
    """Rows in a table."""
    async with db.connect() as conn:
        return (await conn.execute(select(func.count()).select_from(model))).scalar_one()


async def write(db, *statements) -> None:
    """Run writes and statements in one transaction, the way the committer does."""
    async with db.begin() as conn:
        await run(conn, [statements])


def response(response_id: str, commune: str = "my-an", group: str = "child") -> dict:
    """Values of a new response."""
    return {"id": response_id, "round_id": "2024", "commune": commune, "group": group, "age_band": "10-12",
            "version": "1", "submitted": False, "started_on": "2024-11-05"}


async def test_migrations_are_at_head_and_idempotent(db) -> None:
    assert await migrate.current(db) == migrate.head()
    assert await migrate.upgrade(db) is False


async def test_default_communes_are_the_13_units_of_thap_muoi(db) -> None:
    rows = await communes.listing(db)
    assert len(rows) == 13
    assert {r.type for r in rows} == {"standard"}
    assert "Thị trấn Mỹ An" in {r.name for r in rows}
    assert await communes.seed_default(db) == 0


async def test_commune_import_updates_and_keeps_history(db, tmp_path: Path) -> None:
    path = tmp_path / "map.csv"
    path.write_text("code,name,type,valid_to,merged_into\nmy-an,Xã Mỹ An,disadvantaged,2025-06-30,thap-muoi-1\n"
                    "thap-muoi-1,Xã Tháp Mười,standard,,\n", encoding="utf-8-sig")
    assert await communes.store(db, communes.read_file(path)) == 2
    rows = {r.code: r for r in await communes.listing(db)}
    assert len(rows) == 14
    assert rows["my-an"].type == "disadvantaged" and rows["my-an"].merged_into == "thap-muoi-1"
    assert "my-an" not in dict(await repo.communes(db)), "a merged unit is no longer offered in chat"


async def test_two_open_rounds_are_refused_by_code_and_by_the_database(db) -> None:
    await rounds.open_round(db, "2024", NOW)
    with pytest.raises(rounds.RoundError, match="close it first"):
        await rounds.open_round(db, "2025", NOW)
    with pytest.raises(IntegrityError):
        await write(db, Round.__table__.insert().values(id="x", status="open", opened_at=NOW,
                                                        target_children=30, target_residents=30))
    await rounds.close_round(db, "2024", NOW)
    with pytest.raises(rounds.RoundError, match="already closed"):
        await rounds.close_round(db, "2024", NOW)
    await rounds.open_round(db, "2025", NOW)
    assert {r.id: r.status for r in await rounds.list_rounds(db)} == {"2024": "closed", "2025": "open"}
    assert await rounds.current_round(db) == "2025"


async def test_answers_are_replaced_and_one_participation_per_round(db) -> None:
    await rounds.open_round(db, "2024", NOW)
    await write(db, repo.start_response(response("r1")),
                repo.save_answer("r1", "q1", "satisfied", True, None),
                repo.save_answer("r1", "q1", "not_satisfied", False, None),
                repo.save_answer("r1", "q2", "dont_know", None, None))
    async with db.connect() as conn:
        rows = dict((await conn.execute(select(Answer.question, Answer.satisfied))).all())
    assert rows == {"q1": 0, "q2": None}
    await write(db, repo.submit("r1", "2024-11-05"), repo.participate("2024", "token-a"))
    with pytest.raises(IntegrityError):
        await write(db, repo.participate("2024", "token-a"))


async def test_forget_erases_the_person_and_unlinks_submitted_answers(db) -> None:
    await rounds.open_round(db, "2024", NOW)
    person = "p" * 64
    await write(db,
                repo.save_profile(person, {"group": "child", "age_band": "10-12", "commune": "my-an",
                                               "consent": "self+parent", "consent_version": "1",
                                               "consent_purpose": "survey", "consent_at": NOW, "lang": "vi"}),
                repo.save_contact(person, "telegram", "42", NOW),
                repo.save_session(person, {"flow": "survey"}, NOW),
                RoleGrant.__table__.insert().values(person=person, role="leader", commune="my-an", granted_at=NOW),
                repo.start_response(response("done")), repo.save_answer("done", "q1", "satisfied", True, None),
                repo.submit("done", "2024-11-05"), repo.participate("2024", "tok"),
                repo.start_response(response("open")), repo.save_answer("open", "q1", "satisfied", True, None))
    await write(db, *repo.forget(person, "open"))
    for model in (Respondent, Contact, Session, RoleGrant):
        assert await count(db, model) == 0, model.__name__
    assert await count(db, Response) == 1 and await count(db, Answer) == 1
    assert await count(db, Participation) == 1
    assert await repo.participated(db, "2024", "tok")


async def test_forget_never_deletes_a_submitted_response(db) -> None:
    await rounds.open_round(db, "2024", NOW)
    await write(db, repo.start_response(response("r")), repo.save_answer("r", "q", "satisfied", True, None),
                repo.submit("r", "2024-11-05"))
    await write(db, *repo.forget("someone", "r"))
    assert await count(db, Answer) == 1


async def redeem(db, invite_id: str, person: str, now) -> tuple[str, str] | None:
    """Redeem in a transaction of its own; None when refused."""
    try:
        return (await commit(db, [invites.redeem(invite_id, person, now)]))["invite"]
    except Refused as refused:
        assert refused.key == "invite.invalid"
        return None


async def test_invites_are_single_use_and_expire(db) -> None:
    later = NOW + timedelta(days=7)
    await commit(db, [invites.create("aaaaaaaa", "leader", "my-an", NOW, later),
                      invites.create("bbbbbbbb", "leader", "my-hoa", NOW, later),
                      invites.create("cccccccc", "leader", "my-hoa", NOW, later)])
    assert await redeem(db, "aaaaaaaa", "p1", NOW) == ("leader", "my-an")
    assert await redeem(db, "aaaaaaaa", "p2", NOW) is None
    assert await redeem(db, "bbbbbbbb", "p2", later + timedelta(seconds=1)) is None
    assert await invites.revoke(db, "cccccccc", NOW)
    assert await redeem(db, "cccccccc", "p2", NOW) is None
    assert await redeem(db, "zzzzzzzz", "p2", NOW) is None
    assert await repo.roles(db, "p1") == [("leader", "my-an")]
    assert await repo.roles(db, "p2") == []
    states = {i.id: i.state for i in await invites.listing(db, later + timedelta(seconds=1))}
    assert states == {"aaaaaaaa": "used", "bbbbbbbb": "expired", "cccccccc": "revoked"}


async def test_concurrent_redeem_grants_once(db) -> None:
    await commit(db, [invites.create("dddddddd", "leader", "my-an", NOW, NOW + timedelta(days=1))])
    results = await asyncio.gather(*(redeem(db, "dddddddd", f"p{i}", NOW) for i in range(5)),
                                   return_exceptions=True)
    assert sum(1 for r in results if r == ("leader", "my-an")) == 1


async def test_update_keys_are_remembered(db) -> None:
    state = await repo.load_state(db, "p", "telegram:1")
    assert not state.seen and state.session is None and state.round_id is None
    await write(db, repo.mark_processed("telegram:1", NOW), repo.save_session("p", {"turn": 3}, NOW))
    with pytest.raises(IntegrityError):
        await write(db, repo.mark_processed("telegram:1", NOW))
    state = await repo.load_state(db, "p", "telegram:1")
    assert state.seen and state.session == {"turn": 3}


async def test_committer_groups_units_and_isolates_a_failing_one(db) -> None:
    await rounds.open_round(db, "2024", NOW)
    committer = Committer(db)
    await committer.write([repo.participate("2024", "dup")])
    units = [[repo.start_response(response(f"r{i}")), repo.save_answer(f"r{i}", "q", "satisfied", True, None)]
             for i in range(50)]
    units.insert(25, [repo.participate("2024", "dup")])
    results = await asyncio.gather(*(committer.write(u) for u in units), return_exceptions=True)
    await committer.close()
    assert [i for i, r in enumerate(results) if isinstance(r, Exception)] == [25]
    assert isinstance(results[25], IntegrityError)
    assert await count(db, Response) == 50 and await count(db, Answer) == 50


async def test_scores_count_only_submitted_responses_and_scored_answers(db) -> None:
    await rounds.open_round(db, "2024", NOW)
    statements = []
    for rid, group, answers, submitted in [
        ("c1", "child", [True, True, False, None], True),
        ("c2", "child", [True, None, None, None], True),
        ("c3", "child", [False, False, False, False], False),
        ("a1", "resident", [False, True, True, True], True),
    ]:
        statements.append(repo.start_response(response(rid, group=group)))
        for n, value in enumerate(answers):
            statements.append(repo.save_answer(rid, f"q{n}", "x", value, None))
        if submitted:
            statements.append(repo.submit(rid, "2024-11-05"))
    statements.append(repo.save_answer("c1", "comment", None, None, "sân chơi"))
    await write(db, *statements)
    scores = {s.code: s for s in await compute(db, "2024", load_rubric())}
    assert len(scores) == 13
    my_an = scores["my-an"]
    assert (my_an.children.n, my_an.children.answers, my_an.children.satisfied) == (2, 4, 3)
    assert (my_an.residents.n, my_an.residents.answers, my_an.residents.satisfied) == (1, 4, 3)
    assert my_an.index == pytest.approx(0.75)
    assert scores["my-hoa"].index is None and scores["my-hoa"].children.n == 0
    assert [s.code for s in await compute(db, "2024", load_rubric(), ["my-an"])] == ["my-an"]


async def test_sqlite_pragmas(database_url: str, db) -> None:
    if not database_url.startswith("sqlite"):
        pytest.skip("SQLite only")
    async with db.connect() as conn:
        assert (await conn.execute(text("PRAGMA journal_mode"))).scalar() == "wal"
        assert (await conn.execute(text("PRAGMA foreign_keys"))).scalar() == 1
        assert (await conn.execute(text("PRAGMA busy_timeout"))).scalar() == 5000
