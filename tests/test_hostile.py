"""Hostile input through every channel's real entry point: the corpus in tests/data/hostile_inputs.json.

Two `xtt run` processes on SQLite files: one takes Telegram and Zalo Bot by long polling and Zalo OA by its signed
webhook, the other takes Telegram and Zalo Bot by webhook. Each case of the corpus names its entry and the class
of outcome it must get: a polite reply, silence, or a 4xx status. Cases are pushed in batches and judged at the
end, once the inbox and the outbox are empty; then a person completes the survey on every entry and
`xtt score --json` counts exactly those surveys.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import time
from collections.abc import Awaitable, Callable, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from sqlalchemy import func, select

from storage.db import connect
from storage.models import Inbox, Outbox, Response
from tests.conftest import TELEGRAM_TOKEN

try:
    from tests.support.telegram_standin import SentMessage, TelegramStandin
    from tests.support.xtt_process import XttProcess, free_port, xtt_cli_async, xtt_env, xtt_score
    from tests.support.zalo_bot_standin import ZalobotStandin
    from tests.support.zalo_oa_standin import ZaloOAStandin, now_ms
except ImportError:  # pytest's default "prepend" import mode puts tests/ (not the repo root) on sys.path
    from support.telegram_standin import SentMessage, TelegramStandin  # type: ignore[no-redef]
    from support.xtt_process import (  # type: ignore[no-redef]
        XttProcess,
        free_port,
        xtt_cli_async,
        xtt_env,
        xtt_score,
    )
    from support.zalo_bot_standin import ZalobotStandin  # type: ignore[no-redef]
    from support.zalo_oa_standin import ZaloOAStandin, now_ms  # type: ignore[no-redef]

pytestmark = pytest.mark.e2e

CORPUS = Path(__file__).parent / "data" / "hostile_inputs.json"
ZB_TOKEN = "3141592653589793:zb-hostile-TOKEN"
TG_SECRET, ZB_SECRET = "tg-hostile-secret", "zb-hostile-secret-0123"
APP_ID, APP_SECRET, OA_KEY, FIRST = "2950000000000000009", "hostile-app-secret", "hostile-oa-key", "hostile-r0"
OA_ID = "4100000000000000001"
SECRET = "hostile-secret-0123456789abcdef"
ROUND = "2024"
ENTRIES = ("telegram_poll", "telegram_webhook", "zalo_bot_poll", "zalo_bot_webhook", "zalo_oa")
# The commune each entry's one real respondent chooses, so the score shows every entry on its own.
COMMUNES = {"telegram_poll": ("my-hoa", "Xã Mỹ Hòa"), "zalo_bot_poll": ("phu-dien", "Xã Phú Điền"),
            "zalo_oa": ("thanh-my", "Xã Thanh Mỹ"), "telegram_webhook": ("lang-bien", "Xã Láng Biển"),
            "zalo_bot_webhook": ("my-quy", "Xã Mỹ Quý")}
LEAKS = ("Traceback", 'File "/', "Exception", "Error:")  # what no reply may carry
PARALLEL = 8  # webhook calls in flight at once
BYSTANDER = 1_000_000  # added to a case's Telegram user: someone whose button that case taps
Say = Callable[[str, int], Awaitable[list[str]]]


# ---------------------------------------------------------------------------------------------- the corpus
def load_corpus() -> list[dict[str, Any]]:
    """Every case of the data file."""
    cases: list[dict[str, Any]] = json.loads(CORPUS.read_text(encoding="utf-8"))
    return cases


def expand(value: Any, user: Any) -> Any:
    """A case value with its shorthands filled in: $repeat, $cat, $float, $user, $now, $msgid."""
    if isinstance(value, dict):
        if set(value) == {"$repeat"}:
            text, times = value["$repeat"]
            return text * times
        if set(value) == {"$cat"}:
            return "".join(expand(part, user) for part in value["$cat"])
        if set(value) == {"$float"}:
            return float(value["$float"])
        return {key: expand(item, user) for key, item in value.items()}
    if isinstance(value, list):
        return [expand(item, user) for item in value]
    if value == "$user":
        return user
    if value == "$now":
        return int(time.time())
    if value == "$msgid":
        return f"hostile-{user}-{time.monotonic_ns()}"
    return value


def body_of(case: dict[str, Any], user: Any) -> bytes | None:
    """The literal body of a case (text or hex), or None when it is built from an update."""
    if "body_hex" in case:
        return bytes.fromhex(case["body_hex"].replace(" ", ""))
    if "body" in case:
        return str(expand(case["body"], user)).encode("utf-8", "surrogatepass")
    return None


def dumps(payload: Any) -> bytes:
    """JSON as a platform sends it (lone surrogates kept as escapes, NaN as the bare word)."""
    return json.dumps(payload).encode()


class Outcome:
    """What one case got: the HTTP statuses of its calls (webhooks) and whom its replies should reach."""

    def __init__(self, case: dict[str, Any], user: Any) -> None:
        self.case = case
        self.user = user
        self.statuses: list[int] = []

    @property
    def name(self) -> str:
        """The case id."""
        return str(self.case["id"])


def judge(outcomes: list[Outcome], sent: Callable[[Any], list[str]]) -> list[str]:
    """Each case against its expected class; the failures, one line each."""
    wrong = []
    for o in outcomes:
        texts = sent(o.user)
        expect, status = o.case["expect"], o.case.get("status", 200)
        if any(s >= 500 for s in o.statuses):
            wrong.append(f"{o.name}: 5xx {o.statuses}")
        elif o.statuses and set(o.statuses) != {status}:
            wrong.append(f"{o.name}: status {o.statuses}, expected {status}")
        if expect == "reply" and not texts:
            wrong.append(f"{o.name}: no reply")
        if expect in ("silent", "4xx") and texts:
            wrong.append(f"{o.name}: expected silence, got {texts[:2]!r}"[:300])
        if o.case.get("times") and len(texts) > 1:
            wrong.append(f"{o.name}: replayed, answered {len(texts)} times")
        for text in texts:
            if any(leak in text for leak in LEAKS):
                wrong.append(f"{o.name}: a reply shows an error: {text[:200]!r}")
    return wrong


def _skip(outcomes: list[Outcome], user: Any) -> int:
    """How many of a chat's first messages answered the test's own setup (the /start before a callback)."""
    return next((int(o.case.get("skip", 0)) for o in outcomes if o.user == user), 0)


def by_entry(entry: str) -> Iterator[tuple[int, dict[str, Any]]]:
    """The cases of one entry, numbered across the whole corpus (so user ids never collide)."""
    for n, case in enumerate(load_corpus()):
        if case["entry"] == entry:
            yield n, case


# ---------------------------------------------------------------------------------------------- harness
class Bot:
    """A database with round 2024 open, and one `xtt run` process with the given channels."""

    def __init__(self, cwd: Path, settings: dict[str, str]) -> None:
        self.cwd = cwd
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.database_url = f"sqlite+aiosqlite:///{cwd}/xtt.sqlite3"
        self.env = xtt_env({"DATABASE_URL": self.database_url, "XTT_SECRET": SECRET,
                            "XTT_DATA_DIR": str(cwd / "data"), "WEB_PORT": str(self.port), **settings})
        self.env = {k: v.replace("{url}", self.url) for k, v in self.env.items()}
        self.process = XttProcess(self.env, cwd, self.port)

    async def start(self) -> None:
        """Open the round and start the process."""
        assert f"round {ROUND} is open" in await xtt_cli_async(self.env, self.cwd, "round", "open", ROUND)
        await self.process.start_ready()

    async def settled(self, timeout: float = 120.0) -> None:
        """Wait until nothing waits in the inbox or the outbox (every case was processed and answered)."""
        db = connect(self.database_url)
        deadline = time.monotonic() + timeout
        try:
            while True:
                async with db.connect() as conn:
                    queued = (await conn.execute(select(func.count()).select_from(Inbox).where(
                        Inbox.status == "queued"))).scalar_one()
                    outgoing = (await conn.execute(select(func.count()).select_from(Outbox).where(
                        Outbox.status == "queued"))).scalar_one()
                if not queued and not outgoing:
                    return
                if time.monotonic() > deadline:
                    raise self.process.failure(f"{queued} update(s) and {outgoing} message(s) still wait")
                await asyncio.sleep(0.2)
        finally:
            await db.dispose()

    async def responses(self) -> int:
        """Stored survey responses."""
        db = connect(self.database_url)
        try:
            async with db.connect() as conn:
                return int((await conn.execute(select(func.count()).select_from(Response))).scalar_one())
        finally:
            await db.dispose()

    def check_log(self) -> None:
        """The process still runs and wrote no traceback."""
        assert self.process.running, self.process.failure("the bot died")
        output = self.process.output()
        assert "Traceback" not in output, self.process.failure("a traceback in the log")


@asynccontextmanager
async def running(cwd: Path, settings: dict[str, str]) -> Any:
    """A started bot, killed at the end whatever happens."""
    bot = Bot(cwd, settings)
    try:
        await bot.start()
        yield bot
    finally:
        bot.process.cleanup()


async def post(session: aiohttp.ClientSession, url: str, body: bytes, headers: dict[str, str]) -> int:
    """POST a body; the status."""
    async with session.post(url, data=body, headers={"Content-Type": "application/json", **headers}) as resp:
        await resp.read()
        return resp.status


async def gather_limited(calls: list[Callable[[], Awaitable[None]]]) -> None:
    """Run calls, PARALLEL at a time."""
    gate = asyncio.Semaphore(PARALLEL)

    async def one(call: Callable[[], Awaitable[None]]) -> None:
        async with gate:
            await call()

    await asyncio.gather(*(one(call) for call in calls))


# ---------------------------------------------------------------------------------------------- a real person
async def complete_survey(say: Say, commune: str) -> None:
    """/start to the thanks, all typed, as a child: the pattern of the end-to-end tests."""
    (intro,) = await say("/start", 1)
    assert intro.startswith("Xin chào!"), intro
    (role,) = await say("bat dau", 1)
    assert role.startswith("Bạn là ai?"), role
    (consent,) = await say("1.", 1)
    assert "Em có đồng ý" in consent, consent
    (parent,) = await say("Em đồng ý", 1)
    assert "Bố mẹ" in parent, parent
    (communes,) = await say("bo me em da dong y", 1)
    assert "xã/thị trấn nào" in communes, communes
    (age,) = await say(commune, 1)
    assert "tuổi" in age, age
    (polls,) = await say("10-12 tuổi", 1)
    assert "Em có muốn nhận không?" in polls, polls
    first = await say("1", 2)
    assert "12 câu hỏi" in first[0] and first[1].startswith("Câu 1/12"), first
    for n in range(1, 13):
        (following,) = await say(str(n % 5 + 1), 1)
        assert following.startswith(f"Câu {n + 1}/12") if n < 12 else "nói thêm" in following, following
    (review,) = await say("bo qua", 1)
    assert "12. Khai sinh, giấy tờ" in review, review
    (thanks,) = await say("gui", 1)
    assert thanks.startswith("🎉 Cảm ơn em đã hoàn thành khảo sát đợt 2024"), thanks


def assert_counted(score: dict[str, Any], entries: tuple[str, ...]) -> None:
    """One child's survey in each entry's commune, nothing anywhere else."""
    mine = {COMMUNES[e][0] for e in entries}
    for commune in score["communes"]:
        want = 1 if commune["code"] in mine else 0
        assert (commune["children"]["n"], commune["residents"]["n"]) == (want, 0), commune


def texts_of(messages: list[SentMessage]) -> list[str]:
    """The texts (or captions) of Telegram messages."""
    return [m.text or m.caption or "" for m in messages]


# ---------------------------------------------------------------------------------------------- Telegram
def tg_user(n: int) -> int:
    """The Telegram user of case n."""
    return 7_400_000_000 + n


def tg_callback(tg: TelegramStandin, user: int, data: str, message: SentMessage | None, mid: int,
                chat: int | None = None) -> dict[str, Any]:
    """A callback query from `user` on a bot message (in `chat`, the user's own by default)."""
    chat_id = user if chat is None else chat
    shown = {"message_id": mid, "date": int(time.time()), "chat": {"id": chat_id, "type": "private",
                                                                    "first_name": "H"},
             "from": tg.bot_user, "text": message.text if message else "?"}
    return {"callback_query": {"id": f"cqh{user}", "from": {"id": user, "is_bot": False, "first_name": "H"},
                               "chat_instance": f"ci{user}", "message": shown, "data": data}}


async def push_telegram_poll(tg: TelegramStandin) -> list[Outcome]:
    """Queue every telegram_poll case for getUpdates (callbacks after a /start that gives them a message)."""
    outcomes: list[Outcome] = []
    callbacks = [(n, c) for n, c in by_entry("telegram_poll") if "callback" in c]
    bystanders = {n: tg_user(n) + BYSTANDER for n, c in callbacks if c["callback"] == "$other"}
    starters = [tg_user(n) for n, _ in callbacks] + list(bystanders.values())
    for user in starters:
        await tg.push_message(user, "/start")
    intros = {user: (await tg.wait_sent(user, 1, timeout=60))[0] for user in starters}
    seen = dict.fromkeys(starters, 1)  # replies to the /start are not the case's
    for n, case in by_entry("telegram_poll"):
        user = tg_user(n)
        outcome = Outcome(case, user)
        outcomes.append(outcome)
        if "text" in case:
            await tg.push_message(user, expand(case["text"], user))
        elif "update" in case:
            await tg.push_raw(expand(case["update"], user))
        else:
            intro = intros[user]
            data = case["callback"]
            if data == "$other":  # a bystander's button, tapped from this account in the bystander's chat
                shown = intros[bystanders[n]]
                update = tg_callback(tg, user, shown.buttons[0][1] or "", shown, shown.message_id, bystanders[n])
                outcome.user = bystanders[n]  # silence there: nobody acts in another person's private chat
            else:
                update = tg_callback(tg, user, data, intro, case.get("message_id", intro.message_id))
            await tg.push_raw(update)
    for outcome in outcomes:
        outcome.case = {**outcome.case, "skip": seen.get(outcome.user, 0)}
    return outcomes


async def post_telegram_webhook(url: str) -> list[Outcome]:
    """POST every telegram_webhook case."""
    outcomes: list[Outcome] = []
    headers = {"ok": {"X-Telegram-Bot-Api-Secret-Token": TG_SECRET}, "none": {},
               "wrong": {"X-Telegram-Bot-Api-Secret-Token": "wrong"},
               "prefix": {"X-Telegram-Bot-Api-Secret-Token": TG_SECRET[:-1]},
               "longer": {"X-Telegram-Bot-Api-Secret-Token": TG_SECRET + "x"},
               "upper": {"X-Telegram-Bot-Api-Secret-Token": TG_SECRET.upper()}}
    async with aiohttp.ClientSession() as session:
        calls = []
        for n, case in by_entry("telegram_webhook"):
            user = tg_user(n)
            outcome = Outcome(case, user)
            outcomes.append(outcome)
            body = body_of(case, user)
            if body is None:
                update = expand(case["update"], user) if "update" in case else {"message": expand({
                    "message_id": 1, "date": "$now", "chat": {"id": "$user", "type": "private", "first_name": "H"},
                    "from": {"id": "$user", "is_bot": False, "first_name": "H"}, "text": case["text"]}, user)}
                body = dumps({"update_id": case.get("update_id", 8_000_000 + n), **update})

            async def call(outcome: Outcome = outcome, body: bytes = body, times: int = case.get("times", 1),
                           secret: str = case.get("secret", "ok")) -> None:
                for _ in range(times):
                    outcome.statuses.append(await post(session, url, body, headers[secret]))

            calls.append(call)
        await gather_limited(calls)
    return outcomes


def telegram_say(tg: TelegramStandin, user: int, webhook: str = "") -> Say:
    """Type into a Telegram chat (polling, or straight to the webhook); return the next replies."""
    seen = 0
    update_ids = iter(range(9_000_000, 10_000_000))

    async def say(text: str, count: int) -> list[str]:
        nonlocal seen
        if webhook:
            update = {"update_id": next(update_ids), "message": {
                "message_id": 1, "date": int(time.time()), "chat": {"id": user, "type": "private", "first_name": "P"},
                "from": {"id": user, "is_bot": False, "first_name": "P"}, "text": text}}
            async with aiohttp.ClientSession() as session:
                assert await post(session, webhook, dumps(update), {"X-Telegram-Bot-Api-Secret-Token": TG_SECRET}) \
                    == 200
        else:
            await tg.push_message(user, text)
        messages = texts_of(await tg.wait_sent(user, seen + count, timeout=20))
        new, seen = messages[seen:seen + count], seen + count
        return new

    return say


# ---------------------------------------------------------------------------------------------- Zalo Bot
def zb_user(n: int) -> str:
    """The Zalo Bot user of case n."""
    return f"h{n:015d}"


def zb_message(case: dict[str, Any], user: str) -> dict[str, Any]:
    """The message object of a zalo_bot case."""
    message = ZalobotStandin.message(user, expand(case.get("text"), user) if "text" in case else None)
    message.update(expand(case.get("message") or {}, user))
    return message


async def push_zalo_bot_poll(zb: ZalobotStandin) -> list[Outcome]:
    """Queue every zalo_bot_poll case for getUpdates, raw ones as the platform would hand them out."""
    outcomes: list[Outcome] = []
    raw: list[Any] = []
    for n, case in by_entry("zalo_bot_poll"):
        user = zb_user(n)
        outcomes.append(Outcome(case, user))
        if "update" in case:
            raw.append(expand(case["update"], user))
        else:
            raw.append(ZalobotStandin.event(zb_message(case, user)))
    async with zb._changed:  # the stand-in's queue holds whole updates; push() would wrap these in an event
        zb._queue.extend(raw)
        zb._changed.notify_all()
    return outcomes


async def post_zalo_bot_webhook(url: str) -> list[Outcome]:
    """POST every zalo_bot_webhook case."""
    outcomes: list[Outcome] = []
    headers = {"ok": {"X-Bot-Api-Secret-Token": ZB_SECRET}, "none": {},
               "wrong": {"X-Bot-Api-Secret-Token": "wrong-secret"},
               "prefix": {"X-Bot-Api-Secret-Token": ZB_SECRET[:-1]}}
    async with aiohttp.ClientSession() as session:
        calls = []
        for n, case in by_entry("zalo_bot_webhook"):
            user = zb_user(n)
            outcome = Outcome(case, user)
            outcomes.append(outcome)
            body = body_of(case, user)
            if body is None:
                body = dumps({"ok": True, "result": ZalobotStandin.event(zb_message(case, user))})

            async def call(outcome: Outcome = outcome, body: bytes = body, times: int = case.get("times", 1),
                           secret: str = case.get("secret", "ok")) -> None:
                for _ in range(times):
                    outcome.statuses.append(await post(session, url, body, headers[secret]))

            calls.append(call)
        await gather_limited(calls)
    return outcomes


def zalo_bot_say(zb: ZalobotStandin, user: str, webhook: str = "") -> Say:
    """Type into a Zalo Bot chat (polling, or straight to the webhook); return the next replies."""
    seen = 0

    async def say(text: str, count: int) -> list[str]:
        nonlocal seen
        if webhook:
            assert await zb.post_webhook(zb.message(user, text), secret=ZB_SECRET, url=webhook) == 200
        else:
            await zb.push_message(user, text)
        messages = [s.text or "" for s in await zb.wait_sent(user, seen + count, timeout=20)]
        new, seen = messages[seen:seen + count], seen + count
        return new

    return say


# ---------------------------------------------------------------------------------------------- Zalo OA
def oa_user(n: int) -> str:
    """The Zalo OA user of case n."""
    return f"71{n:017d}"


def oa_signed(case: dict[str, Any], user: str) -> tuple[bytes, dict[str, str]]:
    """The body and headers of a zalo_oa case, signed (or not) as the case says."""
    signing = case.get("signing", "ok")
    stamp = str(int(time.time() * 1000) - int(case.get("age", 0)) * 1000)
    stamp = {"stale": str(int(stamp) - 600_000), "future": str(int(stamp) + 600_000), "word": "yesterday",
             "nan": "NaN", "infinity": "Infinity"}.get(signing, stamp)
    body = body_of(case, user)
    if body is None:
        name = case.get("event", "user_send_text")
        message: Any = expand(case["message"], user) if "message" in case else {
            "msg_id": f"hm{user}", "text": expand(case.get("text"), user)}
        payload: dict[str, Any] = {"app_id": APP_ID, "user_id_by_app": f"a{user}", "sender": {"id": user},
                                   "recipient": {"id": OA_ID}, "message": message}
        if name in ("follow", "unfollow"):
            payload = {"app_id": APP_ID, "oa_id": OA_ID, "follower": {"id": user}}
        if name == "oa_send_text":
            payload.update(sender={"id": OA_ID}, recipient={"id": user})
        if name is not None:
            payload["event_name"] = name
        if signing != "header":
            payload["timestamp"] = stamp
        body = dumps(payload)
    mac = {"zeros": "0" * 64, "garbage": "not-a-signature \u00ff".encode().decode("latin-1"),
           "wrong-key": hash_sign(body, stamp, "not-the-key"), "other-body": hash_sign(b"{}", stamp)}.get(signing)
    if mac is None:
        mac = hash_sign(body, stamp)
    headers = {"X-ZEvent-Signature": ("MAC=" if signing == "upper" else "mac=") + mac}
    if signing == "none":
        headers = {}
    if signing in ("header", "upper"):
        headers["X-ZEvent-Timestamp"] = stamp
    return body, headers


def hash_sign(body: bytes, stamp: str, key: str = OA_KEY) -> str:
    """The signature of raw bytes (the stand-in's `sign` decodes the body as UTF-8 first)."""
    return hashlib.sha256(APP_ID.encode() + body + stamp.encode() + key.encode()).hexdigest()


async def post_zalo_oa(url: str) -> list[Outcome]:
    """POST every zalo_oa case (replays: the very same signed bytes, several times)."""
    outcomes: list[Outcome] = []
    async with aiohttp.ClientSession() as session:
        calls = []
        for n, case in by_entry("zalo_oa"):
            user = oa_user(n)
            outcome = Outcome(case, user)
            outcomes.append(outcome)
            body, headers = oa_signed(case, user)

            async def call(outcome: Outcome = outcome, body: bytes = body, headers: dict[str, str] = headers,
                           times: int = case.get("times", 1)) -> None:
                for _ in range(times):
                    outcome.statuses.append(await post(session, url, body, headers))

            calls.append(call)
        await gather_limited(calls)
    return outcomes


def zalo_oa_say(oa: ZaloOAStandin, url: str, user: str) -> Say:
    """Type to the OA through its signed webhook; return the next replies."""
    seen = 0

    async def say(text: str, count: int) -> list[str]:
        nonlocal seen
        stamp = now_ms()
        payload = {"app_id": APP_ID, "event_name": "user_send_text", "sender": {"id": user},
                   "recipient": {"id": OA_ID}, "message": {"msg_id": f"p{time.monotonic_ns()}", "text": text},
                   "timestamp": stamp}
        body = json.dumps(payload, ensure_ascii=False).encode()
        async with aiohttp.ClientSession() as session:
            assert await post(session, url, body, {"X-ZEvent-Signature": "mac=" + hash_sign(body, stamp)}) == 200
        messages = [s.text for s in await oa.wait_sent(user, seen + count, timeout=20)]
        new, seen = messages[seen:seen + count], seen + count
        return new

    return say


# ---------------------------------------------------------------------------------------------- tests
def test_the_corpus_covers_every_entry_and_kind() -> None:
    cases = load_corpus()
    assert len(cases) >= 300
    assert {c["entry"] for c in cases} == set(ENTRIES)
    assert {c["expect"] for c in cases} == {"reply", "silent", "4xx"}
    assert len({c["id"] for c in cases}) == len(cases)
    longest = max(len(expand(c["text"], "u")) for c in cases if "text" in c and isinstance(c["text"], dict | str))
    assert longest >= 100_000


async def test_polling_entries_and_the_oa_webhook_survive_the_corpus(tmp_path: Path) -> None:
    async with (TelegramStandin(token=TELEGRAM_TOKEN) as tg, ZalobotStandin(token=ZB_TOKEN, batch="list") as zb,
                ZaloOAStandin(app_id=APP_ID, app_secret=APP_SECRET, refresh_token=FIRST) as oa,
                running(tmp_path, {
                    "TELEGRAM_BOT_TOKEN": TELEGRAM_TOKEN, "TELEGRAM_API_URL": tg.root,
                    "ZALO_BOT_TOKEN": ZB_TOKEN, "ZALO_BOT_API_URL": zb.root, "ZALO_OA_APP_ID": APP_ID,
                    "ZALO_OA_APP_SECRET": APP_SECRET, "ZALO_OA_SECRET_KEY": OA_KEY,
                    "ZALO_OA_REFRESH_TOKEN": FIRST, "ZALO_OA_API_URL": oa.root, "ZALO_OAUTH_URL": oa.root}) as bot):
        oa_url = f"{bot.url}/webhooks/zalo-oa"
        telegram, zalo_bot, zalo_oa = await asyncio.gather(push_telegram_poll(tg), push_zalo_bot_poll(zb),
                                                           post_zalo_oa(oa_url))
        await bot.settled()
        failures = judge(telegram, lambda u: texts_of(tg.sent(u))[_skip(telegram, u):])
        failures += judge(zalo_bot, lambda u: [s.text or "" for s in zb.sent(u)])
        failures += judge(zalo_oa, lambda u: [s.text for s in oa.sent(u)])
        assert not failures, "\n".join(failures)
        bot.check_log()

        await asyncio.gather(
            complete_survey(telegram_say(tg, 7_399_000_001), COMMUNES["telegram_poll"][1]),
            complete_survey(zalo_bot_say(zb, "p000000000000001"), COMMUNES["zalo_bot_poll"][1]),
            complete_survey(zalo_oa_say(oa, oa_url, "7099000000000000001"), COMMUNES["zalo_oa"][1]))
        assert_counted(await xtt_score(bot.env, bot.cwd), ("telegram_poll", "zalo_bot_poll", "zalo_oa"))
        assert await bot.responses() == 3
        bot.check_log()
        assert await bot.process.terminate() == 0


async def test_webhook_entries_survive_the_corpus(tmp_path: Path) -> None:
    async with (TelegramStandin(token=TELEGRAM_TOKEN) as tg, ZalobotStandin(token=ZB_TOKEN) as zb,
                running(tmp_path, {
                    "TELEGRAM_BOT_TOKEN": TELEGRAM_TOKEN, "TELEGRAM_API_URL": tg.root,
                    "TELEGRAM_WEBHOOK_URL": "{url}/webhooks/telegram", "TELEGRAM_WEBHOOK_SECRET": TG_SECRET,
                    "ZALO_BOT_TOKEN": ZB_TOKEN, "ZALO_BOT_API_URL": zb.root, "ZALO_BOT_WEBHOOK_SECRET": ZB_SECRET,
                    "WEB_PUBLIC_URL": "{url}"}) as bot):
        tg_url, zb_url = f"{bot.url}/webhooks/telegram", f"{bot.url}/webhooks/zalo-bot"
        deadline = time.monotonic() + 20
        while not zb.webhook_url:  # set in the background once the channel runs
            assert time.monotonic() < deadline, bot.process.failure("setWebhook was not called")
            await asyncio.sleep(0.05)
        telegram, zalo_bot = await asyncio.gather(post_telegram_webhook(tg_url), post_zalo_bot_webhook(zb_url))
        await bot.settled()
        failures = judge(telegram, lambda u: texts_of(tg.sent(u)))
        failures += judge(zalo_bot, lambda u: [s.text or "" for s in zb.sent(u)])
        assert not failures, "\n".join(failures)
        assert not tg.calls_of("getUpdates") and not zb.calls_of("getUpdates")
        bot.check_log()

        await asyncio.gather(
            complete_survey(telegram_say(tg, 7_399_000_002, tg_url), COMMUNES["telegram_webhook"][1]),
            complete_survey(zalo_bot_say(zb, "p000000000000002", zb_url), COMMUNES["zalo_bot_webhook"][1]))
        assert_counted(await xtt_score(bot.env, bot.cwd), ("telegram_webhook", "zalo_bot_webhook"))
        assert await bot.responses() == 2
        bot.check_log()
        assert await bot.process.terminate() == 0

