"""End to end over the stand-in Bot API and the real `xtt run`: a leader forwards a proposal to an agency, the
agency receives it (no child identity), answers, the child receives the answer and /myproposals shows it."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.support.telegram_standin import TelegramStandin
from tests.test_e2e_outreach import button, onboard, until
from tests.test_e2e_telegram import Chat, Harness

pytestmark = pytest.mark.e2e
OFFICIAL, LEADER, SCHOOL, KID = 7_330_000_001, 7_330_000_002, 7_330_000_003, 7_330_000_004


@pytest.fixture
async def xtt(tg: TelegramStandin, database_url: str, tmp_path: Path) -> AsyncIterator[Harness]:
    """The bot with an official bootstrapped, running on round 2024."""
    harness = Harness(tg, database_url, tmp_path)
    await harness.open_round()
    await harness.start(XTT_ADMINS=f"telegram:{OFFICIAL}", XTT_SEND_RATE="50")
    try:
        yield harness
    finally:
        await harness.close()


async def joined(official: Chat, person: Chat, args: str) -> str:
    """The official invites with /invite ARGS, the person redeems the code; the welcome's text."""
    (invite,) = await official.say(f"/invite {args}")
    code = re.search(r"[a-z2-7]{8}-[a-z2-7]{12}", invite.text).group(0)
    (welcome,) = await person.say(f"/start {code}")
    return welcome.text


async def test_an_agency_answers_a_forwarded_proposal_and_the_child_gets_it(xtt: Harness,
                                                                            tg: TelegramStandin) -> None:
    official, leader, school, kid = Chat(tg, OFFICIAL), Chat(tg, LEADER), Chat(tg, SCHOOL), Chat(tg, KID)
    assert "cán bộ Đoàn" in await joined(official, leader, "my-an")
    assert "Nhà trường" in await joined(official, school, "my-an school")
    await until(lambda: SCHOOL in tg.chat_commands)
    assert "chuyenden" in [c["command"] for c in tg.chat_commands[SCHOOL]], "the agency's menu has its command"
    await onboard(kid, "my-an")
    await kid.say("/kiennghi")
    for option in ("agree", "agree", "traffic"):
        await kid.tap(option)
    await kid.say("Cổng trường cần vạch kẻ đường và biển báo")
    await kid.tap("yes")
    (receipt,) = await kid.tap("send")
    ref = re.search(r"KN-\d{4}-\d{4}", receipt.text).group(0)
    await until(lambda: any(ref in m.text for m in tg.sent(LEADER)))
    leader.seen = len(tg.sent(LEADER))
    (listing,) = await leader.say("/proposals")
    (view,) = await leader.tap_raw(button(listing, "f:v:"), on=listing)
    (agencies,) = await leader.tap_raw(button(view, "f:f:"), on=view)
    pid = button(view, "f:a:").split(":")[2].split("~")[0]
    forwarded, _ = await leader.tap_raw(button(agencies, f"f:t:{pid}:school"), 2, on=agencies)
    assert "Nhà trường" in forwarded.text and "chưa có ai" not in forwarded.text
    await until(lambda: any(ref in m.text for m in tg.sent(SCHOOL)))
    (notice,) = [m for m in tg.sent(SCHOOL) if ref in m.text]
    assert "Cổng trường cần vạch kẻ đường" in notice.text and str(KID) not in notice.text
    assert [d for _, d in notice.buttons] == [f"g:a:{pid}"]
    school.seen = len(tg.sent(SCHOOL))
    (ask,) = await school.tap_raw(f"g:a:{pid}", on=notice)
    assert ref in ask.text and "Nhà trường" in ask.text
    (thanks,) = await school.say("Nhà trường sẽ kẻ vạch trước ngày 20/12.")
    assert ref in thanks.text
    await until(lambda: any("Nhà trường sẽ kẻ vạch" in m.text for m in tg.sent(KID)))
    (answer,) = [m for m in tg.sent(KID) if "Nhà trường sẽ kẻ vạch" in m.text]
    assert "Nhà trường đã trả lời" in answer.text and ref in answer.text
    await until(lambda: any("Nhà trường sẽ kẻ vạch" in m.text for m in tg.sent(LEADER)))
    kid.seen = len(tg.sent(KID))
    (mine,) = await kid.say("/myproposals")
    assert ref in mine.text and "Nhà trường trả lời" in mine.text and "kẻ vạch trước ngày 20/12" in mine.text
    leader.seen = len(tg.sent(LEADER))
    (again,) = await leader.say("/proposals")
    (history,) = await leader.tap_raw(button(again, "f:v:"), on=again)
    assert "(Nhà trường): trả lời: Nhà trường sẽ kẻ vạch" in history.text
