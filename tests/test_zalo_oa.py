"""The Zalo OA channel against the in-process OA/OAuth stand-in: signatures, events, sending, tokens."""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.channels.errors import SendFailure
from bot.channels.zalo_oa import ZaloOAChannel, split, verify
from bot.channels.zalo_oa_tokens import TokenStore, TokenUnavailable
from bot.identity import Identity
from bot.sender import Sender
from bot.web import WebServer
from conversations import Choice, Incoming, Reply
from storage import communes, migrate, outbox
from storage.db import connect
from storage.models import Contact, OATokens, Outbox, RoleGrant
from storage.oa_tokens import OATokenRepo
from tests.support.xtt_process import free_port
from tests.support.zalo_oa_standin import ZaloOAStandin, event, now_ms, sign, signed

APP_ID, APP_SECRET, OA_KEY, FIRST = "3608465249409039671", "app-secret-xyz", "oa-secret-key", "refresh-0"
USER, OTHER = "5551000000000000001", "5551000000000000002"
NOW = datetime(2024, 11, 5, 8, 0, tzinfo=UTC)


# ---------------------------------------------------------------------------------------------- fixtures
class Recorder:
    """An inbox stand-in that records what the channel stores, each key once."""

    def __init__(self) -> None:
        self.got: list[Incoming] = []
        self.offered: list[str | None] = []

    async def __call__(self, received: Any, bad: Any = ()) -> None:
        for incoming in received:
            self.offered.append(incoming.update_key)
            if incoming.update_key not in {i.update_key for i in self.got}:
                self.got.append(incoming)


@pytest.fixture
async def standin() -> AsyncIterator[ZaloOAStandin]:
    """The OA API and OAuth stand-in."""
    async with ZaloOAStandin(app_id=APP_ID, app_secret=APP_SECRET, refresh_token=FIRST) as server:
        yield server


@pytest.fixture
async def lite(tmp_path: Path) -> AsyncIterator[AsyncEngine]:
    """A migrated SQLite file, for tests that are about the channel rather than storage."""
    engine = connect(f"sqlite+aiosqlite:///{tmp_path}/oa.sqlite3")
    await migrate.upgrade(engine)
    await communes.seed_default(engine)
    yield engine
    await engine.dispose()


def store(db: AsyncEngine, standin: ZaloOAStandin, first: str = FIRST, admins: tuple[str, ...] = ()) -> TokenStore:
    """A token store on a database, talking to the stand-in."""
    return TokenStore(OATokenRepo(db), app_id=APP_ID, app_secret=APP_SECRET, oauth_url=standin.root,
                      first_refresh_token=first, admins=admins)


class Rig:
    """A started channel behind the real web server, with a recording handler."""

    def __init__(self, db: AsyncEngine, standin: ZaloOAStandin, admins: tuple[str, ...] = ()) -> None:
        self.handler = Recorder()
        self.tokens = store(db, standin, admins=admins)
        self.channel = ZaloOAChannel(APP_ID, OA_KEY, standin.root, self.tokens, self.handler)
        self.web = WebServer("127.0.0.1", free_port(), db)
        self.web.webhook(self.channel.route, self.channel.webhook)
        self.url = f"http://127.0.0.1:{self.web.port}/webhooks/zalo-oa"

    async def post(self, body: bytes, headers: dict[str, str]) -> int:
        """POST a raw webhook body; the HTTP status."""
        async with aiohttp.ClientSession() as session, session.post(self.url, data=body, headers=headers) as resp:
            return resp.status

    async def deliver(self, payload: dict[str, Any]) -> int:
        """POST an event signed the way Zalo signs it."""
        return await self.post(*signed(APP_ID, OA_KEY, payload))

    async def settle(self) -> None:
        """Nothing to wait for: a webhook call is answered once its event is stored."""


async def rig_up(db: AsyncEngine, standin: ZaloOAStandin, admins: tuple[str, ...] = ()) -> Rig:
    """Start a rig."""
    rig = Rig(db, standin, admins)
    await rig.web.start()
    await rig.channel.start()
    return rig


@pytest.fixture
async def rig(lite: AsyncEngine, standin: ZaloOAStandin) -> AsyncIterator[Rig]:
    """A channel on SQLite."""
    rig = await rig_up(lite, standin)
    yield rig
    await rig.channel.stop()
    await rig.web.stop()


