"""The application: builds every part from the settings and runs them in order.

Lifecycle, explicit and in this order: initialize -> start -> stop -> shutdown.
Nothing starts at import time.
"""

from __future__ import annotations

import difflib
import gc
import json
import logging
from collections.abc import Sequence
from datetime import timedelta
from types import TracebackType
from typing import Self, TypeVar

import aiohttp
from aiohttp import web

from bot import jsoncodec
from bot.clock import Clock, SystemClock
from bot.config import Settings
from bot.console.routes import Console
from bot.context import Services
from bot.dispatcher import Dispatcher
from bot.exports import ExportRoute
from bot.logs import request_logger
from bot.platforms.base import Platform
from bot.platforms.dingtalk import dingtalk_platform
from bot.platforms.longconn.connection import LongConnection
from bot.platforms.longconn.lease import Lease, replica_id
from bot.platforms.payload import BODY_TIMEOUT
from bot.platforms.wecom import wecom_platform
from bot.router import Router
from bot.sending import Transport
from handlers.registry import all_commands
from schedules import checks
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


class UnknownBranch(SchemaOutOfDate):
    """A [[groups]] entry names a branch nobody has; a SchemaOutOfDate so that `serve`
    stops with the one line, like for an old database."""


P = TypeVar("P")


class App:
    """Also an async context manager: `async with App(settings) as app:` initializes (and
    shuts down again if that fails); leaving stops it if started, then shuts down."""

    def __init__(
        self,
        settings: Settings,
        clock: Clock | None = None,
        db: Database | None = None,
        schedule: bool | None = None,
        platforms: Sequence[Platform] = (),
    ) -> None:
        self.settings = settings
        self.clock: Clock = clock or SystemClock(settings.tz)
        self.db = db or Database(settings.database.url, echo=settings.database.echo)
        self.calendar = HolidayCalendar(settings.calendar.overrides)
        self.transports: dict[str, Transport] = {}  # filled from the platforms below
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
        self.exports = ExportRoute(self.db, self.services)
        self.console = Console(self.db, self.services, wake=self.reminders.wake)
        self.http: aiohttp.ClientSession | None = None  # shared by every platform's client
        self.started = False
        # Those the config enables, then any the caller brings (the demo's console).
        self.platforms: list[Platform] = [*self._configured_platforms(), *platforms]
        for platform in self.platforms:
            if platform.transport is not None:
                self.transports[platform.name] = platform.transport

    def _configured_platforms(self) -> list[Platform]:
        """Each platform the config enables, given only the pieces it needs."""
        holder = replica_id()  # one lease holder per App, that is per replica

        def lease(name: str) -> Lease:
            return Lease(self.db, self.clock, name, holder)

        found = (
            wecom_platform(
                self.settings,
                dispatcher=self.dispatcher,
                clock=self.clock,
                http=self._http,
                lease=lease,
            ),
            dingtalk_platform(
                self.settings,
                dispatcher=self.dispatcher,
                db=self.db,
                clock=self.clock,
                http=self._http,
                lease=lease,
            ),
        )
        return [p for p in found if p is not None]

    def _http(self) -> aiohttp.ClientSession | None:
        """The shared HTTP client: exists between initialize and shutdown."""
        return self.http

    def platform(self, kind: type[P]) -> P:
        """The platform of class `kind`, for code that needs more than the protocol (tests)."""
        for platform in self.platforms:
            if isinstance(platform, kind):
                return platform
        raise LookupError(f"{kind.__name__} is not enabled by the config")

    @property
    def long_connections(self) -> list[LongConnection]:
        """The platforms' dialled-out connections, in the platforms' order."""
        return [p.connection for p in self.platforms if p.connection is not None]

    async def __aenter__(self) -> Self:
        try:
            await self.initialize()
        except BaseException:
            await self.shutdown()  # the database (and HTTP client) made so far
            raise
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        try:
            if self.started:
                await self.stop()
        finally:
            await self.shutdown()

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
            known = [b.name for b in await members.all_branches(s)]
            # A typo'd branch would otherwise become a permanent branch of its own. An empty
            # database (first start before the roster) still gets the config's branches.
            allowed = set(known) | {b.name for b in self.settings.branches}
            for g in self.settings.groups:
                if known and g.branch and g.branch not in allowed:
                    found = difflib.get_close_matches(g.branch, sorted(allowed), n=3, cutoff=0.5)
                    hint = f"您是不是要写：{'、'.join(found)}？" if found else ""
                    raise UnknownBranch(
                        f"配置 [[groups]]「{g.name}」的支部“{g.branch}”不存在。{hint}"
                        "（新支部请先导入花名册，或写进 [[branches]]）"
                    )
                branch_id = None
                if g.branch:
                    branch_id = (await members.get_or_create_branch(s, g.branch)).id
                if g.chat_id:
                    await groups.adopt_placeholder(s, g.platform, g.name, g.chat_id)
                chat_id = g.chat_id or groups.placeholder_chat_id(g.name)
                await groups.upsert_group(s, g.platform, chat_id, g.name, branch_id)

    async def start(self) -> None:
        for platform in self.platforms:
            await platform.start()
        if self._schedule:
            self.reminders.start()
        self.started = True

    async def stop(self) -> None:
        # Pushes in flight finish first (they may need a long connection), then late
        # replies, then the connections close.
        await self.reminders.stop()
        for platform in self.platforms:
            await platform.drain()  # replies still being worked on go out first
        for platform in self.platforms:
            await platform.stop()
        self.started = False

    async def shutdown(self) -> None:
        if self.http is not None:
            await self.http.close()
            self.http = None
        await self.db.dispose()

    def web_app(self) -> web.Application:
        """The aiohttp application: /healthz and each platform's callback routes."""
        app = web.Application(
            client_max_size=self.settings.server.max_body_bytes,
            middlewares=[request_logger(), self.console.headers],
        )
        app[BODY_TIMEOUT] = self.settings.server.body_timeout_seconds
        app.router.add_get("/healthz", self._healthz)
        self.exports.add_routes(app.router)
        self.console.add_routes(app.router)
        for platform in self.platforms:
            platform.add_routes(app.router)
        return app

    async def startup_gaps(self) -> list[str]:
        """Every gap in the setup that will make a push fail (schedules.checks), in Chinese."""
        today = self.clock.now().astimezone(self.settings.tz).date()
        async with self.db.read() as s:
            return await checks.all_gaps(
                s, self.settings, self.transports.keys(), today, self.calendar
            )

    async def _healthz(self, _: web.Request) -> web.Response:
        db_ok = True
        try:
            async with self.db.read() as s:
                await members.count_members(s)
        except Exception as exc:  # report, never raise, from a health check
            log.warning("健康检查：数据库不可用：%s", type(exc).__name__)
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
        connections = self.long_connections
        reasons.extend(t for c in connections if (t := c.trouble(grace)))
        body: dict[str, object] = {
            "status": "degraded" if reasons else "ok",
            "database": "ok" if db_ok else "down",
            "scheduler": scheduler,
        }
        if connections:
            body["connections"] = {c.platform: c.state for c in connections}
        if reasons:
            body["reason"] = "；".join(reasons)
        if db_ok:
            # Gaps that will make pushes fail: the operator's to fill, not an outage (200).
            try:
                if warnings := await self.startup_gaps():
                    body["warnings"] = warnings
            except Exception as exc:  # report, never raise, from a health check
                log.warning("健康检查：启动检查失败：%s", type(exc).__name__)
        # The reason in readable Chinese for `curl`, not in \u escapes.
        return web.json_response(body, status=503 if reasons else 200, dumps=_readable_json)
