"""End to end: the real `xtt run` process against the in-process Telegram Bot API stand-in.

Each test opens round 2024 with `xtt round open`, starts `python -m bot run` on a fresh database (a SQLite
file and a PostgreSQL database, through the `database_url` fixture) and talks to it as Telegram users do:
commands, typed text, button taps, stickers and photos. Figures are read back with `xtt score --json` and,
where the test needs to see rows, straight from the database.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from sqlalchemy import MetaData, func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from conversations import load_flows
from storage.db import connect
from storage.models import Answer, Contact, Inbox, Participation, ProcessedUpdate, Response
from tests.conftest import TELEGRAM_TOKEN

try:
    from tests.support.telegram_standin import SentMessage, TelegramStandin
    from tests.support.xtt_process import XttProcess, free_port, xtt_cli_async, xtt_env, xtt_score
except ImportError:  # pytest's default "prepend" import mode puts tests/ (not the repo root) on sys.path
    from support.telegram_standin import SentMessage, TelegramStandin  # type: ignore[no-redef]
    from support.xtt_process import (  # type: ignore[no-redef]
        XttProcess,
        free_port,
        xtt_cli_async,
        xtt_env,
        xtt_score,
    )

pytestmark = pytest.mark.e2e

TOKEN = TELEGRAM_TOKEN
SECRET = "e2e-secret-0123456789abcdef"
ROUND = "2024"
# Telegram user ids (= private chat ids). Large and distinct, so a scan of the database cannot mistake
# an update id, a counter or a timestamp for one of them.
CHILD = 7_310_000_101
PARENT = 7_310_000_202
PROBE = 7_310_000_303
INTRUDER = 7_310_000_404
NOBODY = 7_310_000_505
WEBHOOK_USER = 7_310_000_606
ALL_USERS = (CHILD, PARENT, PROBE, INTRUDER, NOBODY, WEBHOOK_USER)

SCALE = ("very_satisfied", "satisfied", "not_satisfied", "very_dissatisfied", "dont_know")  # typed 1..5
SATISFIED = {"very_satisfied", "satisfied"}
FLOWS = load_flows()
QUESTIONS = {group: [item.id for item in q.items] for group, q in FLOWS.questionnaires.items()}
STALE = "Nút đó thuộc một câu hỏi cũ"
REASK = "Xin lỗi, mình chưa hiểu câu trả lời này"
REASK_OTHER = "Mình chỉ đọc được chữ thôi"


# ---------------------------------------------------------------------------------------------- harness
class Chat:
    """One Telegram user in a private chat with the bot, driven step by step."""

    def __init__(self, tg: TelegramStandin, user_id: int) -> None:
        self.tg = tg
        self.id = user_id
        self.seen = 0
        self.last_update = 0

    async def expect(self, count: int, timeout: float = 15.0) -> list[SentMessage]:
        """The next `count` messages the bot sends to this chat (waiting for them)."""
        messages = await self.tg.wait_sent(self.id, self.seen + count, timeout)
        new = messages[self.seen:self.seen + count]
        self.seen += count
        return new

    async def quiet(self, seconds: float = 0.4) -> None:
        """Fail if the bot sends this chat anything beyond what was expected, within `seconds`."""
        await asyncio.sleep(seconds)
        extra = self.tg.sent(self.id)[self.seen:]
        assert not extra, f"unexpected messages to {self.id}: {extra}"

    async def say(self, text: str, count: int = 1) -> list[SentMessage]:
        """Type a message; return the `count` replies."""
        self.last_update = await self.tg.push_message(self.id, text)
        return await self.expect(count)

    async def sticker(self, count: int = 2) -> list[SentMessage]:
        """Send a sticker."""
        self.last_update = await self.tg.push_sticker(self.id)
        return await self.expect(count)

    async def photo(self, count: int = 2) -> list[SentMessage]:
        """Send a photo."""
        self.last_update = await self.tg.push_photo(self.id)
        return await self.expect(count)

    def question(self) -> SentMessage:
        """The latest bot message with buttons."""
        asked = [m for m in self.tg.sent(self.id)[:self.seen] if m.buttons]
        assert asked, f"no question was asked in chat {self.id}"
        return asked[-1]

    @staticmethod
    def data(message: SentMessage, option: str) -> str:
        """The callback data of `option` on a message's keyboard."""
        found = [d for _, d in message.buttons if d and d.split(":", 1)[1] == option]
        assert len(found) == 1, f"no single button {option!r} on {message}"
        return found[0]

    async def tap(self, option: str, count: int = 1, *, on: SentMessage | None = None) -> list[SentMessage]:
        """Tap a button of the latest question (or of message `on`); return the `count` replies."""
        message = on or self.question()
        return await self.tap_raw(self.data(message, option), count, on=message)

    async def tap_raw(self, data: str, count: int = 1, *, on: SentMessage | None = None) -> list[SentMessage]:
        """Send a callback query with any data on a bot message (default: the latest question)."""
        message = on or self.question()
        self.last_update = await self.tg.push_callback(self.id, data, message_id=message.message_id)
        return await self.expect(count)


