"""`xtt score` on 200,000 finished respondents x 12 answers against hand-written GROUP BYs; the totals' cost at
submit; chart times.

Run: python -m bench.score [--respondents N] [--skip-postgres]
Measured in the same run on the same database (SQLite, then PostgreSQL at 127.0.0.1:5432 when it is up):
- the headline: `xtt score` against one hand-written GROUP BY over the per-response totals it reads (the same
  rows, the simplest fast means: our query without Python);
- `xtt score` against the issue's hand-written GROUP BY over all the answers joined to their responses: 12x
  more rows, made possible by totals fixed at submit, so beside it the cost those totals add at submit:
  the submit unit the service commits (processed update, submit, participation, session) through
  storage.writes, batches of 100 per transaction, with the product's submit shape against the same shape
  without the two totals subqueries.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import sqlite3
import statistics
import subprocess
import sys
import time
import uuid
from datetime import UTC, datetime

from bench.common import line, result, tmpdir

SUBMIT_BATCH = 100  # submits per transaction (the committer groups concurrent units)
SUBMIT_REPS = 25  # alternating batches of each kind

QUESTIONS = [f"q{n:02d}" for n in range(12)]
ANSWERS_SQL = ('SELECT r.commune, r."group", count(DISTINCT r.id), count(a.satisfied), sum(a.satisfied) '
               "FROM answers a JOIN responses r ON r.id = a.response_id "
               "WHERE r.round_id = '2024' AND r.submitted = TRUE GROUP BY r.commune, r.\"group\"")
TOTALS_SQL = ('SELECT commune, "group", count(*), sum(answers_satisfied), sum(answers_scored), '
              "sum(answers_satisfied * answers_satisfied), sum(answers_satisfied * answers_scored), "
              "sum(answers_scored * answers_scored) FROM responses "
              "WHERE round_id = '2024' AND submitted = TRUE GROUP BY commune, \"group\"")


def rows(n: int, codes: list[str], seed: int = 7):
    """Responses and their answers: random satisfaction per commune, some 'không biết'."""
    rng = random.Random(seed)
    bias = {c: rng.uniform(0.45, 0.9) for c in codes}
    for _ in range(n):
        rid, commune, group = uuid.uuid4().hex, rng.choice(codes), rng.choice(("child", "resident"))
        answers = []
        for q in QUESTIONS:
            roll = rng.random()
            answers.append((rid, q, None if roll < 0.06 else int(roll < bias[commune])))
        scored = [s for _, _, s in answers if s is not None]
        yield (rid, commune, group, len(scored), sum(scored)), answers


async def prepare(url: str) -> list[str]:
    """Migrate, load the communes, open round 2024; return the commune codes."""
    from storage import communes, migrate, rounds
    from storage.db import connect

    engine = connect(url)
    await migrate.upgrade(engine)
    await communes.seed_default(engine)
    await rounds.open_round(engine, "2024", datetime.now(UTC))
    codes = [c.code for c in await communes.listing(engine)]
    await engine.dispose()
    return codes


def fill_sqlite(path: str, n: int, codes: list[str]) -> None:
    """Bulk-load the data set with sqlite3 (setup, not measured)."""
    db = sqlite3.connect(path)
    db.execute("PRAGMA synchronous=OFF")
    responses, answers = [], []
    for response, rows_ in rows(n, codes):
        rid, commune, group, scored, satisfied = response
        responses.append((rid, "2024", commune, group, "10-12", "1", 1, "2024-11-05", "2024-11-05", scored, satisfied))
        answers += [(r, q, "x", s) for r, q, s in rows_]
    db.executemany("INSERT INTO responses (id, round_id, commune, \"group\", age_band, version, submitted, started_on,"
                   " submitted_on, answers_scored, answers_satisfied) VALUES (?,?,?,?,?,?,?,?,?,?,?)", responses)
    db.executemany("INSERT INTO answers (response_id, question, option, satisfied) VALUES (?,?,?,?)", answers)
    db.commit()
    db.execute("ANALYZE")
    db.close()


async def fill_postgres(dsn: str, n: int, codes: list[str]) -> None:
    """Bulk-load the data set with COPY (setup, not measured)."""
    import asyncpg

    conn = await asyncpg.connect(dsn)
    responses, answers = [], []
    for response, rows_ in rows(n, codes):
        rid, commune, group, scored, satisfied = response
        responses.append((rid, "2024", commune, group, "10-12", "1", True, "2024-11-05", "2024-11-05", scored,
                          satisfied))
        answers += [(r, q, "x", s) for r, q, s in rows_]
    await conn.copy_records_to_table("responses", records=responses, columns=[
        "id", "round_id", "commune", "group", "age_band", "version", "submitted", "started_on", "submitted_on",
        "answers_scored", "answers_satisfied"])
    await conn.copy_records_to_table("answers", records=answers,
                                     columns=["response_id", "question", "option", "satisfied"])
    await conn.execute("ANALYZE")
    await conn.close()


def timed(fn, reps: int = 5) -> float:
    """Median seconds of a callable after one warm-up."""
    fn()
    times = []
    for _ in range(reps):
        started = time.perf_counter()
        fn()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


async def timed_async(fn, reps: int = 5) -> float:
    """Median seconds of a coroutine function after one warm-up."""
    await fn()
    times = []
    for _ in range(reps):
        started = time.perf_counter()
        await fn()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


async def ours(url: str) -> tuple[float, list]:
    """Time analytics.compute (what `xtt score` runs) on the database."""
    from analytics import compute, load_rubric, to_json
    from storage.db import connect

    engine, rubric = connect(url), load_rubric()
    scores: list = []

    async def once() -> None:
        nonlocal scores
        scores = await compute(engine, "2024", rubric)
        to_json("2024", rubric, scores)

    seconds = await timed_async(once)
    await engine.dispose()
    return seconds, scores


async def postgres_baselines(dsn: str) -> tuple[float, float]:
    """The two hand-written queries on PostgreSQL through asyncpg."""
    import asyncpg

    conn = await asyncpg.connect(dsn)
    answers = await timed_async(lambda: conn.fetch(ANSWERS_SQL))
    totals = await timed_async(lambda: conn.fetch(TOTALS_SQL))
    await conn.close()
    return answers, totals


def _plain_submit(dialect: str) -> object:
    """The product's submit shape without the totals: lock the response, no subqueries."""
    from sqlalchemy import bindparam, update

    from storage.models import Response

    return update(Response).where(Response.id == bindparam("rid")).values(submitted=True,
                                                                          submitted_on=bindparam("day"))


