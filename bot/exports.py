"""GET /exports/{token}: the .xlsx behind a signed export link."""

from __future__ import annotations

import logging
from urllib.parse import quote

from aiohttp import web

from bot.context import Services
from bot.export_tokens import LEDGER, PRIVATE, BadToken, export_key, read_token
from handlers.minutes import ledger_workbook
from handlers.summary import export_workbook
from storage.engine import Database

log = logging.getLogger(__name__)

REFUSED = "链接无效或已过期，请在群里重新发送「导出」。"
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


class ExportRoute:
    """Serves export links: a route of the App's own, beside the platforms' (App.web_app)."""

    def __init__(self, db: Database, services: Services) -> None:
        self.db = db
        self.services = services

    def add_routes(self, router: web.UrlDispatcher) -> None:
        router.add_get("/exports/{token}", self.serve)

    async def workbook(self, token: str) -> tuple[str, bytes] | str:
        """The file name and .xlsx bytes behind a link's token, or why it is refused (the
        web route and the demo, which has no web server, both take the file from here)."""
        now = self.services.clock.now()
        async with self.db.read() as s:
            key = await export_key(s, self.services.settings, create=False)
        if key is None:  # no link was ever issued from this database
            return REFUSED
        try:
            grant = read_token(key, token, now)
        except BadToken as exc:
            log.info("导出链接被拒绝：%s", exc)
            return REFUSED
        # The 台账 of meeting records (台账) or the summary (导出): the token says which.
        async with self.db.read() as s:
            if grant.kind == LEDGER:
                name = "清风台账"
                body = await ledger_workbook(s, self.services, grant.branch_id, grant.period, now)
            else:
                name = "清风汇总"
                body = await export_workbook(
                    s, self.services, grant.branch_id, grant.period, now,
                    private=grant.kind == PRIVATE,
                )  # fmt: skip
        if body is None:
            return "链接对应的支部已不存在。"
        return f"{name}_{grant.period.first:%Y%m%d}-{grant.period.last:%Y%m%d}.xlsx", body

    async def serve(self, request: web.Request) -> web.Response:
        found = await self.workbook(request.match_info["token"])
        if isinstance(found, str):
            return web.Response(status=403, text=found)
        name, body = found
        headers = {
            "Content-Disposition": (
                f"attachment; filename=\"qingfeng.xlsx\"; filename*=UTF-8''{quote(name)}"
            ),
            "Cache-Control": "no-store",
        }
        return web.Response(body=body, content_type=XLSX, headers=headers)
