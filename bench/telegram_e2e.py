"""Answers per second through the real Telegram channel, against a bare PTB bot on the same stand-in.

Both bots run as subprocesses polling their own TelegramStandin (served by this process, which also plays
the respondents): xtt is `python -m bot run` with TELEGRAM_API_URL pointed at its stand-in; the baseline
is bench/bare_ptb_bot.py (answerCallbackQuery + one sendMessage with 6 buttons per tap, no logic, no
database). Each rep takes new respondents through the xtt onboarding (untimed), then R respondents answer
12 questions each, concurrently: tap a button (standin.push_callback), wait for the next message with
buttons, tap again. The bots alternate, --reps times each, and the ratio is xtt/bare per rep.

Both bots use HTTP pools of the same size: the bench builds xtt's TelegramChannel, reads the sizes of
the two pools PTB gave it (Bot API calls; getUpdates) and pins the bare bot to them. `--pool N` is a
what-if that pins both bots' Bot API pool to N (xtt through bench/pinned_bot.py, which patches PTB's
ApplicationBuilder in the bot's process; the product's files are not changed).

    python -m bench.telegram_e2e [--respondents 50] [--reps 6] [--pool N] [--profile]
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

from bench.common import ROOT, env_for, line, median, percentile, pick, product, result, shutdown, spread, tmpdir
from tests.support.telegram_standin import SentMessage, TelegramStandin

QUESTIONS = 12
# PTB's HTTP pool (httpx, 256 connections by default) is bistable under this load: a bot that opened ~50
# connections spends about twice the CPU per Bot API call as one that works with ~12, whichever bot it is.
FEW = 20
WARM_TAPS = 5  # untimed taps before the timed answers (xtt's onboarding takes 5 or 6)
TOKEN = "123:ABC"
TICK = os.sysconf("SC_CLK_TCK")


class BenchStandin(TelegramStandin):
    """The stand-in, with a per-chat wait for the next message with buttons.

    TelegramStandin.wait_sent wakes every waiter on every message and rescans all sent messages, which costs
    O(waiters x messages) in this process; this override keeps the stand-in's side cheap and constant."""

    def __init__(self, token: str) -> None:
        super().__init__(token)
        self.waiting: dict[int, asyncio.Future[SentMessage]] = {}
        self.peers: set[int] = set()  # client ports seen: how many connections the bot's HTTP pool used

    async def _handle(self, request):  # type: ignore[no-untyped-def]
        if request.transport is not None:
            self.peers.add(request.transport.get_extra_info("peername")[1])
        return await super()._handle(request)

    async def _record(self, sent: SentMessage) -> None:
        self._sent.append(sent)
        if sent.buttons:
            waiter = self.waiting.pop(sent.chat_id, None)
            if waiter is not None and not waiter.done():
                waiter.set_result(sent)

    def expect(self, chat_id: int) -> asyncio.Future[SentMessage]:
        """A future for the next message with buttons to `chat_id`; create it before pushing the update."""
        future = asyncio.get_running_loop().create_future()
        self.waiting[chat_id] = future
        return future


