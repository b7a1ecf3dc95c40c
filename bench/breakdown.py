"""Where one answer's time goes: each step of Service.handle timed alone, then throughput by concurrency.

Steps, one respondent at a time (no concurrency, so no pool effects), microseconds per call:
  load_state      repo.load_state: a pooled connection, 3 SELECTs, the reset on return
  advance         Service._advance: Context + Engine.advance (pure CPU, deepcopy of the session)
  unit            building the unit's INSERT ... ON CONFLICT statements (Service.writer.unit or Service._unit)
  commit          Committer.write of one unit alone (BEGIN, 3 statements, COMMIT)
  handle          the whole Service.handle of one answer
For scale: one bare aiosqlite round trip (`SELECT 1`) and one SQLAlchemy Core SELECT on a pooled connection.
Write path: a group commit of 200 units with the product's statements one by one (as the committer runs
them) versus the same three statements built once and sent with executemany (a what-if, not the product).
Then the closed loop again at several concurrencies (respondents answering at once), with how many new
SQLite connections the pool opened.

    python -m bench.breakdown [--calls 300] [--concurrency 4,15,50,500]
"""

from __future__ import annotations

import argparse
import asyncio
import inspect
import time
from datetime import UTC, datetime

from bench.common import Respondent, line, product, result, shutdown, tmpdir
from bench.engine_storage import closed_loop, snapshot


async def per_call(fn, calls: int) -> float:
    """Median-of-3 microseconds per call of an async callable."""
    runs = []
    for _ in range(3):
        t0 = time.perf_counter()
        for _ in range(calls):
            await fn()
        runs.append((time.perf_counter() - t0) / calls * 1e6)
    return sorted(runs)[1]


