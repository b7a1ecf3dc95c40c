"""Screening free text for signals of abuse or danger, written the way children write; the patterns are a data file."""

from __future__ import annotations

import copy
import functools
import re
from bisect import bisect_left
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from conversations.datafile import read_toml
from conversations.safety_model import MODEL, Scorer
from conversations.signals import COMMON_BARE, Pattern, SignalFileError, read_signals
from conversations.spelling import Speller, bare_of

SIGNALS = Path(__file__).parent / "data" / "safety_signals.toml"


@dataclass(frozen=True, slots=True)
class Check:
    """What the screen found in one message: the categories and the patterns that fired."""

    categories: tuple[str, ...]
    matched: tuple[str, ...]


class Screen:
    """Finds signal patterns in a text unless a negative context or the scorer quiets them; else asks the scorer."""

    def __init__(self, speller: Speller, patterns: tuple[Pattern, ...], negatives: tuple[Pattern, ...],
                 order: tuple[str, ...], scorer: Scorer | None = None) -> None:
        self.speller, self.order, self.scorer = speller, order, scorer
        self.patterns, self.negatives = patterns, negatives
        self._index = {bare: _by_anchor(patterns, bare) for bare in (False, True)}
        self._negative_index = {bare: _by_anchor(negatives, bare) for bare in (False, True)}
        self._owner = {p.category: p.owner for p in patterns}

    @classmethod
    def load(cls, path: Path = SIGNALS, model: Path | None = MODEL) -> Screen:
        """Read and compile the signal file, and read the scorer's model file unless `model` is None."""
        doc = read_toml(path, "signal file", SignalFileError)
        return cls.from_document(doc, path.name).with_scorer(Scorer.load(model) if model else None)

    def compiled(self) -> dict[str, Any]:
        """The compiled patterns as plain data (JSON), to build the same screen again without compiling."""
        def rows(patterns: tuple[Pattern, ...]) -> list[list[Any]]:
            return [[p.category, p.source, p.owner, p.accented[0], sorted(p.accented[1]), p.bare[0], sorted(p.bare[1])]
                    for p in patterns]

        return {"expand": {k: list(v) for k, v in self.speller.expand.items()}, "patterns": rows(self.patterns),
                "negatives": rows(self.negatives), "order": list(self.order)}

    @classmethod
    def from_compiled(cls, data: dict[str, Any], scorer: Scorer | None = None) -> Screen:
        """The screen that `compiled()` describes."""
        def patterns(rows: list[list[Any]]) -> tuple[Pattern, ...]:
            return tuple(Pattern(c, s, o, (a, frozenset(ak)), (b, frozenset(bk))) for c, s, o, a, ak, b, bk in rows)

        speller = Speller.of(data["expand"])
        return cls(speller, patterns(data["patterns"]), patterns(data["negatives"]), tuple(data["order"]), scorer)

    def with_scorer(self, scorer: Scorer | None) -> Screen:
        """The same patterns, sharing their indexes (never changed once built), with another second stage (or none)."""
        other = copy.copy(self)
        other.scorer = scorer
        return other

    @classmethod
    def from_document(cls, doc: dict, name: str = "signals") -> Screen:
        """Compile a parsed signal document."""
        signals = read_signals(doc, name)
        return cls(signals.speller, signals.patterns, signals.negatives, signals.order)

    def check(self, text: str) -> Check:
        """The categories that fire in the text, in file order, and the patterns that made them fire."""
        keys, accented = self.speller.read(text)
        if not keys:
            return Check((), ())
        line, starts = _line(keys)
        hits = _hits(self._index[not accented], keys, line, starts)
        fired = self._fired(hits, keys, accented, line, starts) if hits else {}
        categories = tuple(c for c in self.order if c in fired)
        if not categories:
            return self._second(keys, accented, line, starts)
        if self._vetoed(keys):
            return Check((), (f"model:none overrules {', '.join(categories)}",))
        return Check(categories, tuple(s for c in categories for s in fired[c]))

    def _fired(self, hits: list[Hit], keys: list[str], accented: bool, line: str,
               starts: list[int]) -> dict[str, list[str]]:
        """The sources of the pattern hits no negative context quiets, by category."""
        quiet = _hits(self._negative_index[not accented], keys, line, starts)
        fired: dict[str, list[str]] = {}
        for p, begin, end in hits:
            needed = (p.bare if not accented else p.accented)[1]
            words = [i for i in range(begin, end) if keys[i] in needed] or [begin]
            if all(bare_of(keys[i]) in COMMON_BARE for i in words) and bare_of(keys[end - 1]) not in COMMON_BARE:
                words.append(end - 1)  # a common key word ("bị"): the act that ends the match counts too
            if any(q.owner in (0, p.owner) and any(b <= i < e for i in words) for q, b, e in quiet):
                continue
            sources = fired.setdefault(p.category, [])
            if p.source not in sources:
                sources.append(p.source)
        return fired

    def _vetoed(self, keys: list[str]) -> bool:
        """Whether the scorer is all but sure the message is harmless (below its veto), having judged it at all."""
        if self.scorer is None or not self.scorer.veto:
            return False
        found = self.scorer.score(keys)
        return bool(found.category) and found.probability < self.scorer.veto

    def _second(self, keys: list[str], accented: bool, line: str, starts: list[int]) -> Check:
        """The scorer's verdict when no pattern fired: quiet unless confident and no negative of its own (or common)."""
        # At or above its `sure`, no negative context quiets it: not even one that quieted every pattern match.
        if self.scorer is None:
            return Check((), ())
        found = self.scorer.score(keys)
        if found.probability < self.scorer.threshold:
            return Check((), ())
        owners = {0, self._owner.get(found.category, 0)}
        if found.probability < self.scorer.sure and any(
                q.owner in owners for q, _, _ in _hits(self._negative_index[not accented], keys, line, starts)):
            return Check((), ())
        return Check((found.category,), (f"model:{found.category} {found.probability:.2f}",))

    def categories(self, text: str) -> tuple[str, ...]:
        """The categories whose patterns occur in the text, in file order, without repeats."""
        return self.check(text).categories