async def submit_cost(url: str) -> dict:
    """Seconds per submit unit with and without the totals, alternating fresh batches of open responses."""
    from storage import writes
    from storage.db import connect
    from storage.models import Commune

    writes.SHAPES.setdefault("submit_plain", _plain_submit)  # this process only; storage/ is not changed
    writes.ORDER.setdefault("submit_plain", writes.ORDER["submit"])
    engine = connect(url)
    async with engine.begin() as conn:
        commune = (await conn.execute(Commune.__table__.select().limit(1))).one().code
    rng = random.Random(11)
    now = datetime.now(UTC)
    session = {"flow": "idle", "step": None, "lang": "vi", "group": "child", "commune": commune, "done": ["2024"],
               "answers": {q: "o1" for q in QUESTIONS}}

    async def batch(kind: str) -> tuple[float, float]:
        """Open SUBMIT_BATCH responses with 12 answers (untimed), then submit them in one transaction."""
        ids = [uuid.uuid4().hex for _ in range(SUBMIT_BATCH)]
        opened = [[writes.Write("response", {
            "id": rid, "round_id": "2024", "commune": commune, "group": "child", "age_band": "10-12",
            "version": "1", "submitted": False, "started_on": "2024-11-05", "submitted_on": None,
            "answers_scored": None, "answers_satisfied": None})] + [writes.Write("answer", {
                "response_id": rid, "question": q, "option": "x", "text": None,
                "satisfied": None if rng.random() < 0.06 else int(rng.random() < 0.7)}) for q in QUESTIONS]
            for rid in ids]
        async with engine.begin() as conn:
            await writes.run(conn, opened)
        units = [[writes.Write("processed", {"key": f"bench:{rid}", "seen_at": now}),
                  writes.Write(kind, {"rid": rid, "day": "2024-11-06"}),
                  writes.Write("participate", {"round_id": "2024", "token": rid}),
                  writes.Write("session", {"person": rid, "data": session, "updated_at": now, "commune": commune,
                                           "open_round": "2024"})] for rid in ids]
        started = time.perf_counter()
        async with engine.begin() as conn:
            await writes.run(conn, units)
        whole = time.perf_counter() - started
        async with engine.begin() as conn:  # the submit statement alone, on rows already submitted
            started = time.perf_counter()
            await conn.execute(writes.shape(conn.dialect.name, kind), [{"rid": r, "day": "2024-11-06"} for r in ids])
            alone = time.perf_counter() - started
        return whole / SUBMIT_BATCH, alone / SUBMIT_BATCH

    await batch("submit")  # warm-up of both shapes
    await batch("submit_plain")
    times: dict[str, list[tuple[float, float]]] = {"submit": [], "submit_plain": []}
    for rep in range(SUBMIT_REPS):
        for kind in ("submit", "submit_plain") if rep % 2 == 0 else ("submit_plain", "submit"):
            times[kind].append(await batch(kind))
    await engine.dispose()
    with_, without = (statistics.median(t[0] for t in times[k]) for k in ("submit", "submit_plain"))
    alone_with, alone_without = (statistics.median(t[1] for t in times[k]) for k in ("submit", "submit_plain"))
    return {"unit_with_totals_s": with_, "unit_without_totals_s": without, "unit_ratio": with_ / without,
            "statement_with_totals_s": alone_with, "statement_without_totals_s": alone_without,
            "statement_ratio": alone_with / alone_without}


