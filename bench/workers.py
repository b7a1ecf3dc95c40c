"""Two workers against one on PostgreSQL, under the same load: throughput, lost and duplicated.

Each worker is its own process with the real stack (service, inbox, sender; a counting channel stands in for
the platform). This process plays the webhook front: it stores --people × --each updates (/help) through
`Inbox.accept` as fast as it can, 16 calls of 25 updates at a time, and measures from the first call until
every update is processed and every answer sent (read from the tables). Then the workers stop and report
which updates they processed and which outbox rows they sent: lost = updates not done or answers not sent,
duplicated = an update processed twice or an outbox row sent twice. Needs PostgreSQL on 127.0.0.1:5432
(a fresh database per run, dropped afterwards). 2 cores shared by the workers, PostgreSQL and this process.

    python -m bench.workers [--people 400] [--each 10]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import time
import uuid
from collections import Counter
from pathlib import Path
from typing import Any

from sqlalchemy import func, select

from bench.common import SECRET, line, result, tmpdir
from bench.fill import admin, postgres_up
from conversations import Incoming, Reply

CHANNEL = "bench"


def settings_for(url: str, folder: str) -> Any:
    """xtt settings on a PostgreSQL database."""
    import bot.settings

    return bot.settings.load(environ={"DATABASE_URL": url, "XTT_SECRET": SECRET, "XTT_DATA_DIR": folder},
                             dotenv=None)


class Counting:
    """The platform, as far as a worker sees it."""

    name = CHANNEL

    async def send(self, chat_id: str, reply: Reply) -> None:
        """Take the message."""


async def work(url: str, name: str, folder: str) -> None:
    """One worker: run until the stop file appears, then write what it processed and sent."""
    import bot.app
    from bot.inbox import Inbox
    from bot.sender import Sender

    parts = await bot.app.prepare(settings_for(url, folder))
    service = bot.app.build_service(parts)
    processed: list[str] = []
    sent: list[int] = []

    async def process(incoming: Incoming, stored: Any = ()) -> str:
        status = await service.process(incoming, stored)
        processed.append(f"{incoming.update_key}={status}")
        return status

    inbox = Inbox(parts.db, parts.identity, process, parts.texts, worker=name)
    sender = Sender(parts.db, {CHANNEL: Counting()}, rate=5000, per_chat=1000, burst=3,  # type: ignore[dict-item]
                    worker=f"s-{name}", on_sent=lambda item, _: sent.append(item.id))
    service.wake = inbox.wake_sender = sender.wake
    inbox.start()
    sender.start()
    Path(folder, f"{name}.ready").touch()
    while not Path(folder, "stop").exists():
        await asyncio.sleep(0.05)
    await inbox.stop()
    await service.close()
    await sender.stop()
    await parts.db.dispose()
    Path(folder, f"{name}.json").write_text(json.dumps({"processed": processed, "sent": sent}))


def child(url: str, name: str, folder: str) -> None:
    """The worker process."""
    asyncio.run(work(url, name, folder))


async def run(workers: int, people: int, each: int) -> dict[str, Any]:
    """One run with `workers` worker processes on a fresh database."""
    import bot.app
    from bot.inbox import Inbox
    from storage.models import Inbox as InboxRow
    from storage.models import Outbox

    name = f"xtt_workers_{uuid.uuid4().hex[:8]}"
    await admin(f'CREATE DATABASE "{name}"')
    url = f"postgresql+asyncpg://postgres@127.0.0.1:5432/{name}"
    folder = tmpdir("workers")
    procs = []
    try:
        parts = await bot.app.prepare(settings_for(url, folder))  # migrates
        front = Inbox(parts.db, parts.identity, _never, parts.texts)
        spawn = multiprocessing.get_context("spawn")
        for n in range(workers):
            proc = spawn.Process(target=child, args=(url, f"w{n}", folder))
            proc.start()
            procs.append(proc)
        while not all(Path(folder, f"w{n}.ready").exists() for n in range(workers)):
            await asyncio.sleep(0.1)
        stream = [Incoming(CHANNEL, str(p), str(p), text="/help", update_key=f"{CHANNEL}:{p}:{k}")
                  for k in range(each) for p in range(people)]
        calls = [stream[i:i + 25] for i in range(0, len(stream), 25)]
        gate = asyncio.Semaphore(16)

        async def call(batch: list[Incoming]) -> None:
            async with gate:
                await front.accept(batch)

        t0 = time.perf_counter()
        await asyncio.gather(*(call(b) for b in calls))
        stored = time.perf_counter() - t0
        while True:
            async with parts.db.connect() as conn:
                waiting = (await conn.execute(select(func.count()).select_from(InboxRow)
                                              .where(InboxRow.status == "queued"))).scalar_one()
                unsent = (await conn.execute(select(func.count()).select_from(Outbox)
                                             .where(Outbox.status == "queued"))).scalar_one()
            if not waiting and not unsent:
                break
            if time.perf_counter() - t0 > 150:
                break
            await asyncio.sleep(0.05)
        seconds = time.perf_counter() - t0
        Path(folder, "stop").touch()
        for proc in procs:
            proc.join(60)
        reports = [json.loads(Path(folder, f"w{n}.json").read_text()) for n in range(workers)]
        async with parts.db.connect() as conn:
            statuses = dict((await conn.execute(select(InboxRow.status, func.count()).group_by(InboxRow.status)))
                            .all())
            outbox = dict((await conn.execute(select(Outbox.status, func.count()).group_by(Outbox.status))).all())
        await front.committer.close()
        await parts.db.dispose()
    finally:
        for proc in procs:
            if proc.is_alive():
                proc.kill()
        await admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    keys = Counter(k.split("=")[0] for r in reports for k in r["processed"])
    ids = Counter(i for r in reports for i in r["sent"])
    updates = people * each
    return {"workers": workers, "updates": updates, "seconds": seconds, "stored_s": stored,
            "per_s": updates / seconds, "lost": updates - statuses.get("done", 0) + outbox.get("queued", 0),
            "duplicated": sum(c - 1 for c in keys.values()) + sum(c - 1 for c in ids.values()),
            "processed_by": [len(r["processed"]) for r in reports], "sent": sum(ids.values()),
            "answers": sum(outbox.values())}


async def _never(incoming: Incoming, stored: Any = ()) -> str:
    """The front stores only."""
    raise AssertionError("the front does not process")


async def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--people", type=int, default=400)
    p.add_argument("--each", type=int, default=10)
    args = p.parse_args()
    if not postgres_up():
        raise SystemExit("PostgreSQL does not answer on 127.0.0.1:5432")
    runs = [await run(n, args.people, args.each) for n in (1, 2)]
    for r in runs:
        line(f"{r['workers']} worker(s): {r['updates']:,} updates", f"{r['per_s']:,.0f} updates/s processed and "
             f"answered ({r['seconds']:.1f} s; stored in {r['stored_s']:.1f} s); per worker {r['processed_by']}; "
             f"lost {r['lost']}, duplicated {r['duplicated']}; {r['sent']:,} of {r['answers']:,} answers sent")
    ratio = runs[1]["per_s"] / runs[0]["per_s"]
    line("throughput ratio two workers / one", f"{ratio:.2f}")
    result("workers", {"updates": runs[0]["updates"], "one_per_s": round(runs[0]["per_s"]),
                       "two_per_s": round(runs[1]["per_s"]), "ratio": round(ratio, 2),
                       "lost": sum(r["lost"] for r in runs), "duplicated": sum(r["duplicated"] for r in runs)})


if __name__ == "__main__":
    asyncio.run(main())
