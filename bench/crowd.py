"""A crowd takes the survey over the Telegram stand-in while the bot is killed and restarted.

N scripted people (half children, half residents, spread over the map's communes) each send /start and tap
through onboarding, 12 questions, the comment (skipped) and "Gửi", waiting for each answer as a person does.
Meanwhile the real `xtt run` process is killed with SIGKILL `--kills` times and stopped once with SIGTERM (a
deploy), each time restarted at once; people keep tapping while it is down. A person who waits more than
`--patience` seconds for an answer counts one unanswered message and taps again.

Reports: people finished, messages unanswered, replies per person's update, the time each restart took, and
whether `xtt score --json` counts exactly the people who finished (per commune and group).

    python -m bench.crowd [--people 300] [--kills 3] [--every 12] [--postgres]

The bot's send rate is raised (XTT_SEND_RATE, default here 200/s) because the stand-in has no global limit.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from bench.common import ROOT, SECRET, SKIP, line, percentile, result, tmpdir
from tests.support.telegram_standin import SentMessage, TelegramStandin
from tests.support.xtt_process import XttProcess, free_port, xtt_cli_async, xtt_env

TOKEN = "123:ABC"
ROUND = "2024"
DONE = "hoàn thành khảo sát"  # the thanks at the end
STALE = "Nút đó thuộc một câu hỏi cũ"  # the answer to a button of an earlier question
FLOODER = 99_999


class CrowdStandin(TelegramStandin):
    """The stand-in, waking one person's waiter on each message to their chat (constant cost per message)."""

    def __init__(self) -> None:
        super().__init__(TOKEN)
        self.waiting: dict[int, asyncio.Future[SentMessage]] = {}
        self.trace: dict[int, list[str]] = {}  # per chat: what was sent both ways, to explain a person stuck

    def note(self, chat_id: int, what: str) -> None:
        """Keep a line of a chat's trace."""
        self.trace.setdefault(chat_id, []).append(f"{time.monotonic():.2f} {what}")

    async def _record(self, sent: SentMessage) -> None:
        self._sent.append(sent)
        self.note(sent.chat_id, f"<- {(sent.text or '').splitlines()[0][:50]!r} {[d for _, d in sent.buttons][:3]}")
        waiter = self.waiting.pop(sent.chat_id, None)
        if waiter is not None and not waiter.done():
            waiter.set_result(sent)


class Patient:
    """A person who sends one update at a time and waits `patience` for its answer, then sends it again.

    `waiters` is the stand-in's per-chat futures, resolved by each message it records for that chat."""

    def __init__(self, waiters: dict[Any, asyncio.Future[Any]], uid: Any, patience: float) -> None:
        self.waiters, self.uid, self.patience = waiters, uid, patience
        self.unanswered = 0
        self.updates = 0
        self.waits: list[float] = []
        self.finished = False

    async def _next(self, send: Callable[[], Awaitable[Any]], answered: Callable[[Any], bool]) -> Any:
        """Send until a message that `answered` accepts comes within `patience`; each miss counts unanswered."""
        while True:
            began = time.monotonic()
            self.updates += 1
            await send()
            deadline = began + self.patience
            while time.monotonic() < deadline:
                waiter = asyncio.get_running_loop().create_future()
                self.waiters[self.uid] = waiter
                try:
                    msg = await asyncio.wait_for(waiter, deadline - time.monotonic())
                except TimeoutError:
                    break
                if answered(msg):
                    self.waits.append(time.monotonic() - began)
                    return msg
            self.unanswered += 1


