"""Safety screen: recall and false alarms per category and half of the corpus, and throughput, vs the old screen.

The baseline is the word-phrase screen the pattern screen replaced (`bench/safety_baseline.py` with its own
phrase list), measured in the same run on the same messages. Throughput screens every corpus message
--reps times per round, alternating new and old, and reports the median of the per-round ratios
(rates are per second of the process's CPU time).

    python -m bench.safety [--rounds 5] [--reps 3] [--failures]

--failures prints the dev half's misses and false alarms (never the held half's: tune on dev only).
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable

from bench.common import line, result
from bench.safety_baseline import Baseline
from conversations.safety import Screen
from tests.support.safety_corpus import failures, read, score


def rate(categories: Callable[[str], tuple[str, ...]], texts: list[str], reps: int) -> float:
    """Messages screened per second of this process's CPU time (less sensitive to a shared machine than wall time)."""
    start = time.process_time()
    for _ in range(reps):
        for text in texts:
            categories(text)
    return reps * len(texts) / (time.process_time() - start)


def main() -> None:
    """Print the figures and the RESULT line."""
    args = argparse.ArgumentParser()
    args.add_argument("--rounds", type=int, default=5)
    args.add_argument("--reps", type=int, default=3)
    args.add_argument("--failures", action="store_true")
    opts = args.parse_args()
    rows = read()
    screens = {"xtt": Screen.load().categories, "baseline": Baseline().categories}
    figures: dict[str, dict] = {}
    for half in ("dev", "held"):
        part = [r for r in rows if r.split == half]
        for name, categories in screens.items():
            scores = score(categories, part)
            figures[f"{name}_{half}"] = {k: [s.flagged, s.total, s.right_category] for k, s in scores.items()}
            for label, s in scores.items():
                what = "false alarms" if label in ("none", "harmless") else "recall"
                line(f"{half} {name:<8} {label:<14} {what}",
                     f"{s.rate:6.1%}  ({s.flagged}/{s.total}, right category {s.right_category})")
    texts = [r.text for r in rows]
    ratios, speeds = [], {"xtt": [], "baseline": []}
    for _ in range(opts.rounds):
        for name, categories in screens.items():
            speeds[name].append(rate(categories, texts, opts.reps))
        ratios.append(speeds["xtt"][-1] / speeds["baseline"][-1])
    for name, values in speeds.items():
        line(f"throughput {name} (median msgs/s)", f"{statistics.median(values):,.0f}")
    ratio = statistics.median(ratios)
    line("throughput ratio xtt/baseline (median)", f"{ratio:.2f} ({min(ratios):.2f}-{max(ratios):.2f})")
    if opts.failures:
        for row, found in failures(screens["xtt"], [r for r in rows if r.split == "dev"]):
            print(f"FAIL dev {row.label:<14} {found!s:<30} {row.text}")
    result("safety", {"figures": figures, "throughput_ratio": round(ratio, 3),
                      "xtt_msgs_per_s": round(statistics.median(speeds["xtt"])),
                      "baseline_msgs_per_s": round(statistics.median(speeds["baseline"]))})


if __name__ == "__main__":
    main()
