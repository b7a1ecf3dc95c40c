"""The closed loop through the inbox (accept → process → answers in the outbox) against direct `Service.handle`.

N respondents, already past onboarding (untimed, the snapshot of bench.engine_storage), answer their 12 survey
questions as fast as they can. Direct: each answer is `Service.handle` with a reply callback. Inbox: each answer
is `Inbox.accept` (durable when it returns), then the inbox task claims it and runs `Service.process`, whose
transaction finishes the row and queues the reply as an `answer` in the outbox; the respondent reads the next
question from what was queued (observed by wrapping `Service._answers`, nothing sent). SQLite, the runs
alternate, --reps each.

    python -m bench.durability [--respondents 500] [--reps 2]
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import time
from typing import Any

from bench.common import Respondent, line, median, result, shutdown, spread
from bench.engine_storage import QUESTIONS, cpu, is_next, snapshot, start_from
from bot.inbox import Inbox
from conversations import Incoming


async def direct(source: str, first: dict[int, str], n: int) -> dict[str, Any]:
    """The closed loop through Service.handle."""
    parts, service, people = await start_from(source, first, list(range(1, n + 1)), 1000, "direct")
    bad = 0
    try:
        async def answer_all(p: Respondent) -> None:
            nonlocal bad
            for _ in range(QUESTIONS):
                await p.tap()
                bad += not is_next(p)

        gc.collect()
        c0, t0 = cpu(), time.perf_counter()
        await asyncio.gather(*(answer_all(p) for p in people))
        wall, cpu_s = time.perf_counter() - t0, cpu() - c0
    finally:
        await shutdown(parts, service)
    return {"rate": n * QUESTIONS / wall, "seconds": wall, "cpu_ms": 1000 * cpu_s / (n * QUESTIONS), "bad": bad}


async def through_inbox(source: str, first: dict[int, str], n: int) -> dict[str, Any]:
    """The closed loop through Inbox.accept → Service.process → answers in the outbox."""
    parts, service, people = await start_from(source, first, list(range(1, n + 1)), 1000, "inbox")
    loop = asyncio.get_running_loop()
    waiting: dict[str, asyncio.Future[str]] = {}
    queued: dict[str, list[Any]] = {}
    answers = service._answers

    def observe(incoming: Incoming, replies: list[Any], now: Any, first: int = 0) -> list[Any]:
        queued.setdefault(str(incoming.update_key), []).extend(replies)
        return answers(incoming, replies, now, first)

    service._answers = observe  # type: ignore[method-assign]

    async def process(incoming: Incoming) -> str:
        status = await service.process(incoming)
        future = waiting.pop(str(incoming.update_key), None)
        if future is not None and not future.done():
            future.set_result(status)
        return status

    inbox = Inbox(parts.db, parts.identity, process, parts.texts, committer=service.committer)
    inbox.start()
    bad = 0
    try:
        async def answer_all(p: Respondent) -> None:
            nonlocal bad
            for _ in range(QUESTIONS):
                p.n += 1
                key = f"{p.channel}:{p.uid}:{p.n}"
                waiting[key] = done = loop.create_future()
                await inbox.accept([Incoming(p.channel, p.uid, p.uid, choice_id=p.next_choice(), update_key=key)])
                await done
                for reply in queued.pop(key, []):
                    await p._send(reply)
                bad += not is_next(p)

        gc.collect()
        c0, t0 = cpu(), time.perf_counter()
        await asyncio.gather(*(answer_all(p) for p in people))
        wall, cpu_s = time.perf_counter() - t0, cpu() - c0
        from sqlalchemy import text

        async with parts.db.connect() as conn:
            done = (await conn.execute(text("SELECT count(*) FROM inbox WHERE status = 'done'"))).scalar()
            outbox = (await conn.execute(text("SELECT count(*) FROM outbox WHERE kind = 'answer'"))).scalar()
    finally:
        await inbox.stop()
        await shutdown(parts, service)
    return {"rate": n * QUESTIONS / wall, "seconds": wall, "cpu_ms": 1000 * cpu_s / (n * QUESTIONS), "bad": bad,
            "inbox_done": done, "answers_queued": outbox}


async def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--respondents", type=int, default=500)
    p.add_argument("--reps", type=int, default=2)
    args = p.parse_args()
    n = args.respondents
    source, seconds, first = await snapshot(n)
    line("onboarding into the snapshot (untimed)", f"{n} respondents in {seconds:.1f} s")
    plain, durable, ratios = [], [], []
    for rep in range(args.reps):
        d = await direct(source, first, n)
        i = await through_inbox(source, first, n)
        plain.append(d)
        durable.append(i)
        ratios.append(i["rate"] / d["rate"])
        line(f"rep {rep + 1}: direct Service.handle", f"{d['rate']:,.0f} answers/s ({d['cpu_ms']:.2f} ms CPU/answer, "
             f"bad replies {d['bad']})")
        line(f"rep {rep + 1}: inbox accept → process → outbox", f"{i['rate']:,.0f} answers/s "
             f"({i['cpu_ms']:.2f} ms CPU/answer, bad replies {i['bad']}, inbox done {i['inbox_done']}, "
             f"answers queued {i['answers_queued']})")
        line(f"rep {rep + 1}: ratio inbox/direct", f"{ratios[-1]:.3f}")
    line("inbox answers/s (median)", spread([i["rate"] for i in durable]) + "  (target >= 2,000/s)")
    line("direct answers/s (median)", spread([d["rate"] for d in plain]))
    line("ratio inbox/direct (median)", f"{median(ratios):.3f}  (target >= 0.85)")
    result("durability", {"respondents": n, "answers": n * QUESTIONS,
                          "inbox_per_s": [round(i["rate"]) for i in durable],
                          "direct_per_s": [round(d["rate"]) for d in plain], "ratio": [round(r, 3) for r in ratios],
                          "ratio_median": round(median(ratios), 3),
                          "bad_replies": sum(i["bad"] + d["bad"] for i, d in zip(durable, plain, strict=True))})


if __name__ == "__main__":
    asyncio.run(main())
