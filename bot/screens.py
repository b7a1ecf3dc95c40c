"""Screens: a feature's buttons carry the number of the screen they were shown on, so a stale tap is known."""

from __future__ import annotations

import dataclasses
from collections.abc import Awaitable, Callable, Collection
from typing import Any

from bot.router import Outcome, Tap
from conversations import Choice, Reply

After = Callable[[Any], Awaitable[list[Reply]]]


def shows_buttons(outcome: Outcome, screened: Collection[str]) -> bool:
    """Whether an outcome's replies show buttons of a screened feature."""
    return any((t := Tap.parse(c.id)) and t.prefix in screened for r in outcome.replies for c in r.choices)


def stamp(outcome: Outcome, screened: Collection[str], screen: int) -> Outcome:
    """The outcome with its screened buttons, and those its `after` will show, marked with the screen."""
    return dataclasses.replace(outcome, replies=tuple(_stamp(r, screened, screen) for r in outcome.replies),
                               after=_stamped(outcome.after, screened, screen))


def _screened(choice: Choice, screened: Collection[str]) -> bool:
    """Whether a choice is a screened feature's button not yet marked."""
    tap = Tap.parse(choice.id)
    return tap is not None and tap.prefix in screened and tap.screen is None


def _stamp(reply: Reply, screened: Collection[str], screen: int) -> Reply:
    """Mark a reply's screened buttons with the screen they belong to."""
    if not any(_screened(c, screened) for c in reply.choices):
        return reply
    choices = tuple(Choice(f"{c.id}~{screen}", c.label) if _screened(c, screened) else c for c in reply.choices)
    return dataclasses.replace(reply, choices=choices)


def _stamped(after: After | None, screened: Collection[str], screen: int) -> After | None:
    """The same `after`, its replies' buttons marked with the screen."""
    if after is None:
        return None

    async def stamped(results: Any) -> list[Reply]:
        return [_stamp(r, screened, screen) for r in await after(results)]

    return stamped