async def token_row(db: AsyncEngine) -> Any:
    """The stored token row."""
    async with db.connect() as conn:
        return (await conn.execute(select(OATokens.__table__))).one()


# ---------------------------------------------------------------------------------------------- signatures
def test_signature_is_plain_sha256_of_app_id_body_timestamp_and_key() -> None:
    body = b'{"event_name":"user_send_text","message":{"text":"xin chao"}}'
    vector = "8edb909183dccf3fdbe2fe60e8aeace3154b3b3c9d0eccb762839795b2f59cfd"
    assert sign(APP_ID, body, "1700000000000", OA_KEY) == vector
    stamps = ["1700000000000"]
    for given in (vector, f"mac={vector}", vector.upper(), f"MAC={vector.upper()}", f" mac= {vector} "):
        assert verify(given, APP_ID, body, stamps, OA_KEY) == "1700000000000", given
    wrong = hashlib.sha256(APP_ID.encode() + body + b"1700000000000" + b"other-key").hexdigest()
    for given in ("", "mac=", wrong, vector[:-1] + "0", vector + "00", f"sha256={vector}"):
        assert verify(given, APP_ID, body, stamps, OA_KEY) is None, given
    assert verify(vector, APP_ID, body + b" ", stamps, OA_KEY) is None
    assert verify(vector, APP_ID, body, ["1700000000001"], OA_KEY) is None


def case(name: str) -> tuple[bytes, dict[str, str], int]:
    """A webhook request for one signature case, and the status it must get."""
    payload = event(APP_ID, USER, text=f"MARKER-{name}")
    body = json.dumps(payload).encode()
    stamp = payload["timestamp"]
    good = sign(APP_ID, body, stamp, OA_KEY)
    if name == "prefixed":
        return body, {"X-ZEvent-Signature": f"mac={good}"}, 200
    if name == "bare":
        return body, {"X-ZEvent-Signature": good}, 200
    if name == "upper":
        return body, {"X-ZEvent-Signature": f"mac={good.upper()}"}, 200
    if name == "header_timestamp":
        del payload["timestamp"]
        body = json.dumps(payload).encode()
        return body, {"X-ZEvent-Signature": sign(APP_ID, body, stamp, OA_KEY), "X-ZEvent-Timestamp": stamp}, 200
    if name == "missing":
        return body, {}, 401
    if name == "empty":
        return body, {"X-ZEvent-Signature": ""}, 401
    if name == "bad":
        return body, {"X-ZEvent-Signature": "mac=" + good[:-4] + "ffff"}, 403
    if name == "wrong_key":
        return body, {"X-ZEvent-Signature": sign(APP_ID, body, stamp, "not-the-oa-key")}, 403
    if name == "wrong_app":
        return body, {"X-ZEvent-Signature": sign("999", body, stamp, OA_KEY)}, 403
    if name == "tampered":
        return body.replace(b"MARKER", b"MARKET"), {"X-ZEvent-Signature": good}, 403
    if name in ("stale", "future"):  # a correctly signed body replayed 10 minutes later (or dated ahead)
        payload["timestamp"] = str(int(stamp) + (-600_000 if name == "stale" else 600_000))
        return (*signed(APP_ID, OA_KEY, payload), 403)
    if name == "not_json":
        body = b"MARKER-not_json{"
        return body, {"X-ZEvent-Signature": sign(APP_ID, body, stamp, OA_KEY), "X-ZEvent-Timestamp": stamp}, 400
    raise ValueError(name)


CASES = ["prefixed", "bare", "upper", "header_timestamp", "missing", "empty", "bad", "wrong_key", "wrong_app",
         "tampered", "stale", "future", "not_json"]


