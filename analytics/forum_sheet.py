"""Checking a forum record: its topics, and the proposals sheet (CSV or XLSX) children's forum raised."""

from __future__ import annotations

import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from conversations.forum import Forum
from storage.forums import Raised

MIN_CHILDREN = 30  # Circular 29/2019/TT-BLĐTBXH: a commune forum has at least 30 children
YES = {"1", "x", "co", "yes", "true", "dong y"}


class ForumRecordError(ValueError):
    """A forum record cannot be stored as given; the message says why in Vietnamese."""


@dataclass(frozen=True, slots=True)
class Sheet:
    """The proposals read from a sheet, or the errors that refuse it, one line per cell."""

    raised: tuple[Raised, ...]
    errors: tuple[str, ...]


def _plain(text: str) -> str:
    """Lower case without Vietnamese marks."""
    base = unicodedata.normalize("NFD", str(text).casefold().replace("đ", "d"))
    return " ".join("".join(c for c in base if not unicodedata.combining(c)).split())


def topic_id(forum: Forum, text: str) -> str | None:
    """A topic id from its id, its label, or the unique label it starts (marks optional)."""
    plain = _plain(text)
    if not plain:
        return None
    exact = [t.id for t in forum.topics if plain in (t.id, _plain(t.label.vi), _plain(t.label.en))]
    starts = [t.id for t in forum.topics if len(plain) >= 4 and _plain(t.label.vi).startswith(plain)]
    found = exact or starts
    return found[0] if len(found) == 1 else None


def topics(forum: Forum, text: str) -> list[str]:
    """The forum's topics as ids from a comma-separated list (labels may hold commas); unknown ones refused."""
    parts = [p.strip() for p in text.split(",") if p.strip()]
    found, unknown, k = [], [], 0
    while k < len(parts):
        for end in range(len(parts), k, -1):
            tid = topic_id(forum, ", ".join(parts[k:end]))
            if tid:
                found.append(tid)
                k = end
                break
        else:
            unknown.append(parts[k])
            k += 1
    if unknown:
        raise ForumRecordError(f"chủ đề không có trong forum.toml: {', '.join(unknown)}; dùng: "
                               + ", ".join(t.id for t in forum.topics))
    if not found:
        raise ForumRecordError("cần ít nhất một chủ đề (--topics), ví dụ: --topics traffic,drowning")
    return list(dict.fromkeys(found))


def children(count: int) -> int:
    """The number of children, refused under the Circular's minimum."""
    if count < MIN_CHILDREN:
        raise ForumRecordError(f"diễn đàn trẻ em cấp xã phải có ít nhất {MIN_CHILDREN} trẻ em (Thông tư 29/2019), "
                               f"không phải {count}")
    return count


def read(path: Path, forum: Forum) -> Sheet:
    """Read proposals from a sheet with columns topic (or 'chủ đề'), text (or 'nội dung') and optional publish."""
    from analytics.paper_sheet import read_rows

    rows = read_rows(path)
    head = [_plain(str(c or "")) for c in rows[0]]
    at = {key: next((i for i, h in enumerate(head) if h in names), None)
          for key, names in (("topic", ("topic", "chu de")), ("text", ("text", "noi dung", "kien nghi")),
                             ("publish", ("publish", "cong khai")))}
    if at["topic"] is None or at["text"] is None:
        raise ForumRecordError(f"{path.name}: dòng 1 phải có cột 'chủ đề' (topic) và 'nội dung' (text)")
    raised: list[Raised] = []
    errors: list[str] = []
    for line, raw in enumerate(rows[1:], start=2):
        cells = [str(c).strip() if c is not None else "" for c in raw]
        cell = dict.fromkeys(at, "")
        cell.update({k: cells[i] for k, i in at.items() if i is not None and i < len(cells)})
        if not any(cells):
            continue
        before = len(errors)
        tid = topic_id(forum, cell["topic"])
        if tid is None:
            errors.append(f"Dòng {line}, cột chủ đề: '{cell['topic']}' không có trong forum.toml")
        text = " ".join(cell["text"].split())
        if not forum.min_length <= len(text) <= forum.max_length:
            errors.append(f"Dòng {line}, cột nội dung: dài {len(text)} ký tự, cần từ {forum.min_length} "
                          f"đến {forum.max_length}")
        if len(errors) == before and tid is not None:
            raised.append(Raised(tid, text, _plain(cell["publish"]) in YES))
    return Sheet(tuple(raised), tuple(errors))


def summary(forum: Forum, ids: Sequence[str]) -> str:
    """Topic labels for a list of ids."""
    labels = {t.id: t.label.vi for t in forum.topics}
    return ", ".join(labels.get(i, i) for i in ids)
