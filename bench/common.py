"""Shared helpers of the benchmarks: product setup, a scripted respondent, statistics, RESULT lines."""

from __future__ import annotations

import json
import os
import platform
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Iterable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from conversations import Incoming, Reply  # noqa: E402

SECRET = "x" * 32
ROUND = "2024"
# Choice ids the scripted respondent never taps: they end the onboarding or go back.
SKIP = (":no", ":disagree", ":not_yet", ":under10", ":over15", ":back")


def tmpdir(prefix: str) -> str:
    """A fresh temporary folder (left behind on purpose only when BENCH_KEEP is set)."""
    return tempfile.mkdtemp(prefix=f"xtt-bench-{prefix}-")


def env_for(folder: str, **extra: str) -> dict[str, str]:
    """Environment variables that point the product at a SQLite file in `folder`."""
    return {"DATABASE_URL": f"sqlite+aiosqlite:///{folder}/b.sqlite3", "XTT_SECRET": SECRET,
            "XTT_DATA_DIR": folder, **extra}


async def product(folder: str) -> tuple[Any, Any]:
    """Prepare the database in `folder`, open a round and build the service: (parts, service)."""
    import bot.app
    import bot.settings
    import storage.rounds

    settings = bot.settings.load(environ=env_for(folder), dotenv=None)
    parts = await bot.app.prepare(settings)
    await storage.rounds.open_round(parts.db, ROUND, datetime.now(UTC))
    return parts, bot.app.build_service(parts)


async def shutdown(parts: Any, service: Any) -> None:
    """Finish pending writes and close the database."""
    await service.close()
    await parts.db.dispose()


def pick(choices: Iterable[str], rng: random.Random | None = None) -> str:
    """A choice id to tap: never one in SKIP; the first one, or a random one with `rng`."""
    ids = [c for c in choices if not c.endswith(SKIP)]
    if not ids:
        raise LookupError(f"no choice to tap among {list(choices)}")
    return rng.choice(ids) if rng else ids[0]


class Respondent:
    """One person talking to the service directly, remembering the last reply that had choices."""

    def __init__(self, service: Any, uid: int, role: str = "resident", channel: str = "bench",
                 rng: random.Random | None = None) -> None:
        self.service, self.uid, self.role, self.channel = service, str(uid), role, channel
        self.rng = rng
        self.n = 0
        self.last: Reply | None = None  # the last reply with choices
        self.replies: list[Reply] = []

    async def _send(self, reply: Reply) -> None:
        self.replies.append(reply)
        if reply.choices:
            self.last = reply

    async def say(self, text: str | None = None, choice: str | None = None) -> list[Reply]:
        """Send one update and return the replies it produced."""
        self.n += 1
        self.replies = []
        incoming = Incoming(channel=self.channel, chat_id=self.uid, user_id=self.uid, text=text,
                            choice_id=choice, update_key=f"{self.channel}:{self.uid}:{self.n}")
        await self.service.handle(incoming, self._send)
        return self.replies

    def next_choice(self) -> str:
        """The choice to tap on the last question; the role on the role question, random answers in surveys."""
        assert self.last is not None, "nothing to answer yet"
        ids = [c.id for c in self.last.choices]
        if self.last.key == "onboarding.role":
            return next(i for i in ids if i.endswith(f":{self.role}"))
        return pick(ids, self.rng if self.last.key.startswith("survey.item.") else None)

    async def tap(self) -> list[Reply]:
        """Tap the next choice."""
        return await self.say(choice=self.next_choice())

    async def onboard(self) -> None:
        """From nothing to the first survey question."""
        await self.say(text="/start")
        for _ in range(12):
            if self.last is not None and self.last.key.startswith("survey.item."):
                return
            await self.tap()
        raise RuntimeError(f"respondent {self.uid} did not reach the survey; last reply {self.last}")

    @property
    def at_question(self) -> bool:
        """Whether the last reply is a survey question."""
        return self.last is not None and self.last.key.startswith("survey.item.")


def percentile(values: list[float], q: float) -> float:
    """The q-th percentile (0..100) by linear interpolation."""
    if not values:
        return float("nan")
    data = sorted(values)
    k = (len(data) - 1) * q / 100
    lo, hi = int(k), min(int(k) + 1, len(data) - 1)
    return data[lo] + (data[hi] - data[lo]) * (k - lo)


def median(values: list[float]) -> float:
    """The median."""
    return statistics.median(values)


def spread(values: list[float]) -> str:
    """'median (min..max)' of repeated figures."""
    return f"{median(values):,.1f} (min {min(values):,.1f}, max {max(values):,.1f}, n={len(values)})"


def machine() -> dict[str, Any]:
    """What the figures were measured on."""
    try:
        load = os.getloadavg()
    except OSError:
        load = (float("nan"),) * 3
    return {"python": platform.python_version(), "cpus": os.cpu_count(), "loadavg_1m": round(load[0], 2),
            "at": datetime.now(UTC).isoformat(timespec="seconds")}


def rss_mb() -> float:
    """Resident set size of this process in MB, from /proc/self/status VmRSS."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def line(label: str, value: Any) -> None:
    """Print one figure as 'label: value'."""
    print(f"{label:<44} {value}", flush=True)


def result(name: str, figures: dict[str, Any]) -> None:
    """Print the machine-readable last line."""
    print("RESULT " + json.dumps({"bench": name, **figures, "machine": machine()}, ensure_ascii=False), flush=True)


class Stopwatch:
    """Elapsed seconds with perf_counter."""

    def __enter__(self) -> Stopwatch:
        self.start = time.perf_counter()
        self.seconds = 0.0
        return self

    def __exit__(self, *exc: object) -> None:
        self.seconds = time.perf_counter() - self.start
