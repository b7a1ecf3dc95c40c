"""The labelled safety corpus and how a screen scores on it: recall, false alarms, per category."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

CORPUS = Path(__file__).parent.parent / "data" / "safety_corpus.tsv"
# Written before the scorer was trained and never trained on; its split column says "fresh".
FRESH = Path(__file__).parent.parent / "data" / "safety_fresh.tsv"


@dataclass(frozen=True, slots=True)
class Row:
    """One labelled message: its category (or 'none'), its half (dev, held, or fresh) and its text."""

    label: str
    split: str
    text: str


@dataclass(frozen=True, slots=True)
class Score:
    """How one screen did on some rows of one label (or all disclosures, or all harmless messages)."""

    label: str
    total: int
    flagged: int
    right_category: int

    @property
    def rate(self) -> float:
        """Share flagged: recall for disclosures, the false-alarm rate for harmless messages."""
        return self.flagged / self.total if self.total else 0.0


def read(path: Path = CORPUS) -> list[Row]:
    """Every row of the corpus; lines starting with '#' are comments."""
    rows = []
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip() or line.startswith("#"):
            continue
        parts = line.split("\t")
        if len(parts) != 3 or parts[1] not in ("dev", "held", "fresh"):
            raise ValueError(f"{path.name}:{n}: want label<TAB>dev|held|fresh<TAB>text")
        rows.append(Row(*parts))
    return rows


def score(categories: Callable[[str], tuple[str, ...]], rows: Iterable[Row]) -> dict[str, Score]:
    """Scores per label, plus 'disclosures' (any category counts as caught) and 'harmless' (any is an alarm)."""
    counts: dict[str, list[int]] = {}
    for row in rows:
        found = categories(row.text)
        group = "harmless" if row.label == "none" else "disclosures"
        for label in (row.label, group):
            c = counts.setdefault(label, [0, 0, 0])
            c[0] += 1
            c[1] += bool(found)
            c[2] += row.label in found
    return {label: Score(label, *c) for label, c in sorted(counts.items())}


def failures(categories: Callable[[str], tuple[str, ...]], rows: Iterable[Row]) -> list[tuple[Row, tuple[str, ...]]]:
    """Disclosures nothing caught and harmless messages that fired, with what fired."""
    out = []
    for row in rows:
        found = categories(row.text)
        if bool(found) != (row.label != "none"):
            out.append((row, found))
    return out
