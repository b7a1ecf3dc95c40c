"""End to end: the real `xtt run` process with the Zalo OA channel, against the in-process OA/OAuth stand-in.

The test opens round 2024 with `xtt round open`, starts `python -m bot run` with the ZALO_OA_* settings
pointed at the stand-in and WEB_PORT set, and posts webhook events it signs itself to
http://127.0.0.1:PORT/webhooks/zalo-oa. People type numbers, as on Zalo there are no buttons: a child
completes the survey, another child sends a proposal and gets a `KN-` receipt. Figures are read back with
`xtt score --json`; runs on a SQLite file and on PostgreSQL (the `database_url` fixture).
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest
from sqlalchemy import func, select

from storage.db import connect
from storage.models import OATokens, Proposal

try:
    from tests.support.xtt_process import XttProcess, free_port, xtt_cli_async, xtt_env, xtt_score
    from tests.support.zalo_oa_standin import SentText, ZaloOAStandin, event, sign, signed
except ImportError:  # pytest's default "prepend" import mode puts tests/ (not the repo root) on sys.path
    from support.xtt_process import XttProcess, free_port, xtt_cli_async, xtt_env, xtt_score  # type: ignore[no-redef]
    from support.zalo_oa_standin import SentText, ZaloOAStandin, event, sign, signed  # type: ignore[no-redef]

pytestmark = pytest.mark.e2e

APP_ID, APP_SECRET, OA_KEY, FIRST = "2950000000000000001", "e2e-app-secret", "e2e-oa-secret-key", "e2e-refresh-0"
SECRET = "e2e-secret-0123456789abcdef"
CHILD, PROPOSER, INTRUDER = "7000000000000000101", "7000000000000000202", "7000000000000000303"
# Typed answers to the 12 questions (1 very satisfied ... 5 don't know) and what they count for.
TYPED = ["1", "2", "3", "4", "5", "1", "2", "3", "4", "1", "2", "1"]


class Person:
    """One Zalo user writing to the OA: each message is a signed webhook event; replies come from the stand-in."""

    def __init__(self, oa: ZaloOAStandin, url: str, user_id: str) -> None:
        self.oa, self.url, self.id = oa, url, user_id
        self.seen = 0

    async def say(self, text: str, count: int = 1) -> list[SentText]:
        """Type a message; return the `count` replies."""
        body, headers = signed(APP_ID, OA_KEY, event(APP_ID, self.id, text=text))
        async with aiohttp.ClientSession() as session, session.post(self.url, data=body, headers=headers) as resp:
            assert resp.status == 200, resp.status
        sent = await self.oa.wait_sent(self.id, self.seen + count, timeout=15)
        new, self.seen = sent[self.seen:self.seen + count], self.seen + count
        return new

    async def pick(self, label: str, count: int = 1) -> list[SentText]:
        """Type the number of the choice with this label in the last message."""
        return await self.say(number(self.oa.sent(self.id)[self.seen - 1].text, label), count)


def number(text: str, label: str) -> str:
    """The number shown before a label in a numbered list."""
    found = re.findall(rf"^(\d+)\. {re.escape(label)}$", text, re.M)
    assert len(found) == 1, (label, text)
    return found[0]


@pytest.fixture
async def oa() -> AsyncIterator[ZaloOAStandin]:
    """The OA API and OAuth stand-in."""
    async with ZaloOAStandin(app_id=APP_ID, app_secret=APP_SECRET, refresh_token=FIRST) as server:
        yield server


async def test_survey_and_proposal_by_typed_numbers(oa: ZaloOAStandin, database_url: str, tmp_path: Path) -> None:
    port = free_port()
    env = xtt_env({
        "DATABASE_URL": database_url, "XTT_SECRET": SECRET, "XTT_DATA_DIR": str(tmp_path / "data"),
        "WEB_PORT": str(port), "ZALO_OA_APP_ID": APP_ID, "ZALO_OA_APP_SECRET": APP_SECRET,
        "ZALO_OA_SECRET_KEY": OA_KEY, "ZALO_OA_REFRESH_TOKEN": FIRST, "ZALO_OA_API_URL": oa.root,
        "ZALO_OAUTH_URL": oa.root,
    })
    assert "round 2024 is open" in await xtt_cli_async(env, tmp_path, "round", "open", "2024")
    bot = XttProcess(env, tmp_path, port)
    db = connect(database_url)
    try:
        await bot.start_ready()
        url = f"http://127.0.0.1:{port}/webhooks/zalo-oa"

        # Unsigned, wrongly signed and echo events reach nobody.
        payload = event(APP_ID, INTRUDER, text="khảo sát")
        body, _ = signed(APP_ID, OA_KEY, payload)
        async with aiohttp.ClientSession() as session:
            for headers, status in (({}, 401), ({"X-ZEvent-Signature": "mac=" + "0" * 64}, 403),
                                    ({"X-ZEvent-Signature": sign(APP_ID, body, payload["timestamp"], "x")}, 403)):
                async with session.post(url, data=body, headers=headers) as resp:
                    assert resp.status == status
            echo, headers = signed(APP_ID, OA_KEY, event(APP_ID, CHILD, "oa_send_text", "an echo"))
            async with session.post(url, data=echo, headers=headers) as resp:
                assert resp.status == 200

        # A child completes the survey by typing numbers.
        child = Person(oa, url, CHILD)
        intro = (await child.say("khảo sát"))[0].text
        assert intro.startswith("Xin chào!") and intro.endswith("1. Bắt đầu\n2. Không, cảm ơn")
        assert (await child.pick("Bắt đầu"))[0].text.startswith("Bạn là ai?")
        assert "Em có đồng ý" in (await child.say("1"))[0].text
        assert "Bố mẹ hoặc người chăm sóc em" in (await child.say("1"))[0].text
        assert "xã/thị trấn nào" in (await child.say("1"))[0].text
        assert "Em bao nhiêu tuổi" in (await child.pick("Xã Mỹ An"))[0].text
        assert "muốn nhận không" in (await child.pick("10–12 tuổi"))[0].text  # leaders' polls: a yes/no of its own
        first = await child.pick("Có, gửi cho em", 2)
        assert "12 câu hỏi" in first[0].text and first[1].text.startswith("Câu 1/12")
        for n, typed in enumerate(TYPED, 1):
            following = (await child.say(typed))[0].text
            assert following.startswith(f"Câu {n + 1}/12") if n < 12 else "nói thêm" in following
        review = (await child.pick("Bỏ qua"))[0].text
        assert "5. An toàn trên mạng: Em không biết / không trả lời" in review
        assert "12. Khai sinh, giấy tờ: Rất hài lòng" in review
        thanks = (await child.say("1"))[0].text
        assert thanks.startswith("🎉 Cảm ơn em đã hoàn thành khảo sát đợt 2024")

        # Another child sends a proposal: "kiến nghị" typed without "/".
        kid = Person(oa, url, PROPOSER)
        assert "Bạn là ai?" in (await kid.say("kiến nghị"))[0].text  # the survey's age gate first
        assert "bao nhiêu tuổi" in (await kid.pick("Em là trẻ em (10–15 tuổi)"))[0].text
        assert "diễn đàn trẻ em" in (await kid.pick("13–15 tuổi"))[0].text
        assert "Bố mẹ hoặc người chăm sóc em" in (await kid.say("1"))[0].text
        assert "xã/thị trấn nào" in (await kid.say("1"))[0].text
        topics = (await kid.pick("Xã Mỹ An"))[0].text
        assert "chủ đề nào" in topics
        assert "Em viết kiến nghị" in (await kid.say(number(topics, "An toàn giao thông, cổng trường")))[0].text
        assert "đăng công khai" in (await kid.say("Cổng trường cần có vạch kẻ đường và biển báo"))[0].text
        review = (await kid.say("1"))[0].text
        assert "Kiến nghị: Cổng trường cần có vạch kẻ đường và biển báo" in review
        receipt = (await kid.pick("📨 Gửi"))[0].text
        assert re.search(r"KN-\d{4}-\d{4}", receipt), receipt  # the year of sending
        assert not oa.sent(INTRUDER)

        score = await xtt_score(env, tmp_path)
        (my_an,) = [c for c in score["communes"] if c["code"] == "my-an"]
        answered = [t for t in TYPED if t != "5"]
        assert {k: my_an["children"][k] for k in ("n", "answers", "satisfied")} == {
            "n": 1, "answers": len(answered), "satisfied": sum(t in "12" for t in answered)}
        async with db.connect() as conn:
            assert (await conn.execute(select(func.count()).select_from(Proposal))).scalar_one() == 1
            status, version = (await conn.execute(select(OATokens.status, OATokens.version))).one()
        assert (status, version) == ("ok", 1) and oa.refreshes == 1
        assert all(len(s.text) <= 2000 for s in oa.sent())
        assert await bot.terminate() == 0
        output = bot.output()
        assert "rejected a zalo_oa webhook call" in output and "khảo sát" not in output
        assert APP_SECRET not in output and "access-1" not in output and "refresh-1" not in output
    finally:
        bot.cleanup()
        await db.dispose()
