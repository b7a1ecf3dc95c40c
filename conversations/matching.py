"""Match what a person typed to a choice: by number, by label, with or without diacritics."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence

_NUMBER = re.compile(r"^\s*(\d{1,3})\s*[.)]?\s*$")
_NOT_WORD = re.compile(r"[^a-z0-9]+")


def fold(text: str) -> str:
    """Lower-case, drop diacritics and punctuation, collapse spaces: 'Hài lòng!' -> 'hai long'."""
    decomposed = unicodedata.normalize("NFD", text.replace("đ", "d").replace("Đ", "D"))
    bare = "".join(c for c in decomposed if not unicodedata.combining(c)).lower()
    return _NOT_WORD.sub(" ", bare).strip()


def pick(text: str, labels: Sequence[Sequence[str]]) -> int | None:
    """Return the index of the choice a typed text names, or None; each choice has one or more labels."""
    number = _NUMBER.match(text)
    if number:
        index = int(number.group(1)) - 1
        return index if 0 <= index < len(labels) else None
    wanted = fold(text)
    if not wanted:
        return None
    for same in (_equal, _within):
        found = {i for i, names in enumerate(labels) if any(same(wanted, fold(n)) for n in names)}
        if found:
            return found.pop() if len(found) == 1 else None
    return None


def _equal(wanted: str, label: str) -> bool:
    """The typed words are the whole label."""
    return wanted == label


def _within(wanted: str, label: str) -> bool:
    """The typed words stand as whole words inside the label."""
    return len(wanted) > 1 and f" {wanted} " in f" {label} "


def clean(text: str, limit: int) -> str:
    """Strip control characters and outer space from free text, keeping at most limit+1 characters."""
    kept = "".join(c for c in text if c in "\n\t" or unicodedata.category(c)[0] != "C")
    return kept.strip()[: limit + 1]
