"""The signal file: its entries checked, and its pattern syntax compiled into regexes over word keys."""

from __future__ import annotations

import re
from dataclasses import dataclass

from conversations.datafile import DataFileError
from conversations.spelling import BOUNDARY, Speller, bare_key, bare_of, key

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


@dataclass(frozen=True, slots=True)
class Signals:
    """A compiled signal file: its speller, its patterns and negative contexts, and the categories in file order."""

    speller: Speller
    patterns: tuple[Pattern, ...]
    negatives: tuple[Pattern, ...]
    order: tuple[str, ...]


def read_signals(doc: dict, name: str = "signals") -> Signals:
    """Check and compile a parsed signal document."""
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
        patterns += [compile_pattern(sets, speller.expand, where, cid, s, n) for s in entry["patterns"]]
        negatives += [compile_pattern(sets, speller.expand, where, "", s, n, readings) for s in entry.get("unless", [])]
    negatives += [compile_pattern(sets, speller.expand, f"{name}: [common] unless", "", s, 0, readings) for s in common]
    return Signals(speller, tuple(patterns), tuple(negatives), tuple(order))


def compile_pattern(sets: dict[str, list[str]], spelling: dict[str, tuple[str, ...]], where: str, category: str,
                    source: str, owner: int, readings: dict[str, frozenset[str]] | None = None) -> Pattern:
    """Compile one pattern for accented text and for text typed without accents."""
    forms = []
    for bare in (False, True):
        regex, anchor = _Compiler(sets, where, bare, spelling, readings).compile(source)
        forms.append((regex + "(?= )", anchor))
    return Pattern(category, source, owner, forms[0], forms[1])