async def test_webhook_accepts_only_fresh_correct_signatures_and_logs_no_body(rig: Rig, caplog) -> None:
    caplog.set_level(logging.INFO, logger="bot.channels.zalo_oa")
    statuses = {}
    for name in CASES:
        body, headers, _ = case(name)
        statuses[name] = await rig.post(body, headers)
    assert statuses == {name: case(name)[2] for name in CASES}
    await rig.settle()
    assert sorted(i.text for i in rig.handler.got) == sorted(f"MARKER-{n}" for n in CASES if case(n)[2] == 200)
    rejected = [r.getMessage() for r in caplog.records if "rejected" in r.getMessage()]
    assert len(rejected) == sum(1 for n in CASES if case(n)[2] != 200)
    assert not [m for m in (r.getMessage() for r in caplog.records) if "MARKER" in m or "MARKET" in m]
    assert any("stale timestamp" in m for m in rejected) and any("without a signature" in m for m in rejected)


# ---------------------------------------------------------------------------------------------- events
async def test_events_map_to_incoming_echoes_ignored_and_msg_ids_deduplicated(rig: Rig, caplog) -> None:
    caplog.set_level(logging.INFO, logger="bot.channels.zalo_oa")
    hello = event(APP_ID, USER, text="khảo sát", msg_id="msg-1")
    assert await rig.deliver(hello) == 200
    assert await rig.deliver(hello) == 200  # Zalo retries a delivery it thinks failed
    assert await rig.deliver({**hello, "timestamp": now_ms()}) == 200  # same message, newly signed
    assert await rig.deliver(event(APP_ID, USER, "oa_send_text", "an echo of our reply")) == 200
    assert await rig.deliver(event(APP_ID, USER, "follow")) == 200
    assert await rig.deliver(event(APP_ID, USER, "unfollow")) == 200
    assert await rig.deliver(event(APP_ID, OTHER, "user_send_image", msg_id="msg-2")) == 200
    assert await rig.deliver(event(APP_ID, OTHER, "user_send_sticker", msg_id="msg-3")) == 200
    assert await rig.deliver(event(APP_ID, OTHER, "user_seen_message")) == 200
    await rig.settle()
    assert rig.handler.got == [
        Incoming("zalo_oa", USER, USER, text="khảo sát", update_key="zalo_oa:msg-1"),
        Incoming("zalo_oa", OTHER, OTHER, update_key="zalo_oa:msg-2", other="media"),
        Incoming("zalo_oa", OTHER, OTHER, update_key="zalo_oa:msg-3", other="media"),
    ]
    messages = [r.getMessage() for r in caplog.records]
    assert "zalo_oa: a person used follow" in messages and "zalo_oa: a person used unfollow" in messages
    assert rig.handler.offered.count("zalo_oa:msg-1") == 3, "offered three times, stored once by its key"


async def test_a_replayed_event_without_msg_id_has_the_same_key(rig: Rig) -> None:
    bare = event(APP_ID, USER, text="không có mã")
    bare["message"].pop("msg_id", None)
    assert [await rig.deliver(bare) for _ in range(3)] == [200, 200, 200]
    await rig.settle()
    keys = rig.handler.offered
    assert len(keys) == 3 and len(set(keys)) == 1 and keys[0].startswith("zalo_oa:body-")
    assert len(rig.handler.got) == 1


# ---------------------------------------------------------------------------------------------- sending
async def test_replies_are_numbered_text_split_at_2000_and_files_degrade(rig: Rig, standin: ZaloOAStandin) -> None:
    await rig.channel.send(USER, Reply("Bạn là ai?", (Choice("1:child", "Em là trẻ em"), Choice("1:r", "Người dân"))))
    assert standin.sent(USER)[0].text == "Bạn là ai?\n\n1. Em là trẻ em\n2. Người dân"
    lines = [f"Dòng {n}: " + ("chữ tiếng Việt có dấu " * 4).strip() for n in range(50)]  # about 4,900 characters
    await rig.channel.send(USER, Reply("\n".join(lines), (Choice("a", "Có"),)))
    await rig.channel.send(USER, Reply("Biểu đồ xã", image=b"\x89PNG...", filename="chart.png"))
    sent = [s.text for s in standin.sent(USER)[1:]]
    *long, chart = sent
    assert len(long) == 3 and all(len(piece) <= 2000 for piece in long)
    assert "\n".join(long) == "\n".join(lines) + "\n\n1. Có"
    assert all(piece.startswith("Dòng") for piece in long), "pieces start at line ends"
    assert chart == "Biểu đồ xã"
    assert split("😀" * 1500) == ["😀" * 1000, "😀" * 500], "emoji count as two UTF-16 units"
    assert split("a" * 4500) == ["a" * 2000, "a" * 2000, "a" * 500]
    body = standin.calls_of("message/cs")[0]
    assert body["recipient"] == {"user_id": USER} and body["access_token"] == "access-1"