async def all_taps_answered(tg: TelegramStandin, timeout: float = 5.0) -> None:
    """Wait until every callback query so far was answered (answerCallbackQuery stops the spinner)."""
    deadline = time.monotonic() + timeout
    while True:
        taps = {f"cq{u['update_id']}" for u in tg.updates.values() if "callback_query" in u}
        missing = taps - tg.answered_callbacks
        if not missing:
            assert taps, "no button was tapped"
            return
        assert time.monotonic() < deadline, f"callback queries never answered: {sorted(missing)}"
        await asyncio.sleep(0.02)


def options(message: SentMessage) -> list[str]:
    """Option ids of a message's buttons, without the turn prefix."""
    return [d.split(":", 1)[1] for _, d in message.buttons if d]


def turn_of(message: SentMessage) -> str:
    """The turn number the buttons of a message carry."""
    turns = {d.split(":", 1)[0] for _, d in message.buttons if d}
    assert len(turns) == 1, message
    return turns.pop()


def progress(message: SentMessage) -> str:
    """The first line of a question, e.g. 'Câu 3/12'."""
    return (message.text or "").splitlines()[0]


class Harness:
    """A stand-in, a database, round 2024 opened, and an `xtt run` process to start."""

    def __init__(self, tg: TelegramStandin, database_url: str, cwd: Path) -> None:
        self.tg = tg
        self.database_url = database_url
        self.cwd = cwd
        self.port = free_port()
        self.env = xtt_env({
            "TELEGRAM_BOT_TOKEN": TOKEN, "TELEGRAM_API_URL": tg.root, "DATABASE_URL": database_url,
            "XTT_SECRET": SECRET, "XTT_DATA_DIR": str(cwd / "data"), "WEB_PORT": str(self.port),
        })
        self.bot: XttProcess | None = None
        self._db: AsyncEngine | None = None

    async def open_round(self) -> None:
        """`xtt round open 2024` (which also migrates and loads the communes)."""
        out = await xtt_cli_async(self.env, self.cwd, "round", "open", ROUND)
        assert f"round {ROUND} is open" in out

    async def start(self, **extra: str) -> XttProcess:
        """Start `xtt run` (with extra settings) and wait until /healthz says it is ready."""
        self.bot = XttProcess({**self.env, **extra}, self.cwd, self.port)
        await self.bot.start_ready()
        return self.bot

    @property
    def db(self) -> AsyncEngine:
        """An engine on the bot's database, for looking at rows."""
        if self._db is None:
            self._db = connect(self.database_url)
        return self._db

    async def score(self) -> dict[str, Any]:
        """`xtt score --json`."""
        return await xtt_score(self.env, self.cwd)

    async def close(self) -> None:
        """Kill the bot if it still runs, close the engine."""
        if self.bot is not None:
            self.bot.cleanup()
        if self._db is not None:
            await self._db.dispose()



@pytest.fixture
async def xtt(tg: TelegramStandin, database_url: str, tmp_path: Path) -> AsyncIterator[Harness]:
    """A harness with round 2024 open; the test starts the bot."""
    harness = Harness(tg, database_url, tmp_path)
    await harness.open_round()
    try:
        yield harness
    finally:
        await harness.close()


def commune_score(score: dict[str, Any], code: str) -> dict[str, Any]:
    """One commune of `xtt score --json`."""
    found = [c for c in score["communes"] if c["code"] == code]
    assert len(found) == 1, score
    return found[0]


def expected_group(chosen: list[str]) -> dict[str, Any]:
    """The figures one submitted response with these answers must give."""
    answers = sum(1 for c in chosen if c != "dont_know")
    satisfied = sum(1 for c in chosen if c in SATISFIED)
    return {"n": 1, "answers": answers, "satisfied": satisfied, "index": round(satisfied / answers, 6)}