async def steps(calls: int) -> dict[str, float]:
    """Time each step of one answer alone."""
    import aiosqlite
    from sqlalchemy import select, text

    from conversations import Incoming
    from storage import repo
    from storage.models import Session

    folder = tmpdir("steps")
    parts, service = await product(folder)
    try:
        p = Respondent(service, 1, role="resident")
        await p.onboard()
        person = service.identity.pseudonym("bench", "1")
        choice = p.next_choice()
        incoming = Incoming(channel="bench", chat_id="1", user_id="1", choice_id=choice, update_key="bench:x")
        state = await repo.load_state(parts.db, person, "bench:x")
        now = datetime.now(UTC)
        # Service's private steps; their signatures change as the product grows, so adapt to what is there
        if "state" in inspect.signature(service._advance).parameters:
            def advance_call():
                return service._advance(person, state, incoming, None, now)
        else:
            def advance_call():
                return service._advance(person, state.round_id, state.session, incoming, None, now)
        res = await advance_call()
        writer = getattr(service, "writer", None)

        def build():
            if writer is not None:
                return writer.unit(person, incoming, state.session, res, now)
            return service._unit(person, incoming, state.session, res, now)

        figures: dict[str, float] = {}

        figures["load_state"] = await per_call(lambda: repo.load_state(parts.db, person, "bench:x"), calls)

        async def advance() -> None:
            await advance_call()

        figures["advance"] = await per_call(advance, calls)

        async def unit() -> None:
            build()

        figures["unit"] = await per_call(unit, calls)

        async def commit() -> None:  # the same unit, rebuilt each time like the product does
            await service.committer.write(build())

        figures["commit"] = await per_call(commit, calls) - figures["unit"]

        n = [0]

        async def handle() -> None:  # answer, then 'back' to stay on the same questions; two handles per call
            n[0] += 1
            await p.tap()
            back = next(c.id for c in p.last.choices if c.id.endswith(":back"))
            await p.say(choice=back)

        figures["handle"] = await per_call(handle, calls // 2) / 2

        async def sa_select() -> None:
            async with parts.db.connect() as conn:
                (await conn.execute(select(Session.data).where(Session.person == person))).scalar()

        figures["sqlalchemy_select_on_pooled_connection"] = await per_call(sa_select, calls)

        async def sa_select_1() -> None:
            async with parts.db.connect() as conn:
                await conn.execute(text("SELECT 1"))

        figures["sqlalchemy_connect_select1_release"] = await per_call(sa_select_1, calls)
    finally:
        await shutdown(parts, service)
    async with aiosqlite.connect(f"{folder}/b.sqlite3") as db:
        async def hop() -> None:
            await db.execute("SELECT 1")

        figures["aiosqlite_round_trip"] = await per_call(hop, calls)

    async def new_conn() -> None:
        async with aiosqlite.connect(f"{folder}/b.sqlite3") as db:
            await db.execute("PRAGMA journal_mode=WAL")

    figures["aiosqlite_new_connection"] = await per_call(new_conn, max(10, calls // 10))
    figures.update(await write_paths())
    return figures


async def write_paths(units: int = 200, batches: int = 3) -> dict[str, float]:
    """Microseconds per unit (processed update + answer + session) for a group commit of `units` units:
    the product's statements (repo.*) executed one by one, as the committer does, versus the same three
    statements built once and each sent with executemany (a what-if for the write path, not the product)."""
    import uuid

    from sqlalchemy.dialects.sqlite import insert

    from storage import repo
    from storage.models import Answer, ProcessedUpdate, Response, Session

    parts, service = await product(tmpdir("writes"))
    db, now = parts.db, datetime.now(UTC)
    session = {"lang": "vi", "turn": 9, "flow": "survey", "step": "q7", "data": {}, "done": [], "confirm": None,
               "profile": {"group": "child", "commune": "my-an", "age_band": "a10_12"},
               "survey": {"round": "2024", "response": "r", "answers": {f"q{i}": "satisfied" for i in range(6)}}}
    ids = [uuid.uuid4().hex for _ in range(units)]
    try:
        async with db.begin() as conn:
            await conn.execute(insert(Response.__table__), [
                {"id": r, "round_id": "2024", "commune": "my-an", "group": "child", "age_band": "a10_12",
                 "version": "1", "submitted": False, "started_on": "2024-01-01"} for r in ids])
        t0 = time.perf_counter()
        for b in range(batches):
            async with db.begin() as conn:
                for i, rid in enumerate(ids):
                    for statement in (repo.mark_processed(f"one:{b}:{i}", now),
                                      repo.save_answer(rid, f"q{b}", "satisfied", True, None),
                                      repo.save_session(f"p{i}", session, now)):
                        await conn.execute(statement)
        one_by_one = (time.perf_counter() - t0) / (units * batches) * 1e6
        answer = insert(Answer.__table__)
        answer = answer.on_conflict_do_update(index_elements=["response_id", "question"],
                                              set_={c: answer.excluded[c] for c in ("option", "satisfied", "text")})
        sess = insert(Session.__table__)
        sess = sess.on_conflict_do_update(index_elements=["person"],
                                          set_={c: sess.excluded[c] for c in ("data", "updated_at")})
        seen = insert(ProcessedUpdate.__table__).on_conflict_do_nothing()
        t0 = time.perf_counter()
        for b in range(batches):
            async with db.begin() as conn:
                await conn.execute(seen, [{"key": f"many:{b}:{i}", "seen_at": now} for i in range(units)])
                await conn.execute(answer, [{"response_id": r, "question": f"m{b}", "option": "satisfied",
                                             "satisfied": 1, "text": None} for r in ids])
                await conn.execute(sess, [{"person": f"p{i}", "data": session, "updated_at": now}
                                          for i in range(units)])
        many = (time.perf_counter() - t0) / (units * batches) * 1e6
    finally:
        await shutdown(parts, service)
    return {"write_unit_one_by_one": one_by_one, "write_unit_executemany_whatif": many}


async def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--calls", type=int, default=300)
    p.add_argument("--concurrency", default="4,15,50,500")
    args = p.parse_args()
    figures = await steps(args.calls)
    for name, us in figures.items():
        line(f"alone: {name}", f"{us:,.0f} us")
    covered = sum(figures[k] for k in ("load_state", "advance", "unit", "commit"))
    line("alone: sum of the four steps vs handle", f"{covered:,.0f} us vs {figures['handle']:,.0f} us")
    levels = [int(x) for x in args.concurrency.split(",")]
    source, _, first = await snapshot(max(levels))
    sweep = {}
    for level in levels:
        o = await closed_loop(source, first, level, count=True)
        sweep[level] = o
        line(f"closed loop, {level} at once", f"{o['rate']:,.0f} answers/s, "
             f"{o['cpu_ms_per_answer']:.2f} ms CPU/answer, "
             f"{o['new_connections']} new connections for {o['answers']} answers, "
             f"{o['thread_hops_per_answer']:.1f} round trips/answer; committer in a transaction "
             f"{o['committer_busy']:.0%} of the time, {o['units_per_batch']:.0f} units/commit, "
             f"{o['commit_ms_per_unit']:.2f} ms/unit")
    result("breakdown", {"alone_us": {k: round(v) for k, v in figures.items()},
                         "closed_by_concurrency": {str(k): {"per_s": round(v["rate"]),
                                                            "cpu_ms_per_answer": round(v["cpu_ms_per_answer"], 2),
                                                            "new_connections": v["new_connections"],
                                                            "committer_busy": round(v["committer_busy"], 3),
                                                            "units_per_batch": round(v["units_per_batch"], 1),
                                                            "answers": v["answers"]} for k, v in sweep.items()}})


if __name__ == "__main__":
    asyncio.run(main())
