"""The office's web page in a real headless Chromium against the real `xtt run` and the Telegram stand-in.

An official logs in through the link the bot sends over the stand-in, reads the overview, answers a child's
proposal on the board (the child receives it over the stand-in) and acknowledges an alert. Screenshots of the
overview, the board and the alert queue at 360 px and 1280 px go to tests/output/screenshots/.
"""

from __future__ import annotations

import asyncio
import os
import random
import re
import shutil
import tempfile
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from sqlalchemy import select

from storage import calendar
from storage.models import Alert, Response
from tests.support.telegram_standin import TelegramStandin
from tests.test_e2e_telegram import Harness

pytestmark = [pytest.mark.e2e, pytest.mark.browser]
CHROMIUM, DRIVER = Path("/usr/bin/chromium"), Path("/usr/bin/chromedriver")
REQUIRE = os.environ.get("XTT_REQUIRE_BROWSER") == "1"
SHOTS = Path(__file__).parent / "output" / "screenshots"
OFFICIAL, KID = 7_320_000_101, 7_320_000_202
WIDTHS = {"phone": 360, "desktop": 1280}
PROPOSAL = "Cổng trường cần có vạch kẻ đường và biển báo <script>alert(1)</script>"
DISCLOSURE = "dượng hay sờ vào chỗ kín của em"
# A season under way: (commune, children, residents, share satisfied); a third of each on paper.
SEASON = (("my-an", 34, 31, 0.86), ("my-hoa", 31, 33, 0.36), ("phu-dien", 36, 30, 0.74), ("thanh-my", 30, 32, 0.93),
          ("lang-bien", 18, 9, 0.8), ("my-dong", 32, 30, 0.66), ("my-quy", 6, 2, 0.7), ("tan-kieu", 30, 31, 0.81))


@pytest.fixture
def browser() -> Iterator[object]:
    """Headless Chromium through Selenium, the driver given explicitly (Selenium Manager never downloads)."""
    if not (CHROMIUM.exists() and DRIVER.exists()):
        if REQUIRE:
            pytest.fail("a browser is required (XTT_REQUIRE_BROWSER=1) but /usr/bin/chromium is missing")
        pytest.skip("Chromium is not installed (/usr/bin/chromium, /usr/bin/chromedriver); .ci/run installs it")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    profile = tempfile.mkdtemp(prefix="xtt-chromium-")
    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for flag in ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 f"--user-data-dir={profile}", "--window-size=1280,900"):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(executable_path=str(DRIVER)), options=options)
    driver.set_page_load_timeout(60)
    try:
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


@pytest.fixture
async def bot(tg: TelegramStandin, tmp_path: Path) -> AsyncIterator[Harness]:
    """`xtt run` on a SQLite file with the web page on, an official, round 2024 open."""
    harness = Harness(tg, f"sqlite+aiosqlite:///{tmp_path}/xtt.sqlite3", tmp_path)
    await harness.open_round()
    await harness.start(XTT_ADMINS=f"telegram:{OFFICIAL}")
    try:
        yield harness
    finally:
        await harness.close()


async def say(tg: TelegramStandin, user: int, text: str) -> str:
    """Type a message and return the text of the bot's next message to that chat."""
    before = len(tg.sent(user))
    await tg.push_message(user, text)
    return (await tg.wait_sent(user, before + 1, timeout=20))[-1].text or ""


async def tap(tg: TelegramStandin, user: int, option: str) -> None:
    """Tap the button of the latest message whose callback data ends with the option id."""
    last = [m for m in tg.sent(user) if m.buttons][-1]
    data = next(d for _, d in last.buttons if d and (d.endswith(f":{option}") or f":{option}~" in d))
    before = len(tg.sent(user))
    await tg.push_callback(user, data)
    await tg.wait_sent(user, before + 1, timeout=20)


async def season(db: object) -> None:
    """Finished questionnaires from chat and paper in eight communes, and the first milestones met."""
    rng, rows = random.Random(14), []
    for commune, children, residents, bias in SEASON:
        for n, group in enumerate(["child"] * children + ["resident"] * residents):
            scored = 12 - (rng.random() < 0.15)
            rows.append({"id": uuid.uuid4().hex, "round_id": "2024", "commune": commune, "group": group,
                         "age_band": "10-12", "version": "1", "submitted": True, "started_on": "2024-11-05",
                         "submitted_on": "2024-11-05", "answers_scored": scored,
                         "source": "paper" if n % 3 == 0 else "chat",
                         "answers_satisfied": sum(rng.random() < bias for _ in range(scored))})
    async with db.begin() as conn:
        await conn.execute(Response.__table__.insert(), rows)
    dates = await calendar.milestones(db, "2024")
    for m in dates[:2]:
        await calendar.mark_done(db, "2024", m.id, m.due)


