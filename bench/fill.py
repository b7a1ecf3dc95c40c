"""The sender's claim (the query that fills its window) with 1,000 and with 1,000,000 queued messages.

A broadcast to every contact is queued (notices, one contact each) in two databases, one per size; then
`Sender._claim(window)` runs --reps times on each, alternating between the two so that the shared machine's
load falls on both alike. After each claim its rows are marked sent, as the sender does, so the head of the
queue moves on (--reps × window extra rows are queued so that at least --small / --big stay queued). The ratio
of the medians (1,000,000 / 1,000) shows whether the claim's cost grows with the queue (target <= 1.2). SQLite,
and PostgreSQL when it answers on 127.0.0.1:5432 (fresh databases, dropped afterwards), connected as the
product connects (custom plans: a generic plan would scan and sort the whole queue).

    python -m bench.fill [--small 1000] [--big 1000000] [--reps 30]
"""

from __future__ import annotations

import argparse
import asyncio
import socket
import time
import uuid
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import text, update

from bench.common import line, median, result, tmpdir
from bot.sender import Sender
from conversations import Reply
from storage import migrate
from storage.db import connect
from storage.models import Outbox


class Idle:
    """A channel that is never asked to send here."""

    name = "telegram"

    async def send(self, chat_id: str, reply: Reply) -> None:
        """Not used."""


async def fill(db: Any, rows: int) -> None:
    """`rows` contacts and a queued notice to each, written by the database itself."""
    now = datetime.now(UTC).replace(tzinfo=None).isoformat(sep=" ")
    series = ("WITH RECURSIVE s(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM s WHERE n < :rows) SELECT n FROM s"
              if db.dialect.name == "sqlite" else "SELECT generate_series(1, :rows) AS n")
    async with db.begin() as conn:
        await conn.execute(text(f"INSERT INTO contacts (person, channel, chat_id, opted_out, unreachable, created_at) "
                                f"SELECT 'p' || n, 'telegram', CAST(n AS VARCHAR), false, false, '{now}' "
                                f"FROM ({series}) AS t"), {"rows": rows})
        await conn.execute(text(f"INSERT INTO outbox (key, contact_id, kind, payload, status, attempts, next_at, "
                                f"created_at) SELECT 'b:' || id, id, 'notice', '{{\"text\": \"hello\"}}', 'queued', 0, "
                                f"'{now}', '{now}' FROM contacts"))
    if db.dialect.name == "postgresql":  # as autovacuum would soon after a big broadcast is queued
        async with db.execution_options(isolation_level="AUTOCOMMIT").connect() as conn:
            await conn.execute(text("ANALYZE"))


async def prepared(url: str, rows: int, reps: int) -> tuple[Any, Sender]:
    """A migrated database with at least `rows` queued messages after `reps` claims, and a sender on it."""
    db = connect(url)
    await migrate.upgrade(db)
    sender = Sender(db, {"telegram": Idle()}, rate=200, per_chat=1)  # type: ignore[dict-item]
    await fill(db, rows + (reps + 2) * sender.window)
    return db, sender


async def claim(db: Any, sender: Sender) -> float:
    """Milliseconds to claim a full window, whose rows are then marked sent."""
    t0 = time.perf_counter()
    claimed = await sender._claim(sender.window)
    ms = 1000 * (time.perf_counter() - t0)
    assert len(claimed) == sender.window, len(claimed)
    async with db.begin() as conn:
        await conn.execute(update(Outbox).where(Outbox.id.in_([r.id for r in claimed]))
                           .values(status="sent", claimed_by=None, claimed_until=None))
    return ms


async def timed(urls: dict[int, str], reps: int) -> dict[int, list[float]]:
    """Milliseconds per claim for each queue size, the sizes' claims alternating (the first two warm caches)."""
    parts = {rows: await prepared(url, rows, reps) for rows, url in urls.items()}
    try:
        out: dict[int, list[float]] = {rows: [] for rows in urls}
        for _ in range(reps + 2):
            for rows, (db, sender) in parts.items():
                out[rows].append(await claim(db, sender))
        return {rows: ms[2:] for rows, ms in out.items()}
    finally:
        for db, _ in parts.values():
            await db.dispose()


def postgres_up() -> bool:
    """Whether PostgreSQL listens locally."""
    try:
        with socket.create_connection(("127.0.0.1", 5432), timeout=0.5):
            return True
    except OSError:
        return False


async def admin(sql: str) -> None:
    """One statement on the PostgreSQL maintenance database."""
    import asyncpg

    conn = await asyncpg.connect(host="127.0.0.1", port=5432, user="postgres", database="postgres")
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


async def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--small", type=int, default=1000)
    p.add_argument("--big", type=int, default=1_000_000)
    p.add_argument("--reps", type=int, default=30)
    args = p.parse_args()
    figures: dict[str, Any] = {}
    kinds = ["sqlite", *(["postgresql"] if postgres_up() else [])]
    for kind in kinds:
        sizes = (args.small, args.big)
        if kind == "sqlite":
            urls = {rows: f"sqlite+aiosqlite:///{tmpdir('fill')}/f.sqlite3" for rows in sizes}
            ms = {rows: median(v) for rows, v in (await timed(urls, args.reps)).items()}
        else:
            names = {rows: f"xtt_fill_{uuid.uuid4().hex[:8]}" for rows in sizes}
            for name in names.values():
                await admin(f'CREATE DATABASE "{name}"')
            try:
                urls = {rows: f"postgresql+asyncpg://postgres@127.0.0.1:5432/{name}" for rows, name in names.items()}
                ms = {rows: median(v) for rows, v in (await timed(urls, args.reps)).items()}
            finally:
                for name in names.values():
                    await admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        for rows in sizes:
            line(f"{kind}: claim of a window, {rows:,} queued", f"{ms[rows]:.2f} ms (median of {args.reps})")
        ratio = ms[args.big] / ms[args.small]
        line(f"{kind}: ratio {args.big:,} / {args.small:,}", f"{ratio:.2f}  (target <= 1.2)")
        figures[kind] = {"small_ms": round(ms[args.small], 2), "big_ms": round(ms[args.big], 2),
                         "ratio": round(ratio, 2)}
    result("fill", {"small": args.small, "big": args.big, **figures})


if __name__ == "__main__":
    asyncio.run(main())