EMPTY = {"n": 0, "answers": 0, "satisfied": 0, "index": None}


def assert_only(score: dict[str, Any], code: str, group: str, figures: dict[str, Any]) -> None:
    """The round's figures: `figures` for one group of one commune, nothing anywhere else."""
    assert score["round"] == ROUND
    assert len(score["communes"]) == 13
    for commune in score["communes"]:
        for g in ("children", "residents"):
            want = figures if (commune["code"], g) == (code, group) else EMPTY
            got = {k: commune[g][k] for k in want}  # other keys (interval, target...) are not ours to check
            assert got == want, (commune["code"], g, commune[g])


async def answer_rows(db: AsyncEngine, group: str | None = None) -> list[tuple[str, str, str | None, int | None]]:
    """(response, question, option, satisfied) of every stored answer, optionally of one group."""
    query = select(Answer.response_id, Answer.question, Answer.option, Answer.satisfied).join(
        Response, Response.id == Answer.response_id)
    if group:
        query = query.where(Response.group == group)
    async with db.connect() as conn:
        rows = [tuple(row) for row in await conn.execute(query)]
    return sorted(rows, key=lambda row: (row[0], row[1]))  # in Python: collations differ between databases


async def count(db: AsyncEngine, model: Any) -> int:
    """Rows of a table."""
    async with db.connect() as conn:
        return (await conn.execute(select(func.count()).select_from(model))).scalar_one()


async def where_ids_appear(db: AsyncEngine, ids: tuple[int, ...]) -> dict[tuple[str, str], set[int]]:
    """Every (table, column) of the database whose values contain one of the ids, as text."""
    def reflect(sync_conn: Any) -> MetaData:
        meta = MetaData()
        meta.reflect(sync_conn)
        return meta

    found: dict[tuple[str, str], set[int]] = {}
    async with db.connect() as conn:
        meta = await conn.run_sync(reflect)
        assert {"contacts", "sessions", "responses", "answers", "respondents"} <= set(meta.tables)
        for table in meta.sorted_tables:
            for row in await conn.execute(select(table)):
                for column, value in row._mapping.items():
                    if value is None:
                        continue
                    text = json.dumps(value) if isinstance(value, dict | list) else str(value)
                    for user in ids:
                        if str(user) in text:
                            found.setdefault((table.name, column), set()).add(user)
    return found


async def assert_ids_only_in_contacts(db: AsyncEngine, ids: tuple[int, ...]) -> None:
    """Telegram ids are stored only as contacts.chat_id (and each one there)."""
    found = await where_ids_appear(db, ALL_USERS)
    assert found == {("contacts", "chat_id"): set(ids)}, found


# ---------------------------------------------------------------------------------------------- scripts
async def onboard_child(chat: Chat, commune: str = "my-an") -> list[SentMessage]:
    """/start to question 1 as a child, mixing taps and typed answers; return [intro, question 1]."""
    intro = await chat.say("/start")
    assert options(intro[0]) == ["start", "no"]
    role = await chat.tap("start")
    assert role[0].text == "Bạn là ai?" and options(role[0]) == ["child", "resident"]
    consent = await chat.say("1.")  # the child
    assert options(consent[0]) == ["agree", "disagree"] and "Em có đồng ý" in (consent[0].text or "")
    parent = await chat.tap("agree")
    assert options(parent[0]) == ["agree", "not_yet"]
    communes = await chat.say("bo me em da dong y")  # the parent's consent, typed without diacritics
    assert len(options(communes[0])) == 13 and commune in options(communes[0])
    age = await chat.tap(commune)
    assert options(age[0]) == ["a10_12", "a13_15", "under10", "over15"]
    polls = await chat.tap("a10_12")
    assert options(polls[0]) == ["yes", "no"] and "Em có muốn nhận không?" in (polls[0].text or "")  # a child
    first = await chat.tap("yes", 2)
    assert "12 câu hỏi" in (first[0].text or "") and not first[0].buttons
    assert progress(first[1]) == "Câu 1/12"
    assert options(first[1]) == list(SCALE)
    return first


