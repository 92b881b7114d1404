"""The application: builds every part from the settings and runs them in order.

Lifecycle, explicit and in this order: initialize -> start -> stop -> shutdown.
Nothing starts at import time.
"""

from __future__ import annotations

import gc
import json
import logging
from datetime import timedelta
from typing import Protocol

import aiohttp
from aiohttp import web

from bot import jsoncodec
from bot.clock import Clock, SystemClock
from bot.config import Settings
from bot.context import Services
from bot.dispatcher import Dispatcher
from bot.exports import ExportRoute
from bot.logs import request_logger
from bot.platforms import dingtalk
from bot.platforms.longconn import LongConnection, build_long_connections
from bot.platforms.payload import BODY_TIMEOUT
from bot.platforms.wecom import WeComPlatform
from bot.router import Router
from bot.sending import Transport
from handlers.registry import all_commands
from schedules.holidays import HolidayCalendar
from schedules.scheduler import Reminders
from storage import groups, members
from storage.engine import Database
from storage.migrate import current_revision, head_revision

log = logging.getLogger(__name__)


def freeze_startup_heap() -> None:
    """Keep everything built so far (modules, mappers, templates, the app), which lives as
    long as the process, out of the collector's full passes. Each pass otherwise walks it
    all: ~100 ms that stalled every request in flight (P1) and every push (P4)."""
    gc.collect()
    gc.freeze()


def _readable_json(data: object) -> str:
    return json.dumps(data, ensure_ascii=False)


class SchemaOutOfDate(RuntimeError):
    pass


class WebAdapter(Protocol):
    """A platform adapter that receives callbacks over HTTP."""

    def add_routes(self, router: web.UrlDispatcher) -> None: ...