async def test_refused_token_is_refreshed_once_and_the_send_retried_once(rig: Rig, lite: AsyncEngine,
                                                                         standin: ZaloOAStandin) -> None:
    await rig.channel.send(USER, Reply("một"))
    assert standin.refreshes == 1
    standin.expire_tokens()
    await rig.channel.send(USER, Reply("hai"))
    assert standin.refreshes == 2
    assert [(c["message"]["text"], c["access_token"]) for c in standin.calls_of("message/cs")] == [
        ("một", "access-1"), ("hai", "access-1"), ("hai", "access-2")]
    assert (await token_row(lite)).version == 2
    standin.send_errors = [-216, -216]  # refused even after the refresh: give up for now, no loop
    with pytest.raises(SendFailure) as failed:
        await rig.channel.send(USER, Reply("ba"))
    assert failed.value.kind == "retry" and standin.refreshes == 3
    assert len(standin.calls_of("message/cs")) == 5


async def test_rate_limit_asks_the_sender_to_slow_down(rig: Rig, standin: ZaloOAStandin) -> None:
    standin.send_errors = [-32]
    with pytest.raises(SendFailure) as failed:
        await rig.channel.send(USER, Reply("xin chào"))
    assert failed.value.kind == "retry" and failed.value.retry_after == 60.0
    standin.send_errors = [-201]
    with pytest.raises(SendFailure) as failed:
        await rig.channel.send(USER, Reply("xin chào"))
    assert failed.value.kind == "invalid"
    assert len(standin.calls_of("message/cs")) == 2


async def test_outside_the_7_day_window_is_not_retried_and_the_contact_is_marked_unreachable(
        lite: AsyncEngine, rig: Rig, standin: ZaloOAStandin) -> None:
    async with lite.begin() as conn:
        await conn.execute(Contact.__table__.insert().values(person="p-user", channel="zalo_oa", chat_id=USER,
                                                             created_at=NOW))
        await conn.execute(outbox.enqueue(lite, "poll:1", ["p-user"], "poll",
                                          outbox.payload("Thăm dò", [("v:1:1", "Có")]), NOW))
    standin.outside_window.add(USER)
    sender = Sender(lite, {"zalo_oa": rig.channel}, rate=50, per_chat=50)
    try:
        await sender.drain(10)
    finally:
        await sender.stop()
    assert len(standin.calls_of("message/cs")) == 1, "no retry outside the window"
    async with lite.connect() as conn:
        row = (await conn.execute(select(Outbox.status, Outbox.error, Outbox.attempts))).one()
        unreachable = (await conn.execute(select(Contact.unreachable))).scalar_one()
    assert tuple(row) == ("failed", "blocked", 1) and unreachable


# ---------------------------------------------------------------------------------------------- tokens
async def test_two_refreshers_on_one_database_make_exactly_one_refresh_call(db: AsyncEngine, database_url: str,
                                                                              standin: ZaloOAStandin) -> None:
    other_db = connect(database_url)  # a second process has its own engine and connections
    first, second = store(db, standin), store(other_db, standin)
    try:
        await asyncio.gather(first.prepare(), second.prepare())
        standin.refresh_delay = 0.3  # a slow OAuth: the second starts while the first waits for it
        a, b = await asyncio.gather(first.token(), second.token())
        assert standin.refreshes == 1 and a == b and a.access == "access-1"
        row = await token_row(db)
        assert (row.refresh_token, row.version, row.lease_owner, row.status) == ("refresh-1", 1, None, "ok")
        # Both see the token refused at once: still exactly one refresh, and both get the new pair.
        a, b = await asyncio.gather(first.refresh(a.version, "test"), second.refresh(b.version, "test"))
        assert standin.refreshes == 2 and a == b and a.access == "access-2"
        # A late refresher holding an old version gets the current pair without a call.
        assert (await first.refresh(1, "late")).access == "access-2" and standin.refreshes == 2
    finally:
        await first.close()
        await second.close()
        await other_db.dispose()


