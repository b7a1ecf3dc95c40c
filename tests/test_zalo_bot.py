"""The Zalo Bot Platform channel and its client against the in-process stand-in of the Bot API."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from bot.channels.base import numbered
from bot.channels.errors import SendFailure
from bot.channels.zalo_bot import ZalobotChannel
from bot.channels.zalo_bot_client import ZalobotClient, ZalobotError, chunks, messages
from bot.web import Media, WebServer
from conversations import Choice, Incoming, Reply

try:
    from tests.support.zalo_bot_standin import ZalobotStandin
except ImportError:  # pytest's default "prepend" import mode puts tests/ (not the repo root) on sys.path
    from support.zalo_bot_standin import ZalobotStandin  # type: ignore[no-redef]

TOKEN = "1234567890:zb-unit-SECRET-token"
USER = "a1b2c3d4e5f60718"
OTHER = "ffeeddccbbaa0099"
SECRET = "zb-webhook-secret-42"
FAST = {"poll_timeout": 1.0, "backoff": (0.01, 0.05)}


class Person:
    """The inbox and the service, reduced to what a channel sees: records each Incoming stored, may answer it."""

    def __init__(self, answer: Callable[[Incoming], list[Reply]] | None = None) -> None:
        self.got: list[Incoming] = []
        self.keys: set[str] = set()
        self.answer = answer or (lambda incoming: [])
        self.changed = asyncio.Event()
        self.channel: ZalobotChannel | None = None

    async def __call__(self, received: Any, bad: Any = ()) -> None:
        for incoming in received:
            if incoming.update_key in self.keys:
                continue  # the inbox stores a key once
            self.keys.add(incoming.update_key)
            self.got.append(incoming)
            self.changed.set()
            for reply in self.answer(incoming):
                assert self.channel is not None
                await self.channel.send(incoming.chat_id, reply)

    async def wait(self, count: int, timeout: float = 5.0) -> list[Incoming]:
        """Wait until `count` messages arrived."""
        async with asyncio.timeout(timeout):
            while len(self.got) < count:
                self.changed.clear()
                await self.changed.wait()
        return self.got

    @property
    def texts(self) -> list[str | None]:
        """The texts received, in order."""
        return [i.text for i in self.got]


@pytest.fixture
async def zb() -> AsyncIterator[ZalobotStandin]:
    """The Bot API stand-in."""
    async with ZalobotStandin(token=TOKEN) as standin:
        yield standin


@pytest.fixture
async def running(zb: ZalobotStandin) -> AsyncIterator[Callable[..., Any]]:
    """Start polling channels on the stand-in; stopped after the test."""
    started: list[ZalobotChannel] = []

    async def start(person: Person, **options: Any) -> ZalobotChannel:
        channel = ZalobotChannel(TOKEN, zb.root, person, **{**FAST, **options})
        person.channel = channel
        await channel.start()
        started.append(channel)
        return channel

    yield start
    for channel in started:
        await channel.stop()


async def settle(seconds: float = 0.3) -> None:
    """Give the poll loop time to fetch and hand out what is waiting."""
    await asyncio.sleep(seconds)


# ---------------------------------------------------------------------------------------------- client
def test_chunks_split_long_text_at_line_breaks_within_the_limit() -> None:
    lines = [f"{n}. " + "Xã Mỹ An có sân chơi an toàn cho trẻ em " * 3 for n in range(1, 80)]
    text = "\n".join(lines)
    assert len(text) > 4000
    pieces = chunks(text)
    assert len(pieces) >= 3 and all(1 <= len(p) <= 2000 for p in pieces)
    assert "\n".join(pieces) == text  # cut at line breaks only: nothing lost, no line broken
    assert all(p.splitlines()[0] in lines for p in pieces)


def test_chunks_split_a_long_line_at_spaces_then_anywhere() -> None:
    words = "trẻ em " * 600
    pieces = chunks(words.strip())
    assert all(len(p) <= 2000 for p in pieces) and " ".join(pieces) == words.strip()
    solid = "x" * 4500
    assert [len(p) for p in chunks(solid)] == [2000, 2000, 500] and "".join(chunks(solid)) == solid
    assert chunks("ngắn") == ["ngắn"] and chunks("  \n ") == []


def test_get_updates_results_may_be_one_object_a_list_or_nothing() -> None:
    one = {"event_name": "message.text.received", "message": {"message_id": "m1"}}
    assert messages(one) == [one]
    assert messages([one, one]) == [one, one]
    for nothing in (None, {}, [], ""):
        assert messages(nothing) == []
    assert messages([one, "junk", 3]) == [one]


async def test_client_unwraps_the_envelope_and_never_shows_the_token(zb: ZalobotStandin) -> None:
    client = ZalobotClient(TOKEN, zb.root)
    try:
        assert (await client.get_me())["account_name"] == "bot.xtt.test"
        zb.fail("getMe", 401, "Unauthorized")
        with pytest.raises(ZalobotError) as refused:
            await client.get_me()
        assert refused.value.code == 401 and TOKEN not in str(refused.value)
        bad = ZalobotClient(TOKEN, "http://127.0.0.1:9")  # nothing listens on the discard port
        with pytest.raises(ZalobotError) as unreachable:
            await bad.get_me()
        await bad.close()
        assert unreachable.value.code is None and TOKEN not in str(unreachable.value)
        zb.fail("getUpdates", 408, "Request Timeout")
        assert await client.get_updates(0) == []
    finally:
        await client.close()


# ---------------------------------------------------------------------------------------------- receiving
async def test_polling_accepts_one_message_per_answer(zb: ZalobotStandin, running: Callable[..., Any]) -> None:
    person = Person()
    channel = await running(person)
    ids = [await zb.push_message(USER, text) for text in ("xin chào", "2", " 2 ", "khảo sát")]
    got = await person.wait(4)
    assert zb.calls_of("getMe") and zb.calls_of("deleteWebhook")  # getUpdates needs no webhook set
    assert [i.text for i in got] == ["xin chào", "2", " 2 ", "khảo sát"]
    assert {(i.channel, i.chat_id, i.user_id) for i in got} == {("zalo_bot", USER, USER)}
    assert [i.update_key for i in got] == [f"zalo_bot:{m}" for m in ids]
    assert channel.name == "zalo_bot" and channel.route == "zalo-bot" and channel.buttons is False


async def test_polling_accepts_a_list_of_messages_in_order(zb: ZalobotStandin, running: Callable[..., Any]) -> None:
    zb.batch = "list"
    person = Person()
    await running(person)
    await asyncio.sleep(0.1)  # the loop waits in a long poll
    await zb.push(*(zb.message(USER, f"tin {n}") for n in range(3)), zb.message(OTHER, "tin khác"))
    got = await person.wait(4)
    assert zb.handed == [4]
    assert [i.text for i in got if i.chat_id == USER] == ["tin 0", "tin 1", "tin 2"]
    await zb.push_message(USER, "một mình")
    await person.wait(5)
    assert zb.handed == [4, 1]


@pytest.mark.parametrize("empty", ["408", "missing", "null", "object", "list"])
async def test_nothing_yet_keeps_polling(zb: ZalobotStandin, running: Callable[..., Any], empty: str,
                                         caplog: pytest.LogCaptureFixture) -> None:
    zb.empty = empty  # type: ignore[assignment]
    zb.long_poll = False  # answers at once: the loop must pause gently, not spin
    person = Person()
    await running(person)
    began = len(zb.calls_of("getUpdates"))
    await asyncio.sleep(1.0)
    polls = len(zb.calls_of("getUpdates")) - began
    assert 2 <= polls <= 12, polls
    await zb.push_message(USER, "vẫn nghe chứ?")
    assert (await person.wait(1))[0].text == "vẫn nghe chứ?"
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING], caplog.text


async def test_a_faulty_api_or_service_does_not_stop_the_poll_loop(zb: ZalobotStandin, running: Callable[..., Any],
                                                                   caplog: pytest.LogCaptureFixture) -> None:
    def explode(incoming: Incoming) -> list[Reply]:
        if incoming.text == "nổ":
            raise RuntimeError("the service failed")
        return [Reply("ok")]

    zb.fail("getUpdates", 502, "Bad Gateway", times=3)
    zb.fail("getUpdates", 200, "strange", status=200)  # ok:false inside a 200
    person = Person(explode)
    await running(person)
    await zb.push_message(USER, "nổ")
    await zb.push_message(USER, "tiếp")
    await person.wait(2)
    assert [s.text for s in await zb.wait_sent(USER, 1)] == ["ok"]
    assert person.texts == ["nổ", "tiếp"], "a batch that could not be stored is stored again, not dropped"
    assert "Bad Gateway" in caplog.text and "could not store" in caplog.text
    assert TOKEN not in caplog.text


async def test_a_refused_delete_webhook_does_not_keep_polling_from_starting(zb: ZalobotStandin,
                                                                           running: Callable[..., Any]) -> None:
    zb.fail("deleteWebhook", 400, "Bad Request: no webhook is set")
    person = Person()
    await running(person)
    await zb.push_message(USER, "xin chào")
    assert (await person.wait(1))[0].text == "xin chào"


async def test_repeated_message_ids_have_one_key(zb: ZalobotStandin, running: Callable[..., Any]) -> None:
    person = Person()  # the inbox stores each key once (tests/test_inbox.py)
    await running(person)
    message = zb.message(USER, "1", message_id="dup-1")
    await zb.push(message)
    await zb.push(message)
    await zb.push_message(USER, "sau đó")
    await person.wait(2)
    await settle()
    assert person.texts == ["1", "sau đó"] and "zalo_bot:dup-1" in person.keys


async def test_messages_sent_while_the_bot_was_down_are_kept_with_their_time(zb: ZalobotStandin,
                                                                            running: Callable[..., Any]) -> None:
    now_ms = int(time.time() * 1000)
    await zb.push_message(USER, "cũ, tính bằng mili giây", message_id="old-ms", date=now_ms - 3_600_000)
    await zb.push_message(USER, "cũ, tính bằng giây", message_id="old-s", date=now_ms // 1000 - 3600)
    await zb.push_message(USER, "không có ngày", message_id="no-date", date=0)
    person = Person()
    await running(person)
    await zb.push_message(USER, "mới")
    await person.wait(4)
    await settle()
    assert person.texts == ["cũ, tính bằng mili giây", "cũ, tính bằng giây", "không có ngày", "mới"]
    sent = [i.sent_at for i in person.got]
    assert abs(sent[0] - (now_ms / 1000 - 3600)) < 2 and abs(sent[1] - (now_ms / 1000 - 3600)) < 2
    assert sent[2] is None and sent[3] is not None  # the inbox apologises for what is late


async def test_groups_bots_and_non_text_messages(zb: ZalobotStandin, running: Callable[..., Any],
                                                 caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)
    person = Person()
    await running(person)
    await zb.push(zb.message("group-1", "/start", chat_type="GROUP", message_id="in-group"))
    robot = zb.message(OTHER, "hi", message_id="from-bot")
    robot["from"]["is_bot"] = True
    await zb.push(robot)
    await zb.push({"chat": {"id": USER}, "text": "no id"})
    await zb.push_sticker(USER)
    await zb.push(zb.message(USER, None, photo_url="https://zalo.example/p.jpg"))
    await zb.push_message(USER, "chữ")
    got = await person.wait(3)
    await settle()
    assert [(i.text, i.other) for i in got] == [(None, "sticker"), (None, "media"), ("chữ", "")]
    assert "ignored message in-group: not from a person" in caplog.text
    assert "ignored message from-bot" in caplog.text
    assert "without message_id" in caplog.text


async def test_getme_refused_stops_the_start_but_an_unreachable_api_does_not(zb: ZalobotStandin) -> None:
    zb.fail("getMe", 401, "Unauthorized")
    with pytest.raises(RuntimeError, match="ZALO_BOT_TOKEN"):
        await ZalobotChannel(TOKEN, zb.root, Person(), **FAST).start()
    offline = ZalobotChannel(TOKEN, "http://127.0.0.1:9", Person(), **FAST)
    await offline.start()  # the loop retries with backoff until the API answers
    await asyncio.sleep(0.1)
    began = time.monotonic()
    await offline.stop()
    assert time.monotonic() - began < 2


async def test_a_stop_lets_the_open_long_poll_finish_and_keeps_what_it_brings(zb: ZalobotStandin) -> None:
    person = Person()
    channel = ZalobotChannel(TOKEN, zb.root, person, poll_timeout=3)
    await channel.start()
    await asyncio.sleep(0.2)  # a getUpdates is open: the platform may hand it a message at any moment
    began = time.monotonic()
    stopping = asyncio.create_task(channel.stop())
    await asyncio.sleep(0.3)
    await zb.push_message(USER, "em gửi lúc bot đang dừng")
    await stopping
    assert person.texts == ["em gửi lúc bot đang dừng"], "getUpdates has no acknowledgement: never cancel it"
    assert time.monotonic() - began < 3 + 2
    assert len(zb.calls_of("getUpdates")) == 1, "no new request once stopping"


async def test_a_stop_with_no_message_coming_returns_within_the_poll_timeout(zb: ZalobotStandin) -> None:
    channel = ZalobotChannel(TOKEN, zb.root, Person(), poll_timeout=1)
    await channel.start()
    await asyncio.sleep(0.2)
    began = time.monotonic()
    await channel.stop()
    assert time.monotonic() - began < 1 + 2


# ---------------------------------------------------------------------------------------------- webhook
@pytest.fixture
async def hooked(zb: ZalobotStandin) -> AsyncIterator[tuple[ZalobotChannel, Person, str]]:
    """A channel in webhook mode behind the shared web server's route."""
    server = WebServer("127.0.0.1", 0, db=None)  # type: ignore[arg-type]
    person = Person(lambda incoming: [Reply("đã nhận")])
    channel = ZalobotChannel(TOKEN, zb.root, person, **FAST, webhook_url="placeholder", webhook_secret=SECRET)
    person.channel = channel
    server.webhook(channel.route, channel.webhook)
    await server.start()
    assert server._runner is not None
    url = f"http://127.0.0.1:{server._runner.addresses[0][1]}/webhooks/zalo-bot"
    channel.webhook_url = url
    await channel.start()
    yield channel, person, url
    await channel.stop()
    await server.stop()


