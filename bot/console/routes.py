"""The 看板 (web console): routes under /console, in `qingfeng serve`'s own web server.

Every page works out the viewer from the session cookie and their role at that moment,
and checks the branch asked for against it. Pages are plain HTML (no script), so they
read the same in WeCom's and DingTalk's built-in browsers as anywhere.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from aiohttp import web

from bot.console import data
from bot.console.pages import environment, render, stylesheet
from bot.console.session import COOKIE, SESSION_TTL, Viewer, csrf_ok, new_token, viewer
from bot.console_links import BadLogin, console_key, read_login
from bot.context import Services
from handlers.minutes import ledger_workbook
from handlers.periods import Period, PeriodError, parse_period
from handlers.summary import export_workbook
from storage import console, outbox
from storage.engine import Database

if TYPE_CHECKING:
    import jinja2

log = logging.getLogger(__name__)

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
# No script at all, styles only from our own file, forms post only to us, never framed.
SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; style-src 'self'; img-src 'self' data:; form-action 'self'; "
        "frame-ancestors 'none'; base-uri 'none'"
    ),
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",  # the login URL carries its token: never pass it on
    "X-Content-Type-Options": "nosniff",
    "Cache-Control": "no-store",
}
NO_SESSION = "请在群里或私聊机器人发送“看板”，用收到的链接登录。"

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class Console:
    """The console's routes; one per App, sharing its database and services."""

    def __init__(
        self, db: Database, services: Services, wake: Callable[[], None] | None = None
    ) -> None:
        self.db = db
        self.services = services
        self.wake = wake  # runs the outbox worker soon, after a resend
        self._env: jinja2.Environment | None = None  # made at the first page
        self._key: bytes | None = None

    def add_routes(self, router: web.UrlDispatcher) -> None:
        router.add_get("/console", self.home)
        router.add_get("/console/", self.home)
        router.add_get("/console/static/console.css", self.css)
        router.add_get("/console/login/{token}", self.login)
        router.add_post("/console/logout", self.logout)
        router.add_get("/console/county", self.county)
        router.add_get("/console/branch/{branch_id}", self.branch)
        router.add_get("/console/calendar", self.calendar)
        router.add_post("/console/outbox/{row_id}/resend", self.resend)
        router.add_get("/console/exports", self.exports)
        router.add_get("/console/export", self.export)

    @web.middleware
    async def headers(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        """The security headers on every /console response, refusals included."""
        try:
            response = await handler(request)
        except web.HTTPException as exc:
            if not request.path.startswith("/console"):
                raise
            response = exc
        if request.path.startswith("/console"):
            response.headers.update(SECURITY_HEADERS)
        if isinstance(response, web.HTTPException):
            raise response
        return response

    # --- helpers -------------------------------------------------------------------------

    def _now(self) -> datetime:
        return self.services.clock.now()

    async def _signing_key(self) -> bytes:
        if self._key is None:
            async with self.db.write() as s:
                self._key = await console_key(s, self.services.settings)
        return self._key

    def _page(
        self, name: str, status: int = 200, who: Viewer | None = None, **context: Any
    ) -> web.Response:
        if self._env is None:
            self._env = environment()
        body = render(self._env, name, who=who, **context)
        return web.Response(text=body, status=status, content_type="text/html", charset="utf-8")

    def _message(
        self, status: int, title: str, text: str, who: Viewer | None = None
    ) -> web.Response:
        return self._page("message.html", status, who, title=title, text=text)

    async def _viewer(self, request: web.Request) -> Viewer | web.Response:
        key = await self._signing_key()
        async with self.db.read() as s:
            found = await viewer(s, request, key, self._now())
        if found is None:
            return self._message(401, "请先登录", NO_SESSION)
        return found

    def _period(self, request: web.Request) -> Period | web.Response:
        today = self._now().astimezone(self.services.clock.tz).date()
        try:
            return parse_period(request.query.get("p", "本月")[:40], today)
        except PeriodError as exc:
            return self._message(400, "期间写得不对", str(exc))

    def _branch_id(self, raw: str, who: Viewer) -> int | web.Response:
        if not raw.isdigit() or len(raw) > 9:
            return self._message(404, "没有这个支部", "链接有误。", who)
        branch_id = int(raw)
        if not who.may_see(branch_id):
            return self._message(403, "无权查看", "您只能查看本支部的数据。", who)
        return branch_id

    async def _form(self, request: web.Request, who: Viewer) -> web.Response | None:
        """None when the POST carries this session's CSRF token; else the refusal."""
        form = await request.post()
        sent = form.get("csrf", "")
        key = await self._signing_key()
        if not isinstance(sent, str) or not csrf_ok(key, who.token_hash, sent):
            return self._message(403, "请求无效", "页面已过期，请刷新后再试。", who)
        return None

    # --- routes --------------------------------------------------------------------------

    async def css(self, _: web.Request) -> web.Response:
        return web.Response(body=stylesheet(), content_type="text/css", charset="utf-8")

    async def login(self, request: web.Request) -> web.StreamResponse:
        now = self._now()
        key = await self._signing_key()
        try:
            grant = read_login(key, request.match_info["token"], now)
        except BadLogin as exc:
            log.info("看板登录链接被拒绝：%s", exc)
            return self._message(403, "链接无效或已过期", NO_SESSION)
        cookie, hashed = new_token()
        async with self.db.write() as s:
            started = await console.start(
                s, grant.member_id, grant.nonce, hashed, now, now + SESSION_TTL
            )
        if not started:
            return self._message(403, "链接已用过", "登录链接只能打开一次。" + NO_SESSION)
        response = web.HTTPSeeOther("/console/")
        secure = self.services.settings.server.public_url.startswith("https://")
        response.set_cookie(
            COOKIE,
            cookie,
            max_age=int(SESSION_TTL.total_seconds()),
            path="/console",
            httponly=True,
            secure=secure,
            samesite="Lax",
        )
        return response

    async def logout(self, request: web.Request) -> web.StreamResponse:
        who = await self._viewer(request)
        if isinstance(who, web.Response):
            return who
        refused = await self._form(request, who)
        if refused is not None:
            return refused
        async with self.db.write() as s:
            await console.revoke_by_hash(s, who.token_hash, self._now())
        response = self._message(200, "已退出", "已退出看板。" + NO_SESSION)
        response.del_cookie(COOKIE, path="/console")
        return response

    async def home(self, request: web.Request) -> web.StreamResponse:
        who = await self._viewer(request)
        if isinstance(who, web.Response):
            return who
        target = "/console/county" if who.is_admin else f"/console/branch/{who.branch.id}"
        return web.HTTPSeeOther(target)

    async def county(self, request: web.Request) -> web.StreamResponse:
        who = await self._viewer(request)
        if isinstance(who, web.Response):
            return who
        if not who.is_admin:
            return self._message(403, "无权查看", "全县概览只有管理员能看。", who)
        period = self._period(request)
        if isinstance(period, web.Response):
            return period
        sort = request.query.get("sort", "")
        view = await data.county(self.db, self.services, period, self._now(), sort)
        return self._page("county.html", who=who, view=view, period=period, sort=sort)

    async def branch(self, request: web.Request) -> web.StreamResponse:
        who = await self._viewer(request)
        if isinstance(who, web.Response):
            return who
        branch_id = self._branch_id(request.match_info["branch_id"], who)
        if isinstance(branch_id, web.Response):
            return branch_id
        period = self._period(request)
        if isinstance(period, web.Response):
            return period
        view = await data.branch(self.db, self.services, branch_id, period, self._now())
        if view is None:
            return self._message(404, "没有这个支部", "这个支部已不存在。", who)
        return self._page("branch.html", who=who, view=view, period=period)

    async def calendar(self, request: web.Request) -> web.StreamResponse:
        who = await self._viewer(request)
        if isinstance(who, web.Response):
            return who
        month = data.parse_month(request.query.get("m", ""), self._now(), self.services)
        if month is None:
            return self._message(400, "月份写得不对", "月份请写成 2026-12 这样。", who)
        branch_id = None if who.is_admin else who.branch.id
        async with self.db.read() as s:
            view = await data.calendar(s, self.services, branch_id, month, self._now())
        return self._page("calendar.html", who=who, view=view)

    async def resend(self, request: web.Request) -> web.StreamResponse:
        who = await self._viewer(request)
        if isinstance(who, web.Response):
            return who
        if not who.is_admin:
            return self._message(403, "无权操作", "只有管理员能重发推送。", who)
        refused = await self._form(request, who)
        if refused is not None:
            return refused
        raw = request.match_info["row_id"]
        if not raw.isdigit() or len(raw) > 12:
            return self._message(404, "没有这条推送", "链接有误。", who)
        async with self.db.write() as s:
            done = await outbox.resend(s, self._now(), ids=[int(raw)])
        if done and self.wake is not None:
            self.wake()
        month = request.query.get("m", "")
        back = "/console/calendar" + (f"?m={quote(month)}" if month else "")
        if not done:
            return self._message(409, "没有重发", "这条推送不是失败或错过的状态。", who)
        return web.HTTPSeeOther(back)

    async def exports(self, request: web.Request) -> web.StreamResponse:
        who = await self._viewer(request)
        if isinstance(who, web.Response):
            return who
        today = self._now().astimezone(self.services.clock.tz).date()
        periods = [parse_period(p, today) for p in ("本月", "上月", "本季度", "本年")]
        scopes = [("branch", who.branch.name)] + ([("all", "全县")] if who.is_admin else [])
        return self._page("exports.html", who=who, periods=periods, scopes=scopes)

    async def export(self, request: web.Request) -> web.StreamResponse:
        who = await self._viewer(request)
        if isinstance(who, web.Response):
            return who
        period = self._period(request)
        if isinstance(period, web.Response):
            return period
        scope = request.query.get("scope", "branch")
        if scope == "all" and not who.is_admin:
            return self._message(403, "无权导出", "您只能导出本支部的数据。", who)
        branch_id = None if scope == "all" else who.branch.id
        ledger = request.query.get("kind") == "ledger"
        async with self.db.read() as s:
            if ledger:
                body = await ledger_workbook(s, self.services, branch_id, period, self._now())
            else:  # private: only the signed-in secretary or admin downloads it
                body = await export_workbook(
                    s, self.services, branch_id, period, self._now(), private=True
                )
        if body is None:
            return self._message(404, "没有这个支部", "这个支部已不存在。", who)
        stem = "清风台账" if ledger else "清风汇总"
        name = f"{stem}_{period.first:%Y%m%d}-{period.last:%Y%m%d}.xlsx"
        disposition = f"attachment; filename=\"qingfeng.xlsx\"; filename*=UTF-8''{quote(name)}"
        return web.Response(
            body=body, content_type=XLSX, headers={"Content-Disposition": disposition}
        )
