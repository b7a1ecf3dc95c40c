"""Time from spawning `python -m bot run` until GET /healthz answers 200, against a baseline spawn.

xtt runs with Telegram pointed at a TelegramStandin served by this process and WEB_PORT set, so the web
server starts and /healthz turns 200 once the channel polls. Polled every 5 ms. Repeated --runs times on
an existing database (a restart) and on a fresh one (first start: migrations and the commune seed);
baseline spawns in the same run: `python -c "import telegram, sqlalchemy, aiohttp"` and `python -c pass`.
One extra run with PYTHONPROFILEIMPORTTIME=1 tells which imports take the time, and the stand-in's call
times split the start into phases.

    python -m bench.startup [--runs 5]
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import aiohttp

from bench.common import ROOT, env_for, line, median, product, result, shutdown, spread, tmpdir
from tests.support.telegram_standin import TelegramStandin

TOKEN = "123:ABC"


class StampStandin(TelegramStandin):
    """The stand-in, remembering when each Bot API method was first called."""

    def __init__(self, token: str) -> None:
        super().__init__(token)
        self.first: dict[str, float] = {}

    async def _handle(self, request):  # type: ignore[no-untyped-def]
        self.first.setdefault(request.match_info["method"], time.perf_counter())
        return await super()._handle(request)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


async def spawn_baseline(code: str) -> float:
    """Seconds to run `python -c code` to the end."""
    t0 = time.perf_counter()
    proc = await asyncio.create_subprocess_exec(sys.executable, "-c", code, stdin=subprocess.DEVNULL)
    await proc.wait()
    if proc.returncode:
        raise RuntimeError(f"baseline {code!r} failed")
    return time.perf_counter() - t0


async def start_xtt(folder: str, extra_env: dict[str, str] | None = None) -> dict:
    """Spawn xtt, wait for /healthz 200, stop it; return timings (seconds)."""
    standin = StampStandin(TOKEN)
    await standin.start()
    port = free_port()
    env = {**os.environ, **env_for(folder), "TELEGRAM_BOT_TOKEN": TOKEN, "TELEGRAM_API_URL": standin.root,
           "WEB_HOST": "127.0.0.1", "WEB_PORT": str(port), "PYTHONPATH": str(ROOT), **(extra_env or {})}
    log = open(f"{folder}/xtt-{port}.log", "w")  # noqa: SIM115 - closed in the finally below
    url = f"http://127.0.0.1:{port}/healthz"
    try:
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=2)) as http:
            t0 = time.perf_counter()
            proc = subprocess.Popen([sys.executable, "-m", "bot", "run"], env=env, cwd=folder,
                                    stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT)
            first_answer = None
            while True:
                if proc.poll() is not None:
                    raise RuntimeError(f"xtt exited with {proc.returncode}; see {log.name}")
                if time.perf_counter() - t0 > 30:
                    proc.kill()
                    raise RuntimeError(f"xtt not healthy within 30 s; see {log.name}")
                try:
                    async with http.get(url) as response:
                        first_answer = first_answer or time.perf_counter()
                        if response.status == 200:
                            break
                except (TimeoutError, aiohttp.ClientError, OSError):
                    pass
                await asyncio.sleep(0.005)
            ready = time.perf_counter()
            s0 = time.perf_counter()
            proc.send_signal(signal.SIGTERM)
            while proc.poll() is None and time.perf_counter() - s0 < 10:
                await asyncio.sleep(0.005)
            stopped = time.perf_counter() - s0
            if proc.poll() is None:
                proc.kill()
    finally:
        log.close()
        await standin.stop()
    stamps = {k: v - t0 for k, v in standin.first.items()}
    return {"ready": ready - t0, "web_up": (first_answer or ready) - t0, "stop": stopped,
            "first_api_call": min(stamps.values(), default=float("nan")),
            "first_getUpdates": stamps.get("getUpdates", float("nan")), "log": log.name}


def import_report(log: str, top: int = 14) -> tuple[float, list[tuple[float, str]]]:
    """Total import seconds and the packages whose modules took the most (self time summed per package)."""
    total, per_package = 0.0, {}
    for text in Path(log).read_text().splitlines():
        m = re.match(r"import time:\s+(\d+) \|\s+(\d+) \|( *)(\S+)", text)
        if m:
            own = int(m.group(1)) / 1e6
            total += own
            root = m.group(4).split(".")[0]
            per_package[root] = per_package.get(root, 0.0) + own
    return total, sorted(((v, k) for k, v in per_package.items()), reverse=True)[:top]


async def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--runs", type=int, default=5)
    args = p.parse_args()
    # xtt is stopped while its getUpdates long poll is open; the stand-in's server would log the reset
    logging.getLogger("aiohttp.server").setLevel(logging.CRITICAL)

    folder = tmpdir("startup")
    parts, service = await product(folder)
    await shutdown(parts, service)
    await spawn_baseline("pass")  # warm the file cache for everyone alike
    await spawn_baseline("import telegram, sqlalchemy, aiohttp")
    await start_xtt(folder)

    warm, fresh, base_imports, base_pass = [], [], [], []
    for _ in range(args.runs):
        base_pass.append(await spawn_baseline("pass"))
        base_imports.append(await spawn_baseline("import telegram, sqlalchemy, aiohttp"))
        warm.append(await start_xtt(folder))
        new = tmpdir("startup-fresh")
        fresh.append(await start_xtt(new))
    ms = lambda xs: [1000 * x for x in xs]  # noqa: E731
    line("baseline python -c pass (ms)", spread(ms(base_pass)))
    line("baseline import telegram,sqlalchemy,aiohttp", spread(ms(base_imports)))
    line("xtt restart to /healthz 200 (ms)", spread(ms([r["ready"] for r in warm])) + "  (target <= 1,500)")
    line("xtt first start, new database (ms)", spread(ms([r["ready"] for r in fresh])))
    ratio = median([r["ready"] for r in warm]) / median(base_imports)
    line("ratio restart / import baseline", f"{ratio:.2f}")
    phases = {k: median([r[k] for r in warm]) * 1000 for k in ("first_api_call", "web_up", "first_getUpdates",
                                                                 "ready", "stop")}
    line("restart phases (median ms)", f"first Bot API call (imports + database) {phases['first_api_call']:.0f}; "
         f"/healthz answers {phases['web_up']:.0f}; polling {phases['first_getUpdates']:.0f}; "
         f"ready {phases['ready']:.0f}; SIGTERM to exit {phases['stop']:.0f}")
    profiled = await start_xtt(folder, {"PYTHONPROFILEIMPORTTIME": "1"})
    total, top = import_report(profiled["log"])
    line("imports of a restart (-X importtime, ms)", f"{1000 * total:.0f} in all; by package (self time):")
    for seconds, name in top:
        print(f"    {1000 * seconds:7.0f}  {name}")
    result("startup", {"runs": args.runs,
                       "restart_ms_median": round(median([r["ready"] for r in warm]) * 1000),
                       "restart_ms": [round(r["ready"] * 1000) for r in warm],
                       "first_start_ms_median": round(median([r["ready"] for r in fresh]) * 1000),
                       "baseline_imports_ms_median": round(median(base_imports) * 1000),
                       "baseline_pass_ms_median": round(median(base_pass) * 1000),
                       "ratio_restart_to_imports": round(ratio, 2),
                       "phases_ms": {k: round(v) for k, v in phases.items()},
                       "imports_ms": round(total * 1000),
                       "slowest_imports_ms": {n: round(s * 1000) for s, n in top[:8]}})


if __name__ == "__main__":
    asyncio.run(main())
