"""End to end: the real `xtt run` process with only the Zalo Bot channel, against the in-process stand-in.

Round 2024 is opened with `xtt round open`, then `python -m bot run` talks to the stand-in as Zalo users do:
everything is typed (numbers, labels with and without diacritics, commands with and without "/"), and every
choice comes back as a numbered list. Figures are read back with `xtt score --json`.
"""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from sqlalchemy import select

from storage.db import connect
from storage.models import Contact, ProcessedUpdate

try:
    from tests.support.xtt_process import XttProcess, free_port, xtt_cli_async, xtt_env, xtt_score
    from tests.support.zalo_bot_standin import Sent, ZalobotStandin
except ImportError:  # pytest's default "prepend" import mode puts tests/ (not the repo root) on sys.path
    from support.xtt_process import (  # type: ignore[no-redef]
        XttProcess,
        free_port,
        xtt_cli_async,
        xtt_env,
        xtt_score,
    )
    from support.zalo_bot_standin import Sent, ZalobotStandin  # type: ignore[no-redef]

pytestmark = pytest.mark.e2e

TOKEN = "3141592653589793:zb-e2e-TOKEN-secret"
SECRET = "e2e-secret-0123456789abcdef"
HOOK_SECRET = "zalo-hook-secret-9876"
ROUND = "2024"
CHILD = "5d1e0c7a9b3f4e21"  # Zalo user ids are opaque strings
OFFICIAL = "77aa00bb11cc22dd"
INTRUDER = "0badc0ffee000000"
CHOICE = re.compile(r"^(\d+)\. (.+)$")
# How the child types each of the 12 answers, and the option it means.
TYPED = [("2", "satisfied"), ("2.", "satisfied"), (" 2 ", "satisfied"), ("Hài lòng", "satisfied"),
         ("chua hai long lam", "not_satisfied"), ("Rất hài lòng", "very_satisfied"), ("5", "dont_know"),
         ("3.", "not_satisfied"), ("rat khong hai long", "very_dissatisfied"), ("1", "very_satisfied"),
         ("hai long", "satisfied"), ("Em không biết / không trả lời", "dont_know")]


def choices(message: Sent) -> list[str]:
    """The numbered choices at the end of a message, in order."""
    found = []
    for line in reversed((message.text or "").splitlines()):
        match = CHOICE.match(line)
        if not match:
            break
        found.append(match.group(2))
    found.reverse()
    return found


def number(message: Sent, label: str) -> str:
    """The number to type for a choice of a message."""
    return str(choices(message).index(label) + 1)


class Chat:
    """One Zalo user talking to the bot: by long polling, or straight to the webhook."""

    def __init__(self, zb: ZalobotStandin, user_id: str, webhook: str = "") -> None:
        self.zb = zb
        self.id = user_id
        self.webhook = webhook
        self.seen = 0

    async def say(self, text: str, count: int = 1) -> list[Sent]:
        """Type a message; return the `count` replies."""
        if self.webhook:
            assert await self.zb.post_webhook(self.zb.message(self.id, text), url=self.webhook) == 200
        else:
            await self.zb.push_message(self.id, text)
        messages = await self.zb.wait_sent(self.id, self.seen + count, timeout=15)
        new = messages[self.seen:self.seen + count]
        self.seen += count
        return new

    async def quiet(self, seconds: float = 0.4) -> None:
        """Fail if the bot sends anything more."""
        await asyncio.sleep(seconds)
        assert not self.zb.sent(self.id)[self.seen:], self.zb.sent(self.id)[self.seen:]


class Harness:
    """The stand-in, a database with round 2024 open, and an `xtt run` process."""

    def __init__(self, zb: ZalobotStandin, database_url: str, cwd: Path) -> None:
        self.zb = zb
        self.database_url = database_url
        self.cwd = cwd
        self.port = free_port()
        self.env = xtt_env({"ZALO_BOT_TOKEN": TOKEN, "ZALO_BOT_API_URL": zb.root, "DATABASE_URL": database_url,
                            "XTT_SECRET": SECRET, "XTT_DATA_DIR": str(cwd / "data"), "WEB_PORT": str(self.port)})
        self.bot: XttProcess | None = None

    async def start(self, **extra: str) -> XttProcess:
        """`xtt round open 2024`, then `xtt run` until /healthz says it is ready."""
        out = await xtt_cli_async(self.env, self.cwd, "round", "open", ROUND)
        assert f"round {ROUND} is open" in out
        self.bot = XttProcess({**self.env, **extra}, self.cwd, self.port)
        await self.bot.start_ready()
        return self.bot

    async def score(self) -> dict[str, Any]:
        """`xtt score --json`."""
        return await xtt_score(self.env, self.cwd)

    async def rows(self, query: Any) -> list[Any]:
        """Rows of a query on the bot's database."""
        db = connect(self.database_url)
        try:
            async with db.connect() as conn:
                return list(await conn.execute(query))
        finally:
            await db.dispose()


