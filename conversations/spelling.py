"""How children write, made comparable: Unicode, tone-mark placement, repeated letters, teen spelling, no accents."""

from __future__ import annotations

import functools
import re
import unicodedata
from collections.abc import Mapping, Sequence

# Tone marks as combining characters, each with the digit a tone-folded key ends with.
TONES = {"\u0301": "1", "\u0300": "2", "\u0309": "3", "\u0303": "4", "\u0323": "5"}
# Word-initial spellings no Vietnamese word starts with, as teenagers type them, and what they stand for.
PREFIXES = (("dz", "v"), ("w", "qu"), ("f", "ph"), ("j", "gi"), ("z", "v"))
BOUNDARY = "#"
# Laughter typed as a face ("=))", ":))", ":v") or an emoji: read as the word LAUGH, so negative contexts can name a
# joke; a single ":)" or "=)" is not laughter (it often closes a sad or sour message).
LAUGH = "haha"
_LAUGHS = r"[=:;]+\)\)+|:v(?![^\W_])|[\U0001F602\U0001F923\U0001F606\U0001F605\U0001F61D\U0001F61C]"
_PIECES = re.compile(_LAUGHS + r"|[^\W_]+|[.!?;,:\n]+")
_LAUGH_PIECE = re.compile(_LAUGHS)
_CACHE_LIMIT = 50_000


def fold(word: str) -> str:
    """Lower-case, without any diacritics: 'Đánh' -> 'danh'."""
    decomposed = unicodedata.normalize("NFD", word.lower().replace("đ", "d"))
    return "".join(c for c in decomposed if not unicodedata.combining(c))


def toneless(char: str) -> str:
    """A letter without its tone mark, keeping the marks that make it another vowel: 'ứ' -> 'ư'."""
    return unicodedata.normalize("NFC", "".join(c for c in unicodedata.normalize("NFD", char) if c not in TONES))


def collapse(word: str) -> str:
    """Drop letters typed again without a mark of their own: 'chếttt' -> 'chết', 'cứuuu' -> 'cứu'."""
    kept: list[str] = []
    for char in word:
        if kept and char.isalpha() and (char == kept[-1] or char == toneless(kept[-1])):
            continue
        kept.append(char)
    return "".join(kept)


@functools.lru_cache(maxsize=_CACHE_LIMIT)
def key(word: str) -> str:
    """The comparable form of one word: tone moved to a final digit ('doạ', 'dọa' -> 'doa5'), or folded if bare
    (cached: compiling the screen's patterns asks it for the same words many times)."""
    word = collapse(unicodedata.normalize("NFC", word.lower()))
    for typed, meant in PREFIXES:
        if word.startswith(typed) and len(word) > len(typed):
            word = meant + word[len(typed):]
            break
    if word.isascii():
        return word
    decomposed = unicodedata.normalize("NFD", word)
    tones = [TONES[c] for c in decomposed if c in TONES]
    bare = unicodedata.normalize("NFC", "".join(c for c in decomposed if c not in TONES))
    return bare + (tones[-1] if tones else "")


def bare_key(word: str) -> str:
    """The comparable form of a word typed without accents."""
    return key(fold(word))


@functools.lru_cache(maxsize=_CACHE_LIMIT)
def bare_of(typed: str) -> str:
    """The key a word would have typed without accents, from its key: 'đanh1' -> 'danh' (cached: the screen's scorer
    and its negative-context check ask it for every word of every message)."""
    if len(typed) > 1 and typed[-1] in "12345" and typed[-2].isalpha():
        typed = typed[:-1]
    return key(fold(typed))


class Speller:
    """Turns a message into comparable word keys, expanding teen spelling; punctuation becomes a boundary."""

    def __init__(self, spelling: Mapping[str, tuple[str, ...]]) -> None:
        self.expand: dict[str, tuple[str, ...]] = {}
        for meant, typed in spelling.items():
            keys = tuple(key(w) for w in meant.split())
            for short in typed:
                self.expand[key(short)] = keys
        self._cache: dict[str, tuple[str, ...]] = {}

    @classmethod
    def of(cls, expand: Mapping[str, Sequence[str]]) -> Speller:
        """A speller from its expansion table (a short form's key → the keys it stands for)."""
        speller = cls({})
        speller.expand = {k: tuple(v) for k, v in expand.items()}
        return speller

    def word(self, word: str) -> tuple[str, ...]:
        """The keys one typed word stands for."""
        found = self._cache.get(word)
        if found is None:
            if len(self._cache) >= _CACHE_LIMIT:
                self._cache.clear()
            typed = key(word)
            found = self.expand.get(typed) or (typed,)
            self._cache[word] = found
        return found

    def read(self, text: str) -> tuple[list[str], bool]:
        """The message's word keys in order (a boundary key where a sentence ends) and whether it is accented.

        A message is accented when at least half its words carry a diacritic: then a word typed without
        accents is that very word ("cho" is not "chó"); otherwise any word may have lost its accents.
        """
        out: list[str] = []
        words = marked = 0
        for piece in _PIECES.findall(unicodedata.normalize("NFC", text)):
            if piece[0].isalnum():  # a word (no laughing face starts with a letter or digit)
                out.extend(self.word(piece))
                words += 1
                marked += not piece.isascii()
            elif _LAUGH_PIECE.fullmatch(piece):
                out.append(LAUGH)  # not a word: it does not count toward the message being accented
            elif piece.strip(",:") and out and out[-1] != BOUNDARY:
                out.append(BOUNDARY)
        return out, 2 * marked >= words > 0

    def keys(self, text: str) -> list[str]:
        """The message's word keys in order."""
        return self.read(text)[0]
