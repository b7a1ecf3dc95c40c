"""Feature routers: each feature declares its commands, their roles and descriptions, and its button prefixes once."""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from bot import access
from conversations import Catalogue, Incoming, Reply
from conversations.matching import fold
from storage.writes import Item

TAP = re.compile(r"^([a-z]):([a-z]{1,8})((?::[A-Za-z0-9_*-]{1,40}){0,3})(?:~([0-9]{1,9}))?$")
NUMBER = re.compile(r"^[0-9]{1,12}$")  # ASCII digits only ("²" is a digit to str.isdigit), within a 64-bit id


def number(value: str | None) -> int | None:
    """A typed, tapped or posted text as a database id or count, or None when it is not one."""
    return int(value) if value and NUMBER.match(value) else None


@dataclass(frozen=True, slots=True)
class Tap:
    """A button of a feature, parsed from its callback data `prefix:verb[:arg…]`."""

    prefix: str
    verb: str
    args: tuple[str, ...] = ()
    screen: int | None = None  # the screen the button was shown on (`~n`), to refuse old ones

    @classmethod
    def parse(cls, data: str) -> Tap | None:
        """Parse callback data; None when it is not in the feature format."""
        match = TAP.match(data or "")
        if not match:
            return None
        return cls(match[1], match[2], tuple(match[3].split(":")[1:]), int(match[4]) if match[4] else None)

    def arg(self, n: int = 0) -> str:
        """The n-th argument, or empty."""
        return self.args[n] if n < len(self.args) else ""

    def number(self, n: int = 0) -> int | None:
        """The n-th argument as a database id, or None when it is not one."""
        return number(self.arg(n))

    def data(self) -> str:
        """The callback data again."""
        return ":".join((self.prefix, self.verb, *self.args))


@dataclass(frozen=True, slots=True)
class Call:
    """What a feature's handler is given for one update."""

    person: access.Person
    lang: str
    now: datetime
    incoming: Incoming
    round_id: str | None = None
    arg: str = ""
    tap: Tap | None = None
    text: str | None = None
    state: dict[str, Any] | None = None


Results = Mapping[str, Any]


@dataclass(frozen=True, slots=True)
class Outcome:
    """What a feature decided: the replies, the writes that make it true, and the typed answer it now waits for.

    Features never commit: the service writes `writes` in the update's one transaction. `after`, when set,
    builds the replies from the step results of that transaction (a new reference or id).
    """

    replies: tuple[Reply, ...] = ()
    writes: tuple[Item, ...] = ()
    keep: dict[str, Any] | None = None
    after: Callable[[Results], Awaitable[list[Reply]]] | None = None


Handler = Callable[[Call], Awaitable[Outcome]]


@dataclass(frozen=True, slots=True)
class Buttons:
    """A feature's button prefix: the least role that may tap it, and its handler.

    `screened` buttons belong to one screen of one person: a tap after that person saw a newer screen is old.
    Buttons sent to many people (a poll's options) are not screened.
    """

    role: str
    run: Handler
    screened: bool = True


def say(texts: Catalogue, lang: str, key: str, **values: object) -> Outcome:
    """An outcome of one catalogue reply and nothing to write."""
    return Outcome((Reply(texts.get(lang, key, **values), key=key),))


@dataclass(frozen=True, slots=True)
class Command:
    """A chat command: its names, the least role that may run it, its description, and who runs it.

    `run` None means the conversation engine runs it (the survey, the proposal flow, help, language, forget).
    """

    name: str
    role: str
    help: str
    run: Handler | None = None
    vi: str = ""
    aliases: tuple[str, ...] = ()
    takes_argument: bool = False

    def word(self, lang: str) -> str:
        """The command as written in a language's menu and help."""
        return self.vi if lang == "vi" and self.vi else self.name


@dataclass(frozen=True, slots=True)
class Router:
    """One feature's declarations: commands, button prefixes with their role, and a typed answer it may wait for."""

    name: str
    commands: tuple[Command, ...] = ()
    taps: Mapping[str, Buttons] = field(default_factory=dict)
    pending: str = ""
    typed: Handler | None = None


