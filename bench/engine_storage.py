"""Service + engine + storage without any channel: closed-loop throughput and open-loop latency.

Closed loop: N respondents, already past onboarding (untimed), answer their 12 survey questions as fast as
they can, all at once (one asyncio task each, every answer waits for the reply with the next question).
Baseline in the same run: a bare aiosqlite loop doing INSERT of one answer row + COMMIT per answer on a fresh
WAL-mode SQLite file (synchronous=NORMAL, as the product sets it), for the same number of answers.
Baseline and product alternate, --reps times each, so that noise on the shared machine hits both.

Open loop: M respondents at a human pace (each answers every M/rate seconds, random phase), for --duration
seconds; latency = from calling Service.handle until the reply with the next question arrives.

    python -m bench.engine_storage [--respondents 500] [--reps 3] [--open-respondents 1000] [--rate 200]
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
    Respondent,
    line,
    median,
    percentile,
    product,
    result,
    shutdown,
    spread,
    tmpdir,
)

QUESTIONS = 12


async def onboard_all(service, uids: list[int], role_of, seed: int) -> list[Respondent]:
    """Create respondents and take each to the first survey question, all concurrently."""
    people = [Respondent(service, uid, role=role_of(uid), rng=random.Random(seed + uid)) for uid in uids]
    await asyncio.gather(*(p.onboard() for p in people))
    return people


def cpu() -> float:
    """User + system CPU seconds of this process (all threads)."""
    t = os.times()
    return t.user + t.system


async def closed_loop(n: int, profile: str | None = None) -> dict:
    """One closed-loop run on a fresh database; returns its figures."""
    folder = tmpdir("closed")
    parts, service = await product(folder)
    try:
        people = await onboard_all(service, list(range(1, n + 1)),
                                   lambda u: "child" if u % 2 else "resident", seed=1000)
        bad = 0

        async def answer_all(p: Respondent) -> None:
            nonlocal bad
            for _ in range(QUESTIONS):
                await p.tap()
                nxt = p.last.key if p.last else ""
                if not (nxt.startswith("survey.item.") or nxt == "survey.comment"):
                    bad += 1

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
        from sqlalchemy import text

        async with parts.db.connect() as conn:
            stored = (await conn.execute(text("SELECT count(*) FROM answers"))).scalar()
    finally:
        await shutdown(parts, service)
    answers = n * QUESTIONS
    return {"answers": answers, "seconds": wall, "rate": answers / wall, "cpu_per_wall": cpu_s / wall,
            "cpu_ms_per_answer": 1000 * cpu_s / answers, "bad_replies": bad, "stored": stored}


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


async def open_loop(n: int, rate: float, duration: float) -> dict:
    """Human-paced load on a fresh database: each respondent answers every n/rate seconds."""
    folder = tmpdir("open")
    parts, service = await product(folder)
    try:
        t_on = time.perf_counter()
        people = await onboard_all(service, list(range(1, n + 1)),
                                   lambda u: "child" if u % 2 else "resident", seed=2000)
        line("open loop: onboarding (untimed)", f"{n} respondents in {time.perf_counter() - t_on:.1f} s")
        interval = n / rate
        per_person = max(1, min(QUESTIONS, round(duration / interval)))
        latencies: list[float] = []
        lags: list[float] = []
        bad = 0
        rng = random.Random(7)
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
                if not (p.last and (p.last.key.startswith("survey.item.") or p.last.key == "survey.comment")):
                    bad += 1

        c0, t0 = cpu(), time.perf_counter()
        await asyncio.gather(*(human(p, rng.uniform(0, interval)) for p in people))
        wall, cpu_s = time.perf_counter() - t0, cpu() - c0
    finally:
        await shutdown(parts, service)
    ms = [x * 1000 for x in latencies]
    return {"respondents": n, "offered_per_s": rate, "answers": len(ms), "seconds": wall,
            "achieved_per_s": len(ms) / (wall - 0.5), "p50_ms": percentile(ms, 50), "p95_ms": percentile(ms, 95),
            "p99_ms": percentile(ms, 99), "max_ms": max(ms), "start_lag_p99_ms": percentile([x * 1000 for x in lags], 99),
            "cpu_per_wall": cpu_s / (wall - 0.5), "bad_replies": bad}


async def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--respondents", type=int, default=500)
    p.add_argument("--reps", type=int, default=3)
    p.add_argument("--open-respondents", type=int, default=1000)
    p.add_argument("--rate", type=float, default=200.0, help="answers per second offered in the open loop")
    p.add_argument("--duration", type=float, default=20.0)
    p.add_argument("--skip-open", action="store_true")
    p.add_argument("--profile", metavar="HTML", help="profile one extra closed-loop run with pyinstrument")
    args = p.parse_args()

    ours, base, ratios = [], [], []
    for rep in range(args.reps):
        b = await baseline(args.respondents * QUESTIONS)
        o = await closed_loop(args.respondents)
        base.append(b)
        ours.append(o)
        ratios.append(o["rate"] / b["rate"])
        line(f"rep {rep + 1}: baseline aiosqlite insert+commit", f"{b['rate']:,.0f} answers/s "
             f"({b['answers']} in {b['seconds']:.2f} s, cpu/wall {b['cpu_per_wall']:.2f})")
        line(f"rep {rep + 1}: xtt service closed loop", f"{o['rate']:,.0f} answers/s "
             f"({o['answers']} in {o['seconds']:.2f} s, cpu/wall {o['cpu_per_wall']:.2f}, "
             f"{o['cpu_ms_per_answer']:.2f} ms CPU/answer, stored {o['stored']}, bad replies {o['bad_replies']})")
        line(f"rep {rep + 1}: ratio xtt/baseline", f"{ratios[-1]:.3f}")
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
                          "bad_replies": sum(o["bad_replies"] for o in ours)}}
    if args.profile:
        o = await closed_loop(args.respondents, profile=args.profile)
        line("profiled run (slower under the profiler)", f"{o['rate']:,.0f} answers/s; HTML in {args.profile}")
    if not args.skip_open:
        r = await open_loop(args.open_respondents, args.rate, args.duration)
        line("open loop offered / achieved", f"{r['offered_per_s']:.0f} / {r['achieved_per_s']:.0f} answers/s "
             f"({r['answers']} answers by {r['respondents']} respondents in {r['seconds']:.1f} s)")
        line("open loop latency p50 / p95 / p99 / max", f"{r['p50_ms']:.1f} / {r['p95_ms']:.1f} / "
             f"{r['p99_ms']:.1f} / {r['max_ms']:.1f} ms  (target p99 <= 50 ms)")
        line("open loop start lag p99 (scheduler)", f"{r['start_lag_p99_ms']:.1f} ms; cpu/wall "
             f"{r['cpu_per_wall']:.2f}; bad replies {r['bad_replies']}")
        figures["open"] = {k: (round(v, 2) if isinstance(v, float) else v) for k, v in r.items()}
    result("engine_storage", figures)


if __name__ == "__main__":
    asyncio.run(main())