@pytest.fixture
async def zb() -> AsyncIterator[ZalobotStandin]:
    """The Bot API stand-in."""
    async with ZalobotStandin(token=TOKEN) as standin:
        yield standin


@pytest.fixture
async def xtt(zb: ZalobotStandin, database_url: str, tmp_path: Path) -> AsyncIterator[Harness]:
    """A harness on the SQLite file or PostgreSQL database of `database_url`."""
    harness = Harness(zb, database_url, tmp_path)
    try:
        yield harness
    finally:
        if harness.bot is not None:
            harness.bot.cleanup()


async def onboard(chat: Chat, *, child: bool) -> Sent:
    """From the bare command "start" to question 1, all typed; return question 1."""
    (intro,) = await chat.say("start")
    assert (intro.text or "").startswith("Xin chào!") and choices(intro) == ["Bắt đầu", "Không, cảm ơn"]
    (role,) = await chat.say("bat dau")
    assert (role.text or "").startswith("Bạn là ai?") and len(choices(role)) == 2
    (consent,) = await chat.say("1." if child else "2")
    assert "đồng ý" in (consent.text or "")
    if child:
        (parent,) = await chat.say("Em đồng ý")
        assert choices(parent) == ["Bố mẹ em đã đồng ý", "Chưa, em sẽ hỏi sau"]
        (communes,) = await chat.say("bo me em da dong y")
    else:
        (communes,) = await chat.say("toi dong y")
    assert len(choices(communes)) == 13
    (age,) = await chat.say(f" {number(communes, 'Xã Mỹ An')} ")
    assert "tuổi" in (age.text or "")
    (polls,) = await chat.say("10-12 tuổi" if child else "3")
    assert choices(polls) == ["Có, gửi cho em" if child else "Có, gửi cho mình", "Không nhận"]  # in their voice
    first = await chat.say("co, gui cho em" if child else "co, gui cho minh", 2)
    assert "12 câu hỏi" in (first[0].text or "")
    assert (first[1].text or "").startswith("Câu 1/12") and len(choices(first[1])) == 5
    return first[1]


# ---------------------------------------------------------------------------------------------- 1
async def test_a_child_types_the_survey_and_a_proposal(xtt: Harness, zb: ZalobotStandin) -> None:
    bot = await xtt.start()
    assert zb.calls_of("getMe") and not zb.webhook_url
    chat = Chat(zb, CHILD)
    await onboard(chat, child=True)
    for n, (typed, _) in enumerate(TYPED, 1):
        (following,) = await chat.say(typed)
        if n < 12:
            assert (following.text or "").startswith(f"Câu {n + 1}/12"), (typed, following)
    assert (following.text or "").startswith("Em có muốn nói thêm") and choices(following) == ["Bỏ qua", "↩ Quay lại"]
    (review,) = await chat.say("Em muốn xã có thêm sân chơi và đèn đường.")
    assert "5. An toàn trên mạng: Chưa hài lòng lắm" in (review.text or "")
    assert choices(review) == ["✅ Gửi", "↩ Quay lại"]
    (thanks,) = await chat.say("gui")
    assert (thanks.text or "").startswith("🎉 Cảm ơn em đã hoàn thành khảo sát đợt 2024")
    for command in ("khảo sát", "/khaosat", "KHAO SAT"):
        (again,) = await chat.say(command)
        assert (again.text or "").startswith("Em đã gửi khảo sát đợt 2024 rồi"), command

    # A proposal, all typed: "kien nghi" is the bare command /kiennghi.
    (agree,) = await chat.say("kien nghi")
    assert "kiến nghị" in (agree.text or "") and choices(agree)[0] == "Em đồng ý"
    (parent,) = await chat.say("1")
    assert choices(parent)[0] == "Bố mẹ em đã đồng ý"
    (asked,) = await chat.say("1.")
    if "xã/thị trấn nào" in (asked.text or ""):  # the commune is asked unless the profile knows it
        (asked,) = await chat.say(number(asked, "Xã Mỹ An"))
    assert "chủ đề nào" in (asked.text or "") and len(choices(asked)) >= 2
    (write,) = await chat.say("2")
    assert "10–1000 ký tự" in (write.text or "")
    (publish,) = await chat.say("Cổng trường em cần có đèn và vạch sang đường.")
    assert len(choices(publish)) == 2
    (confirm,) = await chat.say("1")
    assert "Cổng trường em cần có đèn" in (confirm.text or "") and choices(confirm)[0] == "📨 Gửi"
    (receipt,) = await chat.say("1")
    assert "KN-" in (receipt.text or ""), receipt
    await chat.quiet()

    score = await xtt.score()
    assert score["round"] == ROUND
    (my_an,) = [c for c in score["communes"] if c["code"] == "my-an"]
    chosen = [option for _, option in TYPED]
    answers = sum(o != "dont_know" for o in chosen)
    satisfied = sum(o in ("satisfied", "very_satisfied") for o in chosen)
    assert {k: my_an["children"][k] for k in ("n", "answers", "satisfied")} == {
        "n": 1, "answers": answers, "satisfied": satisfied}
    assert all(c["children"]["n"] == 0 and c["residents"]["n"] == 0 for c in score["communes"] if c is not my_an)

    keys = [key for (key,) in await xtt.rows(select(ProcessedUpdate.key))]
    assert len(keys) == chat.seen - 1 and all(k.startswith("zalo_bot:") for k in keys)  # one reply was two
    contacts = await xtt.rows(select(Contact.channel, Contact.chat_id))
    assert all(channel == "zalo_bot" for channel, _ in contacts)
    assert await bot.terminate() == 0
    output = bot.output()
    assert TOKEN.split(":", 1)[1] not in output and SECRET not in output


