"""The pure conversation engine: (flows, session, input, context) -> step."""

from __future__ import annotations

import marshal
from typing import Any

from conversations.catalogue import Catalogue
from conversations.effects import Forget, PollConsent, SaveProfile
from conversations.forum import Forum, load_forum
from conversations.messages import Reply
from conversations.model import Flows, Option, Step, Text
from conversations.proposal import Proposals
from conversations.safety import Screen
from conversations.survey import Survey, say_no_round
from conversations.turn import STALE, Context, Input, Result, Turn, names


class Engine:
    """Interprets the onboarding, the questionnaires and the proposal flow; never does I/O."""

    def __init__(self, flows: Flows, texts: Catalogue, forum: Forum | None = None,
                 screen: Screen | None = None) -> None:
        self.flows = flows
        self.texts = texts
        self.screen = screen or Screen.load()
        self.survey = Survey(flows.questionnaires, self.screen)
        self.proposals = Proposals(forum or load_forum(), self.screen, flows.onboarding)

    def advance(self, session: dict[str, Any] | None, inp: Input, ctx: Context) -> Result:
        """Take one input and return the next session, replies and effects."""
        turn = Turn({**self._new(ctx), **marshal.loads(marshal.dumps(session))} if session else self._new(ctx), ctx,
                    self.texts)
        s = turn.s
        if inp.command:
            s["confirm"] = None
            self._command(turn, inp.command)
        elif s.get("confirm"):
            self._confirm(turn, inp)
        elif s["flow"] == "onboarding":
            self._onboard(turn, inp)
        elif s["flow"] == "survey":
            self.survey.answer(turn, inp)
        elif s["flow"] == "proposal":
            self.proposals.answer(turn, inp)
        elif s.get("profile") or inp.choice is not None:
            turn.say("idle")
        elif not self._closed(turn):
            self._start_onboarding(turn)
        return Result(None if turn.dropped else s, tuple(turn.replies), tuple(turn.effects))

    @staticmethod
    def _new(ctx: Context) -> dict[str, Any]:
        """A fresh session for someone the bot has not met (or who asked to be forgotten)."""
        done = [ctx.round_id] if ctx.submitted and ctx.round_id else []
        return {"lang": ctx.lang, "turn": 0, "flow": "idle", "step": None, "data": {}, "profile": None,
                "done": done, "survey": None, "confirm": None}

    def _command(self, turn: Turn, command: str) -> None:
        """Run a conversation command."""
        s = turn.s
        if command in ("start", "survey"):
            if s.get("profile") and command == "start" and self._ask_polls(turn):
                return
            if s.get("profile"):
                self.survey.begin(turn)
            elif s["flow"] == "onboarding" and s.get("step"):
                self.reask(turn, "resume_onboarding")  # coming back after a break: the next question, not the intro
            elif self._closed(turn):
                return
            else:
                self._start_onboarding(turn)
        elif command == "help":
            turn.replies.append(Reply("\n".join([turn.t("help"), *turn.ctx.extra_help]), key="help"))
            self.reask(turn)
        elif command == "language":
            s["lang"] = "en" if s["lang"] == "vi" else "vi"
            turn.say("language_set")
            self.reask(turn)
        elif command == "propose":
            self.proposals.begin(turn)
        elif command == "forget":
            s["confirm"] = "forget"
            turn.ask(turn.t("forget.confirm"), [("yes", turn.t("yes")), ("no", turn.t("no"))], "forget.confirm")

    def _confirm(self, turn: Turn, inp: Input) -> None:
        """Handle the answer to 'erase my data?'."""
        options = [("yes", names(turn, "yes")), ("no", names(turn, "no"))]
        chosen = turn.match(inp, options)
        if chosen == "yes":
            turn.effects.append(Forget())
            turn.say("forget.done")
            turn.dropped = True
        elif chosen == "no":
            turn.s["confirm"] = None
            turn.say("forget.cancelled")
            self.reask(turn)
        else:
            turn.say("reask")
            turn.ask(turn.t("forget.confirm"), [("yes", turn.t("yes")), ("no", turn.t("no"))],
                     "forget.confirm", new=False)

    def reask(self, turn: Turn, notice: str | None = None) -> None:
        """Repeat the current question, optionally after a short notice."""
        if notice:
            turn.say(notice)
        if turn.s["flow"] == "onboarding":
            self._ask_step(turn, new=False)
        elif turn.s["flow"] == "survey":
            self.survey.ask(turn, new=False)
        elif turn.s["flow"] == "proposal":
            self.proposals.ask(turn, new=False)

    def _polls_step(self, profile: dict) -> Step | None:
        """The onboarding step asking this person whether they will receive leaders' polls, if the flow has one."""
        return next((st for st in self.flows.onboarding.steps if st.field == "polls" and st.applies(profile)), None)

    def _ask_polls(self, turn: Turn) -> bool:
        """Ask someone onboarded before the polls question was added; until they say yes they get no polls."""
        s = turn.s
        step = self._polls_step(s.get("profile") or {})
        if step is None or s.get("polls") is not None:
            return False
        s.update(flow="onboarding", data=dict(s["profile"]), step=step.id)
        self._ask_step(turn)
        return True

    def _closed(self, turn: Turn) -> bool:
        """Say so, before consent and age are asked, when no round is open or the person already answered it."""
        ctx = turn.ctx
        if ctx.round_id is None:
            say_no_round(turn)
        elif ctx.round_id in turn.s["done"]:
            turn.say("done", round=ctx.round_id)
        else:
            return False
        turn.s.update(flow="idle", step=None)
        return True

    def _start_onboarding(self, turn: Turn) -> None:
        """Begin the explanation and consent questions."""
        data = dict(turn.ctx.preset)
        first = next(s for s in self.flows.onboarding.steps if s.applies(data) and s.field not in data)
        turn.s.update(flow="onboarding", data=data, step=first.id)
        self._ask_step(turn)

    def _options(self, turn: Turn, step: Step) -> list[Option]:
        """The options of an onboarding step, the communes filled in."""
        if step.options_from == "communes":
            return [Option(id=code, label=Text(name, name), value=code) for code, name in turn.ctx.communes]
        return list(step.options)

    def _ask_step(self, turn: Turn, *, new: bool = True) -> None:
        """Ask the current onboarding step."""
        step = self.flows.onboarding.step(turn.s["step"])
        assert step is not None
        options = [(o.id, turn.label(o.label)) for o in self._options(turn, step)]
        turn.ask(turn.label(step.text), options, f"onboarding.{step.id}", new=new)

    def _onboard(self, turn: Turn, inp: Input) -> None:
        """Take the answer to the current onboarding step."""
        flow = self.flows.onboarding
        step = flow.step(turn.s["step"])
        if step is None:
            self._start_onboarding(turn)
            return
        options = self._options(turn, step)
        chosen = turn.match(inp, [(o.id, [o.label.vi, o.label.en]) for o in options])
        if chosen is None or chosen == STALE:
            self.reask(turn, "reask_other" if inp.other else "stale" if chosen == STALE else "reask")
            return
        option = next(o for o in options if o.id == chosen)
        if option.end:
            turn.replies.append(Reply(turn.label(flow.ends[option.end]), key=f"end.{option.end}"))
            turn.dropped = True
            return
        data = turn.s["data"]
        if step.field:
            data[step.field] = option.value
        if step.consent:
            data.setdefault("consent", []).append(step.consent)
        later = flow.steps[flow.steps.index(step) + 1:]
        following = next((s for s in later if s.applies(data) and s.field not in data), None)
        if following:
            turn.s["step"] = following.id
            self._ask_step(turn)
            return
        profile = {k: data[k] for k in ("group", "commune", "age_band")}
        if not turn.s.get("profile"):  # else only the polls question was asked, of someone onboarded before it
            turn.effects.append(SaveProfile(consent=tuple(data.get("consent", ())), version=flow.version,
                                            purpose=flow.purpose, at=turn.ctx.now, lang=turn.s["lang"], **profile))
        if "polls" in data:
            turn.s["polls"] = data["polls"] == "yes"
            turn.effects.append(PollConsent(turn.s["polls"]))
        turn.s.update(profile=profile, data={}, flow="idle", step=None)
        self.survey.begin(turn)

