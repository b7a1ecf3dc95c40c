"""Leaders reaching their commune: polls composed in chat, votes, results, reminders, progress, opt-out."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine

from analytics.plot import render
from analytics.poll_chart import poll_chart
from bot import access
from bot.access import EVERYONE, LEADER
from bot.reports import Reports
from bot.router import Buttons, Call, Command, Outcome, Results, Router
from conversations import Catalogue, Choice, Reply
from conversations.matching import clean
from conversations.model import LANGS
from storage import outbox, polls
from storage.polls import PollInfo

QUESTION, OPTION, MAX_OPTIONS = 300, 100, 10
CLOSING_DAYS = (0, 1, 3, 7)
Names = Callable[[], Awaitable[dict[str, str]]]
Pending = dict[str, Any] | None


class Outreach:
    """Polls, votes, reminders and progress, every step checked against the person's role and communes."""

    def __init__(self, db: AsyncEngine, texts: Catalogue, names: Names, reports: Reports, remind_days: int = 3) -> None:
        self.db = db
        self.texts = texts
        self.names = names
        self.reports = reports
        self.remind_days = remind_days

    def router(self) -> Router:
        """Polls, reminders, progress and opt-out."""
        return Router("outreach", commands=(
            Command("poll", LEADER, "menu.poll", self.on_poll, vi="thamdo"),
            Command("remind", LEADER, "menu.remind", self.on_remind, vi="nhacnho"),
            Command("progress", LEADER, "menu.progress", self.on_progress, vi="tiendo"),
            Command("stop", EVERYONE, "menu.stop", self.on_stop, vi="dung"),
        ), taps={"p": Buttons(LEADER, self.on_tap), "v": Buttons(EVERYONE, self.on_vote, screened=False)},
            pending="compose", typed=self.on_typed)

    def _t(self, lang: str, key: str, **values: object) -> str:
        """A catalogue text."""
        return self.texts.get(lang, key, **values)

    def _say(self, lang: str, key: str, choices: tuple[Choice, ...] = (), keep: Pending = None,
             **values: object) -> Outcome:
        """One catalogue reply."""
        return Outcome((Reply(self._t(lang, key, **values), choices, key=key),), keep=keep)

    async def on_poll(self, call: Call) -> Outcome:
        """The person's polls with live results, and a button to make a new one."""
        found = await polls.listing(self.db, access.scope(call.person, None))
        replies = []
        for poll in found:
            replies += await self.results(poll, call.lang, call.now)
        new = Choice("p:new", self._t(call.lang, "poll.choice.new"))
        replies.append(Reply(self._t(call.lang, "poll.none" if not found else "poll.more"), (new,), key="poll.menu"))
        return Outcome(tuple(replies))

    async def on_progress(self, call: Call) -> Outcome:
        """Responses against the target in the person's communes."""
        scope = access.scope(call.person, None)
        return Outcome(tuple(await self.reports.progress(None if scope is None else list(scope), call.lang)))

    async def on_stop(self, call: Call) -> Outcome:
        """Switch off every proactive message to this person."""
        return Outcome(self._say(call.lang, "optout.stopped").replies, (polls.opt_out(call.person.key, True),))

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

    async def on_tap(self, call: Call) -> Outcome:
        """A button of the poll desk; the outcome keeps the composing state."""
        tap, state, lang = call.tap, call.state, call.lang
        assert tap is not None
        verb, arg = tap.verb, tap.arg()
        if verb == "new":
            return self._say(lang, "poll.ask_question", keep={"step": "question"}, limit=QUESTION)
        if verb == "x" and tap.number() is not None:
            return await self._close(call, tap.number() or 0)
        if state is None:
            return self._say(lang, "poll.stale")
        step = state.get("step")
        if verb == "done" and step == "options":
            return self._ask_audience(state, lang)
        if verb == "aud" and step == "audience" and arg in polls.AUDIENCES:
            return await self._ask_commune(call.person, {**state, "audience": arg}, lang)
        if verb == "com" and step == "commune":
            return await self._choose_commune(call.person, state, arg, lang)
        days = tap.number()
        if verb == "end" and step == "closing" and days in CLOSING_DAYS:
            return await self._preview({**state, "days": days, "step": "preview"}, lang)
        if verb == "send" and step == "preview":
            return self._send(call, state)
        if verb == "cancel":
            return self._say(lang, "poll.cancelled")
        return self._say(lang, "poll.stale", keep=state)

    async def on_typed(self, call: Call) -> Outcome:
        """The question or the next option, typed while composing."""
        state, lang = call.state or {}, call.lang
        step, value = state.get("step"), clean(call.text or "", QUESTION)
        if step == "question":
            if not value or len(value) > QUESTION:
                return self._say(lang, "poll.bad_question", keep=state, limit=QUESTION)
            return self._ask_option({**state, "question": value, "options": [], "step": "options"}, lang)
        if step == "options":
            options = list(state.get("options", []))
            if not value or len(value) > OPTION or value in options:
                return self._say(lang, "poll.bad_option", keep=state, limit=OPTION)
            options.append(value)
            state = {**state, "options": options}
            return self._ask_audience(state, lang) if len(options) == MAX_OPTIONS else self._ask_option(state, lang)
        return self._say(lang, "poll.stale", keep=state)

    def _ask_option(self, state: dict[str, Any], lang: str) -> Outcome:
        """Ask for the next option; 'done' once there are two."""
        count = len(state["options"])
        done = (Choice("p:done", self._t(lang, "poll.choice.done")),) if count >= 2 else ()
        cancel = Choice("p:cancel", self._t(lang, "poll.choice.cancel"))
        return self._say(lang, "poll.ask_option", (*done, cancel), keep=state, n=count + 1, limit=OPTION,
                         most=MAX_OPTIONS)

    def _ask_audience(self, state: dict[str, Any], lang: str) -> Outcome:
        """Ask who should receive the poll."""
        if len(state.get("options", [])) < 2:
            return self._say(lang, "poll.two_options", keep=state)
        choices = tuple(Choice(f"p:aud:{a}", self._t(lang, f"poll.audience.{a}")) for a in polls.AUDIENCES)
        return self._say(lang, "poll.ask_audience", choices, keep={**state, "step": "audience"})

    async def _ask_commune(self, who: access.Person, state: dict[str, Any], lang: str) -> Outcome:
        """Pick the commune: a leader of one commune skips this; officials may pick all communes."""
        if not who.official and len(who.leads) == 1:
            return self._ask_closing({**state, "commune": next(iter(who.leads))}, lang)
        names = await self.names()
        codes = sorted(names) if who.official else sorted(who.leads)
        choices = [Choice(f"p:com:{c}", names.get(c, c)) for c in codes]
        if who.official:
            choices.append(Choice("p:com:*", self._t(lang, "poll.all_communes")))
        return self._say(lang, "poll.ask_commune", tuple(choices), keep={**state, "step": "commune"})

    async def _choose_commune(self, who: access.Person, state: dict[str, Any], code: str, lang: str) -> Outcome:
        """Take the chosen commune after checking the person may reach it."""
        if code == "*" and who.official:
            return self._ask_closing({**state, "commune": None}, lang)
        if code not in await self.names():
            return self._say(lang, "poll.stale", keep=state)
        denied = access.check(who, LEADER, code)
        if denied:
            return self._say(lang, denied, keep=state)
        return self._ask_closing({**state, "commune": code}, lang)

    def _ask_closing(self, state: dict[str, Any], lang: str) -> Outcome:
        """Ask when the poll closes."""
        choices = tuple(Choice(f"p:end:{d}", self._t(lang, f"poll.closing.d{d}")) for d in CLOSING_DAYS)
        return self._say(lang, "poll.ask_closing", choices, keep={**state, "step": "closing"})

    async def _preview(self, state: dict[str, Any], lang: str) -> Outcome:
        """Show the poll as it will go out, with how many people it reaches."""
        commune = state.get("commune")
        reach = await polls.reach(self.db, [commune] if commune else None, state["audience"])
        place = (await self.names()).get(commune, commune) if commune else self._t(lang, "poll.all_communes")
        text = self._t(lang, "poll.preview", question=state["question"],
                       options="\n".join(f"{n}. {o}" for n, o in enumerate(state["options"], 1)),
                       audience=self._t(lang, f"poll.audience.{state['audience']}"), place=place,
                       closing=self._t(lang, f"poll.closing.d{state['days']}"), reach=reach)
        choices = (Choice("p:send", self._t(lang, "poll.choice.send")),
                   Choice("p:cancel", self._t(lang, "poll.choice.cancel")))
        return Outcome((Reply(text, choices, key="poll.preview"),), keep=state)

    def _send(self, call: Call, state: dict[str, Any]) -> Outcome:
        """Create the poll and queue it to every recipient; the progress message follows the batch."""
        commune, lang = state.get("commune"), call.lang
        if not _reaches(call.person, commune):
            return self._say(lang, "access.other_commune")
        closes = call.now + timedelta(days=state["days"]) if state["days"] else None
        body = outbox.payload(self._t(lang, "poll.message", question=state["question"]), key="poll.message",
                              values={"question": state["question"]})
        step = polls.create(commune=commune, who=state["audience"], question=state["question"],
                            options=state["options"], owner=call.person.key, now=call.now, closes_at=closes, body=body)

        async def queued(results: Results) -> list[Reply]:
            poll_id = results["poll"]
            return [Reply(self._t(lang, "poll.queued", id=poll_id), key="poll.queued", track=f"poll:{poll_id}")]

        return Outcome(writes=(step,), after=queued)

    async def _close(self, call: Call, poll_id: int) -> Outcome:
        """Close a poll early, if it is in the person's scope."""
        poll = await polls.get(self.db, poll_id)
        if poll is None:
            return self._say(call.lang, "poll.stale")
        if not _reaches(call.person, poll.commune):
            return self._say(call.lang, "access.other_commune")

        async def shown(_results: Results) -> list[Reply]:
            closed = await polls.get(self.db, poll_id)
            assert closed is not None
            return await self.results(closed, call.lang, call.now)

        return Outcome(writes=(polls.close(poll_id, call.now),), after=shown)

    async def on_vote(self, call: Call) -> Outcome:
        """A recipient's vote, refused when forged, stale or the poll is closed."""
        tap, lang = call.tap, call.lang
        poll_id, option = (tap.number(0), tap.number(1)) if tap and tap.verb == "o" else (None, None)
        poll = await polls.get(self.db, poll_id) if poll_id is not None else None
        if (poll is None or option is None or option >= len(poll.options)
                or not await polls.received(self.db, poll.id, call.person.key)):
            return self._say(lang, "poll.bad_vote")
        if poll.closed(call.now):
            return self._say(lang, "poll.vote_closed")
        return Outcome(self._say(lang, "poll.voted", option=poll.options[option]).replies,
                       (polls.vote(self.db, poll.id, call.person.key, option, call.now),))

    async def on_remind(self, call: Call) -> Outcome:
        """Remind those in scope who started but did not submit the open round."""
        lang = call.lang
        if call.round_id is None:
            return self._say(lang, "round.none")
        body = outbox.payload(self._t(lang, "remind.message", round=call.round_id),
                              [("cmd:survey", {g: self._t(g, "remind.resume") for g in LANGS})], "remind.message",
                              values={"round": call.round_id})
        step = polls.remind(call.round_id, access.scope(call.person, None), call.now, self.remind_days, body)

        async def queued(results: Results) -> list[Reply]:
            batch, count = results["remind"]
            if not count:
                return self._say(lang, "remind.nobody", days=self.remind_days).replies
            return [Reply(self._t(lang, "remind.queued", count=count, days=self.remind_days), key="remind.queued",
                          track=batch)]

        return Outcome(writes=(step,), after=queued)


def _reaches(who: access.Person, commune: str | None) -> bool:
    """Whether a person may poll a commune (None: every commune, officials only)."""
    return who.official if commune is None else access.check(who, LEADER, commune) is None