class RoutesError(ValueError):
    """The routers' declarations disagree; the message says which command and what to fix."""


class Routes:
    """Every router's declarations, looked up by command word, button prefix and pending key."""

    def __init__(self, routers: Sequence[Router], texts: Catalogue) -> None:
        self.routers = tuple(routers)
        self.commands: dict[str, Command] = {}
        self.words: dict[str, Command] = {}
        self.taps: dict[str, Buttons] = {}
        self.owners: dict[str, Router] = {}
        self.pending: dict[str, Handler] = {}
        for router in self.routers:
            for command in router.commands:
                self._add(router, command, texts)
            for prefix, tap in router.taps.items():
                if prefix in self.taps or not re.fullmatch(r"[a-z]", prefix):
                    raise RoutesError(f"router {router.name}: button prefix {prefix!r} is taken or not one letter")
                if tap.role not in access.ROLES:
                    raise RoutesError(f"router {router.name}: button prefix {prefix!r} has no known role")
                self.taps[prefix] = tap
                self.owners[prefix] = router
            if router.pending:
                if router.typed is None or router.pending in self.pending:
                    raise RoutesError(f"router {router.name}: pending {router.pending!r} needs one typed handler")
                self.pending[router.pending] = router.typed

    def _add(self, router: Router, command: Command, texts: Catalogue) -> None:
        """Check one command and index its words."""
        where = f"router {router.name}, command {command.name!r}"
        if command.role not in access.ROLES:
            raise RoutesError(f"{where}: role {command.role!r} is not one of {', '.join(access.ROLES)}")
        if not all(command.help in table for table in texts.texts.values()):
            raise RoutesError(f"{where}: add the description {command.help!r} to every texts/*.toml")
        if command.name in self.commands:
            raise RoutesError(f"{where}: declared twice")
        self.commands[command.name] = command
        for word in (command.name, command.vi, *command.aliases):
            if not word:
                continue
            if not re.fullmatch(r"[a-z0-9_]{1,32}", word) or self.words.get(word, command) is not command:
                raise RoutesError(f"{where}: the word {word!r} is taken or not a Telegram command (a-z, 0-9, _)")
            self.words[word] = command

    def parse(self, text: str | None, bare: bool = False) -> tuple[Command | None, str] | None:
        """Split '/cmd@bot arg' into (command, arg); (None, word) for an unknown command; None for no command.

        With `bare` (channels without a command menu, like Zalo) a message that is only a command word, typed
        without '/' and with or without accents ("khảo sát", "kien nghi", "dừng"), is a command too; it may
        carry one more word as its argument ("start CODE", "diem my-an").
        """
        if not text:
            return None
        if text.startswith("/"):
            head, _, arg = text[1:].strip().partition(" ")
            name = head.split("@", 1)[0].lower()
            command = self.words.get(name)
            return (command, arg.strip()) if command else (None, name)
        if not bare:
            return None
        typed = text.split()
        for size in range(min(3, len(typed)), 0, -1):
            command = self.words.get("".join(fold(word).replace(" ", "") for word in typed[:size]))
            if command and (len(typed) == size or (len(typed) == size + 1 and command.takes_argument)):
                return command, " ".join(typed[size:])
        return None

    def allowed(self, person: access.Person) -> list[Command]:
        """The commands a person may run, in declaration order."""
        return [c for c in self.commands.values() if access.permits(person, c.role)]

    def help_lines(self, person: access.Person, lang: str, texts: Catalogue) -> list[str]:
        """One line per command the person may run."""
        return [f"/{c.word(lang)} — {texts.get(lang, c.help)}" for c in self.allowed(person)]

    def menu(self, person: access.Person, lang: str, texts: Catalogue) -> tuple[tuple[str, str], ...]:
        """The Telegram command menu of a person: (command, description)."""
        return tuple((c.word(lang), texts.get(lang, c.help)[:256]) for c in self.allowed(person))