def flash(driver: object) -> str:
    """The text of the result shown after an action (waiting for the page the form's redirect leads to)."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions
    from selenium.webdriver.support.wait import WebDriverWait

    shown = WebDriverWait(driver, 20).until(expected_conditions.presence_of_element_located((By.CSS_SELECTOR,
                                                                                           ".flash")))
    assert "ok" in shown.get_attribute("class").split(), shown.text
    return shown.text


def shoot(driver: object, name: str) -> None:
    """Save the page at phone and desktop widths, the whole height, loaded at that width as a visitor would."""
    from selenium.webdriver.support.wait import WebDriverWait

    SHOTS.mkdir(parents=True, exist_ok=True)
    loaded = "return Array.from(document.images).every(i => i.complete && i.naturalWidth > 0)"
    for label, width in WIDTHS.items():
        driver.set_window_size(width, 900)
        driver.refresh()
        WebDriverWait(driver, 30).until(lambda d: d.execute_script(loaded))
        height = driver.execute_script("return document.documentElement.scrollHeight")
        driver.set_window_size(width, min(max(height + 120, 600), 4000))
        driver.save_screenshot(str(SHOTS / f"{name}-{label}.png"))
    driver.set_window_size(1280, 900)


async def test_an_official_logs_in_answers_a_proposal_and_acknowledges_an_alert(bot: Harness, tg: TelegramStandin,
                                                                               browser: object) -> None:
    from selenium.webdriver.common.by import By

    await say(tg, KID, "/kiennghi")
    for option in ("child", "a13_15", "agree", "agree", "my-an", "traffic"):  # the age gate, then the proposal
        await tap(tg, KID, option)
    await say(tg, KID, PROPOSAL)
    await tap(tg, KID, "yes")
    await tap(tg, KID, "send")
    assert "KN-" in tg.sent(KID)[-1].text
    await say(tg, KID, DISCLOSURE)
    await season(bot.db)
    reply = await say(tg, OFFICIAL, "/web")
    link = re.search(r"http://\S+/web/login/\S+", reply).group(0)

    driver = browser
    await asyncio.to_thread(driver.get, link)
    from selenium.webdriver.support.wait import WebDriverWait

    driver.find_element(By.ID, "login").click()
    WebDriverWait(driver, 20).until(lambda d: d.current_url.endswith("/web/"))  # the POST, then the overview
    table = driver.find_element(By.CSS_SELECTOR, "table.overview").text
    assert "Mỹ An" in table and len(driver.find_elements(By.CSS_SELECTOR, "table.overview tbody tr")) == 13
    assert "34/30" in table and "Không đạt" in table and "chưa đủ điều kiện" in table, "the season's figures show"
    assert driver.find_element(By.CSS_SELECTOR, ".chart img").get_attribute("naturalWidth") != "0"
    shoot(driver, "overview")

    driver.get(link.split("/web/")[0] + "/web/proposals")
    card = driver.find_element(By.CSS_SELECTOR, "article.card")
    assert "<script>alert(1)</script>" in card.text, "the hostile text shows as text"
    shoot(driver, "board")
    card = driver.find_element(By.CSS_SELECTOR, "article.card")  # the page was loaded again at each width
    answer = "Xã sẽ kẻ vạch và đặt biển báo trước năm học mới."
    before = len(tg.sent(KID))
    card.find_element(By.NAME, "text").send_keys(answer)
    card.find_element(By.CSS_SELECTOR, "button[value=answer]").click()
    assert "KN-" in flash(driver)
    received = await tg.wait_sent(KID, before + 1, timeout=20)
    assert any(answer in (m.text or "") for m in received[before:]), "the child got the answer over the stand-in"

    driver.get(link.split("/web/")[0] + "/web/alerts")
    assert DISCLOSURE in driver.find_element(By.CSS_SELECTOR, "article.card").text
    shoot(driver, "alerts")
    driver.find_element(By.CSS_SELECTOR, "article.card button.primary").click()
    assert flash(driver)
    async with bot.db.connect() as conn:
        assert (await conn.execute(select(Alert.status))).scalar_one() == "acknowledged"
