"""Service + engine + storage without any channel: closed-loop throughput and open-loop latency.

Closed loop: N respondents, already past onboarding (untimed), answer their 12 survey questions as fast as
they can, all at once (one asyncio task each, every answer waits for the reply with the next question).
Baseline in the same run: a bare aiosqlite loop doing INSERT of one answer row + COMMIT per answer on a fresh
WAL-mode SQLite file (synchronous=NORMAL, as the product sets it), for the same number of answers.
Baseline and product alternate, --reps times each, so that noise on the shared machine hits both.

Open loop: M respondents at a human pace (each answers every M/rate seconds, random phase), for --duration
seconds; latency = from calling Service.handle until the reply with the next question arrives.

    python -m bench.engine_storage [--respondents 500] [--reps 2] [--open-respondents 1000] [--rate 200]
                                   [--duration 20] [--profile FILE.html]
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import os
import random
import time

from bench.common import (
    Counters,
    GcPauses,
    Respondent,
    copy_db,
    line,
    median,
    percentile,
    product,
    profile_by_category,
    result,
    shutdown,
    spread,
    tmpdir,
)

QUESTIONS = 12


def role_of(uid: int) -> str:
    """Half children (two consent questions), half residents."""
    return "child" if uid % 2 else "resident"


def people_for(service, uids: list[int], seed: int) -> list[Respondent]:
    """Respondents of a snapshot: they already stand at their first survey question."""
    people = []
    for uid in uids:
        p = Respondent(service, uid, role=role_of(uid), rng=random.Random(seed + uid))
        p.n = 100  # update keys after those used in the onboarding
        people.append(p)
    return people


async def snapshot(n: int) -> tuple[str, float, dict[int, str]]:
    """Onboard n respondents into a fresh database (untimed for the figures) and close it.

    Returns the folder, the seconds it took and each respondent's first question's choice prefix."""
    folder = tmpdir("snapshot")
    parts, service = await product(folder)
    t0 = time.perf_counter()
    try:
        people = [Respondent(service, uid, role=role_of(uid)) for uid in range(1, n + 1)]
        await asyncio.gather(*(p.onboard() for p in people))
        first = {int(p.uid): p.last.choices[0].id.split(":")[0] for p in people}
    finally:
        await shutdown(parts, service)
    return folder, time.perf_counter() - t0, first


async def start_from(source: str, first: dict[int, str], uids: list[int], seed: int, prefix: str):
    """Open a copy of the snapshot and return (parts, service, respondents at their first question)."""
    from conversations import Choice, Reply

    folder = tmpdir(prefix)
    copy_db(source, folder)
    parts, service = await product(folder, open_round=False)
    people = people_for(service, uids, seed)
    for p in people:  # what the respondent saw last: the first question (only the turn number matters)
        turn = first[int(p.uid)]
        p.last = Reply("", tuple(Choice(f"{turn}:{o}", o) for o in SCALE), "survey.item.first")
    return parts, service, people


SCALE = ("very_satisfied", "satisfied", "not_satisfied", "very_dissatisfied", "dont_know")


def cpu() -> float:
    """User + system CPU seconds of this process (all threads)."""
    t = os.times()
    return t.user + t.system


def is_next(p: Respondent) -> bool:
    """Whether the last reply is the next survey question (or the comment after the 12th)."""
    return bool(p.last) and (p.last.key.startswith("survey.item.") or p.last.key == "survey.comment")


async def closed_loop(source: str, first: dict[int, str], n: int, profile: str | None = None,
                      count: bool = False) -> dict:
    """One closed-loop run on a copy of the snapshot; returns its figures."""
    parts, service, people = await start_from(source, first, list(range(1, n + 1)), 1000, "closed")
    counters = Counters().install(parts.db) if count else None
    try:
        bad = 0

        async def answer_all(p: Respondent) -> None:
            nonlocal bad
            for _ in range(QUESTIONS):
                await p.tap()
                bad += not is_next(p)

        profiler = None
        if profile:
            from pyinstrument import Profiler

            profiler = Profiler(interval=0.0005, async_mode="disabled")
            profiler.start()
        gc.collect()
        c0, t0 = cpu(), time.perf_counter()
        await asyncio.gather(*(answer_all(p) for p in people))
        wall, cpu_s = time.perf_counter() - t0, cpu() - c0
        if profiler:
            profiler.stop()
            with open(profile, "w") as out:
                out.write(profiler.output_html())
            print(profiler.output_text(unicode=False, color=False, show_all=False, short_mode=False))
            print("profile by category (share of the profiled wall time):")
            for share, label in profile_by_category(profiler):
                print(f"  {share:6.1%}  {label}")
        if counters:
            counters.remove()
        from sqlalchemy import text

        async with parts.db.connect() as conn:
            stored = (await conn.execute(text("SELECT count(*) FROM answers"))).scalar()
    finally:
        await shutdown(parts, service)
    answers = n * QUESTIONS
    figures = {"answers": answers, "seconds": wall, "rate": answers / wall, "cpu_per_wall": cpu_s / wall,
               "cpu_ms_per_answer": 1000 * cpu_s / answers, "bad_replies": bad, "stored": stored}
    if counters:
        figures.update(statements_per_answer=counters.statements / answers,
                       thread_hops_per_answer=counters.hops / answers, new_connections=counters.connects,
                       batches=len(counters.batches),
                       units_per_batch=sum(counters.batches) / max(1, len(counters.batches)),
                       committer_busy=counters.commit_busy / wall,
                       commit_ms_per_unit=1000 * counters.commit_busy / max(1, sum(counters.batches)))
    return figures


async def baseline(answers: int) -> dict:
    """Bare aiosqlite: INSERT one answer row + COMMIT per answer, WAL, synchronous=NORMAL, fresh file."""
    import aiosqlite

    folder = tmpdir("base")
    async with aiosqlite.connect(f"{folder}/base.sqlite3") as db:
        await db.execute("PRAGMA journal_mode=WAL")
        await db.execute("PRAGMA synchronous=NORMAL")
        await db.execute("CREATE TABLE answers (response_id VARCHAR(32) NOT NULL, question VARCHAR(40) NOT NULL, "
                         "option VARCHAR(40), satisfied SMALLINT, text TEXT, "
                         "PRIMARY KEY (response_id, question))")
        await db.commit()
        rows = [(f"{i // QUESTIONS:032x}", f"q{i % QUESTIONS}", "satisfied", 1, None) for i in range(answers)]
        c0, t0 = cpu(), time.perf_counter()
        for row in rows:
            await db.execute("INSERT INTO answers (response_id, question, option, satisfied, text) "
                             "VALUES (?, ?, ?, ?, ?)", row)
            await db.commit()
        wall, cpu_s = time.perf_counter() - t0, cpu() - c0
    return {"answers": answers, "seconds": wall, "rate": answers / wall, "cpu_per_wall": cpu_s / wall}


async def open_loop(source: str, first: dict[int, str], n: int, rate: float, duration: float) -> dict:
    """Human-paced load on a copy of the snapshot: each respondent answers every n/rate seconds."""
    parts, service, people = await start_from(source, first, list(range(1, n + 1)), 2000, "open")
    try:
        interval = n / rate
        per_person = max(1, min(QUESTIONS, round(duration / interval)))
        latencies: list[float] = []
        lags: list[float] = []
        at: list[float] = []
        bad = 0
        rng = random.Random(7)
        pauses = GcPauses().install()
        gc.collect()
        loop = asyncio.get_running_loop()
        start = loop.time() + 0.5

        async def human(p: Respondent, phase: float) -> None:
            nonlocal bad
            for k in range(per_person):
                due = start + phase + k * interval
                delay = due - loop.time()
                if delay > 0:
                    await asyncio.sleep(delay)
                lags.append(loop.time() - due)
                t0 = time.perf_counter()
                await p.tap()
                latencies.append(time.perf_counter() - t0)
                at.append(loop.time() - start)
                bad += not is_next(p)

        c0, t0 = cpu(), time.perf_counter()
        await asyncio.gather(*(human(p, rng.uniform(0, interval)) for p in people))
        wall, cpu_s = time.perf_counter() - t0, cpu() - c0
        pauses.remove()
    finally:
        await shutdown(parts, service)
    ms = [x * 1000 for x in latencies]
    warm = [m for m, t in zip(ms, at, strict=True) if t >= 2.0]
    slow = sorted(zip(ms, at, strict=True), reverse=True)[: max(1, len(ms) // 100)]
    return {"respondents": n, "offered_per_s": rate, "answers": len(ms), "seconds": wall,
            "achieved_per_s": len(ms) / (wall - 0.5), "p50_ms": percentile(ms, 50), "p95_ms": percentile(ms, 95),
            "p99_ms": percentile(ms, 99), "max_ms": max(ms),
            "start_lag_p99_ms": percentile([x * 1000 for x in lags], 99),
            "cpu_per_wall": cpu_s / (wall - 0.5), "bad_replies": bad,
            "p99_after_2s_ms": percentile(warm, 99),
            "slowest_1pct_in_first_2s": sum(1 for _, t in slow if t < 2.0) / len(slow),
            "gc_collections": pauses.count, "gc_max_pause_ms": pauses.longest * 1000,
            "gc_total_ms": pauses.total * 1000}


async def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--respondents", type=int, default=500)
    p.add_argument("--reps", type=int, default=2)
    p.add_argument("--open-respondents", type=int, default=1000)
    p.add_argument("--rate", type=float, default=200.0, help="answers per second offered in the open loop")
    p.add_argument("--duration", type=float, default=20.0)
    p.add_argument("--skip-open", action="store_true")
    p.add_argument("--profile", metavar="HTML", help="profile one extra closed-loop run with pyinstrument")
    args = p.parse_args()

    n_snap = max(args.respondents, 0 if args.skip_open else args.open_respondents)
    source, seconds, first = await snapshot(n_snap)
    line("onboarding into the snapshot (untimed)", f"{n_snap} respondents in {seconds:.1f} s "
         f"({n_snap / seconds:,.0f} respondents/s, ~6.5 updates each)")
    ours, base, ratios = [], [], []
    for rep in range(args.reps):
        last = rep == args.reps - 1
        b = await baseline(args.respondents * QUESTIONS)
        o = await closed_loop(source, first, args.respondents, count=last)
        base.append(b)
        ours.append(o)
        ratios.append(o["rate"] / b["rate"])
        line(f"rep {rep + 1}: baseline aiosqlite insert+commit", f"{b['rate']:,.0f} answers/s "
             f"({b['answers']} in {b['seconds']:.2f} s, cpu/wall {b['cpu_per_wall']:.2f})")
        line(f"rep {rep + 1}: xtt service closed loop", f"{o['rate']:,.0f} answers/s "
             f"({o['answers']} in {o['seconds']:.2f} s, cpu/wall {o['cpu_per_wall']:.2f}, "
             f"{o['cpu_ms_per_answer']:.2f} ms CPU/answer, stored {o['stored']}, bad replies {o['bad_replies']})")
        line(f"rep {rep + 1}: ratio xtt/baseline", f"{ratios[-1]:.3f}")
        if last:
            line(f"rep {rep + 1} (counted): per answer", f"{o['statements_per_answer']:.2f} SQL statements, "
                 f"{o['thread_hops_per_answer']:.1f} aiosqlite thread round trips; "
                 f"{o['new_connections']} new SQLite connections opened during the run")
            line(f"rep {rep + 1} (counted): committer", f"{o['batches']} group commits of {o['units_per_batch']:.0f} "
                 f"units on average; inside a transaction {o['committer_busy']:.0%} of the wall time, "
                 f"{o['commit_ms_per_unit']:.2f} ms per unit (1/that = {1000 / o['commit_ms_per_unit']:,.0f} units/s)")
    line("closed loop xtt answers/s (median)", spread([o["rate"] for o in ours]))
    line("closed loop baseline answers/s (median)", spread([b["rate"] for b in base]))
    line("closed loop ratio xtt/baseline (median)", f"{median(ratios):.3f}  (target rate >= 2,000/s)")
    figures = {"closed": {"respondents": args.respondents, "answers": args.respondents * QUESTIONS,
                          "xtt_per_s": [round(o["rate"]) for o in ours],
                          "baseline_per_s": [round(b["rate"]) for b in base],
                          "ratio": [round(r, 3) for r in ratios],
                          "xtt_per_s_median": round(median([o["rate"] for o in ours])),
                          "baseline_per_s_median": round(median([b["rate"] for b in base])),
                          "ratio_median": round(median(ratios), 3),
                          "cpu_ms_per_answer_median": round(median([o["cpu_ms_per_answer"] for o in ours]), 3),
                          "bad_replies": sum(o["bad_replies"] for o in ours),
                          "statements_per_answer": round(ours[-1]["statements_per_answer"], 2),
                          "thread_hops_per_answer": round(ours[-1]["thread_hops_per_answer"], 1),
                          "new_connections": ours[-1]["new_connections"],
                          "units_per_batch": round(ours[-1]["units_per_batch"], 1),
                          "committer_busy": round(ours[-1]["committer_busy"], 3),
                          "commit_ms_per_unit": round(ours[-1]["commit_ms_per_unit"], 3)}}
    if args.profile:
        o = await closed_loop(source, first, args.respondents, profile=args.profile)
        line("profiled run (slower under the profiler)", f"{o['rate']:,.0f} answers/s; HTML in {args.profile}")
    if not args.skip_open:
        r = await open_loop(source, first, args.open_respondents, args.rate, args.duration)
        line("open loop offered / achieved", f"{r['offered_per_s']:.0f} / {r['achieved_per_s']:.0f} answers/s "
             f"({r['answers']} answers by {r['respondents']} respondents in {r['seconds']:.1f} s)")
        line("open loop latency p50 / p95 / p99 / max", f"{r['p50_ms']:.1f} / {r['p95_ms']:.1f} / "
             f"{r['p99_ms']:.1f} / {r['max_ms']:.1f} ms  (target p99 <= 50 ms)")
        line("open loop start lag p99 (scheduler)", f"{r['start_lag_p99_ms']:.1f} ms; cpu/wall "
             f"{r['cpu_per_wall']:.2f}; bad replies {r['bad_replies']}")
        line("open loop p99 after the first 2 s", f"{r['p99_after_2s_ms']:.1f} ms; share of the slowest 1% "
             f"in the first 2 s: {r['slowest_1pct_in_first_2s']:.0%}")
        line("open loop GC", f"{r['gc_collections']} collections, longest {r['gc_max_pause_ms']:.1f} ms, "
             f"total {r['gc_total_ms']:.0f} ms")
        figures["open"] = {k: (round(v, 2) if isinstance(v, float) else v) for k, v in r.items()}
    result("engine_storage", figures)


if __name__ == "__main__":
    asyncio.run(main())
