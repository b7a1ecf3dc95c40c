"""Leaders reaching their commune: polls composed in chat, votes, results, reminders, progress, opt-out."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine

from analytics.plot import render
from analytics.poll_chart import poll_chart
from bot import access
from conversations import Catalogue, Choice, Reply
from conversations.matching import clean
from storage import outbox, polls
from storage.polls import PollInfo

QUESTION, OPTION, MAX_OPTIONS = 300, 100, 10
CLOSING_DAYS = (0, 1, 3, 7)
Names = Callable[[], Awaitable[dict[str, str]]]
Pending = dict[str, Any] | None


class Outreach:
    """Polls, votes, reminders and progress, every step checked against the person's role and communes."""

    def __init__(self, db: AsyncEngine, texts: Catalogue, names: Names, clock: Callable[[], datetime],
                 remind_days: int = 3) -> None:
        self.db = db
        self.texts = texts
        self.names = names
        self.clock = clock
        self.remind_days = remind_days

    def _t(self, lang: str, key: str, **values: object) -> str:
        """A catalogue text."""
        return self.texts.get(lang, key, **values)

    def _say(self, lang: str, key: str, choices: tuple[Choice, ...] = (), **values: object) -> list[Reply]:
        """One catalogue reply."""
        return [Reply(self._t(lang, key, **values), choices, key=key)]

    async def polls(self, who: access.Person, lang: str) -> list[Reply]:
        """The person's polls with live results, and a button to make a new one."""
        found = await polls.listing(self.db, access.scope(who, None))
        now, replies = self.clock(), []
        for poll in found:
            replies += await self.results(poll, lang, now)
        new = Choice("p:new:0", self._t(lang, "poll.choice.new"))
        replies.append(Reply(self._t(lang, "poll.none" if not found else "poll.more"), (new,), key="poll.menu"))
        return replies

    async def results(self, poll: PollInfo, lang: str, now: datetime) -> list[Reply]:
        """Counts, percentages and a bar chart of one poll; a close button while it is open."""
        total = sum(poll.counts)
        lines = [self._t(lang, "poll.result_title", id=poll.id, question=poll.question, votes=total,
                         state=self._t(lang, "poll.closed" if poll.closed(now) else "poll.open"))]
        for option, count in zip(poll.options, poll.counts, strict=True):
            share = f"{count / total * 100:.0f}%" if total else "—"
            lines.append(f"• {option}: {count} ({share})")
        choices = () if poll.closed(now) else (Choice(f"p:x:{poll.id}", self._t(lang, "poll.choice.close")),)
        chart = await render(poll_chart, poll.question, poll.options, poll.counts)
        return [Reply("\n".join(lines), choices, key="poll.results", image=chart, filename=f"tham-do-{poll.id}.png")]

    async def tap(self, who: access.Person, data: str, state: Pending, lang: str) -> tuple[list[Reply], Pending]:
        """A button of the poll desk; returns the replies and the composing state to keep."""
        denied = access.check(who, "poll")
        if denied:
            return self._say(lang, denied), None
        _, verb, arg = [*data.split(":", 2), "", ""][:3]
        if verb == "new":
            return self._say(lang, "poll.ask_question", limit=QUESTION), {"step": "question"}
        if verb == "x" and arg.isdigit():
            return await self._close(who, int(arg), lang), state
        if state is None:
            return self._say(lang, "poll.stale"), None
        step = state.get("step")
        if verb == "done" and step == "options":
            return self._ask_audience(state, lang)
        if verb == "aud" and step == "audience" and arg in polls.AUDIENCES:
            return await self._ask_commune(who, {**state, "audience": arg}, lang)
        if verb == "com" and step == "commune":
            return await self._choose_commune(who, state, arg, lang)
        if verb == "end" and step == "closing" and arg.isdigit() and int(arg) in CLOSING_DAYS:
            return await self._preview({**state, "days": int(arg), "step": "preview"}, lang)
        if verb == "send" and step == "preview":
            return await self._send(who, state, lang), None
        if verb == "cancel":
            return self._say(lang, "poll.cancelled"), None
        return self._say(lang, "poll.stale"), state

    async def typed(self, who: access.Person, state: dict[str, Any], text: str, lang: str
                    ) -> tuple[list[Reply], Pending]:
        """The question or the next option, typed while composing."""
        if access.check(who, "poll"):
            return self._say(lang, "access.denied"), None
        step, value = state.get("step"), clean(text, QUESTION)
        if step == "question":
            if not value or len(value) > QUESTION:
                return self._say(lang, "poll.bad_question", limit=QUESTION), state
            return self._ask_option({**state, "question": value, "options": [], "step": "options"}, lang)
        if step == "options":
            options = list(state.get("options", []))
            if not value or len(value) > OPTION or value in options:
                return self._say(lang, "poll.bad_option", limit=OPTION), state
            options.append(value)
            state = {**state, "options": options}
            return self._ask_audience(state, lang) if len(options) == MAX_OPTIONS else self._ask_option(state, lang)
        return self._say(lang, "poll.stale"), state

    def _ask_option(self, state: dict[str, Any], lang: str) -> tuple[list[Reply], Pending]:
        """Ask for the next option; 'done' once there are two."""
        count = len(state["options"])
        done = (Choice("p:done:0", self._t(lang, "poll.choice.done")),) if count >= 2 else ()
        cancel = Choice("p:cancel:0", self._t(lang, "poll.choice.cancel"))
        return self._say(lang, "poll.ask_option", (*done, cancel), n=count + 1, limit=OPTION,
                         most=MAX_OPTIONS), state

    def _ask_audience(self, state: dict[str, Any], lang: str) -> tuple[list[Reply], Pending]:
        """Ask who should receive the poll."""
        if len(state.get("options", [])) < 2:
            return self._say(lang, "poll.two_options"), state
        choices = tuple(Choice(f"p:aud:{a}", self._t(lang, f"poll.audience.{a}")) for a in polls.AUDIENCES)
        return self._say(lang, "poll.ask_audience", choices), {**state, "step": "audience"}

    async def _ask_commune(self, who: access.Person, state: dict[str, Any], lang: str) -> tuple[list[Reply], Pending]:
        """Pick the commune: a leader of one commune skips this; officials may pick all communes."""
        if not who.official and len(who.leads) == 1:
            return self._ask_closing({**state, "commune": next(iter(who.leads))}, lang)
        names = await self.names()
        codes = sorted(names) if who.official else sorted(who.leads)
        choices = [Choice(f"p:com:{c}", names.get(c, c)) for c in codes]
        if who.official:
            choices.append(Choice("p:com:*", self._t(lang, "poll.all_communes")))
        return self._say(lang, "poll.ask_commune", tuple(choices)), {**state, "step": "commune"}

    async def _choose_commune(self, who: access.Person, state: dict[str, Any], code: str, lang: str
                              ) -> tuple[list[Reply], Pending]:
        """Take the chosen commune after checking the person may reach it."""
        if code == "*" and who.official:
            return self._ask_closing({**state, "commune": None}, lang)
        if code not in await self.names():
            return self._say(lang, "poll.stale"), state
        denied = access.check(who, "poll", code)
        if denied:
            return self._say(lang, denied), state
        return self._ask_closing({**state, "commune": code}, lang)

    def _ask_closing(self, state: dict[str, Any], lang: str) -> tuple[list[Reply], Pending]:
        """Ask when the poll closes."""
        choices = tuple(Choice(f"p:end:{d}", self._t(lang, f"poll.closing.d{d}")) for d in CLOSING_DAYS)
        return self._say(lang, "poll.ask_closing", choices), {**state, "step": "closing"}

    async def _preview(self, state: dict[str, Any], lang: str) -> tuple[list[Reply], Pending]:
        """Show the poll as it will go out, with how many people it reaches."""
        commune = state.get("commune")
        reach = await polls.reach(self.db, [commune] if commune else None, state["audience"])
        place = (await self.names()).get(commune, commune) if commune else self._t(lang, "poll.all_communes")
        text = self._t(lang, "poll.preview", question=state["question"],
                       options="\n".join(f"{n}. {o}" for n, o in enumerate(state["options"], 1)),
                       audience=self._t(lang, f"poll.audience.{state['audience']}"), place=place,
                       closing=self._t(lang, f"poll.closing.d{state['days']}"), reach=reach)
        choices = (Choice("p:send:0", self._t(lang, "poll.choice.send")),
                   Choice("p:cancel:0", self._t(lang, "poll.choice.cancel")))
        return [Reply(text, choices, key="poll.preview")], state

    async def _send(self, who: access.Person, state: dict[str, Any], lang: str) -> list[Reply]:
        """Create the poll and queue it to every recipient; the progress message follows the batch."""
        commune = state.get("commune")
        if not _reaches(who, commune):
            return self._say(lang, "access.other_commune")
        now = self.clock()
        closes = now + timedelta(days=state["days"]) if state["days"] else None
        body = outbox.payload(self._t(lang, "poll.message", question=state["question"]), key="poll.message")
        poll_id = await polls.create(self.db, commune=commune, who=state["audience"], question=state["question"],
                                     options=state["options"], owner=who.key, now=now, closes_at=closes, body=body)
        return [Reply(self._t(lang, "poll.queued", id=poll_id), key="poll.queued", track=f"poll:{poll_id}")]

    async def _close(self, who: access.Person, poll_id: int, lang: str) -> list[Reply]:
        """Close a poll early, if it is in the person's scope."""
        poll = await polls.get(self.db, poll_id)
        if poll is None:
            return self._say(lang, "poll.stale")
        if not _reaches(who, poll.commune):
            return self._say(lang, "access.other_commune")
        await polls.close(self.db, poll_id, self.clock())
        closed = await polls.get(self.db, poll_id)
        assert closed is not None
        return await self.results(closed, lang, self.clock())

    async def vote(self, person: str, data: str, lang: str) -> list[Reply]:
        """A recipient's vote, refused when forged, stale or the poll is closed."""
        parts = data.split(":")
        if len(parts) != 3 or not parts[1].isdigit() or not parts[2].isdigit():
            return self._say(lang, "poll.bad_vote")
        poll = await polls.get(self.db, int(parts[1]))
        option = int(parts[2])
        if poll is None or option >= len(poll.options) or not await polls.received(self.db, poll.id, person):
            return self._say(lang, "poll.bad_vote")
        if poll.closed(self.clock()):
            return self._say(lang, "poll.vote_closed")
        await polls.vote(self.db, poll.id, person, option, self.clock())
        return self._say(lang, "poll.voted", option=poll.options[option])

    async def remind(self, who: access.Person, round_id: str | None, lang: str) -> list[Reply]:
        """Remind those in scope who started but did not submit the open round."""
        if round_id is None:
            return self._say(lang, "round.none")
        body = outbox.payload(self._t(lang, "remind.message", round=round_id),
                              [("cmd:survey", self._t(lang, "remind.resume"))], "remind.message")
        batch, count = await polls.remind(self.db, round_id, access.scope(who, None), self.clock(),
                                          self.remind_days, body)
        if not count:
            return self._say(lang, "remind.nobody", days=self.remind_days)
        return [Reply(self._t(lang, "remind.queued", count=count, days=self.remind_days), key="remind.queued",
                      track=batch)]


def _reaches(who: access.Person, commune: str | None) -> bool:
    """Whether a person may poll a commune (None: every commune, officials only)."""
    return who.official if commune is None else access.check(who, "poll", commune) is None