async def test_webhook_mode_sets_the_webhook_and_does_not_poll(zb: ZalobotStandin, hooked: Any) -> None:
    url = hooked[2]
    deadline = time.monotonic() + 5
    while not zb.webhook_url:
        assert time.monotonic() < deadline, "setWebhook was not called"
        await asyncio.sleep(0.02)
    assert zb.calls_of("setWebhook") == [{"url": url, "secret_token": SECRET}]
    await settle(0.2)
    assert not zb.calls_of("getUpdates")


async def test_webhook_checks_the_secret_token(zb: ZalobotStandin, hooked: Any,
                                               caplog: pytest.LogCaptureFixture) -> None:
    _, person, url = hooked
    private = "bí mật trong tin nhắn"
    assert await zb.post_webhook(zb.message(OTHER, private), secret="wrong-secret", url=url) == 403
    assert await zb.post_webhook(zb.message(OTHER, private), secret="", url=url) == 403
    assert await zb.post_webhook(zb.message(OTHER, private), secret=SECRET + "x", url=url) == 403
    assert await zb.post_webhook(zb.message(OTHER, private), secret=SECRET[:-1], url=url) == 403
    assert await zb.post_webhook(zb.message(USER, "xin chào"), secret=SECRET, url=url) == 200
    assert [s.text for s in await zb.wait_sent(USER, 1)] == ["đã nhận"]
    assert person.texts == ["xin chào"] and not zb.sent(OTHER)
    assert "rejected a webhook call with a wrong secret token" in caplog.text
    assert "rejected a webhook call with a missing secret token" in caplog.text
    assert private not in caplog.text
    statuses = []
    async with aiohttp.ClientSession() as session:
        for body in (b"{not json", b"[]", b"null", b'{"ok": true, "result": {"message": 3}}', b"{}"):
            async with session.post(url, data=body, headers={"X-Bot-Api-Secret-Token": SECRET}) as resp:
                statuses.append(resp.status)
    assert statuses == [400] * 5


