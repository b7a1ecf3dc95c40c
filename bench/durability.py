"""The closed loop through the inbox (accept → process → answers in the outbox) against the same loop without it.

N respondents, already past onboarding (untimed, the snapshot of bench.engine_storage), answer their 12 survey
questions as fast as they can, three ways, alternating, --reps each (SQLite):
- inbox: each answer is `Inbox.accept` (durable when it returns), then the inbox runs `Service.process`, whose
  transaction finishes the row and queues the reply as an `answer` in the outbox; the respondent reads the next
  question from what was queued (observed by wrapping `Service._answers`, nothing sent);
- without the inbox (the target's baseline): the respondent calls `Service.process` itself, answers still queued
  in the outbox (replies are never lost, with or without the inbox);
- direct: `Service.handle` returning the replies to a callback, nothing queued (the design before durable replies).

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


async def durable(source: str, first: dict[int, str], n: int, inbox_on: bool) -> dict[str, Any]:
    """The closed loop through Service.process (answers queued in the outbox), with or without the inbox before it.

    With the inbox each answer is `Inbox.accept` (durable when it returns) and the inbox hands it to the service;
    without, the respondent calls `Service.process` itself. Either way the respondent reads the next question from
    the answers queued in the process's transaction."""
    parts, service, people = await start_from(source, first, list(range(1, n + 1)), 1000, "inbox")
    loop = asyncio.get_running_loop()
    waiting: dict[str, asyncio.Future[str]] = {}
    queued: dict[str, list[Any]] = {}
    answers = service._answers

    def observe(incoming: Incoming, replies: list[Any], now: Any, first: int = 0) -> list[Any]:
        queued.setdefault(str(incoming.update_key), []).extend(replies)
        return answers(incoming, replies, now, first)

    service._answers = observe  # type: ignore[method-assign]

    async def process(incoming: Incoming, stored: Any = ()) -> str:
        status = await service.process(incoming, stored)
        future = waiting.pop(str(incoming.update_key), None)
        if future is not None and not future.done():
            future.set_result(status)
        return status

    inbox = Inbox(parts.db, parts.identity, process, parts.texts, committer=service.committer)  # as bot/app.py
    if inbox_on:  # started before the traffic, as in a running bot: its first claim finds the table empty
        inbox.start()
        await inbox.started()
    bad = 0
    try:
        async def answer_all(p: Respondent) -> None:
            nonlocal bad
            for _ in range(QUESTIONS):
                p.n += 1
                key = f"{p.channel}:{p.uid}:{p.n}"
                incoming = Incoming(p.channel, p.uid, p.uid, choice_id=p.next_choice(), update_key=key)
                if inbox_on:
                    waiting[key] = done = loop.create_future()
                    await inbox.accept([incoming])
                    await done
                else:
                    await process(incoming)
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
    runs: dict[str, list[dict[str, Any]]] = {"direct": [], "outbox": [], "inbox": []}
    for rep in range(args.reps):
        runs["direct"].append(await direct(source, first, n))
        runs["outbox"].append(await durable(source, first, n, inbox_on=False))
        runs["inbox"].append(await durable(source, first, n, inbox_on=True))
        for name, what in (("direct", "direct Service.handle (replies returned)"),
                           ("outbox", "Service.process, answers in the outbox"),
                           ("inbox", "inbox accept → process → outbox")):
            r = runs[name][-1]
            line(f"rep {rep + 1}: {what}", f"{r['rate']:,.0f} answers/s ({r['cpu_ms']:.2f} ms CPU/answer, "
                 f"bad replies {r['bad']}" + (f", inbox done {r['inbox_done']}" if name == "inbox" else "") + ")")
    rates = {name: [r["rate"] for r in rs] for name, rs in runs.items()}
    ratio = [i / o for i, o in zip(rates["inbox"], rates["outbox"], strict=True)]
    ratio_direct = [i / d for i, d in zip(rates["inbox"], rates["direct"], strict=True)]
    line("inbox answers/s (median)", spread(rates["inbox"]) + "  (target >= 2,000/s)")
    line("without the inbox (answers in the outbox)", spread(rates["outbox"]))
    line("direct Service.handle", spread(rates["direct"]))
    line("ratio inbox / without the inbox (median)", f"{median(ratio):.3f}  (target >= 0.85)")
    line("ratio inbox / direct handle (median)", f"{median(ratio_direct):.3f}")
    result("durability", {"respondents": n, "answers": n * QUESTIONS,
                          "per_s": {k: [round(x) for x in v] for k, v in rates.items()},
                          "ratio": [round(r, 3) for r in ratio], "ratio_median": round(median(ratio), 3),
                          "ratio_direct_median": round(median(ratio_direct), 3),
                          "bad_replies": sum(r["bad"] for rs in runs.values() for r in rs)})


if __name__ == "__main__":
    asyncio.run(main())
