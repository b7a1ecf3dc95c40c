"""Shared helpers of the benchmarks: product setup, a scripted respondent, statistics, RESULT lines."""

from __future__ import annotations

import atexit
import gc
import json
import os
import platform
import random
import shutil
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


_FOLDERS: list[str] = []


def tmpdir(prefix: str) -> str:
    """A fresh temporary folder, removed when the process exits unless BENCH_KEEP is set."""
    folder = tempfile.mkdtemp(prefix=f"xtt-bench-{prefix}-")
    if not _FOLDERS:
        atexit.register(_remove_folders)
    _FOLDERS.append(folder)
    return folder


def _remove_folders() -> None:
    if os.environ.get("BENCH_KEEP"):
        return
    for folder in _FOLDERS:
        shutil.rmtree(folder, ignore_errors=True)


def env_for(folder: str, **extra: str) -> dict[str, str]:
    """Environment variables that point the product at a SQLite file in `folder`."""
    return {"DATABASE_URL": f"sqlite+aiosqlite:///{folder}/b.sqlite3", "XTT_SECRET": SECRET,
            "XTT_DATA_DIR": folder, **extra}


async def product(folder: str, *, open_round: bool = True) -> tuple[Any, Any]:
    """Prepare the database in `folder`, open a round (unless a snapshot has one) and build the service."""
    import bot.app
    import bot.heap
    import bot.settings
    import storage.rounds

    settings = bot.settings.load(environ=env_for(folder), dotenv=None)
    parts = await bot.app.prepare(settings)
    if open_round:
        await storage.rounds.open_round(parts.db, ROUND, datetime.now(UTC))
    service = bot.app.build_service(parts)
    bot.heap.settle()  # as `xtt run` does once it is ready
    return parts, service


def copy_db(source: str, target: str) -> None:
    """Copy the (closed, checkpointed) database of folder `source` into folder `target`."""
    for suffix in ("", "-wal", "-shm"):
        path = Path(source) / f"b.sqlite3{suffix}"
        if path.exists():
            shutil.copyfile(path, Path(target) / path.name)


async def shutdown(parts: Any, service: Any) -> None:
    """Finish pending writes and close the database."""
    await service.close()
    await parts.db.dispose()
    gc.unfreeze()  # the next run in this process settles its own objects, as a new `xtt run` would


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
            "at": datetime.now(UTC).isoformat(timespec="seconds"), "commit": _commit()}


def _commit() -> str:
    """HEAD of the work tree, '+dirty' when product files differ from it."""
    import subprocess

    try:
        head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True,
                              timeout=5).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--", ".", ":!bench"], cwd=ROOT,
                               capture_output=True, text=True, timeout=5).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return ""
    return f"{head}+dirty" if head and dirty else head


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


class Counters:
    """Counts, while installed, SQL statements sent by an engine, aiosqlite thread round trips, new connections
    and the committer's batches and busy time.

    It wraps aiosqlite's private queueing method and Committer._commit (observation only; the product's
    files are not changed).
    """

    def __init__(self) -> None:
        self.statements = 0
        self.hops = 0
        self.connects = 0
        self.batches: list[int] = []  # units per group commit
        self.commit_busy = 0.0  # seconds the committer spent inside its transactions
        self._undo: list[Any] = []

    def install(self, engine: Any = None) -> Counters:
        """Start counting (statements only when an AsyncEngine is given)."""
        import aiosqlite.core as core

        original_execute, original_connect = core.Connection._execute, core.Connection._connect
        counters = self

        async def _execute(conn: Any, fn: Any, *args: Any, **kwargs: Any) -> Any:
            counters.hops += 1
            return await original_execute(conn, fn, *args, **kwargs)

        async def _connect(conn: Any) -> Any:
            counters.connects += 1
            return await original_connect(conn)

        core.Connection._execute, core.Connection._connect = _execute, _connect
        self._undo.append(lambda: setattr(core.Connection, "_execute", original_execute))
        self._undo.append(lambda: setattr(core.Connection, "_connect", original_connect))

        from storage.committer import Committer

        original_commit = Committer._commit

        async def _commit(committer: Any, units: list[Any]) -> None:
            counters.batches.append(len(units))
            t0 = time.perf_counter()
            try:
                await original_commit(committer, units)
            finally:
                counters.commit_busy += time.perf_counter() - t0

        Committer._commit = _commit  # type: ignore[method-assign]
        self._undo.append(lambda: setattr(Committer, "_commit", original_commit))
        if engine is not None:
            from sqlalchemy import event

            def count(*_: Any) -> None:
                counters.statements += 1

            event.listen(engine.sync_engine, "before_cursor_execute", count)
            self._undo.append(lambda: event.remove(engine.sync_engine, "before_cursor_execute", count))
        return self

    def reset(self) -> None:
        """Zero the counts."""
        self.statements = self.hops = self.connects = 0
        self.batches, self.commit_busy = [], 0.0

    def remove(self) -> None:
        """Stop counting."""
        for undo in reversed(self._undo):
            undo()
        self._undo.clear()


