"""Screening free text for signals of abuse or danger, written the way children write; the patterns are a data file."""

from __future__ import annotations

import functools
import re
from bisect import bisect_left
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from conversations.datafile import DataFileError, read_toml
from conversations.safety_model import MODEL, Scorer
from conversations.spelling import BOUNDARY, Speller, bare_key, bare_of, key

SIGNALS = Path(__file__).parent / "data" / "safety_signals.toml"
GAP_WORDS = 6
_ID = re.compile(r"^[a-z][a-z0-9_]*$")
# Words in most messages: a pattern is indexed under a rarer word it needs, when it has one.
COMMON = frozenset(key(w) for w in ("em", "con", "tôi", "tui", "mình", "bị", "không", "có", "là", "và", "thì", "mà",
                                    "được", "cho", "của", "với", "đi", "ba", "mẹ", "má", "bố", "anh", "chị", "nó",
                                    "người", "rồi", "lắm", "quá", "ở", "nhà", "trong", "vào", "ra", "bạn", "tụi"))
COMMON_BARE = frozenset(bare_of(k) for k in COMMON)
_SYNTAX = re.compile(r"\.\.\.|[()\[\]|]|@[\w]+|[^\s()\[\]|]+")


class SignalFileError(DataFileError):
    """The signal file cannot be read; the message names the file, the entry and the fix."""


@dataclass(frozen=True, slots=True)
class Check:
    """What the screen found in one message: the categories and the patterns that fired."""

    categories: tuple[str, ...]
    matched: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Pattern:
    """A compiled pattern: category ('' for a negative context), source, entry (0: [common]), and per reading
    (accented text, bare text) its regex and the words one of which every match has (its key words)."""

    category: str
    source: str
    owner: int
    accented: tuple[str, frozenset[str]]
    bare: tuple[str, frozenset[str]]


