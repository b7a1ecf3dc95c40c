"""RSS of one process whose service holds 10,000 conversations in progress.

Stages, each reported as VmRSS from /proc/self/status:
  start      the interpreter with this script's own imports
  imports    + the product's modules (bot.app, the Telegram channel with PTB, SQLAlchemy, aiohttp) = baseline
  ready      + database prepared, round open, service and (unstarted) Telegram channel built
  A          + --live respondents taken through Service.handle: /start, the onboarding and 3 answers
             (--wave, 500, at a time)
  B          + the other respondents up to --people, written straight to the database as copies of the
             A respondents' rows (session, respondent, contact, response, answers), since 10,000 full
             onboardings through the service would take minutes
  C          + every one of the --people respondents answers one more question through Service.handle
             (--wave, 500, at a time), so the service has loaded, advanced and stored each conversation
  collected  after gc.collect()
  trimmed    after glibc's malloc_trim(0): what remains once free heap memory is handed back
  disposed   after the service is closed and the engine disposed (SQLite connections, their caches and
             threads gone), collected and trimmed again
plus the peak (VmHWM). The driver keeps only one short string per respondent.

    python -m bench.memory [--people 10000] [--live 1000] [--wave 500] [--trace]
"""

from __future__ import annotations


def _rss() -> float:
    with open("/proc/self/status") as status:
        lines = status.read().splitlines()
    for text in lines:
        if text.startswith("VmRSS:"):
            return int(text.split()[1]) / 1024
    return float("nan")


RSS_START = _rss()

import argparse  # noqa: E402
import asyncio  # noqa: E402
import contextlib  # noqa: E402
import copy  # noqa: E402
import gc  # noqa: E402
import random  # noqa: E402
import time  # noqa: E402
import tracemalloc  # noqa: E402
import uuid  # noqa: E402
from pathlib import Path  # noqa: E402

WAVE = 500


def trim() -> None:
    """Ask glibc to give free heap memory back to the system (diagnostic: what RSS is only free memory)."""
    import ctypes

    with contextlib.suppress(OSError):
        ctypes.CDLL("libc.so.6").malloc_trim(0)


def threads_now() -> int:
    for text in Path("/proc/self/status").read_text().splitlines():
        if text.startswith("Threads:"):
            return int(text.split()[1])
    return 0


def peak_mb() -> float:
    for text in Path("/proc/self/status").read_text().splitlines():
        if text.startswith("VmHWM:"):
            return int(text.split()[1]) / 1024
    return float("nan")