def cpu_of(pid: int) -> float:
    """User + system CPU seconds of a process."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK


def own_cpu() -> float:
    t = os.times()
    return t.user + t.system


class Bot:
    """A bot subprocess polling its own stand-in."""

    def __init__(self, name: str, argv: list[str], env: dict[str, str], cwd: str, log: str) -> None:
        self.name, self.argv, self.env, self.cwd, self.log = name, argv, env, cwd, log
        self.standin = BenchStandin(TOKEN)
        self.proc: subprocess.Popen | None = None

    async def start(self) -> None:
        await self.standin.start()
        env = {**os.environ, **self.env, "PYTHONPATH": str(ROOT)}
        env = {k: v.replace("@ROOT", self.standin.root) for k, v in env.items()}
        with open(self.log, "w") as log:  # the child keeps its own descriptor
            self.proc = subprocess.Popen(self.argv, env=env, cwd=self.cwd, stdin=subprocess.DEVNULL,
                                         stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 30
        while not self.standin.calls_of("getUpdates"):
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"{self.name} did not start; see {self.log}:\n{Path(self.log).read_text()[-3000:]}")
            await asyncio.sleep(0.05)

    async def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            for _ in range(100):
                if self.proc.poll() is not None:
                    break
                await asyncio.sleep(0.05)
            else:
                self.proc.kill()
                self.proc.wait()
        await self.standin.stop()

    async def say(self, uid: int, text: str) -> SentMessage:
        waiter = self.standin.expect(uid)
        await self.standin.push_message(uid, text)
        return await asyncio.wait_for(waiter, 30)

    async def tap(self, uid: int, data: str) -> SentMessage:
        waiter = self.standin.expect(uid)
        await self.standin.push_callback(uid, data)
        return await asyncio.wait_for(waiter, 30)


def product_pools() -> tuple[int, int]:
    """The sizes of the HTTP pools of xtt's TelegramChannel: (Bot API calls, getUpdates).

    Read from the PTB Bot it builds (PTB keeps its requests as (getUpdates, the rest)); when the channel polls
    getUpdates itself instead of through PTB's Application, that is one request at a time: 1."""
    from bot.channels.telegram import TelegramChannel

    async def nothing(*_: object) -> None:
        return None

    channel = TelegramChannel(TOKEN, "http://127.0.0.1:9", nothing)
    app = getattr(channel, "app", None)
    updates, calls = (app.bot if app is not None else channel.bot)._request

    def size(request: object) -> int:
        return request._client_kwargs["limits"].max_connections  # type: ignore[attr-defined]

    return size(calls), size(updates) if app is not None else 1


def is_question(msg: SentMessage) -> bool:
    return any((d or "").endswith(":very_satisfied") or (d or "").endswith(":o0") for _, d in msg.buttons)


def choose(msg: SentMessage, role: str, rng: random.Random) -> str:
    """What the scripted respondent taps on a message."""
    ids = [d for _, d in msg.buttons if d]
    hit = [i for i in ids if role and i.endswith(f":{role}")]
    if hit:
        return hit[0]
    return pick(ids, rng if is_question(msg) else None)


async def run_rep(bot: Bot, uids: list[int]) -> dict:
    """Onboard (untimed), then every respondent answers 12 questions at once."""
    last: dict[int, SentMessage] = {}
    rng = random.Random(uids[0])

    async def onboard(uid: int) -> None:
        role = "child" if uid % 2 else "resident"
        msg = await bot.say(uid, "/start")
        for k in range(12):
            if is_question(msg) and k >= WARM_TAPS:  # the bare bot gets as many untimed taps as xtt's onboarding
                last[uid] = msg
                return
            msg = await bot.tap(uid, choose(msg, role, rng))
        raise RuntimeError(f"{bot.name}: respondent {uid} did not reach a question; last {msg}")

    await asyncio.gather(*(onboard(u) for u in uids))
    latencies: list[float] = []
    bad = 0

    async def answer(uid: int) -> None:
        nonlocal bad
        msg = last[uid]
        for k in range(QUESTIONS):
            t0 = time.perf_counter()
            msg = await bot.tap(uid, choose(msg, "", rng))
            latencies.append(time.perf_counter() - t0)
            bad += not (is_question(msg) or k == QUESTIONS - 1)

    assert bot.proc is not None
    bot.standin.peers.clear()
    c_bot, c_me, t0 = cpu_of(bot.proc.pid), own_cpu(), time.perf_counter()
    await asyncio.gather(*(answer(u) for u in uids))
    wall = time.perf_counter() - t0
    answers = len(uids) * QUESTIONS
    ms = [x * 1000 for x in latencies]
    return {"answers": answers, "seconds": wall, "rate": answers / wall, "p50_ms": percentile(ms, 50),
            "p99_ms": percentile(ms, 99), "bot_cpu_ms_per_answer": 1000 * (cpu_of(bot.proc.pid) - c_bot) / answers,
            "standin_cpu_ms_per_answer": 1000 * (own_cpu() - c_me) / answers, "bad": bad,
            "connections": len(bot.standin.peers)}