class GcPauses:
    """Counts garbage collections and their pauses while installed."""

    def __init__(self) -> None:
        self.count, self.total, self.longest = 0, 0.0, 0.0
        self._t = 0.0

    def _callback(self, phase: str, info: dict[str, Any]) -> None:
        if phase == "start":
            self._t = time.perf_counter()
        else:
            pause = time.perf_counter() - self._t
            self.count += 1
            self.total += pause
            self.longest = max(self.longest, pause)

    def install(self) -> GcPauses:
        """Start measuring."""
        import gc

        gc.callbacks.append(self._callback)
        return self

    def remove(self) -> None:
        """Stop measuring."""
        import gc

        gc.callbacks.remove(self._callback)


# How bench.engine_storage --profile groups a pyinstrument profile; first match wins. A stack is matched by
# the "Class.function" names on it; SQLAlchemy runs statements in greenlets, whose stacks pyinstrument
# records as separate roots, so those are told apart by their own frames.
PROFILE_CATEGORIES: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("idle: event loop waiting (epoll)", ("EpollSelector.select",)),
    ("load_state: 3 SELECTs on a pooled connection (async side)", ("load_state",)),
    ("statement building: Service._unit, repo.*, upsert (Insert.excluded)", ("Service._unit", "mark_processed")),
    ("Engine.advance and its Context", ("Service._advance",)),
    ("committer: transaction and per-statement awaits (async side)", ("Committer._run",)),
    ("SQLAlchemy sync side of INSERT/UPSERT execution (greenlet)", ("Insert._execute_on_connection",)),
    ("SQLAlchemy sync side of SELECT execution (greenlet)", ("Select._execute_on_connection",)),
    ("SQLAlchemy connection checkout/reset/return (greenlet)", ("Connection.close", "Engine.connect",
                                                               "Connection.__init__", "_ConnectionFairy._checkout",
                                                               "Connection.rollback", "Connection.commit",
                                                               "Connection.begin")),
    ("aiosqlite results reaching the loop (call_soon_threadsafe, self-pipe)", ("set_result",
                                                                                "_UnixSelectorEventLoop._read_from_self")),
    ("rest of Service.handle (locks, identity, send)", ("Service.handle",)),
    ("benchmark driver", ("closed_loop.<locals>.answer_all", "Respondent.say", "Respondent.tap")),
    ("event loop machinery (scheduling tasks and callbacks)", ("_UnixSelectorEventLoop._run_once",)),
)


def profile_by_category(profiler: Any) -> list[tuple[float, str]]:
    """Shares of a pyinstrument profile's wall time by PROFILE_CATEGORIES."""
    totals: dict[str, float] = {}

    def walk(frame: Any, names: tuple[str, ...]) -> None:
        name = f"{frame.class_name}.{frame.function}" if frame.class_name else (frame.function or "")
        here = (*names, name)
        if not frame.children:  # leaves (pyinstrument puts a frame's own time in a '[self]' leaf)
            kind = next((label for label, keys in PROFILE_CATEGORIES if any(k in here for k in keys)), "other")
            totals[kind] = totals.get(kind, 0.0) + frame.time
        for child in frame.children:
            walk(child, here)

    root = profiler.last_session.root_frame()
    if root is not None:
        walk(root, ())
    whole = sum(totals.values()) or 1.0
    return sorted(((v / whole, k) for k, v in totals.items()), reverse=True)
