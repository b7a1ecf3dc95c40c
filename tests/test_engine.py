"""The engine driven as tables of (person says -> bot answers), with the shipped flows."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest

from conversations import Catalogue, Context, Engine, Input, Result, load_flows
from conversations.effects import Forget, PollConsent, SaveAnswer, SaveProfile, StartResponse, Submit

COMMUNES = (("tt-my-an", "Thị trấn Mỹ An"), ("my-an", "Xã Mỹ An"), ("my-hoa", "Xã Mỹ Hòa"))
ENGINE = Engine(load_flows(), Catalogue.load())
CHILD_START = ["/start", "start", "child", "agree", "agree", "my-an", "a10_12", "yes"]
RESIDENT_START = ["/start", "start", "resident", "agree", "my-hoa", "a36_59", "yes"]


class Talk:
    """One person talking to the engine; the session goes through JSON like the database."""

    def __init__(self, round_id: str | None = "2024", **ctx: Any) -> None:
        self.session: dict[str, Any] | None = None
        self.round_id = round_id
        self.ctx = ctx
        self.ids = 0
        self.last: Result | None = None
        self.effects: list[Any] = []

    def say(self, said: str) -> Result:
        """Send a command (/x), a tap on a current choice (its option id), a raw choice (#turn:id) or text."""
        self.ids += 1
        ctx = Context(now=datetime(2024, 11, 5, tzinfo=UTC), new_id=f"r{self.ids}", round_id=self.round_id,
                      communes=COMMUNES, **self.ctx)
        if said.startswith("/"):
            inp = Input(command=said[1:])
        elif said.startswith("#"):
            inp = Input(choice=said[1:])
        elif said == "<sticker>":
            inp = Input(other=True)
        elif said.startswith("="):
            inp = Input(text=said[1:])
        else:
            inp = Input(choice=self.tap(said))
        self.last = ENGINE.advance(self.session, inp, ctx)
        self.session = json.loads(json.dumps(self.last.session)) if self.last.session else None
        self.effects.extend(self.last.effects)
        return self.last

    def tap(self, option: str) -> str:
        """The callback id of a current choice."""
        assert self.last is not None, "nothing asked yet"
        for reply in self.last.replies:
            for choice in reply.choices:
                if choice.id.split(":", 1)[1] == option:
                    return choice.id
        raise AssertionError(f"no choice {option!r} in {[c.id for r in self.last.replies for c in r.choices]}")

    def keys(self) -> list[str]:
        """Catalogue keys of the last replies."""
        assert self.last is not None
        return [r.key for r in self.last.replies]

    def run(self, steps: list[str]) -> None:
        """Say several things."""
        for step in steps:
            self.say(step)


@pytest.mark.parametrize(("script", "keys"), [
    (["/start"], ["onboarding.intro"]),
    (["/start", "start"], ["onboarding.role"]),
    (["/start", "start", "child"], ["onboarding.consent_child"]),
    (["/start", "start", "child", "agree"], ["onboarding.consent_parent"]),
    (["/start", "start", "resident"], ["onboarding.consent_resident"]),
    (["/start", "start", "resident", "agree"], ["onboarding.commune"]),
    (["/start", "start", "child", "agree", "agree", "my-an"], ["onboarding.age_child"]),
    (CHILD_START, ["survey.intro", "survey.item.safe_home"]),
    (["=hello"], ["onboarding.intro"]),
    (["/start", "no"], ["end.declined"]),
    (["/start", "start", "child", "disagree"], ["end.declined"]),
    (["/start", "start", "child", "agree", "not_yet"], ["end.need_parent"]),
    (["/start", "start", "child", "agree", "agree", "my-an", "under10"], ["end.too_young"]),
    (["/start", "start", "child", "agree", "agree", "my-an", "over15"], ["end.too_old"]),
    (["/start", "=1"], ["onboarding.role"]),
    (["/start", "=2"], ["end.declined"]),
    (["/start", "=bat dau"], ["onboarding.role"]),
    (["/start", "=maybe"], ["reask", "onboarding.intro"]),
    (["/start", "<sticker>"], ["reask_other", "onboarding.intro"]),
    (["/start", "#0:start"], ["stale", "onboarding.intro"]),
    (["/start", "#1:nonsense"], ["reask", "onboarding.intro"]),
    (["/start", "start", "resident", "agree", "=xa my hoa"], ["onboarding.age_resident"]),
    (["/start", "start", "resident", "agree", "=my an"], ["reask", "onboarding.commune"]),
])
def test_onboarding_table(script: list[str], keys: list[str]) -> None:
    talk = Talk()
    talk.run(script)
    assert talk.keys() == keys


@pytest.mark.parametrize("ending", [["no"], ["start", "child", "disagree"], ["start", "child", "agree", "not_yet"]])
def test_declining_stores_nothing(ending: list[str]) -> None:
    talk = Talk()
    talk.run(["/start", *ending])
    assert talk.session is None and talk.effects == []


def test_child_consent_records_both_agreements_then_starts_the_survey() -> None:
    talk = Talk()
    talk.run(CHILD_START)
    profile, polls, start = talk.effects
    assert isinstance(profile, SaveProfile) and profile.consent == ("self", "parent")
    assert polls == PollConsent(True), "the polls question is a yes/no of its own"
    assert (profile.group, profile.commune, profile.age_band) == ("child", "my-an", "10-12")
    assert profile.version == "2025.2" and profile.purpose == "criterion13_survey"
    assert isinstance(start, StartResponse) and start.round_id == "2024" and start.commune == "my-an"
    assert "Câu 1/12" in talk.last.replies[-1].text


def test_the_childs_consent_says_in_one_sentence_that_danger_is_told_to_an_adult() -> None:
    talk = Talk()
    talk.run(["/start", "start", "child"])
    assert talk.keys() == ["onboarding.consent_child"]
    sentence = ("Nếu em viết về điều gì nguy hiểm cho em, một người lớn có nhiệm vụ bảo vệ trẻ em ở xã sẽ được báo "
                "để giúp em.")
    assert sentence in talk.last.replies[-1].text


@pytest.mark.parametrize(("answer", "agree"), [("yes", True), ("no", False)])
def test_the_polls_question_comes_last_and_either_answer_goes_on_to_the_survey(answer: str, agree: bool) -> None:
    talk = Talk()
    talk.run(CHILD_START[:-1])
    assert talk.keys() == ["onboarding.polls_child"]
    talk.say(answer)
    assert [e for e in talk.effects if isinstance(e, PollConsent)] == [PollConsent(agree)]
    assert talk.keys()[-1] == "survey.item.safe_home" and talk.session["polls"] is agree


def test_someone_onboarded_before_the_polls_question_is_asked_it_once_at_start() -> None:
    talk = Talk()
    talk.run(CHILD_START)
    del talk.session["polls"]  # a session from before the question existed
    talk.effects.clear()
    talk.say("/survey")
    assert talk.keys()[-1] == "survey.item.safe_home", "/survey goes straight on"
    talk.say("/start")
    assert talk.keys() == ["onboarding.polls_child"]
    talk.say("yes")
    assert talk.effects == [PollConsent(True)], "no second profile, no second response"
    assert talk.keys()[-1] == "survey.item.safe_home"
    talk.say("/start")
    asked = talk.keys()
    assert "onboarding.polls_child" not in asked, "asked once"


def test_resident_consent_is_their_own() -> None:
    talk = Talk()
    talk.run(RESIDENT_START)
    assert talk.effects[0].consent == ("self",)


@pytest.mark.parametrize(("said", "option", "satisfied"), [
    ("very_satisfied", "very_satisfied", True), ("=2", "satisfied", True), ("=2.", "satisfied", True),
    ("= 3 ", "not_satisfied", False), ("=Rất không hài lòng", "very_dissatisfied", False),
    ("=rat hai long", "very_satisfied", True), ("=HÀI LÒNG", "satisfied", True), ("=5", "dont_know", None),
])
def test_every_choice_can_be_tapped_or_typed(said: str, option: str, satisfied: bool | None) -> None:
    talk = Talk()
    talk.run(CHILD_START)
    talk.say(said)
    assert talk.last.effects == (SaveAnswer("r8", "safe_home", option, satisfied),)
    assert "Câu 2/12" in talk.last.replies[-1].text


@pytest.mark.parametrize(("said", "key"), [
    ("=7", "reask"), ("=0", "reask"), ("=hài", "reask"), ("=" + "x" * 5000, "reask"), ("<sticker>", "reask_other"),
    ("#1:very_satisfied", "stale"), ("#999:very_satisfied", "stale"), ("#junk", "stale"),
    ("#{turn}:../../etc", "reask"), ("#{turn}:back", "reask"),
])
def test_bad_answers_reask_the_current_question_and_store_nothing(said: str, key: str) -> None:
    talk = Talk()
    talk.run(CHILD_START)
    turn = talk.session["turn"]
    talk.say(said.format(turn=turn))
    assert talk.keys() == [key, "survey.item.safe_home"]
    assert talk.last.effects == () and talk.session["turn"] == turn


def test_back_goes_one_question_back_and_shows_the_earlier_answer() -> None:
    talk = Talk()
    talk.run([*CHILD_START, "satisfied", "very_satisfied", "back"])
    assert talk.keys() == ["survey.item.safe_school"]
    assert "Câu 2/12" in talk.last.replies[0].text and "Rất hài lòng" in talk.last.replies[0].text
    talk.say("=quay lai")
    assert talk.keys() == ["survey.item.safe_home"]
    assert not any(c.id.endswith(":back") for c in talk.last.replies[0].choices), "no back on question 1"


def answer_all(talk: Talk, option: str = "satisfied") -> None:
    """Answer every question with one option."""
    for _ in range(12):
        talk.say(option)


def test_full_survey_with_comment_review_and_submit() -> None:
    talk = Talk()
    talk.run(CHILD_START)
    answer_all(talk)
    assert talk.keys() == ["survey.comment"]
    talk.say("=Trường em cần thêm sân chơi")
    assert talk.keys() == ["survey.review"]
    assert "Trường em cần thêm sân chơi" in talk.last.replies[0].text
    talk.say("submit")
    assert talk.keys() == ["thanks"]
    assert talk.last.effects == (Submit("r8", "2024", datetime(2024, 11, 5, tzinfo=UTC)),)
    saved = [e for e in talk.effects if isinstance(e, SaveAnswer)]
    assert len(saved) == 13 and saved[-1].text == "Trường em cần thêm sân chơi"
    talk.say("/survey")
    assert talk.keys() == ["done"]
    talk.say("=hello")
    assert talk.keys() == ["idle"]


def test_comment_limits_and_skip() -> None:
    talk = Talk()
    talk.run(CHILD_START)
    answer_all(talk)
    talk.say("=" + "a" * 501)
    assert talk.keys() == ["comment_too_long", "survey.comment"] and talk.last.effects == ()
    assert "501" in talk.last.replies[0].text
    talk.say("= \u200b\x00 ")
    assert talk.keys() == ["comment_reask", "survey.comment"]
    talk.say("skip")
    assert talk.keys() == ["survey.review"] and talk.last.effects == ()
    talk.say("back")
    talk.say("=" + "b" * 500)
    assert talk.last.effects[0].text == "b" * 500


def test_resume_after_a_break_continues_at_the_first_unanswered_question() -> None:
    talk = Talk()
    talk.run([*CHILD_START, "satisfied", "satisfied", "satisfied"])
    later = Talk()
    later.session = talk.session
    later.say("/survey")
    assert later.keys() == ["resume", "survey.item.no_violence"]
    assert "4" in later.last.replies[0].text and "Câu 4/12" in later.last.replies[1].text
    assert later.last.effects == ()


def test_a_closed_round_ends_the_unfinished_survey() -> None:
    talk = Talk()
    talk.run([*CHILD_START, "satisfied"])
    talk.round_id = None
    talk.say("satisfied")
    assert talk.keys() == ["round_changed", "no_round"]
    talk.round_id = "2025"
    talk.say("/survey")
    assert talk.keys() == ["survey.intro", "survey.item.safe_home"]
    assert isinstance(talk.last.effects[0], StartResponse) and talk.last.effects[0].round_id == "2025"


def test_no_open_round_is_said_before_consent_and_age_are_asked() -> None:
    talk = Talk(round_id=None)
    talk.say("/start")
    assert talk.keys() == ["no_round"] and talk.last.effects == ()


def test_someone_who_already_answered_is_told_so_before_consent_after_forgetting() -> None:
    talk = Talk(submitted=True)
    talk.say("/start")
    assert talk.keys() == ["done"]
    talk.say("=hello")
    assert talk.keys() == ["done"], "typing anything says the same, and asks nothing"
    assert not any(isinstance(e, (StartResponse, SaveProfile)) for e in talk.effects)


def test_onboarding_resumes_at_the_next_question_after_a_break() -> None:
    talk = Talk()
    talk.run(["/start", "start", "child", "agree"])
    asked = talk.keys()
    talk.say("/start")
    assert talk.keys() == ["resume_onboarding", *asked], "not the introduction again"
    talk.say("/survey")
    assert talk.keys() == ["resume_onboarding", *asked]


def test_a_child_is_addressed_as_em_and_a_resident_as_ban() -> None:
    child, resident = Talk(), Talk()
    child.run([*CHILD_START, "=nonsense"])
    resident.run(["/start", "start", "resident", "agree", "my-an", "a36_59", "yes", "=nonsense"])
    assert child.last.replies[0].text.startswith("Xin lỗi") and " Em hãy" in child.last.replies[0].text
    assert " Bạn hãy" in resident.last.replies[0].text
    for talk in (child, resident):
        talk.run([*["satisfied"] * 12, "skip"])
    assert child.last.replies[-1].text.startswith("Em xem lại")
    assert resident.last.replies[-1].text.startswith("Bạn xem lại")
    assert "1. An toàn ở nhà: Hài lòng" in child.last.replies[-1].text, "each answer next to its question"


def test_language_switches_and_reasks() -> None:
    talk = Talk()
    talk.run(CHILD_START)
    talk.say("/language")
    assert talk.keys() == ["language_set", "survey.item.safe_home"]
    assert "Question 1/12" in talk.last.replies[1].text
    talk.say("=very happy with it")
    assert talk.last.effects[0].option_id == "very_satisfied"


@pytest.mark.parametrize(("answer", "keys", "forgotten"), [
    ("yes", ["forget.done"], True), ("=co", ["forget.done"], True),
    ("no", ["forget.cancelled", "survey.item.safe_home"], False),
])
def test_forget_asks_first(answer: str, keys: list[str], forgotten: bool) -> None:
    talk = Talk()
    talk.run([*CHILD_START, "/forget"])
    assert talk.keys() == ["forget.confirm"]
    talk.say(answer)
    assert talk.keys() == keys
    assert (talk.last.effects == (Forget(),)) is forgotten
    assert (talk.session is None) is forgotten


def test_help_shows_the_lines_the_service_gives_after_the_introduction() -> None:
    talk = Talk(extra_help=("/khaosat — Làm khảo sát", "Gọi 111"))
    talk.say("/help")
    assert talk.last.replies[0].key == "help"
    assert talk.last.replies[0].text.endswith("\n/khaosat — Làm khảo sát\nGọi 111")


def test_preset_role_and_commune_skip_those_questions() -> None:
    talk = Talk(preset=(("group", "resident"), ("commune", "my-an")))
    talk.run(["/start", "start"])
    assert talk.keys() == ["onboarding.consent_resident"]
    talk.run(["agree"])
    assert talk.keys() == ["onboarding.age_resident"]


def test_callback_data_stays_ascii_and_short() -> None:
    talk = Talk()
    talk.run(["/start", "start", "resident", "agree"])
    for choice in talk.last.replies[0].choices:
        assert choice.id.isascii() and len(choice.id.encode()) <= 64
