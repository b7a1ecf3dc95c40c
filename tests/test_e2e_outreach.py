"""End to end over the stand-in Bot API and the real `xtt run`: a proposal from child to leader and back, and a poll."""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.support.telegram_standin import SentMessage, TelegramStandin
from tests.support.xtt_process import xtt_cli_async
from tests.test_e2e_telegram import Chat, Harness

pytestmark = pytest.mark.e2e
OFFICIAL, LEADER, KID_A1, KID_A2, KID_B = 7_320_000_001, 7_320_000_002, 7_320_000_003, 7_320_000_004, 7_320_000_005



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


def button(message: SentMessage, prefix: str) -> str:
    """The callback data of the first button starting with a prefix."""
    return next(d for _, d in message.buttons if d and d.startswith(prefix))


async def onboard(chat: Chat, commune: str) -> None:
    """A child takes the onboarding by taps and reaches question 1."""
    await chat.say("/start")
    for option in ("start", "child", "agree", "agree", commune):
        await chat.tap(option)
    await chat.tap("a10_12")
    await chat.tap("yes", 2)


async def until(condition, timeout: float = 15.0) -> None:
    """Wait for a condition on what the stand-in saw."""
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.05)


async def test_a_proposal_goes_from_child_to_leader_and_back(xtt: Harness, tg: TelegramStandin,
                                                             tmp_path: Path) -> None:
    official, leader, kid = Chat(tg, OFFICIAL), Chat(tg, LEADER), Chat(tg, KID_A1)
    (invite,) = await official.say("/invite my-an")
    code = re.search(r"[a-z2-7]{8}-[a-z2-7]{12}", invite.text).group(0)
    (joined,) = await leader.say(f"/start {code}")
    assert "cán bộ Đoàn" in joined.text
    await until(lambda: LEADER in tg.chat_commands)  # set right after the welcome
    menu = [c["command"] for c in tg.chat_commands[LEADER]]
    assert {"xemkiennghi", "thamdo"} <= set(menu), "the leader's chat gets the leader's menu"
    assert KID_A1 not in tg.chat_commands, "a child keeps the default menu"
    await onboard(kid, "my-an")
    await kid.say("/kiennghi")
    for option in ("agree", "agree", "traffic"):
        await kid.tap(option)
    await kid.say("Cổng trường cần vạch kẻ đường và biển báo")
    await kid.tap("yes")
    (receipt,) = await kid.tap("send")
    ref = re.search(r"KN-\d{4}-\d{4}", receipt.text).group(0)
    await until(lambda: any(ref in m.text for m in tg.sent(LEADER)))  # the new-proposal notice
    leader.seen = len(tg.sent(LEADER))
    (listing,) = await leader.say("/proposals")
    (view,) = await leader.tap_raw(button(listing, "f:v:"), on=listing)
    assert "Cổng trường" in view.text
    (agencies,) = await leader.tap_raw(button(view, "f:f:"), on=view)
    pid = button(view, "f:a:").split(":")[2].split("~")[0]
    stale = await leader.tap_raw(button(view, "f:f:"), on=view)
    assert "cũ" in stale[0].text, "the view's buttons are old once the agencies screen is shown"
    forwarded, view = await leader.tap_raw(button(agencies, f"f:t:{pid}:committee"), 2, on=agencies)
    assert "UBND" in forwarded.text and ref in view.text, "the proposal is shown again after each step"
    await leader.tap_raw(button(view, "f:a:"), on=view)
    done, _ = await leader.say("Xã sẽ kẻ vạch trước ngày 15/12.", 2)
    assert ref in done.text
    await until(lambda: sum(ref in m.text for m in tg.sent(KID_A1)) >= 3)  # receipt, forwarded, answer
    assert any("Xã sẽ kẻ vạch" in m.text for m in tg.sent(KID_A1))
    kid.seen = len(tg.sent(KID_A1))
    (mine,) = await kid.say("/myproposals")
    assert ref in mine.text and "Xã sẽ kẻ vạch" in mine.text
    for message in tg.sent(LEADER):
        shown = message.text + " ".join(d or "" for _, d in message.buttons)
        assert str(KID_A1) not in shown, "leaders never see the child's id"
    out = await xtt_cli_async(xtt.env, xtt.cwd, "forum", "report", "--round", "2024", "--out", str(tmp_path / "f"))
    summary = (tmp_path / "f" / "dien-dan-2024.md").read_text(encoding="utf-8")
    assert "dien-dan-2024.xlsx" in out and "| Xã Mỹ An" in summary and "1" in summary


async def test_a_poll_reaches_only_its_commune_and_counts_votes(xtt: Harness, tg: TelegramStandin) -> None:
    official, leader = Chat(tg, OFFICIAL), Chat(tg, LEADER)
    (invite,) = await official.say("/invite my-an")
    await leader.say(f"/start {re.search(r'[a-z2-7]{8}-[a-z2-7]{12}', invite.text).group(0)}")
    kids = {uid: Chat(tg, uid) for uid in (KID_A1, KID_A2, KID_B)}
    for uid, chat in kids.items():
        await onboard(chat, "my-hoa" if uid == KID_B else "my-an")
    (menu,) = await leader.say("/thamdo")
    await leader.tap_raw(button(menu, "p:new"), on=menu)
    await leader.say("Em muốn sân chơi mới ở đâu?")
    await leader.say("Gần trường")
    (asked,) = await leader.say("Gần chợ")
    (audience,) = await leader.tap_raw(button(asked, "p:done"), on=asked)
    (closing,) = await leader.tap_raw(button(audience, "p:aud:child"), on=audience)
    (preview,) = await leader.tap_raw(button(closing, "p:end:1"), on=closing)
    assert "2 người" in preview.text
    (queued,) = await leader.tap_raw(button(preview, "p:send"), on=preview)
    assert "#1" in queued.text
    for uid in (KID_A1, KID_A2):
        await until(lambda uid=uid: any(m.buttons and m.buttons[0][1].startswith("v:") for m in tg.sent(uid)))
    await asyncio.sleep(1.0)
    assert not any(m.buttons and m.buttons[0][1].startswith("v:") for m in tg.sent(KID_B)), "not for my-hoa"
    await until(lambda: any(c[1].get("text", "").startswith("Xong: đã gửi 2/2") for c in tg.calls
                            if c[0] == "editMessageText"))
    for uid, option in ((KID_A1, 0), (KID_A2, 1), (KID_A1, 1)):
        chat = kids[uid]
        poll = next(m for m in reversed(tg.sent(uid)) if m.buttons and m.buttons[0][1].startswith("v:"))
        chat.seen = len(tg.sent(uid))
        (voted,) = await chat.tap_raw(poll.buttons[option][1], on=poll)
        assert "Đã ghi nhận" in voted.text
    leader.seen = len(tg.sent(LEADER))
    results = await leader.say("/poll", 2)
    assert results[0].method == "sendPhoto" and "Gần chợ: 2 (100%)" in (results[0].caption or "")
