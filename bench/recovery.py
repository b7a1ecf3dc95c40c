"""Restart with a backlog: the time from a restart to the first reply, 10,000 stored updates against none.

A SIGKILL after the platform was told (the updates are stored) and before anything was processed is simulated
by storing --backlog updates (--people people, /help each) through `Inbox.accept` of a first inbox that never
starts. Then "the restart": a new service, inbox and sender (a recording channel, no pacing to speak of) on
the same SQLite file start, and one new update arrives. Timed from the start: the first reply of any kind
(the backlog's oldest), the new update's reply (it waits for the backlog: each person's order is kept, and the
inbox is first come, first served) and the whole backlog sent. The same with an empty inbox gives the
baseline: start to the new update's reply.

    python -m bench.recovery [--backlog 10000] [--people 2000]
"""

from __future__ import annotations

import argparse
import asyncio
import time
from typing import Any

from bench.common import copy_db, line, product, result, shutdown, tmpdir
from bot.inbox import Inbox
from bot.sender import Sender
from conversations import Incoming, Reply

CHANNEL = "bench"


class Clocked:
    """A channel noting when each chat got its first message."""

    name = CHANNEL

    def __init__(self, t0: list[float]) -> None:
        self.t0 = t0
        self.first: float | None = None
        self.by_chat: dict[str, float] = {}
        self.count = 0

    async def send(self, chat_id: str, reply: Reply) -> None:
        """Note the time."""
        at = time.perf_counter() - self.t0[0]
        self.first = at if self.first is None else self.first
        self.by_chat.setdefault(chat_id, at)
        self.count += 1


def update(person: int, n: int) -> Incoming:
    """Update n of a person."""
    return Incoming(CHANNEL, str(person), str(person), text="/help", update_key=f"{CHANNEL}:{person}:{n}")


async def prepare(backlog: int, people: int) -> str:
    """A database folder with `backlog` stored, unprocessed updates (or none)."""
    folder = tmpdir("recovery")
    parts, service = await product(folder)
    inbox = Inbox(parts.db, parts.identity, service.process, parts.texts)
    stream = [update(n % people, n // people) for n in range(backlog)]
    for start in range(0, len(stream), 500):
        await inbox.accept(stream[start:start + 500])
    await inbox.committer.close()  # SIGKILL: stored, confirmed to the platform, not processed
    await shutdown(parts, service)
    return folder


async def restart(source: str, expected: int) -> dict[str, Any]:
    """Start a new stack on a copy of `source`; the times to the first reply, the newcomer's, and all."""
    folder = tmpdir("restart")
    copy_db(source, folder)
    parts, service = await product(folder, open_round=False)
    t0 = [0.0]
    channel = Clocked(t0)
    inbox = Inbox(parts.db, parts.identity, service.process, parts.texts)
    sender = Sender(parts.db, {CHANNEL: channel}, rate=5000, per_chat=1000, burst=3)  # type: ignore[dict-item]
    service.wake, inbox.wake_sender = sender.wake, sender.wake
    try:
        t0[0] = time.perf_counter()
        sender.start()
        inbox.start()
        await inbox.accept([update(999_999, 0)])
        while "999999" not in channel.by_chat:
            await asyncio.sleep(0.002)
        newcomer = channel.by_chat["999999"]
        await inbox.drain(timeout=600)
        await sender.drain(timeout=600)
        everything = time.perf_counter() - t0[0]
    finally:
        await inbox.stop()
        await sender.stop()
        await shutdown(parts, service)
    assert channel.first is not None
    return {"first_s": channel.first, "newcomer_s": newcomer, "all_s": everything, "sent": channel.count,
            "chats": len(channel.by_chat), "expected_chats": expected}


async def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--backlog", type=int, default=10_000)
    p.add_argument("--people", type=int, default=2000)
    args = p.parse_args()
    empty = await restart(await prepare(0, 1), 1)
    full = await restart(await prepare(args.backlog, args.people), args.people + 1)
    line("empty inbox: start to the first reply", f"{1000 * empty['first_s']:.0f} ms")
    line(f"{args.backlog:,} stored: start to the first reply", f"{1000 * full['first_s']:.0f} ms "
         f"(x{full['first_s'] / empty['first_s']:.2f} of the empty inbox)")
    line(f"{args.backlog:,} stored: a new update's reply", f"{1000 * full['newcomer_s']:.0f} ms (behind the backlog)")
    line(f"{args.backlog:,} stored: all processed and sent", f"{full['all_s']:.1f} s ({full['sent']:,} messages to "
         f"{full['chats']:,} chats of {full['expected_chats']:,}; {args.backlog / full['all_s']:,.0f} updates/s)")
    result("recovery", {"backlog": args.backlog, "empty_first_ms": round(1000 * empty["first_s"]),
                        "backlog_first_ms": round(1000 * full["first_s"]),
                        "ratio_first": round(full["first_s"] / empty["first_s"], 2),
                        "backlog_newcomer_ms": round(1000 * full["newcomer_s"]),
                        "backlog_all_s": round(full["all_s"], 1), "sent": full["sent"], "chats": full["chats"]})


if __name__ == "__main__":
    asyncio.run(main())
