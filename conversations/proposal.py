"""A proposal to the children's forum: the survey's age gate, consent, commune, topic, text, publishing, review."""

from __future__ import annotations

from conversations.effects import CreateProposal, RecordConsent
from conversations.forum import Forum
from conversations.matching import clean
from conversations.messages import Reply
from conversations.model import Onboarding, Option, Step
from conversations.safety import Screen
from conversations.turn import STALE, Input, Turn, names

PURPOSE = "children_forum"
STEPS = ("role", "age", "consent_self", "consent_parent", "consent_resident", "commune", "topic", "text", "publish",
         "review")
CONSENTS = ("consent_self", "consent_parent", "consent_resident")


class Proposals:
    """Runs the proposal flow inside a turn of the engine."""

    def __init__(self, forum: Forum, screen: Screen, gate: Onboarding | None = None) -> None:
        self.forum = forum
        self.screen = screen
        self.gate = gate

    def begin(self, turn: Turn) -> None:
        """Start a proposal, or say why not."""
        s = turn.s
        if turn.ctx.proposals_today >= self.forum.per_day:
            turn.say("forum.limit", limit=self.forum.per_day)
            return
        commune = (s.get("profile") or {}).get("commune") or s.get("forum_commune")
        s.update(flow="proposal", proposal={"commune": commune})
        group = self.group(s)
        if s.get("forum_consent"):
            self._goto(turn, "commune")
        elif group is None and self._gate_step("group", {}) is not None:
            self._goto(turn, "role")
        else:
            self._goto(turn, "consent_resident" if group == "resident" else "consent_self")

    @staticmethod
    def group(s: dict) -> str | None:
        """Who the person said they are: in the survey's onboarding, or at the forum's own age gate."""
        return (s.get("profile") or {}).get("group") or s.get("forum_group")

    def _gate_step(self, field: str, data: dict[str, str]) -> Step | None:
        """The onboarding step asking `field` for someone so far known by `data` (the survey's own age gate)."""
        steps = self.gate.steps if self.gate else ()
        return next((st for st in steps if st.field == field and st.applies(data)), None)

    def _gate_options(self, turn: Turn) -> list[Option]:
        """The options of the age gate's current step, as the survey's onboarding words them."""
        field = "group" if turn.s["step"] == "role" else "age_band"
        step = self._gate_step(field, {"group": "child"} if field == "age_band" else {})
        return list(step.options) if step else []

    def _goto(self, turn: Turn, step: str) -> None:
        """Move to a step, skipping what is already known, and ask it."""
        draft = turn.s["proposal"]
        if step == "commune" and draft.get("commune"):
            step = "topic"
        turn.s["step"] = step
        self.ask(turn)

    def _options(self, turn: Turn) -> list[tuple[str, str]]:
        """The current step's choices as (id, label)."""
        step, lang = turn.s["step"], turn.s["lang"]
        if step in ("role", "age"):
            return [(o.id, turn.label(o.label)) for o in self._gate_options(turn)]
        if step in CONSENTS:
            return [("agree", turn.t(f"forum.choice.agree_{step[8:]}")), ("no", turn.t(f"forum.choice.no_{step[8:]}"))]
        if step == "commune":
            return list(turn.ctx.communes)
        if step == "topic":
            return [(t.id, t.label.get(lang)) for t in self.forum.topics]
        if step == "text":
            return [("cancel", turn.t("forum.choice.cancel"))]
        if step == "publish":
            return [("yes", turn.t("forum.choice.publish_yes")), ("no", turn.t("forum.choice.publish_no"))]
        return [("send", turn.t("forum.choice.send")), ("edit", turn.t("forum.choice.edit")),
                ("cancel", turn.t("forum.choice.cancel"))]

    def ask(self, turn: Turn, *, new: bool = True) -> None:
        """Ask the current step."""
        step, draft = turn.s["step"], turn.s["proposal"]
        if step in ("role", "age"):
            gate = self._gate_step("group" if step == "role" else "age_band", {"group": "child"})
            text = turn.label(gate.text) if gate else ""
        elif step == "text":
            text = turn.t("forum.ask.text", low=self.forum.min_length, high=self.forum.max_length)
        elif step == "review":
            topic = self.forum.topic(draft["topic"])
            publish = turn.t(f"forum.choice.publish_{'yes' if draft['publish'] else 'no'}")
            text = turn.t("forum.ask.review", topic=topic.label.get(turn.s["lang"]) if topic else draft["topic"],
                          text=draft["text"], publish=publish)
        else:
            text = turn.t(f"forum.ask.{step}")
        turn.ask(text, self._options(turn), f"forum.{step}", new=new)

    def answer(self, turn: Turn, inp: Input) -> None:
        """Take the answer to the current step."""
        s = turn.s
        step, draft = s["step"], s["proposal"]
        options = self._options(turn)
        chosen = turn.match(inp, [(oid, [label, *names(turn, f"forum.choice.{oid}")])
                                  if oid in ("cancel", "send", "edit") else (oid, [label]) for oid, label in options])
        if chosen == STALE:
            self._reask(turn, "stale")
        elif chosen in ("cancel", "no") and step in ("text", "review", *CONSENTS):
            s.update(flow="idle", step=None, proposal=None)
            turn.say("forum.cancelled" if step in ("text", "review") else "forum.no_consent")
        elif step == "text":
            self._text(turn, inp)
        elif chosen is None:
            self._reask(turn, "reask_other" if inp.other else "reask")
        elif step in ("role", "age"):
            self._gate(turn, chosen)
        elif step == "consent_self":
            self._goto(turn, "consent_parent")
        elif step in ("consent_parent", "consent_resident"):
            s["forum_consent"] = self.forum.consent_version
            given_by = "child+parent" if step == "consent_parent" else "self"
            turn.effects.append(RecordConsent(PURPOSE, given_by, self.forum.consent_version, turn.ctx.now))
            self._goto(turn, "commune")
        elif step == "commune":
            draft["commune"] = s["forum_commune"] = chosen
            self._goto(turn, "topic")
        elif step == "topic":
            draft["topic"] = chosen
            self._goto(turn, "text")
        elif step == "publish":
            draft["publish"] = chosen == "yes"
            self._goto(turn, "review")
        elif chosen == "edit":
            self._goto(turn, "text")
        else:
            self._send(turn, draft)

    def _gate(self, turn: Turn, chosen: str) -> None:
        """The age gate: a child of 10-15 with a parent's consent, or an adult as a resident; nothing is stored."""
        s = turn.s
        option = next(o for o in self._gate_options(turn) if o.id == chosen)
        if option.end:
            s.update(flow="idle", step=None, proposal=None, forum_group=None)
            key = f"forum.end.{option.end}"
            if turn.texts.has(s["lang"], key) and self.gate:
                turn.say(key)
            elif self.gate:
                turn.replies.append(Reply(turn.label(self.gate.ends[option.end]), key=f"end.{option.end}"))
            return
        if s["step"] == "role":
            s["forum_group"] = option.value
            self._goto(turn, "age" if option.value == "child" else "consent_resident")
        else:
            self._goto(turn, "consent_self")

    def _text(self, turn: Turn, inp: Input) -> None:
        """Check the proposal's text, screening it for danger first."""
        raw = inp.text or ""
        text = clean(raw, self.forum.max_length)
        draft = turn.s["proposal"]
        letters = sum(c.isalnum() for c in text)
        if inp.text is None or letters == 0:
            self._reask(turn, "reask_other" if inp.other else "forum.text_empty")
        elif len(text) < self.forum.min_length:
            self._reask(turn, "forum.text_short")
        elif len(text) > self.forum.max_length:
            turn.say("forum.text_long", length=len(raw.strip()), limit=self.forum.max_length)
            self.ask(turn, new=False)
        else:
            draft["text"] = text
            self._goto(turn, "publish")

    def _send(self, turn: Turn, draft: dict) -> None:
        """File the proposal; the service fills the reference into the receipt."""
        turn.effects.append(CreateProposal(turn.ctx.new_id, draft["commune"], draft["topic"], draft["text"],
                                           bool(draft["publish"]), turn.ctx.now))
        turn.s.update(flow="idle", step=None, proposal=None)
        turn.say("forum.receipt", ref="{ref}", days=self.forum.answer_days)  # the service fills in the ref

    def _reask(self, turn: Turn, notice: str) -> None:
        """Say why, then repeat the current step."""
        turn.say(notice, low=self.forum.min_length, high=self.forum.max_length)
        self.ask(turn, new=False)
