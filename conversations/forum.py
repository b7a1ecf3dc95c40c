"""The forum's configuration: topics, agencies and limits, read from a data file."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from conversations.datafile import DataFileError, read_toml
from conversations.model import Text

FORUM_FILE = Path(__file__).parent / "data" / "forum.toml"
ID = re.compile(r"^[a-z0-9_]{1,30}$")


@dataclass(frozen=True, slots=True)
class Entry:
    """A topic or an agency: a stable id and its label."""

    id: str
    label: Text


@dataclass(frozen=True, slots=True)
class Forum:
    """What children may raise, where leaders may forward it, and the limits."""

    topics: tuple[Entry, ...]
    agencies: tuple[Entry, ...]
    per_day: int = 3
    min_length: int = 10
    max_length: int = 1000
    answer_days: int = 15  # a local standard, set by XTT_ANSWER_DAYS at the composition root (not Circular 29)
    consent_version: str = "1"
    report_days: int = 15  # Circular 29/2019: the report after a forum is due within this many days

    def topic(self, topic_id: str) -> Entry | None:
        """Find a topic."""
        return next((t for t in self.topics if t.id == topic_id), None)

    def agency(self, agency_id: str) -> Entry | None:
        """Find an agency."""
        return next((a for a in self.agencies if a.id == agency_id), None)


def load_forum(path: Path = FORUM_FILE) -> Forum:
    """Read and check the forum file; errors name the file, the entry and the fix."""
    doc = read_toml(path, "forum file")
    if "answer_days" in doc:
        raise DataFileError(path, "answer_days", "the answer deadline is no longer in this file",
                            "delete answer_days and set XTT_ANSWER_DAYS (a local standard); report_days is "
                            "Circular 29's deadline for the report after a forum")

    def entries(key: str) -> tuple[Entry, ...]:
        found = []
        for n, raw in enumerate(doc.get(key, []), 1):
            label = raw.get("label", {})
            if not ID.match(str(raw.get("id", ""))) or not str(label.get("vi", "")).strip():
                raise DataFileError(path, f"{key} {n}", "the id or label.vi is missing or wrong",
                                    "give an id of a-z, 0-9, _ and a label.vi")
            found.append(Entry(raw["id"], Text(label["vi"], label.get("en", ""))))
        if not found or len({e.id for e in found}) != len(found):
            raise DataFileError(path, key, "the list is empty or an id repeats", "list at least one, each id once")
        return tuple(found)

    forum = Forum(entries("topics"), entries("agencies"), int(doc.get("per_day", 3)),
                  int(doc.get("min_length", 10)), int(doc.get("max_length", 1000)), 15,
                  str(doc.get("consent_version", "1")), int(doc.get("report_days", 15)))
    if not 1 <= forum.min_length < forum.max_length <= 4000 or forum.per_day < 1 or forum.report_days < 1:
        raise DataFileError(path, "limits", "the lengths, per_day or report_days are out of range",
                            "use 1 <= min_length < max_length <= 4000, per_day >= 1 and report_days >= 1")
    return forum