async def test_webhook_without_a_secret_refuses_everything(zb: ZalobotStandin) -> None:
    channel = ZalobotChannel(TOKEN, zb.root, Person())
    app = web.Application()
    app.router.add_post("/hook", channel.webhook)
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    url = f"http://127.0.0.1:{runner.addresses[0][1]}/hook"
    try:
        assert await zb.post_webhook(zb.message(USER, "hi"), secret="", url=url) == 403
        assert await zb.post_webhook(zb.message(USER, "hi"), secret="anything", url=url) == 403
    finally:
        await runner.cleanup()


# ---------------------------------------------------------------------------------------------- sending
async def test_choices_are_rendered_as_a_numbered_list(zb: ZalobotStandin) -> None:
    channel = ZalobotChannel(TOKEN, zb.root, Person())
    reply = Reply("Bạn là ai?", (Choice("1:child", "Trẻ em (dưới 16 tuổi)"), Choice("1:resident", "Người dân")))
    await channel.send(USER, reply)
    await channel.stop()
    assert [s.text for s in zb.sent(USER)] == ["Bạn là ai?\n\n1. Trẻ em (dưới 16 tuổi)\n2. Người dân"]


async def test_long_replies_are_split_into_messages_of_at_most_2000(zb: ZalobotStandin) -> None:
    channel = ZalobotChannel(TOKEN, zb.root, Person())
    text = "\n".join(f"Kiến nghị {n}: " + "đèn đường, cổng trường, sân chơi. " * 4 for n in range(60))
    choices = tuple(Choice(f"c{n}", f"Lựa chọn {n}") for n in range(1, 4))
    await channel.send(USER, Reply(text, choices))
    await channel.stop()
    sent = [s.text or "" for s in zb.sent(USER)]
    assert len(sent) >= 4 and all(1 <= len(s) <= 2000 for s in sent)
    assert "\n".join(sent) == numbered(Reply(text, choices))  # cut at line breaks only
    assert sent[-1].endswith("1. Lựa chọn 1\n2. Lựa chọn 2\n3. Lựa chọn 3")