Candidate = tuple[Pattern, str]
Group = tuple[str, tuple[Candidate, ...]]
Hit = tuple[Pattern, int, int]


@functools.cache
def _regex(source: str) -> re.Pattern[str]:
    """A regex compiled the first time a text needs it: loading the screen stays quick (restarts wait for it)."""
    return re.compile(source)


def _by_anchor(patterns: tuple[Pattern, ...], bare: bool) -> dict[str, Group]:
    """Under each word one of which they need, the patterns with their regex for the mode, and all of them as one."""
    index: dict[str, list[Candidate]] = {}
    for p in patterns:
        regex, anchor = p.bare if bare else p.accented
        for word in anchor:
            index.setdefault(word, []).append((p, regex))
    return {k: ("|".join(r for _, r in v), tuple(v)) for k, v in index.items()}


def _line(keys: list[str]) -> tuple[str, list[int]]:
    """The keys as one line, each after a space and the last before one, and where each key's space is."""
    starts, at = [], 0
    for k in keys:
        starts.append(at)
        at += len(k) + 1
    return " " + " ".join(keys) + " ", starts


def _hits(index: dict[str, Group], keys: list[str], line: str, starts: list[int]) -> list[Hit]:
    """Every match of a pattern whose needed word is in the text, with the words it covers as [begin, end)."""
    found = []
    for k in {k for k in keys if k in index}:
        any_of, candidates = index[k]
        if _regex(any_of).search(line) is None:
            continue
        for p, regex in candidates:
            for m in _regex(regex).finditer(line):
                found.append((p, bisect_left(starts, m.start()), bisect_left(starts, m.end())))
    return found