def report(engine: str, mine: float, base_totals: float, base_answers: float, submit: dict) -> dict:
    """Print one database's lines and return its figures."""
    line(f"{engine}: xtt score (compute + JSON)", f"{mine * 1000:.1f} ms")
    line(f"{engine}: hand GROUP BY over the same totals", f"{base_totals * 1000:.1f} ms -> ratio "
         f"{mine / base_totals:.2f} (headline; target <= 1.5)")
    line(f"{engine}: hand GROUP BY over all answers", f"{base_answers * 1000:.1f} ms -> ratio "
         f"{mine / base_answers:.3f} (12x the rows; paid for at submit:)")
    line(f"{engine}: submit unit with / without totals", f"{submit['unit_with_totals_s'] * 1e6:.0f} / "
         f"{submit['unit_without_totals_s'] * 1e6:.0f} us -> ratio {submit['unit_ratio']:.2f} "
         f"(batches of {SUBMIT_BATCH}, median of {SUBMIT_REPS})")
    line(f"{engine}: submit statement alone with / without", f"{submit['statement_with_totals_s'] * 1e6:.0f} / "
         f"{submit['statement_without_totals_s'] * 1e6:.0f} us -> ratio {submit['statement_ratio']:.2f}")
    return {"ours_s": mine, "group_by_totals_s": base_totals, "group_by_answers_s": base_answers,
            "ratio_vs_totals": mine / base_totals, "ratio_vs_answers": mine / base_answers, "submit": submit}


