"""The questionnaire part of the engine: questions, back, comment, review and submit."""

from __future__ import annotations

from datetime import date
from typing import Any

from conversations.effects import SaveAnswer, StartResponse, Submit
from conversations.matching import clean
from conversations.messages import Reply
from conversations.model import Questionnaire
from conversations.safety import Screen
from conversations.turn import STALE, Input, Turn, names

REVIEW = "review"


class Survey:
    """Runs one questionnaire per group inside a turn of the engine."""

    def __init__(self, questionnaires: dict[str, Questionnaire], screen: Screen) -> None:
        self.questionnaires = questionnaires
        self.screen = screen

    def _q(self, turn: Turn) -> Questionnaire:
        """The questionnaire of the person's group."""
        return self.questionnaires[turn.s["profile"]["group"]]

    def order(self, q: Questionnaire) -> list[str]:
        """Every position of the survey in order: items, comment, review."""
        return [s.id for s in q.items] + ([q.comment.id] if q.comment else []) + [REVIEW]

    def begin(self, turn: Turn) -> None:
        """Start or resume the open round's survey, or say why not."""
        s, ctx = turn.s, turn.ctx
        current = s.get("survey")
        window = ctx.window
        paused = ctx.round_id is None and window is not None and bool(current) and current["round"] == window.round_id
        if current and current["round"] != ctx.round_id and not paused:
            turn.say("round_changed", old=current["round"])
            s["survey"] = current = None
        if ctx.round_id is None:
            s.update(flow="idle", step=None)
            say_no_round(turn)
            return
        if ctx.round_id in s["done"]:
            s.update(flow="idle", step=None)
            turn.say("done", round=ctx.round_id)
            return
        q = self._q(turn)
        if current is None:
            profile = s["profile"]
            current = s["survey"] = {"round": ctx.round_id, "response": ctx.new_id, "answers": {}}
            turn.effects.append(StartResponse(ctx.new_id, ctx.round_id, profile["group"], profile["commune"],
                                              profile["age_band"], q.version, ctx.now))
            turn.replies.append(Reply(f"{turn.label(q.title)}\n\n{turn.label(q.intro)}", key="survey.intro"))
            s.update(flow="survey", step=self.order(q)[0])
        else:
            step = next(p for p in self.order(q) if p not in current["answers"])
            s.update(flow="survey", step=step)
            if step != REVIEW:
                turn.say("resume", n=self.order(q).index(step) + 1)
        self.ask(turn)

    def ask(self, turn: Turn, *, new: bool = True) -> None:
        """Ask the current question, the comment or the review."""
        q = self._q(turn)
        s = turn.s
        order = self.order(q)
        position = order.index(s["step"])
        answers = s["survey"]["answers"]
        back = [("back", turn.t("back"))] if position else []
        if s["step"] == REVIEW:
            turn.ask(self._review(turn, q), [("submit", turn.t("submit")), *back], "survey.review", new=new)
            return
        if q.comment and s["step"] == q.comment.id:
            turn.ask(turn.label(q.comment.text), [("skip", turn.t("skip")), *back], "survey.comment", new=new)
            return
        item = q.items[position]
        lines = [turn.t("progress", n=position + 1, total=len(q.items)), turn.label(item.text)]
        chosen = item.option(answers.get(item.id, ""))
        if chosen:
            lines.append(turn.t("chosen", label=turn.label(chosen.label)))
        options = [(o.id, turn.label(o.label)) for o in item.options]
        turn.ask("\n".join(lines), options + back, f"survey.item.{item.id}", new=new)

    def _review(self, turn: Turn, q: Questionnaire) -> str:
        """The summary shown before sending."""
        answers = turn.s["survey"]["answers"]
        lines = [turn.t("review.title")]
        for n, item in enumerate(q.items, 1):
            option = item.option(answers.get(item.id, ""))
            question = turn.label(item.short) if item.short else turn.label(item.text)
            lines.append(turn.t("review.line", n=n, question=question, answer=turn.label(option.label) if option
                                else "—"))
        if q.comment:
            text = answers.get(q.comment.id)
            lines.append(turn.t("review.comment", text=text) if text else turn.t("review.no_comment"))
        return "\n".join(lines)

    def answer(self, turn: Turn, inp: Input) -> None:
        """Take the person's answer to the current position."""
        s, ctx = turn.s, turn.ctx
        current = s["survey"]
        if current is None or current["round"] != ctx.round_id:
            self.begin(turn)
            return
        q = self._q(turn)
        order = self.order(q)
        position = order.index(s["step"])
        is_comment = bool(q.comment) and s["step"] == q.comment.id
        if s["step"] == REVIEW:
            options: list[tuple[str, list[str]]] = [("submit", names(turn, "submit"))]
        elif is_comment:
            options = [("skip", names(turn, "skip"))]
        else:
            options = [(o.id, [o.label.vi, o.label.en]) for o in q.items[position].options]
        if position:
            options.append(("back", names(turn, "back")))
        chosen = turn.match(inp, options)
        if chosen == STALE:
            self._reask(turn, "stale")
        elif chosen == "back":
            s["step"] = order[position - 1]
            self.ask(turn)
        elif chosen == "submit":
            self._submit(turn, current)
        elif is_comment:
            self._comment(turn, q, current, None if chosen == "skip" else inp)
        elif chosen is None:
            self._reask(turn, "reask_other" if inp.other else "reask")
        else:
            option = q.items[position].option(chosen)
            assert option is not None
            current["answers"][s["step"]] = chosen
            turn.effects.append(SaveAnswer(current["response"], s["step"], chosen,
                                           option.satisfied if option.scored else None))
            s["step"] = order[position + 1]
            self.ask(turn)

    def _comment(self, turn: Turn, q: Questionnaire, current: dict[str, Any], inp: Input | None) -> None:
        """Store the free-text comment, or skip it."""
        assert q.comment is not None
        text = ""
        if inp is not None:
            text = clean(inp.text or "", q.comment.max_length)
            if not text:
                self._reask(turn, "comment_reask")
                return
            if len(text) > q.comment.max_length:
                turn.say("comment_too_long", length=len((inp.text or "").strip()), limit=q.comment.max_length)
                self.ask(turn, new=False)
                return
        if text or current["answers"].get(q.comment.id):
            turn.effects.append(SaveAnswer(current["response"], q.comment.id, None, None, text or None))
        current["answers"][q.comment.id] = text
        turn.s["step"] = REVIEW
        self.ask(turn)

    def _submit(self, turn: Turn, current: dict[str, Any]) -> None:
        """Lock the response and thank the person."""
        s = turn.s
        turn.effects.append(Submit(current["response"], current["round"], turn.ctx.now))
        s["done"].append(current["round"])
        s.update(flow="idle", step=None, survey=None)
        turn.say("thanks", round=current["round"])

    def _reask(self, turn: Turn, notice: str) -> None:
        """Say why, then repeat the current position."""
        turn.say(notice)
        self.ask(turn, new=False)



def say_no_round(turn: Turn) -> None:
    """Say why there is no survey: it opens on a day, it closed on a day, or no round is open at all."""
    window = turn.ctx.window
    if window is None:
        turn.say("no_round")
    else:
        day = window.opens if window.state == "upcoming" else window.closes
        turn.say(f"round.{window.state}", round=window.round_id, date=_day(day))


def _day(iso: str | None) -> str:
    """An ISO day as dd/mm/yyyy."""
    return "—" if not iso else date.fromisoformat(iso).strftime("%d/%m/%Y")
