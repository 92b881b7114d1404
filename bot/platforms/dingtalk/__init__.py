"""DingTalk (钉钉) as one platform: the enterprise robot's callback and Stream connection,
replies, and pushes to groups and people; each piece in its own module here."""

from __future__ import annotations

from aiohttp import web

from bot.clock import Clock
from bot.config import Settings
from bot.dispatcher import Dispatcher
from bot.platforms.base import HttpGetter, LeaseFactory
from bot.platforms.dingtalk.adapter import DingTalkAdapter
from bot.platforms.dingtalk.client import AccessToken, DingTalkHTTP, RobotAPI
from bot.platforms.dingtalk.stream import DingTalkStream
from bot.platforms.dingtalk.transport import DingTalkTransport
from storage.engine import Database

__all__ = ["DingTalkPlatform", "dingtalk_platform"]


def dingtalk_platform(
    settings: Settings,
    *,
    dispatcher: Dispatcher,
    db: Database,
    clock: Clock,
    http: HttpGetter,
    lease: LeaseFactory,
) -> DingTalkPlatform | None:
    """DingTalk when it can send or receive; else None."""
    found = DingTalkPlatform(
        settings, dispatcher=dispatcher, db=db, clock=clock, http=http, lease=lease
    )
    return found if found.transport is not None or found.adapter is not None else None


class DingTalkPlatform:
    """The transport when it can send, the callback when an appSecret is set, and the
    Stream connection in long-connection mode (it shares the callback's replying)."""

    name = "dingtalk"

    def __init__(
        self,
        settings: Settings,
        *,
        dispatcher: Dispatcher,
        db: Database,
        clock: Clock,
        http: HttpGetter,
        lease: LeaseFactory,
    ) -> None:
        cfg = settings.dingtalk
        secret = cfg.app_secret.get_secret_value()
        client = DingTalkHTTP(http)
        api = None
        if cfg.app_key and secret:
            token = AccessToken(client, cfg.api_base, cfg.app_key, secret, clock)
            # For an enterprise internal app the robot's code is its appKey unless set otherwise.
            api = RobotAPI(client, token, cfg.api_base, cfg.robot_code or cfg.app_key)
        transport = DingTalkTransport(client, api, clock)
        self.transport: DingTalkTransport | None = None
        if api is not None or any(g.platform == "dingtalk" for g in settings.groups):
            # Only a platform that can send is offered to the outbox: a member with accounts
            # on several platforms is then reached on one that works.
            self.transport = transport
        self.adapter: DingTalkAdapter | None = None
        self.connection: DingTalkStream | None = None
        if not secret:
            return
        self.adapter = DingTalkAdapter(
            app_secret=secret,
            dispatcher=dispatcher,
            db=db,
            clock=clock,
            http=client,
            transport=transport,
            max_body=settings.server.max_body_bytes,
        )
        if cfg.mode == "long_connection":
            self.connection = DingTalkStream(
                api_base=cfg.api_base,
                client_id=cfg.app_key,
                client_secret=secret,
                dispatcher=dispatcher,
                adapter=self.adapter,
                http=http,
                lease=lease(f"dingtalk:{cfg.app_key}"),
            )

    def add_routes(self, router: web.UrlDispatcher) -> None:
        if self.adapter is not None:
            self.adapter.add_routes(router)

    async def start(self) -> None:
        if self.connection is not None:
            self.connection.start()

    async def drain(self) -> None:
        """Replies still being delivered after their callback was answered."""
        if self.adapter is not None:
            await self.adapter.drain()

    async def stop(self) -> None:
        if self.connection is not None:
            await self.connection.stop()
