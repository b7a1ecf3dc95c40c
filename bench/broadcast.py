"""A broadcast through the durable outbox: throughput against a flood limit, loss, duplicates and memory.

This process serves the stand-in Bot API (tests/support/telegram_standin.py) enforcing --limit messages/s
overall and 1/s per chat, and runs the sender as a separate process, `python -m tests.support.send_worker`
(the real engine, TelegramChannel and Sender), with XTT_SEND_RATE set to the limit.

  run 1   --recipients (5,000) messages to distinct chats queued on a fresh SQLite file; the worker drains
          them. Achieved rate = messages / (last arrival - first arrival) at the stand-in, as a share of the
          limit (target >= 90%); lost and duplicated are counted by chat; RSS of the worker sampled.
  run 2   --big (50,000) messages queued; the worker sends for --big-seconds (15), then gets SIGTERM. Its
          RSS, sampled over the same stretch of sending, must match run 1's: the sender never loads the
          whole queue.

    python -m bench.broadcast [--recipients 5000] [--limit 200] [--big 50000] [--big-seconds 15] [--url URL]

--url runs on another (empty) database instead of a SQLite file, e.g. postgresql+asyncpg://postgres@127.0.0.1/x.
"""

from __future__ import annotations

import argparse
import asyncio
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

from sqlalchemy import func, select

from bench.common import ROOT, line, median, result, tmpdir
from storage import migrate
from storage.db import connect
from storage.models import Outbox
from tests.support.send_worker import queue, seed
from tests.support.telegram_standin import SentMessage, TelegramStandin
from tests.support.xtt_process import xtt_env

TOKEN = "123:BROADCAST"
BASE = 7_500_000_000