@pytest.mark.parametrize(("inject", "kind", "retry_after"), [
    ({"code": 429, "description": "Too Many Requests", "retry_after": 7}, "retry", 7),
    ({"code": 502, "description": "Bad Gateway"}, "retry", None),
    ({"code": 408, "description": "Request Timeout"}, "retry", None),
    ({"code": 400, "description": "Bad Request: chat not found"}, "invalid", None),
    ({"code": 404, "description": "Not Found"}, "invalid", None),
    ({"code": 200, "description": "user blocked the bot", "status": 200}, "blocked", None),
])
async def test_send_errors_are_classified(zb: ZalobotStandin, inject: dict[str, Any], kind: str,
                                          retry_after: int | None) -> None:
    channel = ZalobotChannel(TOKEN, zb.root, Person())
    code, description = inject.pop("code"), inject.pop("description")
    zb.fail("sendMessage", code, description, **inject)
    with pytest.raises(SendFailure) as failed:
        await channel.send(USER, Reply("xin chào"))
    await channel.stop()
    assert failed.value.kind == kind and failed.value.retry_after == retry_after
    assert TOKEN not in str(failed.value)


async def test_blocked_chats_and_an_unreachable_api(zb: ZalobotStandin) -> None:
    zb.blocked.add(OTHER)
    channel = ZalobotChannel(TOKEN, zb.root, Person())
    with pytest.raises(SendFailure) as blocked:
        await channel.send(OTHER, Reply("xin chào"))
    assert blocked.value.kind == "blocked"
    await channel.stop()
    offline = ZalobotChannel(TOKEN, "http://127.0.0.1:9", Person())
    with pytest.raises(SendFailure) as unreachable:
        await offline.send(USER, Reply("xin chào"))
    await offline.stop()
    assert unreachable.value.kind == "retry"