async def onboard_resident(chat: Chat, commune: str) -> SentMessage:
    """/start to question 1 as a parent; return question 1."""
    await chat.say("/start")
    await chat.tap("start")
    consent = await chat.tap("resident")
    assert options(consent[0]) == ["agree", "disagree"] and "Bạn có đồng ý" in (consent[0].text or "")
    await chat.say("Tôi đồng ý")
    await chat.tap(commune)
    await chat.tap("a36_59")
    first = await chat.tap("yes", 2)
    assert progress(first[1]) == "Câu 1/12"
    return first[1]


async def answer(chat: Chat, n: int, choice: str, how: str) -> SentMessage:
    """Answer question n (already asked) by tapping, or typing `how`; return what comes next."""
    asked = chat.question()
    assert progress(asked) == f"Câu {n}/12", asked
    following = await (chat.tap(choice) if how == "tap" else chat.say(how))
    return following[0]


# ---------------------------------------------------------------------------------------------- 1
# How the child answers each question: a tap, a number or a label (with or without diacritics).
CHILD_SCRIPT: list[tuple[str, str]] = [
    ("very_satisfied", "tap"), ("satisfied", "2"), ("not_satisfied", "chua hai long lam"),
    ("dont_know", "tap"), ("very_dissatisfied", " 4 "), ("satisfied", "Hài lòng"),
    ("very_satisfied", "Rất hài lòng"), ("satisfied", "tap"), ("dont_know", "5"),
    ("not_satisfied", "3."), ("satisfied", "tap"), ("very_satisfied", "1"),
]


async def test_child_completes_the_survey_and_is_counted(xtt: Harness, tg: TelegramStandin) -> None:
    bot = await xtt.start()
    chat = Chat(tg, CHILD)
    await onboard_child(chat, "my-an")

    chosen: list[str] = []
    for n, (choice, how) in enumerate(CHILD_SCRIPT[:3], 1):
        following = await answer(chat, n, choice, how)
        chosen.append(choice)
    # Back from question 4 to 3 shows the earlier choice; answering again replaces it.
    assert progress(following) == "Câu 4/12" and "back" in options(following)
    again = (await chat.tap("back"))[0]
    assert progress(again) == "Câu 3/12" and "(Lần trước em chọn: Chưa hài lòng lắm)" in (again.text or "")
    chosen[2] = "very_dissatisfied"
    following = await answer(chat, 3, "very_dissatisfied", "tap")
    for n, (choice, how) in enumerate(CHILD_SCRIPT[3:], 4):
        following = await answer(chat, n, choice, how)
        chosen.append(choice)

    assert following.text is not None and following.text.startswith("Em có muốn nói thêm")
    assert options(following) == ["skip", "back"]
    review = (await chat.say("Em muốn xã có thêm sân chơi và đèn đường."))[0]
    assert options(review) == ["submit", "back"]
    assert "3. An toàn trên đường đi học: Rất không hài lòng" in (review.text or "")
    assert "12. Khai sinh, giấy tờ: Rất hài lòng" in (review.text or "")
    assert "Ý kiến: Em muốn xã có thêm sân chơi và đèn đường." in (review.text or "")
    thanks = (await chat.tap("submit"))[0]
    assert thanks.text is not None and thanks.text.startswith("🎉 Cảm ơn em đã hoàn thành khảo sát đợt 2024")
    await all_taps_answered(tg)

    assert_only(await xtt.score(), "my-an", "children", expected_group(chosen))
    again_done = await chat.say("/khaosat")
    assert (again_done[0].text or "").startswith("Em đã gửi khảo sát đợt 2024 rồi")
    await chat.quiet()

    rows = await answer_rows(xtt.db)
    assert [(q, o) for _, q, o, _ in rows] == sorted([*zip(QUESTIONS["child"], chosen, strict=True),
                                                      ("comment", None)])
    await assert_ids_only_in_contacts(xtt.db, (CHILD,))
    assert await bot.terminate() == 0


# ---------------------------------------------------------------------------------------------- 2
PARENT_CHOICES = ["satisfied", "dont_know", "very_satisfied", "not_satisfied", "satisfied",  # before the crash
                  "very_dissatisfied", "dont_know", "satisfied", "very_satisfied", "satisfied", "not_satisfied",
                  "satisfied"]