# ---------------------------------------------------------------------------------------------- 2
@pytest.fixture
async def xtt_sqlite(zb: ZalobotStandin, tmp_path: Path) -> AsyncIterator[Harness]:
    """A harness on a SQLite file: the webhook and the media route are about the process, not storage."""
    harness = Harness(zb, f"sqlite+aiosqlite:///{tmp_path}/xtt.sqlite3", tmp_path)
    try:
        yield harness
    finally:
        if harness.bot is not None:
            harness.bot.cleanup()


async def test_webhook_mode_checks_the_secret_and_charts_go_by_url(xtt_sqlite: Harness, zb: ZalobotStandin) -> None:
    public = f"http://127.0.0.1:{xtt_sqlite.port}"
    url = f"{public}/webhooks/zalo-bot"
    bot = await xtt_sqlite.start(ZALO_BOT_WEBHOOK_SECRET=HOOK_SECRET, WEB_PUBLIC_URL=public,
                                 XTT_ADMINS=f"zalo_bot:{OFFICIAL}")
    deadline = time.monotonic() + 10
    while not zb.webhook_url:  # set in the background once the channel runs
        assert time.monotonic() < deadline, bot.failure("setWebhook was not called")
        await asyncio.sleep(0.05)
    assert zb.webhook_url == url and zb.webhook_secret == HOOK_SECRET

    intruder = zb.message(INTRUDER, "start")
    assert await zb.post_webhook(intruder, secret="wrong", url=url) == 403
    assert await zb.post_webhook(intruder, secret="", url=url) == 403
    async with aiohttp.ClientSession() as session, session.post(
            url, data=b"{not json", headers={"X-Bot-Api-Secret-Token": HOOK_SECRET}) as resp:
        assert resp.status == 400

    # An official answers the survey as a resident through the webhook, then asks for the score.
    chat = Chat(zb, OFFICIAL, webhook=url)
    await onboard(chat, child=False)
    for n in range(1, 13):
        await chat.say(str(n % 4 + 1))
    (review,) = await chat.say("bo qua")
    assert choices(review) == ["✅ Gửi", "↩ Quay lại"]
    (thanks,) = await chat.say("1")
    assert (thanks.text or "").startswith("🎉")
    replies = await chat.say("diem", 3)
    assert (replies[0].text or "").startswith("Mức độ hài lòng — đợt 2024") and "Xã Mỹ An" in (replies[0].text or "")
    assert replies[1].text == "Biểu đồ chỉ số hài lòng theo xã (vạch đen: khoảng tin cậy 95%)."
    assert replies[2].method == "sendPhoto"  # the chart of that text, fetched from the bot's /media/ route
    photo = replies[2]
    assert photo.photo and photo.photo.startswith(f"{public}/media/") and photo.photo.endswith(".png")
    assert photo.fetched == 200 and photo.content_type == "image/png" and (photo.size or 0) > 1000
    await chat.quiet()
    assert not zb.sent(INTRUDER) and not zb.calls_of("getUpdates")
    assert await bot.terminate() == 0
    output = bot.output()
    assert "rejected a webhook call with a wrong secret token" in output
    assert TOKEN.split(":", 1)[1] not in output and HOOK_SECRET not in output
