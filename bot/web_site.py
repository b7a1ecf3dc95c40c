"""What every page of the office's web site shares: templates, security headers, login and the visitor's checks."""

from __future__ import annotations

import dataclasses
from collections.abc import Awaitable, Callable
from datetime import datetime
from pathlib import Path
from typing import Any

import jinja2
from aiohttp import web

from bot import access
from bot.web_auth import COOKIE, WebAuth
from conversations import Catalogue
from conversations.model import LANGS

TEMPLATES = Path(__file__).parent / "templates"
LANG_COOKIE = "xtt_lang"
# No script at all, styles and images from this server only, forms posted only here, never framed.
CSP = ("default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; frame-ancestors 'none'; "
       "base-uri 'none'")
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@dataclasses.dataclass(frozen=True, slots=True)
class Visitor:
    """A logged-in member of staff on one request: session digest, powers, language and form token."""

    session: str
    person: access.Person
    lang: str
    csrf: str


@web.middleware
async def headers(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Private pages are never cached, framed or sniffed, and run no script (a strict Content-Security-Policy)."""
    try:
        response = await handler(request)
    except web.HTTPException as exc:
        response = exc
    if request.path.startswith("/web"):
        response.headers.setdefault("Cache-Control", "no-store")
        response.headers["Content-Security-Policy"] = CSP
        response.headers["X-Content-Type-Options"] = "nosniff"
        response.headers["Referrer-Policy"] = "no-referrer"  # the login link never leaks to another site
        response.headers["X-Frame-Options"] = "DENY"
    if isinstance(response, web.HTTPException):
        raise response
    return response


class Site:
    """Renders templates in the visitor's language and checks who is asking."""

    def __init__(self, auth: WebAuth, texts: Catalogue, lang: str = "vi",
                 clock: Callable[[], datetime] | None = None) -> None:
        self.auth, self.texts, self.lang = auth, texts, lang
        self.clock = clock or auth.clock
        self.env = jinja2.Environment(loader=jinja2.FileSystemLoader(TEMPLATES), autoescape=True,
                                      undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True)

    def language(self, request: web.Request) -> str:
        """The visitor's chosen language, else the default."""
        chosen = request.cookies.get(LANG_COOKIE, "")
        return chosen if chosen in LANGS else self.lang

    def render(self, request: web.Request, name: str, lang: str, status: int = 200, **values: Any) -> web.Response:
        """A page from its template, every text from the catalogue, every value escaped."""
        def t(key: str, **more: object) -> str:
            own = f"web.{key}"  # the page's own texts, else the chat's (statuses, roles, places)
            return self.texts.get(lang, own if self.texts.has(lang, own) else key, **more)

        body = self.env.get_template(name).render(t=t, lang=lang, path=request.path_qs, **values)
        return web.Response(text=body, content_type="text/html", charset="utf-8", status=status)

    async def visitor(self, request: web.Request, role: str = access.OFFICER) -> Visitor | web.Response:
        """The logged-in visitor holding `role`, or the page to show instead (log in, or not allowed)."""
        lang = self.language(request)
        found = await self.auth.person(request)
        if found is None:
            return self.render(request, "message.html", lang, status=401, title="login.title", text="login.needed",
                               visitor=None)
        session, person = found
        me = Visitor(session, person, lang, self.auth.csrf(session))
        if not access.permits(person, role):
            return self.denied(request, me)
        return me

    def denied(self, request: web.Request, me: Visitor) -> web.Response:
        """The refusal page (a commune or page outside the visitor's role)."""
        return self.render(request, "message.html", me.lang, status=403, title="denied.title", text="denied.text",
                           visitor=me)

    async def form(self, request: web.Request, me: Visitor) -> dict[str, str] | web.Response:
        """A posted form whose CSRF token is the session's, else the refusal page."""
        data = await request.post()
        fields = {k: v for k, v in data.items() if isinstance(v, str)}
        if not self.auth.csrf_ok(me.session, fields.get("csrf", "")):
            return self.render(request, "message.html", me.lang, status=403, title="denied.title",
                               text="denied.csrf", visitor=me)
        return fields

    # ------------------------------------------------------------------ login, logout, language
    async def login_page(self, request: web.Request) -> web.Response:
        """GET /web/login/<token>: a button that logs in (a link preview fetching the URL uses nothing)."""
        lang = self.language(request)
        token = request.match_info["token"]
        if not self.auth.signed(token):
            return self.render(request, "message.html", lang, status=400, title="login.title", text="login.invalid",
                               visitor=None)
        return self.render(request, "login.html", lang, token=token, visitor=None)

    async def login(self, request: web.Request) -> web.StreamResponse:
        """POST /web/login: use the link once, set the session cookie and go to the first page."""
        lang = self.language(request)
        token = str((await request.post()).get("token", ""))
        session = await self.auth.login(token)
        if session is None:
            return self.render(request, "message.html", lang, status=400, title="login.title", text="login.invalid",
                               visitor=None)
        response = web.HTTPSeeOther("/web/")
        self.auth.cookie(response, request, session)
        return response

    async def logout(self, request: web.Request) -> web.StreamResponse:
        """POST /web/logout: end this session."""
        me = await self.visitor(request)
        if isinstance(me, web.Response):
            return me
        fields = await self.form(request, me)
        if isinstance(fields, web.Response):
            return fields
        await self.auth.logout(me.session)
        response = self.render(request, "message.html", me.lang, title="logout.title", text="logout.done",
                               visitor=None)
        response.del_cookie(COOKIE, path="/web")
        return response

    async def choose_language(self, request: web.Request) -> web.StreamResponse:
        """GET /web/lang/<vi|en>?next=/web/…: remember the language and go back."""
        lang = request.match_info["lang"]
        back = request.query.get("next", "/web/")
        if not back.startswith("/web/") or "//" in back or "\\" in back:
            back = "/web/"
        response = web.HTTPSeeOther(back)
        if lang in LANGS:
            response.set_cookie(LANG_COOKIE, lang, path="/web", max_age=365 * 86400, samesite="Lax", httponly=True)
        return response

    async def home(self, _request: web.Request) -> web.StreamResponse:
        """GET /web: the overview lives at /web/."""
        return web.HTTPFound("/web/")

    async def style(self, _request: web.Request) -> web.FileResponse:
        """GET /web/static/style.css."""
        return web.FileResponse(TEMPLATES / "style.css", headers={"Cache-Control": "public, max-age=3600"})