class _Compiler:
    """Turns the pattern syntax into a regular expression over word keys."""

    def __init__(self, sets: dict[str, list[str]], where: str, bare: bool = False,
                 spelling: dict[str, tuple[str, ...]] | None = None,
                 readings: dict[str, frozenset[str]] | None = None) -> None:
        self.sets, self.where, self.bare, self.spelling = sets, where, bare, spelling or {}
        self.readings = readings  # for a negative context: a bare word matches only its usual readings

    def fail(self, source: str, problem: str) -> SignalFileError:
        """An error naming the file, the entry, the pattern and the fix."""
        return SignalFileError(f"{self.where}, pattern {source!r}: {problem}")

    def compile(self, source: str) -> tuple[str, frozenset[str]]:
        """The regex text and words one of which every match contains (rare ones when the pattern allows)."""
        parts = _SYNTAX.findall(source)
        if not parts:
            raise self.fail(source, "it is empty; write at least one word or remove it")
        if parts[0] == "..." or parts[-1] == "...":
            raise self.fail(source, "'...' stands between words; it cannot start or end a pattern")
        self._depth, self._required, self._split = 0, [], False
        regex, firsts, optional, pos = self._alternatives(source, parts, 0)
        if pos != len(parts):
            raise self.fail(source, f"unexpected {parts[pos]!r}; every ')' or ']' needs its '(' or '['")
        if optional or not firsts:
            raise self.fail(source, "the first word cannot be optional; start with a word that must be there")
        needed = [firsts] if self._split else self._required or [firsts]
        return regex, frozenset(min(needed, key=lambda keys: sum(50 if k in COMMON else 1 for k in keys)))

    def _alternatives(self, source: str, parts: list[str], pos: int) -> tuple[str, set[str], bool, int]:
        options, firsts, optional = [], set(), False
        while True:
            regex, first, empty, pos = self._sequence(source, parts, pos)
            options.append(regex)
            self._split |= len(options) > 1 and self._depth == 0
            firsts |= first
            optional |= empty
            if pos < len(parts) and parts[pos] == "|":
                pos += 1
                continue
            return "(?:" + "|".join(options) + ")", firsts, optional, pos

    def _sequence(self, source: str, parts: list[str], pos: int) -> tuple[str, set[str], bool, int]:
        regex, firsts, empty = "", set(), True
        while pos < len(parts) and parts[pos] not in ("|", ")", "]"):
            part = parts[pos]
            if part in ("(", "["):
                self._depth += 1
                inner, first, opt, pos = self._alternatives(source, parts, pos + 1)
                self._depth -= 1
                closing = ")" if part == "(" else "]"
                if pos >= len(parts) or parts[pos] != closing:
                    raise self.fail(source, f"{part!r} is not closed; add {closing!r}")
                pos += 1
                opt = opt or part == "["
                item = inner + ("?" if part == "[" else "")
            elif part == "...":
                item, first, opt = f"(?: [^ {BOUNDARY}]+){{0,{GAP_WORDS}}}", set(), True
                pos += 1
            elif part.startswith("@"):
                words = self.sets.get(part[1:])
                if words is None:
                    raise self.fail(source, f"unknown word set {part!r}; define it under [sets] or fix the name")
                item, first = self._words(words, alone=True)
                opt, pos = False, pos + 1
            else:
                if not all(c.isalnum() for c in part):
                    raise self.fail(source, f"{part!r} is not a word; use letters, ( | ), [ ], ... and @set only")
                alone = (self._depth > 0 and parts[pos - 1] in ("(", "[", "|")
                         and parts[pos + 1:pos + 2] in (["|"], [")"], ["]"]))
                item, first = self._words([part], alone)
                opt, pos = False, pos + 1
            regex += item
            if self._depth == 0 and not opt:
                self._required.append(first)
            if empty:
                firsts |= first
            empty = empty and opt
        return regex, firsts, empty, pos

    def _words(self, phrases: list[str], alone: bool = False) -> tuple[str, set[str]]:
        """Alternatives of whole phrases, each word with its accents or, when reading bare text, without.

        `alone`: the phrases are one of several (a set, or "a" in "(a|b c)"); a one-word phrase then has no
        neighbour of its own to tell which word it is, and a negative context reads it bare only for sure.
        """
        options, firsts = [], set()
        for phrase in phrases:
            words = phrase.split()
            forms = [self._forms(w, sure=alone and len(words) == 1) for w in words]
            if not all(forms):
                continue  # a negative context's word that cannot be read for sure here
            options.append("".join("(?:" + "|".join(sorted("".join(" " + re.escape(k) for k in seq) for seq in f)) + ")"
                                   for f in forms))
            firsts |= {seq[0] for seq in forms[0]}
        return "(?:" + ("|".join(options) or "(?!)") + ")", firsts

    def _forms(self, word: str, sure: bool = False) -> set[tuple[str, ...]]:
        """The key sequences a pattern word matches: itself, as the screen spells it, and bare if reading bare.

        A negative context must be sure: read bare, a word that is one of several alternatives matches a bare word
        that stands for several ([readings]) only when it is one of that word's usual readings ("chó" in
        "(gà|chó) ..." does not quiet "cho"); a word in a sequence of the negative's own ("bắt cóc bỏ đĩa") is read
        by its neighbours and keeps every reading. A pattern read bare also matches what the Speller makes of its
        bare form ("vợ" typed "vo" is read "vào").
        """
        forms = {(key(word),)}
        if key(word) in self.spelling:
            forms.add(self.spelling[key(word)])
        if self.bare:
            forms |= {tuple(bare_of(k) for k in seq) for seq in forms}
            if self.readings is None:  # a pattern: "vợ" typed bare is "vo", which the Speller reads as "vào"
                forms |= {self.spelling[seq[0]] for seq in list(forms) if len(seq) == 1 and seq[0] in self.spelling}
            if sure and self.readings is not None:
                forms = {seq for seq in forms if len(seq) != 1 or key(word) in self.readings.get(seq[0], {key(word)})}
        return forms


