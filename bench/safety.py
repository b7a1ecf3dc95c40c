"""Safety screen: recall and false alarms per category and half of the corpus, and throughput, vs the old screen.

Three screens on the same messages: `xtt` (phrase patterns, then the trained scorer when no pattern fires),
`patterns` (the phrase patterns alone) and the baseline, the word-phrase screen the pattern screen replaced
(`bench/safety_baseline.py` with its own phrase list). Three sets: the corpus's dev half (the patterns were
tuned on it and the scorer is trained on it, so `xtt` there uses, for each message, a scorer trained on the
other four fifths: cross-validated for the scorer, fitted for the patterns), its held-out half, and the fresh
messages (`tests/data/safety_fresh.tsv`, written before the scorer existed, never trained or tuned on).
Throughput screens every corpus message --reps times per round, alternating xtt and the baseline, and reports
the median of the per-round ratios (rates are per second of the process's CPU time).

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
from conversations.safety_training import Settings, fit, folds, out_of_fold, threshold
from tests.support.safety_corpus import FRESH, Row, failures, read, score

Categories = Callable[[str], tuple[str, ...]]


def rate(categories: Categories, texts: list[str], reps: int) -> float:
    """Messages screened per second of this process's CPU time (less sensitive to a shared machine than wall time)."""
    start = time.process_time()
    for _ in range(reps):
        for text in texts:
            categories(text)
    return reps * len(texts) / (time.process_time() - start)


def cross_validated(patterns: Screen, dev: list[Row]) -> Categories:
    """The screen as `xtt safety train` builds it, each dev message judged by a scorer trained without its fold."""
    examples = [(r.label, r.text) for r in dev]
    settings = Settings()
    cut = threshold(examples, out_of_fold(patterns.speller, examples, settings), settings.false_alarms)
    where = folds(examples)
    screens = []
    for fold in range(max(where) + 1):
        scorer = fit(patterns.speller, [e for e, f in zip(examples, where, strict=True) if f != fold], settings)
        scorer.threshold = cut
        screens.append(patterns.with_scorer(scorer))
    judge = {r.text: screens[f] for r, f in zip(dev, where, strict=True)}
    return lambda text: judge[text].categories(text)


def main() -> None:
    """Print the figures and the RESULT line."""
    args = argparse.ArgumentParser()
    args.add_argument("--rounds", type=int, default=5)
    args.add_argument("--reps", type=int, default=3)
    args.add_argument("--failures", action="store_true")
    opts = args.parse_args()
    rows, fresh = read(), read(FRESH)
    xtt, baseline = Screen.load(), Baseline()
    patterns = xtt.with_scorer(None)
    dev = [r for r in rows if r.split == "dev"]
    screens = {"xtt": xtt.categories, "patterns": patterns.categories, "baseline": baseline.categories}
    figures: dict[str, dict] = {}
    for half, part in (("dev", dev), ("held", [r for r in rows if r.split == "held"]), ("fresh", fresh)):
        for name, categories in screens.items():
            scores = score(cross_validated(patterns, dev) if (half, name) == ("dev", "xtt") else categories, part)
            figures[f"{name}_{half}"] = {k: [s.flagged, s.total, s.right_category] for k, s in scores.items()}
            for label, s in scores.items():
                what = "false alarms" if label in ("none", "harmless") else "recall"
                line(f"{half} {name:<8} {label:<14} {what}",
                     f"{s.rate:6.1%}  ({s.flagged}/{s.total}, right category {s.right_category})")
    texts = [r.text for r in rows]
    ratios, speeds = [], {"xtt": [], "baseline": []}
    for _ in range(opts.rounds):
        for name in speeds:
            speeds[name].append(rate(screens[name], texts, opts.reps))
        ratios.append(speeds["xtt"][-1] / speeds["baseline"][-1])
    for name, values in speeds.items():
        line(f"throughput {name} (median msgs/s)", f"{statistics.median(values):,.0f}")
    ratio = statistics.median(ratios)
    line("throughput ratio xtt/baseline (median)", f"{ratio:.2f} ({min(ratios):.2f}-{max(ratios):.2f})")
    if opts.failures:
        for row, found in failures(screens["xtt"], dev):
            print(f"FAIL dev {row.label:<14} {found!s:<30} {row.text}")
    result("safety", {"figures": figures, "throughput_ratio": round(ratio, 3),
                      "xtt_msgs_per_s": round(statistics.median(speeds["xtt"])),
                      "baseline_msgs_per_s": round(statistics.median(speeds["baseline"]))})


if __name__ == "__main__":
    main()