async def test_parent_resumes_after_a_crash_without_losing_or_doubling(xtt: Harness,
                                                                       tg: TelegramStandin) -> None:
    bot = await xtt.start()
    chat = Chat(tg, PARENT)
    await onboard_resident(chat, "my-hoa")
    for n, choice in enumerate(PARENT_CHOICES[:5], 1):
        following = await answer(chat, n, choice, str(SCALE.index(choice) + 1) if n == 2 else "tap")
    assert progress(following) == "Câu 6/12"

    assert await bot.kill() == -9
    await bot.start_ready()
    back = await chat.say("/khaosat", 2)
    if back[0].text == following.text:  # sent, but killed before that was recorded: delivery is at least once
        back = [back[1], *await chat.expect(1)]
    assert back[0].text == "Chào mừng bạn quay lại! Mình tiếp tục từ câu 6."
    assert progress(back[1]) == "Câu 6/12" and "(Lần trước" not in (back[1].text or "")
    for n, choice in enumerate(PARENT_CHOICES[5:], 6):
        following = await answer(chat, n, choice, "tap")
    assert options(following) == ["skip", "back"]
    review = (await chat.tap("skip"))[0]
    assert "1. An toàn ở nhà: Hài lòng" in (review.text or "")
    assert "2. An toàn ở trường: Không biết / không trả lời" in (review.text or "")
    assert "6. Phòng đuối nước, tai nạn: Rất không hài lòng" in (review.text or "")
    assert "Ý kiến: (không có)" in (review.text or "")
    await chat.tap("submit")
    await chat.quiet()

    assert_only(await xtt.score(), "my-hoa", "residents", expected_group(PARENT_CHOICES))
    rows = await answer_rows(xtt.db, "resident")
    assert len({r for r, *_ in rows}) == 1, rows
    assert [(q, o) for _, q, o, _ in rows] == sorted(zip(QUESTIONS["resident"], PARENT_CHOICES, strict=True))
    for _, _, option, satisfied in rows:
        assert satisfied == (None if option == "dont_know" else int(option in SATISFIED))
    assert await count(xtt.db, Response) == 1
    assert await count(xtt.db, Participation) == 1
    await assert_ids_only_in_contacts(xtt.db, (PARENT,))


# ---------------------------------------------------------------------------------------------- 3
async def test_stale_buttons_and_bad_input_are_reasked_and_stored_once(xtt: Harness,
                                                                       tg: TelegramStandin) -> None:
    await xtt.start()
    chat = Chat(tg, PROBE)
    q1 = await onboard_resident(chat, "phu-dien")
    q2 = (await chat.tap("satisfied"))[0]
    assert progress(q2) == "Câu 2/12"
    current = turn_of(q2)

    def reasked(replies: list[SentMessage], notice: str) -> None:
        assert (replies[0].text or "").startswith(notice), replies
        assert not replies[0].buttons and progress(replies[1]) == "Câu 2/12", replies
        assert turn_of(replies[1]) == current and options(replies[1]) == options(q2)

    reasked(await chat.tap("very_satisfied", 2, on=q1), STALE)  # a button of question 1
    reasked(await chat.tap_raw("999:very_satisfied", 2), STALE)  # forged: a turn that never was
    reasked(await chat.tap_raw(f"{current}:not_an_option", 2), REASK)  # forged: no such option
    reasked(await chat.sticker(), REASK_OTHER)
    reasked(await chat.photo(), REASK_OTHER)
    reasked(await chat.say("có lẽ vậy", 2), REASK)
    reasked(await chat.say("9", 2), REASK)  # no option 9
    await all_taps_answered(tg)  # stale and forged taps too
    rows = await answer_rows(xtt.db)
    assert [(q, o) for _, q, o, _ in rows] == [("safe_home", "satisfied")]

    # Question 2 answered by typing "2"; Telegram then delivers that same update again.
    q3 = (await chat.say("2"))[0]
    assert progress(q3) == "Câu 3/12"
    typed = chat.last_update
    polls = len(tg.calls_of("getUpdates"))
    await tg.redeliver(typed)
    deadline = time.monotonic() + 10
    while len(tg.calls_of("getUpdates")) <= polls:  # the bot fetched it and polls again
        assert time.monotonic() < deadline, "the bot did not fetch the redelivered update"
        await asyncio.sleep(0.02)
    # Updates the bot ignores: an edited message and a message in a group.
    group = {"id": -1_001_234_567, "type": "group", "title": "Lớp 7A"}
    sender = {"id": PROBE, "is_bot": False, "first_name": "Test"}
    await tg.push_raw({"edited_message": {"message_id": 1, "date": 0, "edit_date": 1, "chat": {
        "id": PROBE, "type": "private", "first_name": "Test"}, "from": sender, "text": "1"}})
    await tg.push_raw({"message": {"message_id": 1, "date": 0, "chat": group, "from": sender, "text": "/start"}})
    help_and_q3 = await chat.say("/huongdan", 2)  # processed after all of them
    assert (help_and_q3[0].text or "").startswith("Mình là trợ lý")
    assert progress(help_and_q3[1]) == "Câu 3/12"
    await chat.quiet()
    rows = await answer_rows(xtt.db)
    assert [(q, o) for _, q, o, _ in rows] == sorted([("safe_home", "satisfied"), ("safe_school", "satisfied")])
    async with xtt.db.connect() as conn:
        keys = (await conn.execute(select(ProcessedUpdate.key))).scalars().all()
        stored = (await conn.execute(select(Inbox.status).where(Inbox.key == f"telegram:{typed}"))).scalars().all()
    assert keys.count(f"telegram:{typed}") == 1 and stored == ["done"], "stored and processed once"
    assert not tg.sent(group["id"])


