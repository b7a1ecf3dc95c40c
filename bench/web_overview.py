"""The web overview of 3,321 communes (one per commune after the 2025 mergers) against the score query alone.

SQLite, 3,321 communes with 40 submitted responses each (132,840), some open proposals and alerts. The overview
is timed as the server's time for GET /web/ (aiohttp test client, an official's session: the one aggregate query,
index, points and verdict of every commune, sorting, the counts, one page of 50 rows with their intervals
rendered); the baseline is `analytics.compute` (what `xtt score` runs: every commune's full score) on the same data.
Run: python -m bench.web_overview
"""

from __future__ import annotations

import asyncio
import random
import sqlite3
import statistics
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

COMMUNES = 3321
PER_COMMUNE = 40
REPS = 7


def fill(path: str) -> None:
    """Communes, responses, proposals and alerts with sqlite3 (setup, not measured)."""
    rng = random.Random(7)
    db = sqlite3.connect(path)
    db.execute("PRAGMA synchronous=OFF")
    codes = [f"x{n:04d}" for n in range(COMMUNES)]
    db.executemany("INSERT INTO communes (code, name, type) VALUES (?,?,?)",
                   [(c, f"Xã {c.upper()}", "standard") for c in codes])
    responses = []
    for code in codes:
        bias = rng.uniform(0.45, 0.95)
        for _ in range(PER_COMMUNE):
            scored = 12 - (rng.random() < 0.1)
            satisfied = sum(rng.random() < bias for _ in range(scored))
            responses.append((uuid.uuid4().hex, "2024", code, rng.choice(("child", "resident")), "10-12", "1", 1,
                              "2024-11-05", "2024-11-05", scored, satisfied, "paper" if rng.random() < 0.2 else "chat"))
    db.executemany('INSERT INTO responses (id, round_id, commune, "group", age_band, version, submitted, started_on,'
                   " submitted_on, answers_scored, answers_satisfied, source) VALUES (?,?,?,?,?,?,?,?,?,?,?,?)",
                   responses)
    now = "2024-11-05 08:00:00.000000"
    db.executemany("INSERT INTO proposals (ref, year, seq, commune, topic, text, publish, status, sensitive, "
                   "created_at, source) VALUES (?,?,?,?,?,?,?,?,?,?,?)",
                   [(f"KN-2024-{n:05d}", 2024, n, rng.choice(codes), "traffic", "Cần biển báo", 0, "received", 0,
                     now, "chat") for n in range(1, 5001)])
    db.executemany("INSERT INTO alerts (source, commune, categories, text, created_at, status, escalated) "
                   "VALUES (?,?,?,?,?,?,?)", [("message", rng.choice(codes), "violence", "…", now, "open", 0)
                                              for _ in range(500)])
    db.commit()
    db.execute("ANALYZE")
    db.close()


async def main() -> None:
    """Build the data, then time the overview page and the score query, alternating, medians of REPS."""
    from aiohttp.test_utils import TestClient, TestServer

    from analytics import compute, load_rubric
    from bot.app import assemble, web_pages
    from bot.identity import Identity
    from bot.settings import Settings
    from bot.web import WebServer
    from bot.web_auth import WebAuth
    from conversations import Catalogue, Engine, Incoming, load_flows
    from storage import migrate, rounds
    from storage.db import connect

    folder = tempfile.mkdtemp(prefix="xtt-bench-web-")
    path = str(Path(folder) / "xtt.sqlite3")
    db = connect(f"sqlite+aiosqlite:///{path}")
    await migrate.upgrade(db)
    await rounds.open_round(db, "2024", datetime.now(UTC))
    fill(path)
    texts, identity = Catalogue.load(), Identity("x" * 32)
    admins = frozenset({identity.pseudonym("console", "boss")})
    auth = WebAuth(db, identity, texts, "http://bench", admins=admins)
    service = assemble(Engine(load_flows(), texts), db, identity, texts, admins=admins, web=auth)
    server = WebServer("127.0.0.1", 0, db)
    web_pages(server, service, Settings())
    timings: list[float] = []

    @__import__("aiohttp").web.middleware
    async def clock(request, handler):
        started = time.perf_counter()
        response = await handler(request)
        if request.path == "/web/":
            timings.append(time.perf_counter() - started)
        return response

    server.app.middlewares.insert(0, clock)
    client = TestClient(TestServer(server.app))
    await client.start_server()
    replies = []
    await service.handle(Incoming("console", "boss", "boss", text="/web"), lambda r: _keep(replies, r))
    token = replies[-1].text.split("/web/login/")[1].split()[0]
    assert (await client.post("/web/login", data={"token": token}, allow_redirects=False)).status == 303
    rubric = load_rubric()
    score_times = []
    for _ in range(REPS + 1):
        page = await client.get("/web/")
        assert page.status == 200 and "Xã X0000" in await page.text()
        started = time.perf_counter()
        scores = await compute(db, "2024", rubric)
        score_times.append(time.perf_counter() - started)
    assert len(scores) == COMMUNES
    overview, score = statistics.median(timings[1:]), statistics.median(score_times[1:])
    print(f"communes: {len(scores)}, responses: {COMMUNES * PER_COMMUNE:,}")
    print(f"overview GET /web/ (server time, median of {REPS}): {overview * 1000:.0f} ms")
    print(f"score query alone (analytics.compute, median of {REPS}): {score * 1000:.0f} ms")
    print(f"ratio: {overview / score:.2f} (target ≤ 1.5)")
    await client.close()
    await service.close()
    await db.dispose()


async def _keep(replies: list, reply: object) -> None:
    """Collect a chat reply."""
    replies.append(reply)


if __name__ == "__main__":
    asyncio.run(main())