class Screen:
    """Finds signal patterns in a text, unless a negative context covers them; else asks the scorer, if any."""

    def __init__(self, speller: Speller, patterns: tuple[Pattern, ...], negatives: tuple[Pattern, ...],
                 order: tuple[str, ...], scorer: Scorer | None = None) -> None:
        self.speller, self.order, self.scorer = speller, order, scorer
        self.patterns, self.negatives = patterns, negatives
        self._index = {bare: _by_anchor(patterns, bare) for bare in (False, True)}
        self._negative_index = {bare: _by_anchor(negatives, bare) for bare in (False, True)}

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
        """The same patterns with another second stage (or none)."""
        return Screen(self.speller, self.patterns, self.negatives, self.order, scorer)

    @classmethod
    def from_document(cls, doc: dict, name: str = "signals") -> Screen:
        """Compile a parsed signal document."""
        spelling = doc.get("spelling", {})
        sets = doc.get("sets", {})
        for label, table in (("spelling", spelling), ("sets", sets)):
            for entry, value in table.items():
                if not isinstance(value, list) or not all(isinstance(v, str) and v.strip() for v in value):
                    raise SignalFileError(f"{name}: [{label}] {entry!r} must be a list of non-empty texts in quotes")
        speller = Speller({k: tuple(v) for k, v in spelling.items()})
        readings: dict[str, frozenset[str]] = {}
        for typed, meant in doc.get("readings", {}).items():
            if (not typed.isascii() or not isinstance(meant, list) or not meant
                    or not all(isinstance(m, str) and bare_key(m) == key(typed) for m in meant)):
                raise SignalFileError(f"{name}: [readings] {typed!r} must be a word without accents and a list of the "
                                      f"words it often stands for, in quotes, e.g. co = [\"có\"]")
            readings[key(typed)] = frozenset(key(m) for m in meant)
        patterns: list[Pattern] = []
        negatives: list[Pattern] = []
        order: list[str] = []
        common = doc.get("common", {}).get("unless", [])
        entries = doc.get("categories")
        if not isinstance(entries, list) or not entries:
            raise SignalFileError(f"{name}: no [[categories]]; add at least one with id and patterns")
        for n, entry in enumerate(entries, 1):
            cid = entry.get("id")
            if not isinstance(cid, str) or not _ID.match(cid):
                raise SignalFileError(f"{name}: category {n} needs an id in lower-case English, e.g. id = \"violence\"")
            if cid in order:
                raise SignalFileError(f"{name}: category {cid!r} appears twice; merge its patterns into one entry")
            order.append(cid)
            for field in ("patterns", "unless"):
                value = entry.get(field, [])
                if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
                    raise SignalFileError(f"{name}: category {cid!r}: {field} must be a list of texts in quotes")
            if not entry.get("patterns"):
                raise SignalFileError(f"{name}: category {cid!r} has no patterns; add patterns = [\"...\"]")
            where = f"{name}: category {cid!r}"
            patterns += [_pattern(sets, speller.expand, where, cid, s, n) for s in entry["patterns"]]
            negatives += [_pattern(sets, speller.expand, where, "", s, n, readings) for s in entry.get("unless", [])]
        negatives += [_pattern(sets, speller.expand, f"{name}: [common] unless", "", s, 0, readings) for s in common]
        return cls(speller, tuple(patterns), tuple(negatives), tuple(order))

    def check(self, text: str) -> Check:
        """The categories that fire in the text, in file order, and the patterns that made them fire."""
        keys, accented = self.speller.read(text)
        if not keys:
            return Check((), ())
        line, starts = _line(keys)
        hits = _hits(self._index[not accented], keys, line, starts)
        if not hits:
            return self._second(keys, accented, line, starts)
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
        categories = tuple(c for c in self.order if c in fired)
        return Check(categories, tuple(s for c in categories for s in fired[c]))

    def _second(self, keys: list[str], accented: bool, line: str, starts: list[int]) -> Check:
        """The scorer's verdict when no pattern fired: quiet unless confident and no negative context is there."""
        if self.scorer is None:
            return Check((), ())
        found = self.scorer.score(keys)
        if found.probability < self.scorer.threshold or _hits(self._negative_index[not accented], keys, line, starts):
            return Check((), ())
        return Check((found.category,), (f"model:{found.category} {found.probability:.2f}",))

    def categories(self, text: str) -> tuple[str, ...]:
        """The categories whose patterns occur in the text, in file order, without repeats."""
        return self.check(text).categories


def _pattern(sets: dict[str, list[str]], spelling: dict[str, tuple[str, ...]], where: str, category: str, source: str,
             owner: int, readings: dict[str, frozenset[str]] | None = None) -> Pattern:
    """Compile one pattern for accented text and for text typed without accents."""
    forms = []
    for bare in (False, True):
        regex, anchor = _Compiler(sets, where, bare, spelling, readings).compile(source)
        forms.append((regex + "(?= )", anchor))
    return Pattern(category, source, owner, forms[0], forms[1])


Candidate = tuple[Pattern, str]
Group = tuple[str, tuple[Candidate, ...]]


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


def _hits(index: dict[str, Group], keys: list[str], line: str, starts: list[int]) -> list[tuple[Pattern, int, int]]:
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