async def test_charts_go_by_a_short_lived_url_when_a_public_address_is_set(zb: ZalobotStandin) -> None:
    server = WebServer("127.0.0.1", 0, db=None)  # type: ignore[arg-type]
    media = Media("http://placeholder")
    server.media(media)
    await server.start()
    assert server._runner is not None
    media.public_url = f"http://127.0.0.1:{server._runner.addresses[0][1]}"
    png = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4
    channel = ZalobotChannel(TOKEN, zb.root, Person(), media=media)
    try:
        await channel.send(USER, Reply("Biểu đồ chỉ số hài lòng theo xã.", image=png, filename="diem.png"))
        await channel.send(USER, Reply("", image=png, filename="tham-do.png"))
        await channel.send(USER, Reply("Bảng tính", document=b"PK\x03\x04xlsx", filename="bao-cao.xlsx"))
        text, photo, bare, document = zb.sent(USER)
        assert text.method == "sendMessage" and text.text == "Biểu đồ chỉ số hài lòng theo xã."
        assert photo.method == "sendPhoto" and photo.fetched == 200 and photo.size == len(png)
        assert photo.content_type == "image/png" and photo.photo and photo.photo.endswith(".png")
        assert len(photo.photo.rsplit("/", 1)[1]) >= 32  # unguessable
        assert bare.method == "sendPhoto"  # an image without text is just the photo
        assert document.method == "sendMessage" and "bao-cao.xlsx" in (document.text or "")
        link = (document.text or "").rsplit(" ", 1)[1]
        async with aiohttp.ClientSession() as session:
            async with session.get(link) as resp:
                assert resp.status == 200 and await resp.read() == b"PK\x03\x04xlsx"
                assert "attachment" in resp.headers["Content-Disposition"]
            async with session.get(f"{media.public_url}/media/not-a-token.png") as resp:
                assert resp.status == 404
    finally:
        await channel.stop()
        await server.stop()


