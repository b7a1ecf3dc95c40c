"""The safety screen's second stage: a small trained scorer over a message's words, read from a data file."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from itertools import pairwise
from pathlib import Path

from conversations.datafile import DataFileError
from conversations.spelling import BOUNDARY, bare_of

MODEL = Path(__file__).parent / "data" / "safety_model.json"
NONE = "none"
FORMAT = 1


class ModelFileError(DataFileError):
    """The model file cannot be read; the message names the file and the fix."""


MIN_WORDS = 3  # the fewest distinct words a message needs for the scorer to judge it
MIN_KNOWN = 2  # the fewest of them the model must know


@dataclass(frozen=True, slots=True)
class Score:
    """The scorer's view of one message: how likely it is a disclosure, and its most likely category."""

    category: str
    probability: float


def features(keys: list[str]) -> list[str]:
    """A message's features: its words as if typed without accents (teen spelling expanded), and neighbouring pairs.

    Accented forms were tried as extra features and lowered cross-validated recall: half the messages have none.
    """
    bare = [bare_of(k) if k != BOUNDARY else BOUNDARY for k in keys]
    out = {"w:" + w for w in bare if w != BOUNDARY}
    out |= {f"b:{a}_{b}" for a, b in pairwise(bare) if BOUNDARY not in (a, b)}
    return sorted(out)


class Scorer:
    """Multinomial logistic regression over `features`: one weight per feature and class, 'none' among the classes."""

    def __init__(self, labels: tuple[str, ...], bias: list[float], weights: dict[str, list[float]],
                 threshold: float, veto: float = 0.0, sure: float = 1.0) -> None:
        # threshold: the confidence above which it flags what no pattern matched; veto: the confidence below which it
        # overrules the patterns (0: never); sure: the confidence above which it overrules negative contexts (1: never)
        self.labels, self.bias, self.weights, self.threshold = labels, bias, weights, threshold
        self.veto, self.sure = veto, sure
        self._none = labels.index(NONE)

    @classmethod
    def load(cls, path: Path = MODEL) -> Scorer:
        """Read a model file written by `xtt safety train`."""
        try:
            doc = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise ModelFileError(f"{path.name}: cannot be read ({exc}); retrain it with `xtt safety train`") from exc
        if not isinstance(doc, dict) or doc.get("format") != FORMAT:
            raise ModelFileError(f"{path.name}: not a safety model of format {FORMAT}; retrain with `xtt safety train`")
        labels = tuple(doc["labels"])
        if NONE not in labels or len(doc["bias"]) != len(labels):
            raise ModelFileError(f"{path.name}: labels and weights disagree; retrain with `xtt safety train`")
        return cls(labels, doc["bias"], doc["weights"], float(doc["threshold"]), float(doc.get("veto", 0.0)),
                   float(doc.get("sure", 1.0)))

    def document(self, extra: dict | None = None) -> dict:
        """The model as the JSON document `load` reads (weights rounded: the file stays small)."""
        return {"format": FORMAT, "threshold": self.threshold, "veto": self.veto, "sure": self.sure,
                "labels": list(self.labels),
                **(extra or {}),
                "bias": [round(b, 4) for b in self.bias],
                "weights": {f: [round(w, 4) for w in ws] for f, ws in sorted(self.weights.items())}}

    def probabilities(self, feats: list[str]) -> list[float]:
        """Each class's probability for these features."""
        z = list(self.bias)
        for f in feats:
            ws = self.weights.get(f)
            if ws is not None:
                for i, w in enumerate(ws):
                    z[i] += w
        top = max(z)
        e = [math.exp(v - top) for v in z]
        total = sum(e)
        return [v / total for v in e]

    def score(self, keys: list[str]) -> Score:
        """How likely a message (the Speller's keys) is a disclosure, and its likeliest category.

        The likelihood is P(category) / (P(category) + P(none)) for the likeliest category: a message spread thinly
        over eleven categories (words common in every kind of disclosure, "tử tế với mọi người") is not thereby
        confident, as it was with 1 - P(none); chosen on the dev half's cross-validation (recall at 2%, 3% and 4%
        false alarms: 66%, 71%, 74% against 62%, 65%, 70% for 1 - P(none)).

        A message with fewer than MIN_WORDS words, or fewer than MIN_KNOWN words the model has weights for, scores
        0: with little evidence the answer would be the training corpus's prior, and that corpus is half disclosures
        ("5" typed at a question once scored 0.85).
        """
        feats = features(keys)
        words = [f for f in feats if f.startswith("w:")]
        if len(words) < MIN_WORDS or sum(f in self.weights for f in words) < MIN_KNOWN:
            return Score("", 0.0)
        p = self.probabilities(feats)
        best = max((i for i in range(len(p)) if i != self._none), key=p.__getitem__)
        return Score(self.labels[best], p[best] / (p[best] + p[self._none]))