async def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--people", type=int, default=10_000)
    p.add_argument("--live", type=int, default=1_000, help="respondents onboarded through the service")
    p.add_argument("--wave", type=int, default=WAVE, help="respondents in flight at once")
    p.add_argument("--trace", action="store_true", help="tracemalloc from 'ready' on (slow): Python's share")
    args = p.parse_args()
    stages: dict[str, float] = {"start": RSS_START}
    threads: dict[str, int] = {}
    traced: dict[str, tuple[float, float]] = {}

    def stage(name: str) -> None:
        stages[name] = rss_mb()
        threads[name] = threads_now()
        if args.trace:
            now, top = tracemalloc.get_traced_memory()
            traced[name] = (now / 2**20, top / 2**20)
            tracemalloc.reset_peak()

    import bot.app
    import bot.channels.telegram
    from bench.common import Respondent, line, product, result, rss_mb, shutdown, tmpdir

    stage("imports")
    from sqlalchemy import func, select

    from conversations import Incoming
    from storage.models import Answer, Contact, Response, Session
    from storage.models import Respondent as RespondentRow

    folder = tmpdir("memory")
    parts, service = await product(folder)
    channel = bot.app.telegram_channel(parts, service) if parts.settings.telegram_bot_token else None
    if channel is None:
        from dataclasses import replace

        parts_tg = replace(parts, settings=replace(parts.settings, telegram_bot_token="123:ABC",
                                                   telegram_api_url="http://127.0.0.1:9"))
        channel = bot.app.telegram_channel(parts_tg, service)
    if args.trace:
        tracemalloc.start(1)
    stage("ready")
    next_choice: dict[int, str] = {}
    t0 = time.perf_counter()
    try:
        # A: live onboarding + 3 answers through the service
        async def live(uid: int) -> None:
            person = Respondent(service, uid, role="child" if uid % 2 else "resident", rng=random.Random(uid))
            await person.onboard()
            for _ in range(3):
                await person.tap()
            assert person.at_question, person.last
            next_choice[uid] = person.next_choice()

        for first in range(1, args.live + 1, args.wave):
            await asyncio.gather(*(live(u) for u in range(first, min(first + args.wave, args.live + 1))))
        stage("A")
        t_a = time.perf_counter() - t0

        # B: copies of the live respondents' rows for the others
        t1 = time.perf_counter()
        rows: dict[str, list[dict]]
        async with parts.db.connect() as conn:
            templates = {}
            for uid in (1, 2):
                key = service.identity.pseudonym("bench", str(uid))
                session = _row(await conn.execute(select(Session.__table__).where(Session.person == key)))
                response = session["data"]["survey"]["response"]
                templates[uid % 2] = {
                    "session": session,
                    "respondent": _row(await conn.execute(select(RespondentRow.__table__)
                                                          .where(RespondentRow.key == key))),
                    "contact": _row(await conn.execute(select(Contact.__table__).where(Contact.person == key))),
                    "response": _row(await conn.execute(select(Response.__table__).where(Response.id == response))),
                    "answers": _rows(await conn.execute(select(Answer.__table__)
                                                        .where(Answer.response_id == response))),
                }
        for chunk in range(args.live + 1, args.people + 1, 250):  # in chunks: keep the driver's own peak small
            rows = {"sessions": [], "respondents": [], "contacts": [], "responses": [], "answers": []}
            for uid in range(chunk, min(chunk + 250, args.people + 1)):
                t = templates[uid % 2]
                key = service.identity.pseudonym("bench", str(uid))
                response = uuid.uuid4().hex
                data = copy.deepcopy(t["session"]["data"])
                data["survey"]["response"] = response
                rows["sessions"].append({"person": key, "data": data, "updated_at": t["session"]["updated_at"]})
                rows["respondents"].append({**t["respondent"], "key": key})
                contact = {k: v for k, v in t["contact"].items() if k != "id"}
                rows["contacts"].append({**contact, "person": key, "chat_id": str(uid)})
                rows["responses"].append({**t["response"], "id": response})
                rows["answers"].extend({**a, "response_id": response} for a in t["answers"])
                next_choice[uid] = f"{data['turn']}:satisfied"
            async with parts.db.begin() as conn:
                for model, key in ((Session, "sessions"), (RespondentRow, "respondents"), (Contact, "contacts"),
                                   (Response, "responses"), (Answer, "answers")):
                    await conn.execute(model.__table__.insert(), rows[key])
        del rows, templates
        gc.collect()
        stage("B")
        t_b = time.perf_counter() - t1

        # C: everyone answers one more question through the service
        t2 = time.perf_counter()
        bad = 0

        async def touch(uid: int) -> None:
            nonlocal bad
            got = []

            async def send(reply) -> None:
                got.append(reply.key)

            await service.handle(Incoming(channel="bench", chat_id=str(uid), user_id=str(uid),
                                          choice_id=next_choice[uid], update_key=f"bench:{uid}:touch"), send)
            bad += not any(k.startswith("survey.item.") for k in got)

        for first in range(1, args.people + 1, args.wave):
            await asyncio.gather(*(touch(u) for u in range(first, min(first + args.wave, args.people + 1))))
        stage("C")
        t_c = time.perf_counter() - t2
        gc.collect()
        stage("collected")
        async with parts.db.connect() as conn:
            in_progress = (await conn.execute(select(func.count()).select_from(Session))).scalar()
            answers = (await conn.execute(select(func.count()).select_from(Answer))).scalar()
        if args.trace:
            snapshot = tracemalloc.take_snapshot()
            by_file = snapshot.statistics("filename")
        trim()
        stage("trimmed")
    finally:
        await shutdown(parts, service)
    gc.collect()
    trim()
    stage("disposed")
    peak = peak_mb()
    for name, mb in stages.items():
        extra = f"; {threads[name]} threads" if name in threads else ""
        extra += (f"; Python objects (tracemalloc) {traced[name][0]:,.1f} MB, peak during the stage "
                  f"{traced[name][1]:,.1f} MB" if name in traced else "")
        line(f"RSS {name}", f"{mb:,.1f} MB{extra}")
    if args.trace:
        print("  largest Python allocations still live, by file:")
        for stat in by_file[:12]:
            print(f"    {stat.size / 2**20:7.2f} MB  {stat.count:8,} blocks  {stat.traceback[0].filename}")
    line("RSS peak (VmHWM)", f"{peak:,.1f} MB  (target <= 200 MB with {args.people:,} conversations)")
    line("what the growth is", f"free heap glibc kept {stages['collected'] - stages['trimmed']:,.1f} MB; "
         f"SQLite connections (caches, threads) ~{stages['trimmed'] - stages['disposed']:,.1f} MB; "
         f"left after both {stages['disposed'] - stages['ready']:,.1f} MB over 'ready'")
    line("growth over the import baseline", f"{stages['C'] - stages['imports']:,.1f} MB; "
         f"per 1,000 conversations from A to C "
         f"{(stages['C'] - stages['A']) / ((args.people - args.live) / 1000):.2f} MB")
    line("phases", f"A {args.live} live onboardings in {t_a:.1f} s; B {args.people - args.live} copies in "
         f"{t_b:.1f} s; C {args.people} answers in {t_c:.1f} s ({args.people / t_c:,.0f}/s)")
    line("database", f"{in_progress:,} sessions in progress, {answers:,} answers; bad replies {bad}")
    result("memory", {"people": args.people, "live": args.live, "wave": args.wave,
                      "rss_mb": {k: round(v, 1) for k, v in stages.items()}, "peak_mb": round(peak, 1),
                      "growth_over_imports_mb": round(stages["C"] - stages["imports"], 1),
                      "threads": threads, "sessions": in_progress, "answers": answers, "bad_replies": bad})


def _row(result) -> dict:
    return dict(result.mappings().one())


def _rows(result) -> list[dict]:
    return [dict(r) for r in result.mappings().all()]


if __name__ == "__main__":
    asyncio.run(main())
