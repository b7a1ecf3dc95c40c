"""One engine call's working state: input, context, the session being changed and the output."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from conversations.catalogue import Catalogue
from conversations.effects import Effect
from conversations.matching import pick
from conversations.messages import Choice, Reply
from conversations.model import LANGS, Text

STALE = "\x00stale"


@dataclass(frozen=True, slots=True)
class Input:
    """What the person did: typed text, tapped a choice, sent a command or something else."""

    text: str | None = None
    choice: str | None = None
    command: str | None = None
    other: bool = False


@dataclass(frozen=True, slots=True)
class Window:
    """The open round's survey window when it does not take answers today: 'upcoming' or 'closed'; ISO days."""

    round_id: str
    state: str
    opens: str | None = None
    closes: str | None = None


@dataclass(frozen=True, slots=True)
class Context:
    """Facts the service passes in; `submitted` matters only for a new session."""

    now: datetime
    new_id: str
    round_id: str | None
    communes: tuple[tuple[str, str], ...]
    submitted: bool = False
    lang: str = "vi"
    extra_help: tuple[str, ...] = ()
    preset: tuple[tuple[str, str], ...] = ()
    proposals_today: int = 0
    window: Window | None = None


@dataclass(frozen=True, slots=True)
class Result:
    """The new session (None deletes it), the replies to send and the effects to store."""

    session: dict[str, Any] | None
    replies: tuple[Reply, ...]
    effects: tuple[Effect, ...]


@dataclass
class Turn:
    """Working state of one call: the session being changed and what to say and store."""

    s: dict[str, Any]
    ctx: Context
    texts: Catalogue
    replies: list[Reply] = field(default_factory=list)
    effects: list[Effect] = field(default_factory=list)
    dropped: bool = False

    def t(self, key: str, **values: object) -> str:
        """Text from the catalogue in the person's language, addressing a child as "em"."""
        return self.texts.get(self.s["lang"], voiced(self.texts, self.s, key), **values)

    def say(self, key: str, **values: object) -> None:
        """Queue a catalogue message."""
        self.replies.append(Reply(self.t(key, **values), key=key))

    def ask(self, text: str, options: list[tuple[str, str]], key: str, *, new: bool = True) -> None:
        """Queue a question whose choices carry the current turn, to spot stale taps."""
        if new:
            self.s["turn"] += 1
        turn = self.s["turn"]
        self.replies.append(Reply(text, tuple(Choice(f"{turn}:{oid}", label) for oid, label in options), key))

    def label(self, text: Text) -> str:
        """A flow text in the person's language."""
        return text.get(self.s["lang"])

    def match(self, inp: Input, options: list[tuple[str, list[str]]]) -> str | None:
        """Return the chosen option id, STALE for an old button, or None when nothing matches."""
        ids = [oid for oid, _ in options]
        if inp.choice is not None:
            turn, _, oid = inp.choice.partition(":")
            if turn != str(self.s["turn"]):
                return STALE
            return oid if oid in ids else None
        if inp.text is None:
            return None
        index = pick(inp.text, [labels for _, labels in options])
        return None if index is None else ids[index]


def voiced(texts: Catalogue, session: dict[str, Any] | None, key: str) -> str:
    """The catalogue key that speaks to this person: the `child.` variant for a child, where there is one."""
    s = session or {}
    group = (s.get("profile") or {}).get("group") or (s.get("data") or {}).get("group") or s.get("forum_group")
    child = group == "child" or (s.get("flow") == "proposal" and group is None)
    return f"child.{key}" if child and texts.has(s.get("lang", "vi"), f"child.{key}") else key


def names(turn: Turn, key: str) -> list[str]:
    """A catalogue label in every language, for typed matching."""
    return [turn.texts.get(lang, key) for lang in LANGS]
