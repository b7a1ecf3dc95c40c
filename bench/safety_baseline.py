"""The word-phrase screen the pattern screen replaced, kept as the benchmark's baseline (reads its own list)."""

from __future__ import annotations

import tomllib
import unicodedata
from dataclasses import dataclass
from pathlib import Path

from conversations.matching import fold

SIGNALS = Path(__file__).parent / "safety_baseline.toml"
RENAMED = {"abuse": "sexual_abuse"}


def words(text: str) -> list[str]:
    """Lower-case words with their accents, punctuation dropped."""
    kept = "".join(c if c.isalnum() or unicodedata.combining(c) else " " for c in unicodedata.normalize("NFC", text))
    return kept.lower().split()


def same_word(typed: str, wanted: str) -> bool:
    """A word typed without accents matches any accents; one typed with accents must match exactly."""
    return typed == wanted or (typed.isascii() and typed == fold(wanted))


@dataclass(frozen=True, slots=True)
class Signal:
    """One phrase to look for, as words, and its category."""

    category: str
    words: tuple[str, ...]

    def within(self, text: list[str]) -> bool:
        """Whether the phrase stands in the text's words."""
        size = len(self.words)
        return any(all(same_word(t, w) for t, w in zip(text[i:i + size], self.words, strict=True))
                   for i in range(len(text) - size + 1))


class Baseline:
    """Finds signal phrases in a text, as whole words, regardless of case and accents."""

    def __init__(self, path: Path = SIGNALS) -> None:
        doc = tomllib.loads(path.read_text(encoding="utf-8"))
        self.signals = tuple(Signal(RENAMED.get(e["category"], e["category"]), tuple(words(p)))
                             for e in doc["signals"] for p in e["phrases"])

    def categories(self, text: str) -> tuple[str, ...]:
        """The categories whose phrases occur in the text, in file order, without repeats."""
        typed = words(text)
        found: list[str] = []
        for signal in self.signals:
            if signal.category not in found and signal.within(typed):
                found.append(signal.category)
        return tuple(found)