# ---------------------------------------------------------------------------------------------- 4
async def test_command_menus_are_registered_in_vietnamese_and_english(xtt: Harness, tg: TelegramStandin) -> None:
    await xtt.start()
    assert {"vi", "en"} <= set(tg.commands)
    assert [c["command"] for c in tg.commands["vi"]] == ["start", "khaosat", "kiennghi", "huongdan", "ngonngu",
                                                          "xoadulieu", "myproposals", "dung"]
    assert [c["command"] for c in tg.commands["en"]] == ["start", "survey", "propose", "help", "language", "forget",
                                                          "myproposals", "stop"]
    assert tg.commands["vi"][1]["description"] == "Làm hoặc tiếp tục khảo sát"
    for commands in tg.commands.values():
        assert all(c["description"].strip() for c in commands)
    # The menu commands work: /huongdan (vi) and /help (en) both answer.
    chat = Chat(tg, NOBODY)
    for command in ("/huongdan", "/help"):
        replies = await chat.say(command)
        assert (replies[0].text or "").startswith("Mình là trợ lý")
    await chat.quiet(0.2)


# ---------------------------------------------------------------------------------------------- 5
async def test_telegram_ids_are_stored_only_as_contact_chat_ids(xtt: Harness, tg: TelegramStandin) -> None:
    bot = await xtt.start()
    child, parent = Chat(tg, CHILD), Chat(tg, PARENT)

    async def child_run() -> None:
        await onboard_child(child, "truong-xuan")
        for n, (choice, how) in enumerate(CHILD_SCRIPT, 1):
            await answer(child, n, choice, how)
        await child.say("Em muốn có thư viện ở gần chợ.")
        await child.tap("submit")

    async def parent_run() -> None:
        await onboard_resident(parent, "truong-xuan")
        for n, choice in enumerate(PARENT_CHOICES[:4], 1):
            await answer(parent, n, choice, "tap")

    await asyncio.gather(child_run(), parent_run())
    assert await bot.kill() == -9
    await bot.start_ready()
    # A button sent before the crash still works: the turn it carries was stored with the session.
    q6 = await answer(parent, 5, PARENT_CHOICES[4], "tap")
    assert progress(q6) == "Câu 6/12"
    for n, choice in enumerate(PARENT_CHOICES[5:], 6):
        await answer(parent, n, choice, "tap")
    await parent.tap("skip")
    await parent.tap("submit")
    assert await bot.terminate() == 0

    score = commune_score(await xtt.score(), "truong-xuan")
    assert score["children"]["n"] == 1 and score["residents"]["n"] == 1
    await assert_ids_only_in_contacts(xtt.db, (CHILD, PARENT))
    async with xtt.db.connect() as conn:
        contacts = sorted((await conn.execute(select(Contact.channel, Contact.chat_id))).all())
    assert contacts == [("telegram", str(CHILD)), ("telegram", str(PARENT))]


# ---------------------------------------------------------------------------------------------- 6
def start_update(update_id: int, user_id: int, text: str = "/start") -> dict[str, Any]:
    """A Bot API update carrying a private text message."""
    user = {"id": user_id, "is_bot": False, "first_name": "Web"}
    message = {"message_id": 1, "date": int(time.time()), "chat": {"id": user_id, "type": "private",
               "first_name": "Web"}, "from": user, "text": text}
    if text.startswith("/"):
        message["entities"] = [{"type": "bot_command", "offset": 0, "length": len(text.split()[0])}]
    return {"update_id": update_id, "message": message}