class Person(Patient):
    """One scripted person: taps through the survey, one update at a time."""

    def __init__(self, standin: CrowdStandin, uid: int, role: str, commune: str, patience: float) -> None:
        super().__init__(standin.waiting, uid, patience)
        self.standin, self.role, self.commune = standin, role, commune
        self.repeats = 0  # messages that came twice

    @staticmethod
    def _answered(msg: SentMessage) -> bool:
        """A message with buttons, or the thanks at the end."""
        return bool(msg.buttons) or DONE in (msg.text or "")

    def _answer_to(self, tapped: SentMessage) -> Callable[[SentMessage], bool]:
        """What answers a tap on `tapped`: as `_answered`, but not `tapped` itself arriving again (sent twice: a
        SIGKILL fell between its send and its record), unless the bot just said the tap was on an old question."""
        stale = False

        def answered(msg: SentMessage) -> bool:
            nonlocal stale
            if (msg.text or "").startswith(STALE):
                stale = True
            elif not stale and (msg.text, msg.buttons) == (tapped.text, tapped.buttons):
                self.repeats += 1
                return False
            return self._answered(msg)
        return answered

    def _choose(self, msg: SentMessage, rng: random.Random) -> str:
        """The button to tap: the role, the commune, "Gửi", else a random acceptable choice."""
        ids = [d for _, d in msg.buttons if d]
        for wanted in (f":{self.role}", f":{self.commune}", ":submit", ":skip"):
            if hit := [i for i in ids if i.split("~")[0].endswith(wanted)]:
                return hit[0]
        ages = [i for i in ids if ":a" in i and i.split("~")[0].rsplit(":", 1)[-1][1:2].isdigit()]
        if ages:  # an age band of the right group
            return ages[0] if self.role == "child" else ages[-1]
        usable = [i for i in ids if not i.split("~")[0].endswith(SKIP)]
        return rng.choice(usable or ids)

    async def run(self, rng: random.Random) -> None:
        """Take the whole survey."""
        msg = await self._next(lambda: self.standin.push_message(self.uid, "/start"), self._answered)
        for _ in range(40):
            if DONE in (msg.text or ""):
                self.finished = True
                return
            data = self._choose(msg, rng)
            self.standin.note(self.uid, f"-> {data}")
            msg = await self._next(lambda data=data: self.standin.push_callback(self.uid, data), self._answer_to(msg))
        trace = "\n".join(self.standin.trace.get(self.uid, []))
        raise RuntimeError(f"person {self.uid} did not finish in 40 steps; what the chat saw:\n{trace}")


async def chaos(bot: XttProcess, kills: int, every: float, restarts: list[float], stop: asyncio.Event,
                moments: list[float] | None = None) -> None:
    """Kill the bot `kills` times and stop it once with SIGTERM, restarting it at once each time (none: no kill).

    `moments` gets the time of each signal, to tell which fell while people were still typing."""
    for n in range(kills + 1):
        try:
            await asyncio.wait_for(stop.wait(), every)
            return
        except TimeoutError:
            pass
        if moments is not None:
            moments.append(time.monotonic())
        if n < kills:
            await bot.kill()
        else:
            code = await bot.terminate(timeout=60)
            if code != 0:
                raise RuntimeError(f"SIGTERM: exit code {code}")
        restarts.append(await bot.start_ready(timeout=120))


async def crowd(people_n: int, *, kills: int = 3, every: float = 12.0, patience: float = 60.0,
                postgres: bool = False, send_rate: str = "200", flood: float = 0.0) -> dict[str, Any]:
    """Run one crowd (with kills, and with a flooder sending `flood` messages a second) and return its figures."""
    folder = Path(tmpdir("crowd"))
    url = f"sqlite+aiosqlite:///{folder}/crowd.sqlite3"
    if postgres:
        from tests.conftest import _admin

        await _admin('DROP DATABASE IF EXISTS "xtt_crowd" WITH (FORCE)')
        await _admin('CREATE DATABASE "xtt_crowd"')
        url = "postgresql+asyncpg://postgres@127.0.0.1:5432/xtt_crowd"
    standin = CrowdStandin()
    await standin.start()
    bot, communes = await prepared(folder, url, {"TELEGRAM_BOT_TOKEN": TOKEN, "TELEGRAM_API_URL": standin.root},
                                   send_rate, "crowd")
    rng = random.Random(7)
    people = [Person(standin, 10_000 + n, "child" if n % 2 else "resident", communes[n % len(communes)]["code"],
                     patience) for n in range(people_n)]
    await bot.start_ready(timeout=120)
    restarts: list[float] = []
    stop = asyncio.Event()
    began = time.monotonic()
    moments: list[float] = []
    killer = asyncio.create_task(chaos(bot, kills, every, restarts, stop, moments)) if kills else None
    flooder = asyncio.create_task(flooding(standin, flood, stop)) if flood else None
    try:
        await asyncio.gather(*(person.run(random.Random(rng.random())) for person in people))
        wall = time.monotonic() - began
        if killer:
            await killer  # the whole plan of kills is carried out, even when the crowd was faster
    finally:
        stop.set()
        if flooder:
            await flooder
        if bot.running:
            await bot.terminate(timeout=60)
        await standin.stop()
    score = json.loads(await xtt_cli_async(bot.env, folder, "score", "--json"))
    waits = [w * 1000 for person in people for w in person.waits]
    flood_replies = len(standin.sent(FLOODER)) if flood else 0
    return {"people": people_n, "finished": sum(p.finished for p in people),
            "unanswered": sum(p.unanswered for p in people), "sent": sum(p.updates for p in people),
            "repeated": sum(p.repeats for p in people), "kills": kills, "restart_s": [round(r, 1) for r in restarts],
            "score_matches": score_matches(score, people),
            "p50_ms": round(percentile(waits, 50)), "p99_ms": round(percentile(waits, 99)), "max_ms": round(max(waits)),
            "postgres": postgres, "seconds": round(wall), "flood_replies": flood_replies,
            "signals_while_typing": sum(t < began + wall for t in moments)}