class App:
    def __init__(
        self,
        settings: Settings,
        clock: Clock | None = None,
        db: Database | None = None,
        schedule: bool | None = None,
    ) -> None:
        self.settings = settings
        self.clock: Clock = clock or SystemClock(settings.tz)
        self.db = db or Database(settings.database.url, echo=settings.database.echo)
        self.calendar = HolidayCalendar(settings.calendar.overrides)
        self.transports: dict[str, Transport] = {}
        # Refuses a bad template here, at start-up. The scheduler runs on wall-clock time,
        # so by default only with the system clock; with a FakeClock the caller drives
        # `reminders.tick()` (tests, the demo).
        self.reminders = Reminders(settings, self.clock, self.db, self.calendar, self.transports)
        self._schedule = isinstance(self.clock, SystemClock) if schedule is None else schedule
        self.services = Services(
            settings=settings,
            clock=self.clock,
            calendar=self.calendar,
            pusher=self.reminders.pusher,
        )
        self.router = Router(all_commands())
        self.dispatcher = Dispatcher(self.db, self.router, self.services)
        self.web_adapters: list[WebAdapter] = [ExportRoute(self.db, self.services)]
        self.long_connections: list[LongConnection] = []  # dialled out; see longconn
        self.http: aiohttp.ClientSession | None = None  # shared by every platform's client
        self.wecom: WeComPlatform | None = None
        self.dingtalk: dingtalk.DingTalkAdapter | None = None
        self.started = False
        self._build_platforms()

    def _build_platforms(self) -> None:
        """Create the adapters and transports of the platforms the config enables."""
        wecom = self.settings.wecom
        wecom_groups = any(g.platform == "wecom" for g in self.settings.groups)
        if (
            wecom.aibot.token.get_secret_value()
            or wecom.app.token.get_secret_value()
            or (wecom.app.secret.get_secret_value() or wecom_groups)
        ):
            self.wecom = WeComPlatform(wecom, self.dispatcher.submit, self.clock, self._session)
            # Late replies go out once per message id, across replicas: the dispatcher keeps
            # that fact with the message's record.
            self.wecom.in_time.deliveries = self.dispatcher
            self.web_adapters.extend(self.wecom.web_adapters)
            self.transports["wecom"] = self.wecom.transport
        self.dingtalk = dingtalk.install(self)
        # Long-connection mode: WeCom pushes go over the connection instead of webhooks.
        self.long_connections = build_long_connections(self)

    def _session(self) -> aiohttp.ClientSession:
        """The shared HTTP client (exists between initialize and shutdown)."""
        if self.http is None:
            raise RuntimeError("App.initialize() has not run: no HTTP client yet")
        return self.http

    async def initialize(self) -> None:
        """Check the schema and bring the config's groups into the database."""
        current, head = await current_revision(self.db), head_revision()
        if current != head:
            raise SchemaOutOfDate(
                f"数据库结构不是最新（当前 {current or '空'}，应为 {head}），"
                "请先运行：qingfeng db upgrade"
            )
        await self.sync_config()
        if self.http is None:
            self.http = aiohttp.ClientSession(
                timeout=aiohttp.ClientTimeout(total=10), json_serialize=jsoncodec.dumps
            )

    async def sync_config(self) -> None:
        async with self.db.write() as s:
            for g in self.settings.groups:
                branch_id = None
                if g.branch:
                    branch_id = (await members.get_or_create_branch(s, g.branch)).id
                chat_id = g.chat_id or f"name:{g.name}"
                await groups.upsert_group(s, g.platform, chat_id, g.name, branch_id)

    async def start(self) -> None:
        for conn in self.long_connections:
            conn.start()
        if self._schedule:
            self.reminders.start()
        self.started = True

    async def stop(self) -> None:
        # Pushes in flight finish first (they may need a long connection), then late
        # replies, then the connections close.
        await self.reminders.stop()
        if self.wecom is not None:
            await self.wecom.drain()  # replies still being worked on go out first
        if self.dingtalk is not None:
            await self.dingtalk.drain()
        for conn in self.long_connections:
            await conn.stop()
        self.started = False

    async def shutdown(self) -> None:
        if self.http is not None:
            await self.http.close()
            self.http = None
        await self.db.dispose()

    def web_app(self) -> web.Application:
        """The aiohttp application: /healthz and each platform's callback routes."""
        app = web.Application(
            client_max_size=self.settings.server.max_body_bytes, middlewares=[request_logger()]
        )
        app[BODY_TIMEOUT] = self.settings.server.body_timeout_seconds
        app.router.add_get("/healthz", self._healthz)
        for adapter in self.web_adapters:
            adapter.add_routes(app.router)
        return app

    async def _healthz(self, _: web.Request) -> web.Response:
        db_ok = True
        try:
            async with self.db.read() as s:
                await members.count_members(s)
        except Exception as exc:  # report, never raise, from a health check
            log.warning("health check: database unavailable: %s", type(exc).__name__)
            db_ok = False
        # A started app that should schedule but does not would silently miss reminders.
        sched_ok = not (self._schedule and self.started) or self.reminders.running
        if not self._schedule:
            scheduler = "manual"  # tests and the demo drive reminders themselves
        else:
            scheduler = "running" if self.reminders.running else "stopped"
        reasons = [] if db_ok else ["数据库不可用"]
        if not sched_ok:
            reasons.append("提醒调度器已停止")
        # A connection down past the grace (wrong credentials, no route to the platform)
        # means no message gets in: as broken as a dead database.
        grace = timedelta(seconds=self.settings.server.health_grace_seconds)
        reasons.extend(t for c in self.long_connections if (t := c.trouble(grace)))
        body: dict[str, object] = {
            "status": "degraded" if reasons else "ok",
            "database": "ok" if db_ok else "down",
            "scheduler": scheduler,
        }
        if self.long_connections:
            body["connections"] = {c.platform: c.state for c in self.long_connections}
        if reasons:
            body["reason"] = "；".join(reasons)
        # The reason in readable Chinese for `curl`, not in \u escapes.
        return web.json_response(body, status=503 if reasons else 200, dumps=_readable_json)
