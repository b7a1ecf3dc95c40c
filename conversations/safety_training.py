"""Training the safety scorer on labelled messages, and choosing its threshold by cross-validation."""

from __future__ import annotations

import math
import random
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from conversations.safety_model import NONE, Scorer, features
from conversations.spelling import Speller

FOLDS = 5
SEED = 13


@dataclass(frozen=True, slots=True)
class Settings:
    """How the scorer is fitted: epochs of AdaGrad, its step, L2 strength, and the false alarms the threshold allows."""

    epochs: int = 20
    rate: float = 0.3
    l2: float = 1e-3  # chosen on the dev half's cross-validation (1e-4 before the third fresh batch)
    false_alarms: float = 0.02
    # Below this confidence the scorer overrules a pattern match. Chosen on the dev halves of the eighth to eleventh
    # fresh batches, before their tuning and unseen by the scorer: at 0.002 it dropped 9 of 37 false alarms and 1 of
    # 299 disclosures the patterns matched (0.005: 11 and 4; 0.02: 20 and 10).
    veto: float = 0.002
    # Above this confidence the scorer overrules negative contexts, also where they quieted every pattern match.
    # Chosen on the same four dev halves, the screen as it was before their tuning: at 0.99, 7 more of 400 disclosures
    # for 1 more false alarm of 400 (0.95: 8 and 2; 0.9: 9 and 2); on the dev half cross-validated it costs 2 false
    # alarms of 1,310 (0.95: 9; 0.9: 12), the negatives having been written for those very messages.
    sure: float = 0.99


Example = tuple[str, str]  # (label, text)


def fit(speller: Speller, examples: Sequence[Example], settings: Settings = Settings()) -> Scorer:
    """A scorer fitted to the examples (threshold 0.5 until one is chosen); deterministic for the same input."""
    labels = tuple(sorted({label for label, _ in examples} | {NONE}))
    index = {label: i for i, label in enumerate(labels)}
    data = [(features(speller.keys(text)), index[label]) for label, text in examples]
    n = len(labels)
    scorer = Scorer(labels, [0.0] * n, {}, 0.5, settings.veto, settings.sure)
    weights, bias = scorer.weights, scorer.bias
    squares: dict[str, list[float]] = {}
    bias_squares = [1e-8] * n
    order = list(range(len(data)))
    shuffle = random.Random(SEED).shuffle
    for _ in range(settings.epochs):
        shuffle(order)
        for i in order:
            feats, y = data[i]
            p = scorer.probabilities(feats)
            p[y] -= 1.0
            for k in range(n):
                bias_squares[k] += p[k] * p[k]
                bias[k] -= settings.rate * p[k] / math.sqrt(bias_squares[k])
            for f in feats:
                w = weights.setdefault(f, [0.0] * n)
                g2 = squares.setdefault(f, [1e-8] * n)
                for k in range(n):
                    g = p[k] + settings.l2 * w[k]
                    g2[k] += g * g
                    w[k] -= settings.rate * g / math.sqrt(g2[k])
    for f in [f for f, ws in weights.items() if max(abs(w) for w in ws) < 0.01]:
        del weights[f]
    return scorer


def folds(examples: Sequence[Example], k: int = FOLDS) -> list[int]:
    """Each example's fold, stratified by label and deterministic: the i-th example of a label goes to fold i mod k."""
    seen: dict[str, int] = {}
    out = []
    for label, _ in examples:
        out.append(seen.get(label, 0) % k)
        seen[label] = seen.get(label, 0) + 1
    return out


def out_of_fold(speller: Speller, examples: Sequence[Example], settings: Settings = Settings(),
                k: int = FOLDS) -> list[tuple[str, float]]:
    """Every example scored by a scorer fitted without its fold: (likeliest category, probability of disclosure)."""
    where = folds(examples, k)
    scores: list[tuple[str, float]] = [("", 0.0)] * len(examples)
    for fold in range(k):
        scorer = fit(speller, [e for e, f in zip(examples, where, strict=True) if f != fold], settings)
        for i, (e, f) in enumerate(zip(examples, where, strict=True)):
            if f == fold:
                s = scorer.score(speller.keys(e[1]))
                scores[i] = (s.category, s.probability)
    return scores


def threshold(examples: Sequence[Example], scores: Sequence[tuple[str, float]], false_alarms: float) -> float:
    """The lowest threshold at which at most `false_alarms` of the harmless examples score above it."""
    harmless = sorted((p for (label, _), (_, p) in zip(examples, scores, strict=True) if label == NONE), reverse=True)
    allowed = int(false_alarms * len(harmless))
    return round(harmless[allowed] + 1e-4, 4) if allowed < len(harmless) else 0.5


def train(speller: Speller, examples: Sequence[Example], settings: Settings = Settings()) -> Scorer:
    """A scorer fitted to all the examples, its threshold chosen on their out-of-fold scores."""
    scores = out_of_fold(speller, examples, settings)
    scorer = fit(speller, examples, settings)
    scorer.threshold = threshold(examples, scores, settings.false_alarms)
    return scorer


def read_dev(path: Path) -> list[Example]:
    """The development half of a corpus file (label<TAB>dev|held<TAB>text; '#' comments): what training may see."""
    out = []
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip() or line.startswith("#"):
            continue
        parts = line.split("\t")
        if len(parts) != 3 or parts[1] not in ("dev", "held"):
            raise ValueError(f"{path.name}:{n}: want label<TAB>dev|held<TAB>text")
        if parts[1] == "dev":
            out.append((parts[0], parts[2]))
    return out
