"""The office's web page over real storage and the real aiohttp app: login links, scope, CSRF, escaping, actions."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer
from sqlalchemy import select

from bot.app import assemble, web_pages
from bot.identity import Identity
from bot.settings import Settings
from bot.web import WebServer
from bot.web_auth import COOKIE, WebAuth
from conversations import Catalogue, Engine, load_flows
from storage import rounds
from storage.models import Alert, AlertEvent, Contact, Outbox, Proposal, ProposalEvent
from tests.conftest import SECRET
from tests.test_forum import GATE, KID, KID2, LEADER_A, LEADER_B, OFFICIAL, PROPOSE, Member, propose
from tests.test_service import NOW

OFFICER = "1006"
HOSTILE = 'Cổng trường <script>alert(1)</script> và "><img src=x onerror=alert(2)> cần biển báo'
DISCLOSURE = "dượng hay sờ vào chỗ kín của em"
LINK = re.compile(r"https?://\S+/web/login/\S+")


class Site:
    """The service with `/web`, its web server under an aiohttp test client, and the people of the forum test."""

    def __init__(self, db: Any) -> None:
        texts = Catalogue.load()
        identity = Identity(SECRET)
        admins = frozenset({identity.pseudonym("telegram", OFFICIAL)})
        self.auth = WebAuth(db, identity, texts, "http://xtt.test", admins=admins, clock=lambda: NOW)
        self.service = assemble(Engine(load_flows(), texts), db, identity, texts, admins=admins, clock=lambda: NOW,
                                web=self.auth)
        server = WebServer("127.0.0.1", 0, db)
        web_pages(server, self.service, Settings())
        self.server = TestServer(server.app)
        self.people = {n: Member(self.service, n) for n in (OFFICIAL, LEADER_A, LEADER_B, KID, KID2, OFFICER)}

    async def client(self, who: str | None = None) -> TestClient:
        """A browser of its own; logged in through a `/web` link from chat when `who` is given."""
        client = TestClient(self.server)
        await client.start_server()
        if who is not None:
            token = await self.link(who)
            page = await client.get(f"/web/login/{token}")
            assert page.status == 200 and 'name="token"' in await page.text()
            done = await client.post("/web/login", data={"token": token}, allow_redirects=False)
            assert done.status == 303, await done.text()
        return client

    async def link(self, who: str) -> str:
        """Send /web in chat and return the token of the link the bot replies with."""
        reply = (await self.people[who].say("/web"))[-1]
        assert reply.key == "web.link", reply.key
        return LINK.search(reply.text).group(0).rsplit("/", 1)[1]


async def csrf(client: TestClient, path: str) -> str:
    """The form token on a page."""
    return re.search(r'name="csrf" value="([^"]+)"', await (await client.get(path)).text()).group(1)


@pytest.fixture
async def site(db) -> AsyncIterator[Site]:
    """Round 2024, leaders of my-an and my-hoa, an officer of my-an, a proposal in each commune, one alert."""
    await rounds.open_round(db, "2024", NOW)
    site = Site(db)
    p = site.people
    await p[OFFICIAL].say("/start")
    for who, role, commune in ((LEADER_A, "leader", "my-an"), (LEADER_B, "leader", "my-hoa"),
                               (OFFICER, "officer", "my-an")):
        made = (await p[OFFICIAL].say(f"/invite {commune}" if role == "leader" else "/start"))[0].text
        if role == "officer":
            from tests.test_alerts import officer_of

            await officer_of(db, p[who], commune)
            continue
        code = next(w for w in made.split() if re.fullmatch(r"[a-z2-7]{8}-[a-z2-7]{12}", w))
        await p[who].say(f"/start {code}")
    await propose(p[KID], [*GATE, "my-an", "traffic", "=" + HOSTILE, "yes"])
    await propose(p[KID2], [*GATE, "my-hoa", *PROPOSE[3:]])
    await p[KID].say("=" + DISCLOSURE)
    yield site
    await site.server.close()
    await site.service.close()


async def ids(db) -> dict[str, int]:
    """Proposal ids by commune."""
    async with db.connect() as conn:
        return {c: i for i, c in await conn.execute(select(Proposal.id, Proposal.commune))}


async def test_a_link_logs_in_once_sets_a_safe_cookie_and_web_off_ends_every_session(site: Site) -> None:
    client = await site.client()
    token = await site.link(LEADER_A)
    assert (await client.get("/web/")).status == 401, "no page without a session"
    assert (await client.post("/web/login", data={"token": token[:-1] + "x"})).status == 400, "a forged signature"
    done = await client.post("/web/login", data={"token": token}, allow_redirects=False)
    cookie = done.headers["Set-Cookie"]
    assert f"{COOKIE}=" in cookie and "HttpOnly" in cookie and "SameSite=Lax" in cookie and "Path=/web" in cookie
    assert "Secure" not in cookie, "plain HTTP in the test; Secure is set when served over HTTPS"
    page = await client.get("/web/")
    assert page.status == 200 and page.headers["Cache-Control"] == "no-store"
    assert "default-src 'none'" in page.headers["Content-Security-Policy"]
    again = await (await site.client()).post("/web/login", data={"token": token})
    assert again.status == 400, "a link works once"
    assert (await site.people[LEADER_A].say("/web off"))[-1].key == "web.revoked"
    assert (await client.get("/web/")).status == 401, "/web off ended the session"
    assert (await site.people[KID].say("/web"))[-1].key == "access.denied", "children get no link"
    await client.close()


async def test_a_leader_sees_only_their_commune_by_url_and_by_forged_form(site: Site, db) -> None:
    client = await site.client(LEADER_A)
    overview = await (await client.get("/web/")).text()
    assert "Mỹ An" in overview and "Mỹ Hòa" not in overview
    assert (await client.get("/web/commune/my-an")).status == 200
    assert (await client.get("/web/commune/my-hoa")).status == 403
    assert (await client.get("/web/download/documents?commune=my-hoa")).status == 403
    assert (await client.get("/web/download/workbook")).status == 403, "the all-communes workbook is for officials"
    board = await (await client.get("/web/proposals?status=all")).text()
    assert "Cổng trường" in board and "vạch kẻ đường" not in board, "my-hoa's proposal stays hidden"
    token = await csrf(client, "/web/proposals")
    other = (await ids(db))["my-hoa"]
    forged = await client.post(f"/web/proposals/{other}", data={"csrf": token, "action": "resolve"})
    assert forged.status == 403
    async with db.connect() as conn:
        assert (await conn.execute(select(Proposal.status).where(Proposal.id == other))).scalar() == "received"
    printed = await client.post("/web/forms", data={"csrf": token, "commune": "my-hoa", "group": "child",
                                                    "count": "3"})
    assert printed.status == 403
    await client.close()


async def test_numbers_that_are_not_ascii_digits_are_refused_not_crashed_on(site: Site) -> None:
    client = await site.client(OFFICIAL)
    token = await csrf(client, "/web/proposals")
    for key in ("²", "١٢", "9" * 20):  # str.isdigit() accepts the first two; int() refuses "²"; the last overflows
        posted = await client.post(f"/web/proposals/{key}", data={"csrf": token, "action": "resolve"})
        assert posted.status == 404, key
        alert = await client.post(f"/web/alerts/{key}", data={"csrf": token, "action": "ack"})
        assert alert.status == 404, key
        assert (await client.get(f"/web/?page={key}")).status == 200, key
    printed = await client.post("/web/forms", data={"csrf": token, "commune": "my-an", "group": "child", "count": "²"})
    assert printed.status == 400
    await client.close()


async def test_forms_need_the_sessions_csrf_token(site: Site, db) -> None:
    client = await site.client(LEADER_A)
    mine = (await ids(db))["my-an"]
    for token in ("", "0" * 20):
        refused = await client.post(f"/web/proposals/{mine}", data={"csrf": token, "action": "resolve"})
        assert refused.status == 403
    other = await site.client(LEADER_A)  # another session of the same person: its token is another
    stolen = await csrf(other, "/web/proposals")
    assert (await client.post(f"/web/proposals/{mine}", data={"csrf": stolen, "action": "resolve"})).status == 403
    async with db.connect() as conn:
        assert (await conn.execute(select(Proposal.status).where(Proposal.id == mine))).scalar() == "received"
    await client.close()
    await other.close()


async def test_an_answer_on_the_board_reaches_the_child_and_is_recorded_with_role_and_time(site: Site, db) -> None:
    client = await site.client(LEADER_A)
    mine = (await ids(db))["my-an"]
    token = await csrf(client, "/web/proposals")
    short = await client.post(f"/web/proposals/{mine}", data={"csrf": token, "action": "answer", "text": "ok"})
    assert "10" in await short.text(), "too short: the desk's own refusal is shown"
    answer = "Xã sẽ kẻ vạch và đặt biển báo trước năm học mới."
    done = await client.post(f"/web/proposals/{mine}", data={"csrf": token, "action": "answer", "text": answer})
    assert done.status == 200 and "KN-2024-0001" in await done.text()
    async with db.connect() as conn:
        events = (await conn.execute(select(ProposalEvent.actor, ProposalEvent.kind, ProposalEvent.at).where(
            ProposalEvent.proposal_id == mine, ProposalEvent.kind == "answered"))).all()
        notice = (await conn.execute(select(Outbox.payload, Contact.chat_id).join(
            Contact, Contact.id == Outbox.contact_id).where(Outbox.kind == "answer", Outbox.key.like("prop:%")))).all()
    assert [(a, k) for a, k, _ in events] == [("leader", "answered")] and events[0][2] is not None
    assert len(notice) == 1 and notice[0][1] == KID and answer in notice[0][0]["text"]
    await client.close()


async def test_hostile_text_renders_as_text_and_no_child_identity_is_shown(site: Site) -> None:
    client = await site.client(OFFICIAL)
    identity = Identity(SECRET)
    secrets = (identity.pseudonym("telegram", KID), identity.pseudonym("telegram", KID2))
    for path in ("/web/proposals", "/web/commune/my-an", "/web/alerts", "/web/", "/web/calendar", "/web/downloads"):
        page = await client.get(path)
        html = await page.text()
        assert page.status == 200, path
        assert "<script" not in html and "<img src=x" not in html, path
        assert not any(s in html for s in secrets), f"{path} shows a child's key"
        assert not re.search(rf"\b({KID}|{KID2})\b", html), f"{path} shows a child's chat id"
    board = await (await client.get("/web/proposals")).text()
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in board and "&#34;&gt;&lt;img src=x onerror=alert(2)&gt;" in board
    await client.close()


async def test_an_officer_acknowledges_an_alert_but_reads_no_overview(site: Site, db) -> None:
    client = await site.client(OFFICER)
    assert (await client.get("/web/")).status == 403, "the overview is for leaders and officials"
    queue = await (await client.get("/web/alerts")).text()
    assert DISCLOSURE in queue and "Xác nhận đã nhận" in queue
    async with db.connect() as conn:
        alert_id = (await conn.execute(select(Alert.id))).scalar_one()
    token = await csrf(client, "/web/alerts")
    done = await client.post(f"/web/alerts/{alert_id}", data={"csrf": token, "action": "ack"})
    assert done.status == 200
    false = await client.post(f"/web/alerts/{alert_id}", data={"csrf": token, "action": "false", "text": "ok"})
    assert false.status == 200
    async with db.connect() as conn:
        status = (await conn.execute(select(Alert.status).where(Alert.id == alert_id))).scalar_one()
        events = (await conn.execute(select(AlertEvent.actor, AlertEvent.kind))).all()
    assert status == "acknowledged" and events == [("officer", "acknowledged")], "a too-short reason did nothing"
    await client.close()


async def test_pages_read_in_english_and_every_action_is_a_form_without_script(site: Site) -> None:
    client = await site.client(OFFICIAL)
    switched = await client.get("/web/lang/en?next=/web/proposals")
    html = await switched.text()
    assert "Proposals board" in html and "Send the answer" in html
    assert (await client.get("/web/lang/en?next=https://evil.example/")).url.path == "/web/"
    assert "<script" not in html and html.count('name="csrf"') >= 4
    await client.close()


async def test_an_actions_result_shows_once_on_whichever_worker_serves_the_next_page(site: Site, db) -> None:
    client = await site.client(LEADER_A)
    mine = (await ids(db))["my-an"]
    token = await csrf(client, "/web/proposals")
    done = await client.post(f"/web/proposals/{mine}", allow_redirects=False, data={
        "csrf": token, "action": "answer", "text": "Xã sẽ kẻ vạch và đặt biển báo trước năm học mới."})
    assert done.status == 303 and "xtt_flash=" in done.headers["Set-Cookie"]
    second = Site(db)  # another worker process: its own service and server over the same database
    other = TestClient(second.server)
    await other.start_server()
    jar = client.session.cookie_jar.filter_cookies(client.make_url("/web/"))
    other.session.cookie_jar.update_cookies({k: v.value for k, v in jar.items()}, other.make_url("/web/"))
    page = await other.get("/web/proposals")
    assert '<p class="flash ok"' in await page.text() and "KN-2024-0001" in await page.text()
    assert '<p class="flash' not in await (await other.get("/web/proposals")).text(), "shown once"
    stranger = await site.client(LEADER_B)  # another session cannot be shown (or forge) this note
    stranger.session.cookie_jar.update_cookies({"xtt_flash": jar["xtt_flash"].value}, stranger.make_url("/web/"))
    assert '<p class="flash' not in await (await stranger.get("/web/proposals")).text()
    for c in (client, other, stranger):
        await c.close()
    await second.server.close()
    await second.service.close()


async def test_a_leaders_documents_are_made_for_their_commune_only(site: Site) -> None:
    import io
    import zipfile

    client = await site.client(LEADER_A)
    got = await client.get("/web/download/documents")
    assert got.status == 200, await got.text()
    names = zipfile.ZipFile(io.BytesIO(await got.read())).namelist()
    assert names and all(n.startswith("my-an-") for n in names), names
    await client.close()


async def test_a_phone_gets_a_narrow_chart_and_the_overview_sorts_without_script(site: Site) -> None:
    client = await site.client(OFFICIAL)
    page = await (await client.get("/web/?sort=alerts")).text()
    assert 'media="(max-width: 640px)" srcset="/web/chart/overview.png?sort=alerts&amp;size=phone"' in page
    assert '<option value="alerts" selected>' in page
    first = re.search(r'<td class="c-name"[^>]*><a href="/web/commune/([^"]+)"', page).group(1)
    assert first == "my-an", "the commune with an open alert comes first"
    widths = []
    for size in ("", "&size=phone"):
        png = await (await client.get(f"/web/chart/overview.png?sort=alerts{size}")).read()
        assert png[:8] == b"\x89PNG\r\n\x1a\n"
        widths.append(int.from_bytes(png[16:20], "big"))
    assert widths[1] <= 400 < widths[0], widths
    await client.close()