def charts(scores: list) -> dict[str, float]:
    """Seconds per chart, median of 3 after a warm-up."""
    from analytics import load_rubric
    from analytics.breakdown import Distribution
    from analytics.charts import commune_chart, distribution_chart, progress_chart, topic_chart
    from analytics.poll_chart import poll_chart
    from conversations import load_flows

    rubric, questionnaires = load_rubric(), load_flows().questionnaires
    q = questionnaires["child"]
    counts = {item.id: {o.id: 40 + 7 * n for n, o in enumerate(q.scale)} for item in q.items}
    dist = Distribution(respondents=240, counts=counts)
    pooled = {g: Distribution(240, {i.id: {o.id: 30 for o in qq.scale} for i in qq.items})
              for g, qq in questionnaires.items()}
    jobs = {"commune comparison": lambda: commune_chart(scores, rubric, "2024"),
            "per-question distribution": lambda: distribution_chart(dist, q, "Xã Mỹ An", "2024"),
            "per-topic": lambda: topic_chart(pooled, questionnaires, rubric, "2024"),
            "progress": lambda: progress_chart(scores, "2024"),
            "poll": lambda: poll_chart("Em muốn sân chơi ở đâu?", ["Gần trường", "Gần chợ", "Bờ sông"], [12, 30, 8])}
    return {name: timed(job, 3) for name, job in jobs.items()}


async def main() -> None:
    """Build the data set on SQLite (and PostgreSQL), time ours against the baselines, time the charts."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--respondents", type=int, default=200_000)
    parser.add_argument("--skip-postgres", action="store_true")
    args = parser.parse_args()
    folder = tmpdir("xtt-bench-score-")
    path = os.path.join(folder, "score.sqlite3")
    url = f"sqlite+aiosqlite:///{path}"
    codes = await prepare(url)
    started = time.perf_counter()
    fill_sqlite(path, args.respondents, codes)
    line("data set", f"{args.respondents:,} respondents x 12 = {args.respondents * 12:,} answers "
                     f"(loaded in {time.perf_counter() - started:.0f} s, not measured)")
    figures: dict = {"respondents": args.respondents}
    db = sqlite3.connect(path)
    base_answers = timed(lambda: db.execute(ANSWERS_SQL).fetchall())
    base_totals = timed(lambda: db.execute(TOTALS_SQL).fetchall())
    db.close()
    mine, scores = await ours(url)
    figures["sqlite"] = report("SQLite", mine, base_totals, base_answers, await submit_cost(url))
    cli_env = {**os.environ, "DATABASE_URL": url, "XTT_SECRET": "b" * 32, "XTT_DATA_DIR": folder}
    started = time.perf_counter()
    subprocess.run([sys.executable, "-m", "bot", "score", "--json"], env=cli_env, check=True,
                   stdout=subprocess.DEVNULL)
    figures["sqlite"]["cli_s"] = time.perf_counter() - started
    line("SQLite: the whole `xtt score --json` process", f"{figures['sqlite']['cli_s']:.2f} s (imports included)")
    if not args.skip_postgres:
        figures["postgres"] = await postgres(args.respondents)
    figures["charts_s"] = charts(scores)
    for name, seconds in figures["charts_s"].items():
        line(f"chart: {name}", f"{seconds:.3f} s (target <= 0.5)")
    result("score", figures)


async def postgres(n: int) -> dict:
    """The same measurement on a fresh database of the local PostgreSQL server."""
    import asyncpg

    name = f"xtt_bench_{uuid.uuid4().hex[:8]}"
    admin = await asyncpg.connect(host="127.0.0.1", user="postgres", database="postgres")
    await admin.execute(f'CREATE DATABASE "{name}"')
    dsn = f"postgresql://postgres@127.0.0.1/{name}"
    url = f"postgresql+asyncpg://postgres@127.0.0.1/{name}"
    try:
        codes = await prepare(url)
        await fill_postgres(dsn, n, codes)
        base_answers, base_totals = await postgres_baselines(dsn)
        mine, _ = await ours(url)
        submit = await submit_cost(url)
    finally:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()
    return report("PostgreSQL", mine, base_totals, base_answers, submit)


if __name__ == "__main__":
    asyncio.run(main())