async def test_without_a_public_address_files_degrade_to_a_note(zb: ZalobotStandin,
                                                                caplog: pytest.LogCaptureFixture) -> None:
    channel = ZalobotChannel(TOKEN, zb.root, Person())
    await channel.send(USER, Reply("Biểu đồ", image=b"png", filename="diem.png"))
    await channel.send(USER, Reply("", image=b"png", filename="tham-do.png"))
    await channel.send(USER, Reply("", document=b"xlsx", filename="bao-cao.xlsx"))
    await channel.stop()
    sent = zb.sent(USER)
    assert [s.method for s in sent] == ["sendMessage"] * 3
    assert sent[0].text == "Biểu đồ\n\n(Chưa gửi được biểu đồ qua Zalo.)"
    assert sent[1].text == "(Chưa gửi được biểu đồ qua Zalo.)"
    assert sent[2].text == "(Chưa gửi được tệp bao-cao.xlsx qua Zalo.)"
    assert "could not send diem.png" in caplog.text and "could not send bao-cao.xlsx" in caplog.text


def test_media_expire_and_stay_within_their_memory_limit() -> None:
    now = [0.0]
    media = Media("https://xtt.example.org/", ttl=3600, limit=100, clock=lambda: now[0])
    first = media.put(b"a" * 60, "a.png")
    assert first.startswith("https://xtt.example.org/media/") and first.endswith(".png")
    second = media.put(b"b" * 60, "b.PNG")  # does not fit beside the first: the first goes
    names = list(media._items)
    assert len(names) == 1 and second.endswith(names[0]) and names[0].endswith(".png")
    now[0] = 3601.0
    media.put(b"c", "c")
    assert [n.rsplit(".", 1)[1] for n in media._items] == ["bin"]
