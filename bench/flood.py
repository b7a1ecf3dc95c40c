"""One person floods the bot while a crowd takes the survey: the others' wait for an answer, with and without.

Two crowds of N people over the Telegram stand-in (bench/crowd.py, no kills), run back to back: the first alone,
the second while one more person sends `--rate` messages a second for as long as the crowd runs. Reports each
run's p50 and p99 wait for an answer, the ratio of the p99s (target <= 2), and how many replies the flooder got
(slowed: the first burst, then a few a second, and one polite "too fast" notice).

    python -m bench.flood [--people 100] [--rate 50] [--reps 2]
"""

from __future__ import annotations

import argparse
import asyncio

from bench.common import line, median, result
from bench.crowd import crowd


async def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--people", type=int, default=100)
    p.add_argument("--rate", type=float, default=50.0)
    p.add_argument("--reps", type=int, default=2)
    args = p.parse_args()
    ratios, runs = [], []
    for rep in range(args.reps):
        quiet = await crowd(args.people, kills=0)
        flooded = await crowd(args.people, kills=0, flood=args.rate)
        ratios.append(flooded["p99_ms"] / max(1, quiet["p99_ms"]))
        runs.append((quiet, flooded))
        line(f"rep {rep + 1}: without a flood", f"p50 {quiet['p50_ms']} ms, p99 {quiet['p99_ms']} ms, "
             f"{quiet['finished']}/{quiet['people']} finished, {quiet['unanswered']} unanswered")
        line(f"rep {rep + 1}: one person at {args.rate:.0f}/s", f"p50 {flooded['p50_ms']} ms, p99 {flooded['p99_ms']} "
             f"ms, {flooded['finished']}/{flooded['people']} finished, {flooded['unanswered']} unanswered, "
             f"flooder got {flooded['flood_replies']} replies in {flooded['seconds']} s")
        line(f"rep {rep + 1}: p99 ratio flooded/quiet", f"{ratios[-1]:.2f}")
    line("p99 ratio (median)", f"{median(ratios):.2f}  (target <= 2)")
    result("flood", {"people": args.people, "rate": args.rate, "ratio": [round(r, 2) for r in ratios],
                     "ratio_median": round(median(ratios), 2),
                     "quiet_p99_ms": [q["p99_ms"] for q, _ in runs], "flood_p99_ms": [f["p99_ms"] for _, f in runs],
                     "flood_replies": [f["flood_replies"] for _, f in runs]})


if __name__ == "__main__":
    asyncio.run(main())