async def prepared(folder: Path, url: str, channel: dict[str, str], send_rate: str,
                   name: str) -> tuple[XttProcess, list[dict[str, Any]]]:
    """`xtt run` for a crowd (not started) on a migrated database with the round open, and the map's communes."""
    port = free_port()
    env = xtt_env({"DATABASE_URL": url, "XTT_SECRET": SECRET, "XTT_DATA_DIR": str(folder), "WEB_PORT": str(port),
                   **channel, "XTT_SEND_RATE": send_rate, "PYTHONPATH": str(ROOT)})
    await xtt_cli_async(env, folder, "db", "upgrade")
    await xtt_cli_async(env, folder, "round", "open", ROUND)
    communes = json.loads(await xtt_cli_async(env, folder, "score", "--json"))["communes"]
    return XttProcess(env, folder, port, name=name), communes


def score_matches(score: dict[str, Any], people: list[Any]) -> bool:
    """Whether `xtt score --json` counts exactly the people who finished, per commune and group."""
    expected = Counter((p.commune, "children" if p.role == "child" else "residents") for p in people if p.finished)
    counted = Counter({(c["code"], g): c[g]["n"] for c in score["communes"] for g in ("children", "residents")
                       if c[g]["n"]})
    return counted == expected


async def flooding(standin: CrowdStandin, rate: float, stop: asyncio.Event) -> None:
    """One person sending `rate` messages a second until the crowd is done."""
    n = 0
    while not stop.is_set():
        n += 1
        await standin.push_message(FLOODER, f"spam {n}")
        await asyncio.sleep(1 / rate)


async def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--people", type=int, default=300)
    p.add_argument("--kills", type=int, default=3)
    p.add_argument("--every", type=float, default=12.0, help="seconds between kills")
    p.add_argument("--patience", type=float, default=60.0, help="seconds a person waits before tapping again")
    p.add_argument("--postgres", action="store_true", help="on a fresh PostgreSQL database `xtt_crowd`")
    p.add_argument("--send-rate", default="200", help="XTT_SEND_RATE for the run (the stand-in has no limit)")
    args = p.parse_args()
    r = await crowd(args.people, kills=args.kills, every=args.every, patience=args.patience, postgres=args.postgres,
                    send_rate=args.send_rate)
    report("crowd", r)


def report(name: str, r: dict[str, Any]) -> None:
    """Print a crowd's figures and its RESULT line; exit 1 if anyone is unfinished, unanswered or miscounted."""
    line("database", "PostgreSQL" if r["postgres"] else "SQLite")
    line("people finished", f"{r['finished']} of {r['people']} in {r['seconds']} s")
    line("messages unanswered", f"{r['unanswered']} (of {r['sent']} sent)")
    if "repeated" in r:
        line("questions that came twice", f"{r['repeated']} (a SIGKILL between a send and its record)")
    restarts = ", ".join(f"{x} s" for x in r["restart_s"])
    line("restarts (start → ready)", f"{restarts}  ({r['kills']} SIGKILL, 1 SIGTERM)")
    if "signals_while_typing" in r:
        line("signals while people were typing", f"{r['signals_while_typing']} of {r['kills'] + 1}")
    line("wait for an answer", f"p50 {r['p50_ms']} ms, p99 {r['p99_ms']} ms, max {r['max_ms']} ms")
    line("xtt score --json = the crowd", str(r["score_matches"]))
    result(name, r)
    if r["finished"] != r["people"] or r["unanswered"] or not r["score_matches"]:
        raise SystemExit(1)


if __name__ == "__main__":
    asyncio.run(main())