async def profile_rep(bot: Bot, uids: list[int], out: str) -> dict:
    """One more rep with py-spy sampling the bot process (all threads, only samples holding the GIL)."""
    assert bot.proc is not None
    spy = subprocess.Popen([str(Path(sys.executable).with_name("py-spy")), "record", "-p", str(bot.proc.pid),
                            "-r", "250", "--threads", "-f", "raw", "-o", out, "--gil", "--nonblocking"],
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    await asyncio.sleep(1.0)
    figures = await run_rep(bot, uids)
    spy.send_signal(signal.SIGINT)
    spy.wait(timeout=30)
    return figures


def categories(raw: str) -> list[tuple[float, str]]:
    """Share of GIL-holding samples of a py-spy raw file by what the stack is doing.

    Stacks that SQLAlchemy's greenlets (or py-spy) cut short cannot be placed; they are counted apart."""
    shares: dict[str, int] = {}
    total = 0
    for text in Path(raw).read_text().splitlines():
        stack, _, n = text.rpartition(" ")
        names = [f.split(" (")[0] for f in stack.split(";")]
        if "Updater._network_loop_retry" in names or "Bot.get_updates" in names:
            kind = "PTB polling (getUpdates, de_json)"
        elif "Service._process" in names:
            kind = "xtt Service._process (load_state, engine, statements, commit wait)"
        elif "Bot._post" in names:
            kind = "PTB/httpx Bot API calls (answerCallbackQuery, sendMessage)"
        elif "Thread._bootstrap" in names:
            kind = "other threads (aiosqlite workers: Python side; SQLite itself runs without the GIL)"
        elif "_run_code" not in names:
            kind = "stack cut by a greenlet switch (mostly SQLAlchemy statement execution)"
        else:
            kind = "event loop, PTB dispatch and the rest"
        shares[kind] = shares.get(kind, 0) + int(n)
        total += int(n)
    return sorted(((v / total, k) for k, v in shares.items()), reverse=True)


async def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--respondents", type=int, default=50)
    p.add_argument("--reps", type=int, default=6)
    p.add_argument("--pool", type=int, default=0,
                   help="what-if: pin both bots' Bot API HTTP pool to N connections (default: xtt's own size)")
    p.add_argument("--profile", action="store_true", help="py-spy the xtt process during one extra rep")
    args = p.parse_args()
    logging.getLogger("aiohttp.server").setLevel(logging.CRITICAL)  # resets when the bots stop polling

    if args.profile:
        os.environ["BENCH_KEEP"] = "1"  # keep the py-spy samples and logs it points to
    folder = tmpdir("e2e")
    parts, service = await product(folder)  # migrate, seed the communes and open the round
    await shutdown(parts, service)
    calls_pool, updates_pool = product_pools()
    pool = args.pool or calls_pool
    why = f"(what-if --pool; xtt's own: {calls_pool})" if args.pool else "(xtt's TelegramChannel; bare pinned to it)"
    line("HTTP pools, both bots", f"{pool} connections for Bot API calls, {updates_pool} for getUpdates {why}")
    xtt_env = {**env_for(folder), "TELEGRAM_BOT_TOKEN": TOKEN, "TELEGRAM_API_URL": "@ROOT"}
    xtt_argv = [sys.executable, "-m", "bot", "run"]
    if args.pool:
        xtt_env["BENCH_POOL"] = str(args.pool)
        xtt_argv = [sys.executable, "-m", "bench.pinned_bot"]
    xtt = Bot("xtt", xtt_argv, xtt_env, folder, f"{folder}/xtt.log")
    bare = Bot("bare", [sys.executable, "-m", "bench.bare_ptb_bot"],
               {"BARE_TOKEN": TOKEN, "BARE_API_URL": "@ROOT", "BARE_POOL": str(pool),
                "BARE_UPDATES_POOL": str(updates_pool)}, str(ROOT), f"{folder}/bare.log")
    figures: dict[str, list[dict]] = {"xtt": [], "bare": []}
    ratios = []
    try:
        t0 = time.perf_counter()
        await asyncio.gather(xtt.start(), bare.start())
        line("both bots polling after", f"{time.perf_counter() - t0:.2f} s")
        for rep in range(args.reps):
            order = (bare, xtt) if rep % 2 == 0 else (xtt, bare)
            for bot in order:
                base = 100_000 * (rep + 1) + (50_000 if bot is xtt else 0)
                r = await run_rep(bot, list(range(base, base + args.respondents)))
                figures[bot.name].append(r)
                line(f"rep {rep + 1}: {bot.name}", f"{r['rate']:,.0f} answers/s "
                     f"({r['answers']} in {r['seconds']:.2f} s; "
                     f"latency p50 {r['p50_ms']:.1f} ms, p99 {r['p99_ms']:.1f} ms; bot CPU "
                     f"{r['bot_cpu_ms_per_answer']:.2f} ms/answer, stand-in {r['standin_cpu_ms_per_answer']:.2f}; "
                     f"{r['connections']} HTTP connections; bad {r['bad']})")
            ratios.append(figures["xtt"][-1]["rate"] / figures["bare"][-1]["rate"])
            line(f"rep {rep + 1}: ratio xtt/bare", f"{ratios[-1]:.3f}")
        if args.profile:
            raw = f"{folder}/xtt.pyspy.raw"
            base = 900_000
            r = await profile_rep(xtt, list(range(base, base + args.respondents)), raw)
            line("profiled xtt rep (py-spy attached)", f"{r['rate']:,.0f} answers/s; raw samples in {raw}")
            for share, name in categories(raw):
                print(f"  {share:6.1%}  {name}")
    finally:
        await asyncio.gather(xtt.stop(), bare.stop())
    log_lines = len(Path(xtt.log).read_text().splitlines())
    for name in ("xtt", "bare"):
        line(f"{name} answers/s (median)", spread([r["rate"] for r in figures[name]]))
    line("ratio xtt/bare (median of reps)", f"{median(ratios):.3f} (min {min(ratios):.3f}, max {max(ratios):.3f}, "
         f"n={len(ratios)})  (target >= 0.8)")
    cpu_x = median([r["bot_cpu_ms_per_answer"] for r in figures["xtt"]])
    cpu_b = median([r["bot_cpu_ms_per_answer"] for r in figures["bare"]])
    line("bot process CPU per answer xtt / bare", f"{cpu_x:.2f} / {cpu_b:.2f} ms (xtt's own share "
         f"~{cpu_x - cpu_b:.2f} ms)")
    few = {n: [r["bot_cpu_ms_per_answer"] for r in figures[n] if r["connections"] <= FEW] for n in figures}
    like = round(median(few["bare"]) / median(few["xtt"]), 3) if few["bare"] and few["xtt"] else None
    line(f"like for like (reps with <= {FEW} connections)", "no such reps for both bots" if like is None else
         f"bot CPU/answer xtt {median(few['xtt']):.2f} ms (n={len(few['xtt'])}) vs bare {median(few['bare']):.2f} ms "
         f"(n={len(few['bare'])}): CPU-bound ratio bare/xtt {like:.3f}")
    line("xtt log lines written", f"{log_lines} (INFO level with a channel configured)")
    result("telegram_e2e", {
        "respondents": args.respondents, "answers_per_rep": args.respondents * QUESTIONS,
        "xtt_per_s": [round(r["rate"]) for r in figures["xtt"]],
        "bare_per_s": [round(r["rate"]) for r in figures["bare"]],
        "pool": pool, "updates_pool": updates_pool, "pool_what_if": bool(args.pool),
        "connections_xtt": [r["connections"] for r in figures["xtt"]],
        "connections_bare": [r["connections"] for r in figures["bare"]],
        "ratio": [round(x, 3) for x in ratios], "ratio_median": round(median(ratios), 3),
        "ratio_min": round(min(ratios), 3), "ratio_max": round(max(ratios), 3),
        "xtt_per_s_median": round(median([r["rate"] for r in figures["xtt"]])),
        "bare_per_s_median": round(median([r["rate"] for r in figures["bare"]])),
        "xtt_p99_ms_median": round(median([r["p99_ms"] for r in figures["xtt"]]), 1),
        "bare_p99_ms_median": round(median([r["p99_ms"] for r in figures["bare"]]), 1),
        "xtt_bot_cpu_ms_per_answer": round(median([r["bot_cpu_ms_per_answer"] for r in figures["xtt"]]), 2),
        "bare_bot_cpu_ms_per_answer": round(median([r["bot_cpu_ms_per_answer"] for r in figures["bare"]]), 2),
        "like_for_like_cpu_ratio": like, "xtt_log_lines": log_lines})


if __name__ == "__main__":
    asyncio.run(main())
