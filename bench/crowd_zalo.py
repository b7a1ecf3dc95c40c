"""A crowd takes the survey over the Zalo Bot Platform stand-in while the bot is killed and restarted.

The Zalo twin of bench/crowd.py. N scripted people (half children, half residents, spread over the map's communes)
each type /start, then answer every message that ends in numbered choices by typing: "1" to begin, the role's number
(1 child, 2 resident), "1" to consent (and for a child's parents), the number of their commune's label, "1" for the
age and the polls question, a random 1–4 for each of the 12 questions, "bo qua" at the comment and "gui" at the
review, until the thanks. The bot polls the stand-in (getUpdates), which queues what people type while it is down.
Meanwhile the real `xtt run` process is killed with SIGKILL `--kills` times and stopped once with SIGTERM, each
time restarted at once. A person who waits more than `--patience` seconds for an answer counts one unanswered
message and types again. Before typing, a person reads for a random 0–2×`--think` seconds (0.5 s on average by
default), so that the crowd is still typing when the kills come (without it, a small crowd is done before the first).

Reports the figures of bench/crowd.py, plus how many typed messages the stand-in handed to a getUpdates call whose
connection had already gone (a poll left open by a process that died or stopped).

    python -m bench.crowd_zalo [--people 300] [--kills 3] [--every 12] [--patience 60] [--think 0.5]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import re
import sqlite3
import time
from collections import Counter
from contextlib import closing
from pathlib import Path
from typing import Any

from aiohttp import web

from bench.common import line, percentile, tmpdir
from bench.crowd import DONE, Patient, chaos, prepared, report, score_matches
from tests.support.xtt_process import xtt_cli_async
from tests.support.zalo_bot_standin import Sent, ZalobotStandin

TOKEN = "3141592653589793:zb-crowd-token"
CHOICE = re.compile(r"^(\d+)\. (.+)$")
QUESTION = re.compile(r"^Câu \d+/12$", re.MULTILINE)


def choices(text: str) -> list[str]:
    """The numbered choices that end a message, in order (as tests/test_e2e_zalo_bot.py reads them)."""
    found = []
    for row in reversed(text.splitlines()):
        match = CHOICE.match(row)
        if not match:
            break
        found.append(match.group(2))
    return found[::-1]


class CrowdZalo(ZalobotStandin):
    """The stand-in, waking one person's waiter on each message to their chat; it notes the id of every message
    it handed out with getUpdates, and which of those went to a poll whose connection had already closed."""

    def __init__(self) -> None:
        super().__init__(TOKEN)
        self.waiters: dict[str, asyncio.Future[Sent]] = {}
        self.handed_ids: set[str] = set()
        self.dead: list[str] = []  # ids of messages handed to a poll seen closed (a lower bound of those lost)

    async def _record(self, sent: Sent) -> dict[str, Any]:
        answer = await super()._record(sent)
        waiter = self.waiters.pop(sent.chat_id, None)
        if waiter is not None and not waiter.done():
            waiter.set_result(sent)
        return answer

    async def _handle(self, request: web.Request) -> web.Response:
        response = await super()._handle(request)
        if request.match_info.get("method") == "getUpdates" and isinstance(response.body, bytes):
            handed = json.loads(response.body).get("result")
            ids = [str(u.get("message", {}).get("message_id")) for u in
                   (handed if isinstance(handed, list) else [handed] if isinstance(handed, dict) else [])]
            self.handed_ids.update(ids)
            if request.transport is None or request.transport.is_closing():
                self.dead.extend(ids)
        return response


class Person(Patient):
    """One scripted Zalo user: types an answer to each message with numbered choices, one at a time."""

    def __init__(self, standin: CrowdZalo, uid: str, role: str, commune: str, names: dict[str, str],
                 patience: float, think: float) -> None:
        super().__init__(standin.waiters, uid, patience)
        self.standin, self.role, self.commune, self.think = standin, role, commune, think
        self.names = names  # commune label → code
        self.typed: list[str] = []  # message ids
        self.repeats = 0  # messages that came twice

    async def _say(self, text: str, asked: str = "") -> str:
        """Type a message in reply to `asked`; the text of the answer that comes: a message with choices, or the
        thanks, but not `asked` itself arriving again (sent twice: a SIGKILL fell between its send and its record)."""
        async def send() -> None:
            self.typed.append(await self.standin.push_message(self.uid, text))

        def answered(msg: Any) -> bool:
            if asked and msg.text == asked:
                self.repeats += 1
                return False
            return bool(choices(msg.text or "")) or DONE in (msg.text or "")

        msg = await self._next(send, answered)
        return msg.text or ""

    def _type(self, text: str, rng: random.Random) -> str:
        """What to type in answer to a message with numbered choices."""
        options = choices(text)
        if "Bỏ qua" in options:
            return "bo qua"
        if "✅ Gửi" in options:
            return "gui"
        if QUESTION.search(text):
            return str(rng.randint(1, 4))
        if text.startswith("Bạn là ai?"):
            return "1" if self.role == "child" else "2"
        communes = [label for label in options if label in self.names]
        if len(communes) == len(options) > 2:  # the list of communes: by label
            name = next((label for label in options if self.names[label] == self.commune), options[0])
            self.commune = self.names[name]
            return str(options.index(name) + 1)
        return "1"  # begin, consent, parents' consent, age, polls

    async def run(self, rng: random.Random) -> None:
        """Take the whole survey."""
        await asyncio.sleep(rng.uniform(0, 2 * self.think))
        text = await self._say("/start")
        for _ in range(60):
            if DONE in text:
                self.finished = True
                return
            typed = self._type(text, rng)
            await asyncio.sleep(rng.uniform(0, 2 * self.think))
            text = await self._say(typed, text)
        raise RuntimeError(f"person {self.uid} did not finish in 60 steps; last {text!r}")


async def crowd(people_n: int, *, kills: int = 3, every: float = 12.0, patience: float = 60.0,
                think: float = 0.5, send_rate: str = "200") -> dict[str, Any]:
    """Run one crowd over the Zalo Bot stand-in (with kills) and return its figures."""
    folder = Path(tmpdir("crowd-zalo"))
    url = f"sqlite+aiosqlite:///{folder}/crowd.sqlite3"
    standin = CrowdZalo()
    await standin.start()
    bot, communes = await prepared(folder, url, {"ZALO_BOT_TOKEN": TOKEN, "ZALO_BOT_API_URL": standin.root},
                                   send_rate, "crowd-zalo")
    names = {c["name"]: c["code"] for c in communes}
    rng = random.Random(7)
    people = [Person(standin, f"zl{10_000 + n:x}", "child" if n % 2 else "resident",
                     communes[n % len(communes)]["code"], names, patience, think) for n in range(people_n)]
    await bot.start_ready(timeout=120)
    restarts: list[float] = []
    stop = asyncio.Event()
    began = time.monotonic()
    moments: list[float] = []
    killer = asyncio.create_task(chaos(bot, kills, every, restarts, stop, moments)) if kills else None
    try:
        await asyncio.gather(*(person.run(random.Random(rng.random())) for person in people))
        wall = time.monotonic() - began
        if killer:
            await killer  # the whole plan of kills is carried out, even when the crowd was faster
    finally:
        stop.set()
        if bot.running:
            await bot.terminate(timeout=60)
        await standin.stop()
    score = json.loads(await xtt_cli_async(bot.env, folder, "score", "--json"))
    waits = [w * 1000 for person in people for w in person.waits]
    typed = {mid for person in people for mid in person.typed}
    with closing(sqlite3.connect(folder / "crowd.sqlite3")) as db:
        inbox = dict(db.execute("SELECT key, status FROM inbox").fetchall())
    stored = {key.removeprefix("zalo_bot:") for key in inbox}
    return {"people": people_n, "finished": sum(p.finished for p in people),
            "unanswered": sum(p.unanswered for p in people), "sent": sum(p.updates for p in people),
            "repeated": sum(p.repeats for p in people), "kills": kills, "restart_s": [round(r, 1) for r in restarts],
            "score_matches": score_matches(score, people),
            "p50_ms": round(percentile(waits, 50)), "p99_ms": round(percentile(waits, 99)), "max_ms": round(max(waits)),
            "postgres": False, "seconds": round(wall), "not_polled": len(typed - standin.handed_ids),
            "polled_not_stored": len(standin.handed_ids - stored), "seen_dead_poll": len(standin.dead),
            "inbox_not_done": dict(Counter(v for v in inbox.values() if v != "done")),
            "think_s": think, "channel": "zalo_bot", "signals_while_typing": sum(t < began + wall for t in moments)}


async def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--people", type=int, default=300)
    p.add_argument("--kills", type=int, default=3)
    p.add_argument("--every", type=float, default=12.0, help="seconds between kills")
    p.add_argument("--patience", type=float, default=60.0, help="seconds a person waits before typing again")
    p.add_argument("--think", type=float, default=0.5, help="mean seconds a person reads before typing")
    p.add_argument("--send-rate", default="200", help="XTT_SEND_RATE for the run (the stand-in has no limit)")
    args = p.parse_args()
    r = await crowd(args.people, kills=args.kills, every=args.every, patience=args.patience,
                    think=args.think, send_rate=args.send_rate)
    line("typed, never handed out by getUpdates", r["not_polled"])
    line("handed out by getUpdates, not in the inbox", f"{r['polled_not_stored']} ({r['seen_dead_poll']} seen "
                                                        "going to a closed connection)")
    line("inbox rows not done", r["inbox_not_done"] or 0)
    report("crowd_zalo", r)


if __name__ == "__main__":
    asyncio.run(main())