class ClockedStandin(TelegramStandin):
    """The stand-in, noting when each message arrived (and not waking waiters it does not have)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.arrivals: list[float] = []

    async def _record(self, sent: SentMessage) -> None:
        self._sent.append(sent)
        self.arrivals.append(time.monotonic())


def rss_of(pid: int) -> float:
    """VmRSS of a process in MB (nan once it is gone)."""
    try:
        for text in Path(f"/proc/{pid}/status").read_text().splitlines():
            if text.startswith("VmRSS:"):
                return int(text.split()[1]) / 1024
    except OSError:
        pass
    return float("nan")


async def prepare(url: str, count: int, base: int) -> None:
    """Migrate the database and queue one message to each of `count` new contacts from chat `base` on."""
    db = connect(url)
    try:
        await migrate.upgrade(db)
        persons = await seed(db, range(base, base + count))
        await queue(db, f"bench-broadcast-{base}", persons, text="Khảo sát năm nay đã mở. Mời bạn tham gia!",
                    choices=[("survey:start", "Bắt đầu"), ("survey:later", "Để sau")])
    finally:
        await db.dispose()


async def recorded(url: str, base: int) -> int:
    """How many messages of a run the table records as sent."""
    db = connect(url)
    try:
        async with db.connect() as conn:
            query = select(func.count()).select_from(Outbox).where(
                Outbox.status == "sent", Outbox.key.startswith(f"bench-broadcast-{base}:"))
            return int(await conn.scalar(query))
    finally:
        await db.dispose()


async def run_worker(url: str, tg: ClockedStandin, limit: float, folder: str, seconds: float | None
                     ) -> tuple[list[tuple[float, float]], int]:
    """Run the sender process until it drains (or for `seconds`, then SIGTERM); RSS samples and exit code."""
    env = xtt_env({"DATABASE_URL": url, "TELEGRAM_BOT_TOKEN": TOKEN, "TELEGRAM_API_URL": tg.root,
                   "XTT_SEND_RATE": str(limit), "XTT_SEND_PER_CHAT": "1", "PTB_TIMEDELTA": "true"})
    with open(Path(folder) / "worker.log", "ab") as log:
        proc = subprocess.Popen([sys.executable, "-m", "tests.support.send_worker"], cwd=ROOT, env=env,
                                stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT)
    samples: list[tuple[float, float]] = []  # (seconds since the first arrival, RSS MB)
    stop_at = None
    while proc.poll() is None:
        if tg.arrivals:
            samples.append((time.monotonic() - tg.arrivals[0], rss_of(proc.pid)))
            if seconds is not None and stop_at is None:
                stop_at = tg.arrivals[0] + seconds
        if stop_at is not None and time.monotonic() >= stop_at:
            proc.send_signal(signal.SIGTERM)
            stop_at = float("inf")
        await asyncio.sleep(0.25)
    return [s for s in samples if s[1] == s[1]], proc.returncode


async def broadcast(url: str, count: int, limit: float, folder: str, *, base: int = BASE,
                    seconds: float | None = None) -> dict[str, Any]:
    """Queue `count` messages, run the worker against a fresh stand-in and measure."""
    began = time.perf_counter()
    await prepare(url, count, base)
    queued_s = time.perf_counter() - began
    async with ClockedStandin(TOKEN, rate_limit_per_s=limit, per_chat_per_s=1) as tg:
        began = time.perf_counter()
        samples, code = await run_worker(url, tg, limit, folder, seconds)
        wall = time.perf_counter() - began
    copies = Counter(s.chat_id for s in tg.sent())
    in_table = await recorded(url, base)
    span = tg.arrivals[-1] - tg.arrivals[0] if len(tg.arrivals) > 1 else float("nan")
    achieved = (len(tg.arrivals) - 1) / span
    steady = [rss for at, rss in samples if at >= 3.0] or [rss for _, rss in samples]
    return {"queued": count, "queue_s": round(queued_s, 2), "exit": code, "wall_s": round(wall, 2),
            "sent": len(tg.arrivals), "span_s": round(span, 2), "achieved_per_s": round(achieved, 1),
            "share_of_limit": round(achieved / limit, 3), "rejected_429": tg.rejected_429,
            "lost": count - len(copies) if seconds is None else None,
            "duplicated": sum(n - 1 for n in copies.values()), "recorded_sent": in_table,
            "arrived_not_recorded": len(tg.arrivals) - in_table,
            "rss_mb_peak": round(max(rss for _, rss in samples), 1),
            "rss_mb_steady_median": round(median(steady), 1), "rss_samples": len(samples)}


async def main() -> None:
    """Both runs, then the RESULT line."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--recipients", type=int, default=5000)
    parser.add_argument("--limit", type=float, default=200.0)
    parser.add_argument("--big", type=int, default=50000)
    parser.add_argument("--big-seconds", type=float, default=15.0)
    parser.add_argument("--url", default="", help="an empty database to use instead of SQLite files")
    args = parser.parse_args()
    folder = tmpdir("broadcast")
    url = args.url or f"sqlite+aiosqlite:///{folder}/small.sqlite3"
    small = await broadcast(url, args.recipients, args.limit, folder)
    for key, value in small.items():
        line(f"{args.recipients:,} queued: {key}", value)
    big_url = args.url or f"sqlite+aiosqlite:///{folder}/big.sqlite3"
    # on one --url database the second run queues to new contacts (the first run's are all sent)
    big = await broadcast(big_url, args.big, args.limit, folder, base=BASE + args.recipients,
                          seconds=args.big_seconds)
    for key, value in big.items():
        line(f"{args.big:,} queued: {key}", value)
    growth = big["rss_mb_steady_median"] - small["rss_mb_steady_median"]
    line(f"RSS growth {args.big:,} vs {args.recipients:,} queued (MB)", round(growth, 1))
    result("broadcast", {"limit_per_s": args.limit, "per_chat_per_s": 1, "recipients": args.recipients,
                         "achieved_per_s": small["achieved_per_s"], "share_of_limit": small["share_of_limit"],
                         "lost": small["lost"], "duplicated": small["duplicated"],
                         "rejected_429": small["rejected_429"], "rss_mb_5k": small["rss_mb_steady_median"],
                         "rss_mb_5k_peak": small["rss_mb_peak"], "big": args.big,
                         "rss_mb_50k": big["rss_mb_steady_median"], "rss_mb_50k_peak": big["rss_mb_peak"],
                         "rss_growth_mb": round(growth, 1), "big_share_of_limit": big["share_of_limit"],
                         "big_duplicated": big["duplicated"],
                         "big_arrived_not_recorded": big["arrived_not_recorded"], "big_exit": big["exit"],
                         "database": "url" if args.url else "sqlite"})


if __name__ == "__main__":
    asyncio.run(main())
