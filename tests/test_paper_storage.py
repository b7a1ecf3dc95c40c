"""Paper forms and forums held in storage, on a SQLite file and on the PostgreSQL server."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import func, select, update

from analytics import compute, load_rubric
from analytics.forum_record import forum_record, outcome
from storage import forums, paper, rounds
from storage.models import Proposal, ProposalEvent, Response

NOW = datetime(2025, 6, 20, 3, 0, tzinfo=UTC)


def form(code: str, answers: tuple[tuple[str, str, bool | None], ...], comment: str | None = None
         ) -> paper.PaperForm:
    """A checked paper form of Mỹ An's children."""
    return paper.PaperForm(code, "my-an", "child", "10-12", "2024.1", answers,
                           ("comment", comment) if comment else None)


async def chat_proposal(db, author: str, topic: str, at: datetime) -> None:
    """A proposal a child filed in chat: the year's next reference, as the forum desk gives it."""
    async with db.begin() as conn:
        seq = (await conn.execute(select(func.coalesce(func.max(Proposal.seq), 0) + 1)
                                  .where(Proposal.year == at.year))).scalar_one()
        await conn.execute(Proposal.__table__.insert().values(
            ref=f"KN-{at.year}-{seq:04d}", year=at.year, seq=seq, commune="my-an", topic=topic, text="Kiến nghị",
            publish=False, author=author, status="received", created_at=at))


async def test_print_runs_never_share_a_serial(db) -> None:
    first = await paper.allocate(db, "my-an", "child", 30, NOW)
    second = await paper.allocate(db, "my-an", "resident", 5, NOW)
    third = await paper.allocate(db, "phu-dien", "child", 1, NOW)
    assert (first.first, second.first, third.first) == (0, 30, 35)
    assert await paper.runs(db) == [first, second, third]
    assert second.holds(34) and not second.holds(35)


async def test_paper_forms_are_submitted_with_totals_and_counted_once(db) -> None:
    await rounds.open_round(db, "2024", NOW)
    one = form("AAAAAAA", (("safe_home", "satisfied", True), ("safe_school", "not_satisfied", False),
                           ("play", "dont_know", None)), "Sân chơi cần thêm đèn")
    two = form("BBBBBBB", (("safe_home", "very_satisfied", True),))
    assert await paper.store(db, [one, two], "2024", "2025-06-20") == []
    assert await paper.used(db, ["AAAAAAA", "CCCCCCC"]) == {"AAAAAAA"}
    assert await paper.store(db, [one], "2024", "2025-06-21") == ["AAAAAAA"]
    async with db.connect() as conn:
        rows = {r.form_code: r for r in await conn.execute(select(Response))}
    assert len(rows) == 2 and all(r.source == "paper" and r.submitted for r in rows.values())
    assert (rows["AAAAAAA"].answers_scored, rows["AAAAAAA"].answers_satisfied) == (2, 1)
    assert (rows["BBBBBBB"].answers_scored, rows["BBBBBBB"].answers_satisfied) == (1, 1)
    score = next(s for s in await compute(db, "2024", load_rubric()) if s.code == "my-an")
    assert (score.children.n, score.children.answers, score.children.satisfied) == (2, 3, 2)


async def test_forum_proposals_continue_the_years_references(db) -> None:
    await chat_proposal(db, "child-key", "traffic", NOW)
    raised = [forums.Raised("drowning", "Chúng em muốn học bơi"), forums.Raised("play", "Cần sân chơi", True)]
    forum_id, refs = await forums.hold(db, commune="my-an", held_on=date(2025, 6, 1), children=40,
                                       topics=["drowning", "play"], report_due=date(2025, 6, 16), raised=raised,
                                       created_at=datetime(2025, 5, 31, 17, 0, tzinfo=UTC), round_id=None, now=NOW)
    assert refs == ["KN-2025-0002", "KN-2025-0003"]
    async with db.connect() as conn:
        made = list(await conn.execute(select(Proposal.ref, Proposal.source, Proposal.author, Proposal.status,
                                              Proposal.forum_id).order_by(Proposal.seq)))
        kinds = list(await conn.execute(select(ProposalEvent.kind, ProposalEvent.actor).order_by(ProposalEvent.id)))
    assert made[0] == ("KN-2025-0001", "chat", "child-key", "received", None)
    assert [m[1:] for m in made[1:]] == [("forum", None, "received", forum_id)] * 2
    assert kinds == [("received", "forum")] * 2
    held = await forums.listing(db)
    assert [(h.commune, h.held_on, h.children, h.topics, h.report_due, h.proposals) for h in held] == [
        ("my-an", "2025-06-01", 40, ("drowning", "play"), "2025-06-16", 2)]


@pytest.mark.parametrize(("answered", "resolved", "age", "expected"), [
    (3, None, 40, "answered_in_time"),
    (15, 20, 40, "answered_in_time"),
    (16, None, 40, "answered_late"),
    (None, 2, 40, "resolved_no_answer"),
    (None, None, 16, "open_late"),
    (None, None, 10, "open_in_time"),
    (50, None, 10, "open_in_time"),  # an answer dated after `now` does not count yet
])
def test_only_a_real_answer_counts_as_answered(answered: int | None, resolved: int | None, age: int,
                                               expected: str) -> None:
    created = NOW - timedelta(days=age)
    at = {k: None if v is None else created + timedelta(days=v) for k, v in (("a", answered), ("r", resolved))}
    assert outcome(created, at["a"], at["r"], NOW, timedelta(days=15)) == expected


async def test_forum_record_counts_sources_and_outcomes_per_commune(db) -> None:
    old = NOW - timedelta(days=30)
    raised = [forums.Raised("play", f"Kiến nghị số {n}") for n in range(4)]
    await forums.hold(db, commune="my-an", held_on=date(2025, 5, 21), children=35, topics=["play"],
                      report_due=date(2025, 6, 5), raised=raised, created_at=old, round_id=None, now=NOW)
    await chat_proposal(db, "k", "play", NOW - timedelta(days=2))
    async with db.begin() as conn:
        refs = {ref: pid for pid, ref in await conn.execute(select(Proposal.id, Proposal.ref))}
        changes = {"KN-2025-0001": {"first_answer_at": old + timedelta(days=5), "status": "answered"},
                   "KN-2025-0002": {"first_answer_at": old + timedelta(days=20), "status": "answered"},
                   "KN-2025-0003": {"resolved_at": old + timedelta(days=3), "status": "resolved"}}
        for ref, values in changes.items():
            await conn.execute(update(Proposal).where(Proposal.id == refs[ref]).values(**values))
    record = await forum_record(db, NOW, 15)
    mine = next(c for c in record.communes if c.code == "my-an")
    assert mine.counts == {"total": 5, "forum": 4, "chat": 1, "answered_in_time": 1, "answered_late": 1,
                           "resolved_no_answer": 1, "open_late": 1, "open_in_time": 1}
    assert record.total("total") == 5 and len(record.communes) == 13 and len(record.forums) == 1