async def test_tokens_are_refreshed_before_they_expire(lite: AsyncEngine, standin: ZaloOAStandin) -> None:
    standin.token_lifetime = 4  # the refresher renews at half of a short lifetime
    rig = await rig_up(lite, standin)
    try:
        await rig.channel.send(USER, Reply("0"))  # the first pair, valid for 4 s
        began = time.monotonic()
        for n in range(1, 12):
            await asyncio.sleep(0.5)
            await rig.channel.send(USER, Reply(str(n)))
        assert time.monotonic() - began > 5
        assert standin.refreshes >= 3, "renewed by the refresher, ahead of expiry"
        assert len(standin.calls_of("message/cs")) == 12, "no send ever met an expired token"
        assert (await token_row(lite)).status == "ok"
    finally:
        await rig.channel.stop()
        await rig.web.stop()


async def test_a_refused_refresh_needs_reauthorisation_and_alerts_the_officials(
        db: AsyncEngine, standin: ZaloOAStandin, identity: Identity) -> None:
    official, admin = identity.pseudonym("telegram", "1001"), identity.pseudonym("telegram", "1002")
    async with db.begin() as conn:
        await conn.execute(RoleGrant.__table__.insert().values(person=official, role="official", commune="",
                                                               granted_at=NOW))
        for person, chat in ((official, "1001"), (admin, "1002"), ("someone", "1003")):
            await conn.execute(Contact.__table__.insert().values(person=person, channel="telegram", chat_id=chat,
                                                                 created_at=NOW))
    rig = await rig_up(db, standin, admins=(admin,))
    try:
        await rig.channel.send(USER, Reply("một"))
        standin.refuse_refresh = True
        standin.expire_tokens()
        with pytest.raises(SendFailure) as failed:
            await rig.channel.send(USER, Reply("hai"))
        assert failed.value.kind == "retry" and failed.value.retry_after == 300.0
        row = await token_row(db)
        assert row.status == "reauth" and "Invalid refresh token" in row.error and row.lease_owner is None
        async with db.connect() as conn:
            alerts = (await conn.execute(select(Contact.chat_id, Outbox.kind, Outbox.payload).join(
                Contact, Contact.id == Outbox.contact_id).order_by(Contact.chat_id))).all()
        assert [(chat, kind) for chat, kind, _ in alerts] == [("1001", "alert"), ("1002", "alert")]
        assert alerts[0][2]["key"] == "zalo_oa.reauth" and "ZALO_OA_REFRESH_TOKEN" in alerts[0][2]["text"]
        with pytest.raises(SendFailure):  # no refresh attempt until someone re-authorises
            await rig.channel.send(USER, Reply("ba"))
        with pytest.raises(TokenUnavailable):
            await rig.tokens.token()
        assert standin.refreshes == 2
    finally:
        await rig.channel.stop()
        await rig.web.stop()
    # The operator re-authorises: a new ZALO_OA_REFRESH_TOKEN and a restart.
    standin.refuse_refresh = False
    standin.issue_refresh_token("refresh-new")
    again = store(db, standin, first="refresh-new")
    try:
        await again.prepare()
        assert (await again.token()).access == "access-2" and standin.refreshes == 3
        assert (await token_row(db)).status == "ok"
        async with db.connect() as conn:
            assert len((await conn.execute(select(Outbox.id))).all()) == 2, "one alert per official"
    finally:
        await again.close()


async def test_the_first_refresh_token_is_taken_once_and_the_stored_pair_survives_a_restart(
        lite: AsyncEngine, standin: ZaloOAStandin) -> None:
    first = store(lite, standin)
    await first.prepare()
    assert (await first.token()).access == "access-1"
    await first.close()
    again = store(lite, standin)  # a restart with the same setting keeps the refreshed pair
    await again.prepare()
    assert (await again.token()).access == "access-1" and standin.refreshes == 1
    assert (await token_row(lite)).refresh_token == "refresh-1"
    await again.close()
    unset = TokenStore(OATokenRepo(lite), app_id="other-app", app_secret="", oauth_url=standin.root,
                       first_refresh_token="")
    await unset.prepare()
    with pytest.raises(TokenUnavailable, match="ZALO_OA_REFRESH_TOKEN is not set"):
        await unset.token()
    await unset.close()