async def test_webhook_mode_checks_the_secret_token(xtt: Harness, tg: TelegramStandin) -> None:
    url = f"http://127.0.0.1:{xtt.port}/webhooks/telegram"
    bot = await xtt.start(TELEGRAM_WEBHOOK_URL=url, TELEGRAM_WEBHOOK_SECRET="s3cret")
    assert tg.webhook_url == url
    (params,) = tg.calls_of("setWebhook")
    assert params["url"] == url and params["secret_token"] == "s3cret"
    assert not tg.calls_of("getUpdates")

    async def post(update: dict[str, Any], headers: dict[str, str]) -> int:
        async with aiohttp.ClientSession() as session, session.post(url, json=update, headers=headers) as resp:
            return resp.status

    header = "X-Telegram-Bot-Api-Secret-Token"
    assert await post(start_update(9001, INTRUDER), {header: "wrong"}) == 403
    assert await post(start_update(9002, NOBODY), {}) == 403
    assert await post(start_update(9003, INTRUDER), {header: "s3cret-but-longer"}) == 403
    async with aiohttp.ClientSession() as session, session.post(url, data=b"{not json", headers={
            header: "s3cret"}) as resp:
        assert resp.status == 400
    assert await post(start_update(9004, WEBHOOK_USER), {header: "s3cret"}) == 200
    intro = await tg.wait_sent(WEBHOOK_USER, 1)
    assert options(intro[0]) == ["start", "no"] and (intro[0].text or "").startswith("Xin chào!")
    await asyncio.sleep(0.4)
    assert not tg.sent(INTRUDER) and not tg.sent(NOBODY)
    assert len(tg.sent(WEBHOOK_USER)) == 1
    async with xtt.db.connect() as conn:
        keys = set((await conn.execute(select(ProcessedUpdate.key))).scalars())
    assert keys == {"telegram:9004"}
    assert not tg.calls_of("getUpdates")
    assert await bot.terminate() == 0



# ---------------------------------------------------------------------------------------------- product bugs
# These run on SQLite only: they are about the Telegram channel and the process, not about storage.
@pytest.fixture
async def xtt_sqlite(tg: TelegramStandin, tmp_path: Path) -> AsyncIterator[Harness]:
    """A harness on a SQLite file with round 2024 open."""
    harness = Harness(tg, f"sqlite+aiosqlite:///{tmp_path}/xtt.sqlite3", tmp_path)
    await harness.open_round()
    try:
        yield harness
    finally:
        await harness.close()


async def test_the_bot_token_is_not_written_to_the_log(xtt_sqlite: Harness, tg: TelegramStandin) -> None:
    bot = await xtt_sqlite.start()
    chat = Chat(tg, NOBODY)
    await chat.say("/start")
    assert await bot.terminate() == 0
    output = bot.output()
    assert "xtt ready" in output
    assert SECRET not in output
    assert TOKEN.split(":", 1)[1] not in output, [line for line in output.splitlines() if TOKEN in line][:3]


async def test_webhook_refuses_malformed_bodies_and_records_unreadable_updates(xtt_sqlite: Harness,
                                                                               tg: TelegramStandin) -> None:
    url = f"http://127.0.0.1:{xtt_sqlite.port}/webhooks/telegram"
    await xtt_sqlite.start(TELEGRAM_WEBHOOK_URL=url, TELEGRAM_WEBHOOK_SECRET="s3cret")
    statuses = {}
    async with aiohttp.ClientSession() as session:
        for body in (b"{not json", b"{}", b"[]", b"null", b'"text"', b'{"update_id": 5, "message": 3}'):
            async with session.post(url, data=body, headers={"X-Telegram-Bot-Api-Secret-Token": "s3cret"}) as resp:
                statuses[body] = resp.status
    unreadable = b'{"update_id": 5, "message": 3}'  # an update, but not one PTB can read: kept as bad, not retried
    assert statuses == {**dict.fromkeys(statuses, 400), unreadable: 200}, statuses
    async with xtt_sqlite.db.connect() as conn:
        assert (await conn.execute(select(Inbox.status).where(Inbox.key == "telegram:5"))).scalar_one() == "bad"
